from django.urls import path

from guanxi.analytics import views_analysis as views
from guanxi.analytics import views_clv  # CLV (clv helper)

# Included by guanxi/analytics/urls.py (app_name "analytics").
urlpatterns = [
    path("", views.index, name="index"),
    path("rfm/", views.rfm_page, name="rfm"),
    path("rfm/recompute/", views.rfm_recompute, name="rfm_recompute"),
    path("rfm/settings/", views.rfm_settings, name="rfm_settings"),
    path("groups/", views.groups_page, name="groups"),
    path("groups/new/", views.group_create, name="group_create"),
    path("groups/analyse/", views.group_analyse, name="group_analyse"),
    path("groups/<int:pk>/", views.group_detail, name="group"),
    path("groups/<int:pk>/delete/", views.group_delete, name="group_delete"),
    path("churn/", views.churn_page, name="churn"),
    path("churn/apply/", views.churn_apply, name="churn_apply"),
    path("cohorts/", views.cohorts_page, name="cohorts"),
    # CLV (clv helper)
    path("clv/", views_clv.clv_page, name="clv"),
    path("clv/refit/", views_clv.clv_refit, name="clv_refit"),
    path("clv/export/", views_clv.clv_export, name="clv_export"),
    # end CLV (clv helper)
]
