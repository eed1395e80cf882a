from django.urls import path

from guanxi.sales import views_leads as v

urlpatterns = [
    path("leads/", v.lead_list, name="leads"),
    path("leads/new/", v.lead_create, name="lead_create"),
    path("leads/assign/", v.lead_bulk_assign, name="lead_bulk_assign"),
    path("leads/import/", v.import_upload, name="lead_import"),
    path("leads/import/<int:pk>/", v.import_job, name="lead_import_job"),
    path("leads/forms/", v.webform_list, name="lead_webforms"),
    path("leads/forms/new/", v.webform_create, name="lead_webform_create"),
    path("leads/forms/<int:pk>/", v.webform_edit, name="lead_webform_edit"),
    path("leads/rules/", v.rule_list, name="lead_rules"),
    path("leads/rules/new/", v.rule_create, name="lead_rule_create"),
    path("leads/rules/<int:pk>/", v.rule_edit, name="lead_rule_edit"),
    path("leads/<int:pk>/", v.lead_detail, name="lead_detail"),
    path("leads/<int:pk>/edit/", v.lead_edit, name="lead_edit"),
    path("leads/<int:pk>/status/", v.lead_status, name="lead_status"),
    path("leads/<int:pk>/assign/", v.lead_assign, name="lead_assign"),
    path("leads/<int:pk>/convert/", v.lead_convert, name="lead_convert"),
    path("leads/<int:pk>/delete/", v.lead_delete, name="lead_delete"),
]
