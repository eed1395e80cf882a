"""Pages of the sales app under /sales/: each part lists its own in ``urls_<part>``."""

from guanxi.sales import urls_followup, urls_leads, urls_pipeline, urls_targets

app_name = "sales"
urlpatterns = [
    *urls_leads.urlpatterns,
    *urls_pipeline.urlpatterns,
    *urls_followup.urlpatterns,
    *urls_targets.urlpatterns,
]
