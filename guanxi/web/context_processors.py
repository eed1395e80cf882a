from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from guanxi.accounts.roles import Action, can

NAV = [
    ("web:dashboard", _("Dashboard"), None),
    ("customers:list", _("Customers"), Action.VIEW),
    ("sales:leads", _("Leads"), Action.VIEW),
    # The funnel is a tab of the pipeline pages (board, list, funnel).
    ("sales:pipeline", _("Pipeline"), Action.VIEW),
    ("sales:tasks", _("Tasks"), Action.VIEW),
    ("sales:follow_up", _("Follow-up"), Action.VIEW),
    ("sales:dashboard", pgettext_lazy("navigation", "Targets"), Action.VIEW),
    ("commerce:orders", _("Orders"), Action.VIEW),
    ("analytics:kpi", _("KPI"), Action.VIEW),
    ("analytics:index", _("Analysis"), Action.VIEW),
    ("customers:import", _("Import"), Action.IMPORT),
    ("customers:duplicates", _("Duplicates"), Action.MERGE),
    ("accounts:users", _("Users & teams"), Action.MANAGE_USERS),
    ("customers:settings", _("Settings"), Action.MANAGE_SETTINGS),
]


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items = [(name, label) for name, label, action in NAV if action is None or can(user, action)]
    return {"nav_items": items}
