"""Pipeline pages under /sales/ (namespace ``sales``)."""

from django.urls import path

from guanxi.sales import views_pipeline as views

urlpatterns = [
    path("pipelines/", views.pipeline_home, name="pipeline"),
    path("pipelines/<int:pk>/board/", views.board, name="board"),
    path("pipelines/<int:pk>/board/<int:stage_pk>/more/", views.board_more, name="board_more"),
    path("opportunities/", views.opportunity_list, name="opportunities"),
    path("opportunities/new/", views.opportunity_create, name="opportunity_create"),
    path("opportunities/customers/", views.customer_options, name="opportunity_customers"),
    path("opportunities/<int:pk>/", views.opportunity_detail, name="opportunity_detail"),
    path("opportunities/<int:pk>/edit/", views.opportunity_edit, name="opportunity_edit"),
    path("opportunities/<int:pk>/move/", views.opportunity_move, name="opportunity_move"),
    path("funnel/", views.funnel, name="funnel"),
    path("settings/pipelines/", views.pipeline_settings, name="pipeline_settings"),
    path("settings/pipelines/new/", views.pipeline_edit, name="pipeline_create"),
    path("settings/pipelines/<int:pk>/", views.pipeline_edit, name="pipeline_edit"),
    path("settings/lost-reasons/new/", views.lost_reason_save, name="lost_reason_create"),
    path("settings/lost-reasons/<int:pk>/", views.lost_reason_save, name="lost_reason_edit"),
]
