from django.urls import path

from guanxi.customers import views as placeholder_views

app_name = "commerce"
urlpatterns = [
    path("orders/", placeholder_views.placeholder, name="orders"),
]
