from django.urls import path

from guanxi.customers import views as placeholder_views

urlpatterns = [
    path("rfm/", placeholder_views.placeholder, name="rfm"),
]
