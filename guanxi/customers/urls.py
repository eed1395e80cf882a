from django.urls import path

from guanxi.customers import urls_dedup, urls_transfer, views

app_name = "customers"
urlpatterns = [
    path("", views.customer_list, name="list"),
    path("settings/", views.placeholder, name="settings"),
    *urls_transfer.urlpatterns,
    *urls_dedup.urlpatterns,
]
