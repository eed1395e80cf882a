"""Public pages without login: the web-to-lead forms at /f/<slug>/."""

from django.urls import path

from guanxi.sales import views_leads

app_name = "sales_public"
urlpatterns = [
    path("<slug:slug>/", views_leads.public_form, name="lead_form"),
]
