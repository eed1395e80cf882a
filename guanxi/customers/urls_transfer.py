from django.urls import path

from guanxi.customers import views_transfer

urlpatterns = [
    path("import/", views_transfer.import_upload, name="import"),
    path("import/template.csv", views_transfer.import_template, name="import_template"),
    path("import/<int:job_id>/", views_transfer.import_job, name="import_job"),
    path("export/", views_transfer.export, name="export"),
]
