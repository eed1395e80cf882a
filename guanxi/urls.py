from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from guanxi.api.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("accounts/", include("guanxi.accounts.urls")),
    path("customers/", include("guanxi.customers.urls")),
    path("commerce/", include("guanxi.commerce.urls")),
    path("analytics/", include("guanxi.analytics.urls")),
    path("sales/", include("guanxi.sales.urls")),
    path("f/", include("guanxi.sales.urls_public")),
    path("", include("guanxi.web.urls")),
]
