from django.utils.translation import gettext_lazy as _

from guanxi.accounts.roles import Action, can

NAV = [
    ("web:dashboard", _("Dashboard"), None),
    ("customers:list", _("Customers"), Action.VIEW),
    ("sales:dashboard", _("Sales"), Action.VIEW),
    ("sales:leads", _("Leads"), Action.VIEW),
    ("sales:pipeline", _("Pipeline"), Action.VIEW),  # pipeline
    ("sales:funnel", _("Funnel"), Action.VIEW),  # pipeline
    ("sales:tasks", _("Tasks"), Action.VIEW),  # follow-up
    ("sales:follow_up", _("Follow-up"), Action.VIEW),  # follow-up
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
