from django.urls import path

from guanxi.analytics import urls_analysis, views_kpi

app_name = "analytics"
urlpatterns = [
    path("kpi/", views_kpi.kpi_page, name="kpi"),
    *urls_analysis.urlpatterns,
]
