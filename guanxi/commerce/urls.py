from django.urls import path

from guanxi.commerce import views, views_import, webhooks

app_name = "commerce"
urlpatterns = [
    path("orders/", views.order_list, name="orders"),
    path("orders/<int:pk>/", views.order_detail, name="order_detail"),
    path("stores/", views.store_list, name="stores"),
    path("stores/<int:pk>/", views.store_detail, name="store_detail"),
    path("stores/<int:pk>/rotate-secret/", views.store_rotate_secret, name="store_rotate"),
    path("products/", views.product_list, name="products"),
    path("webhooks/<slug:store_code>/", webhooks.receive, name="webhook"),
    path("orders/import/", views_import.import_upload, name="order_import"),
    path("orders/import/<int:job_id>/", views_import.import_job, name="order_import_job"),
]
