from django.urls import path

from guanxi.customers import views

urlpatterns = [
    path("import/", views.placeholder, name="import"),
]
