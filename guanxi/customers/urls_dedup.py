from django.urls import path

from guanxi.customers import views

urlpatterns = [
    path("duplicates/", views.placeholder, name="duplicates"),
]
