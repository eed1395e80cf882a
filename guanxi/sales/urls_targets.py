from django.urls import path

from guanxi.sales import views_targets

urlpatterns = [
    path("dashboard/", views_targets.dashboard_page, name="dashboard"),
    path("targets/", views_targets.targets_page, name="targets"),
    path("targets/<int:target_id>/delete/", views_targets.target_delete, name="target_delete"),
]
