from django.urls import path

from guanxi.commerce import views, webhooks

app_name = "commerce"
urlpatterns = [
    path("orders/", views.order_list, name="orders"),
    path("orders/<int:pk>/", views.order_detail, name="order_detail"),
    path("stores/", views.store_list, name="stores"),
    path("stores/<int:pk>/", views.store_detail, name="store_detail"),
    path("stores/<int:pk>/rotate-secret/", views.store_rotate_secret, name="store_rotate"),
    path("products/", views.product_list, name="products"),
    path("webhooks/<slug:store_code>/", webhooks.receive, name="webhook"),
]
