from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "guanxi.analytics"
    label = "analytics"
    verbose_name = _("Analytics")

    def ready(self):
        # The analyses' own models (RFM settings, saved groups) live in their module.
        from guanxi.analytics import models_analysis  # noqa: F401
