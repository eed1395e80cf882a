from django.urls import path

from guanxi.customers import views_dedup

urlpatterns = [
    path("duplicates/", views_dedup.duplicate_list, name="duplicates"),
    path("duplicates/dismiss/", views_dedup.duplicate_dismiss, name="duplicates_dismiss"),
    path("merge/", views_dedup.merge, name="merge"),
]
