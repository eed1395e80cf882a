from django.urls import path

from guanxi.customers import views

app_name = "customers"
urlpatterns = [
    path("", views.customer_list, name="list"),
    path("import/", views.placeholder, name="import"),
    path("duplicates/", views.placeholder, name="duplicates"),
    path("settings/", views.placeholder, name="settings"),
]
