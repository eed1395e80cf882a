from django.urls import path

from guanxi.analytics import urls_analysis
from guanxi.customers import views as placeholder_views

app_name = "analytics"
urlpatterns = [
    path("kpi/", placeholder_views.placeholder, name="kpi"),
    *urls_analysis.urlpatterns,
]
