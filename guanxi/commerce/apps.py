from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CommerceConfig(AppConfig):
    name = "guanxi.commerce"
    label = "commerce"
    verbose_name = _("Commerce")

    def ready(self):
        from guanxi.commerce import timeline as commerce_timeline
        from guanxi.core import timeline

        timeline.register("commerce.orders", commerce_timeline.order_items)
