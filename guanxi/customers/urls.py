from django.urls import path

from guanxi.customers import urls_dedup, urls_transfer, views

app_name = "customers"
urlpatterns = [
    path("", views.customer_list, name="list"),
    path("new/", views.customer_create, name="create"),
    path("<int:pk>/", views.customer_detail, name="detail"),
    path("<int:pk>/timeline/", views.customer_timeline, name="timeline"),
    path("<int:pk>/edit/", views.customer_edit, name="edit"),
    path("<int:pk>/delete/", views.customer_delete, name="delete"),
    path("<int:pk>/consent/", views.consent_set, name="consent"),
    path("<int:pk>/contacts/new/", views.contact_add, name="contact_add"),
    path("contacts/<int:contact_id>/edit/", views.contact_edit, name="contact_edit"),
    path("contacts/<int:contact_id>/delete/", views.contact_delete, name="contact_delete"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/fields/new/", views.field_create, name="field_create"),
    path("settings/fields/<int:field_id>/", views.field_update, name="field_update"),
    path(
        "settings/fields/<int:field_id>/deactivate/",
        views.field_deactivate,
        name="field_deactivate",
    ),
    path("settings/tags/new/", views.tag_create, name="tag_create"),
    path("settings/tags/<int:tag_id>/", views.tag_update, name="tag_update"),
    path("settings/tags/<int:tag_id>/delete/", views.tag_delete, name="tag_delete"),
    *urls_transfer.urlpatterns,
    *urls_dedup.urlpatterns,
]
