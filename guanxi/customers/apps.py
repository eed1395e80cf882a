from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "guanxi.customers"
    label = "customers"
    verbose_name = _("Customers")

    def ready(self):
        from guanxi.core import timeline
        from guanxi.customers import timeline as customer_timeline

        timeline.register("customers.audit", customer_timeline.audit_items)
        timeline.register("customers.contacts", customer_timeline.contact_items)
