from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesConfig(AppConfig):
    name = "guanxi.sales"
    label = "sales"
    verbose_name = _("Sales")

    def ready(self):
        from guanxi.core import timeline
        from guanxi.sales import selectors_leads  # leads
        from guanxi.sales import timeline as sales_timeline  # follow-up

        timeline.register("sales.activities", sales_timeline.activity_items)  # follow-up
        timeline.register("sales.tasks", sales_timeline.task_items)  # follow-up
        timeline.register("sales.leads", selectors_leads.customer_timeline_items)  # leads
