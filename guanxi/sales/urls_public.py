"""Public pages without login: the web-to-lead forms at /f/<slug>/."""

app_name = "sales_public"
urlpatterns = []
