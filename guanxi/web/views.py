from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from guanxi.accounts.roles import Action, can
from guanxi.customers import selectors
from guanxi.customers.models import Customer

# The same colours as the stage cards in app.css (.stat.stage-*).
STAGE_COLORS = {
    "lead": "#9ca3af",
    "prospect": "#0284c7",
    "customer": "#16a34a",
    "vip": "#d97706",
    "dormant": "#7c3aed",
    "lost": "#dc2626",
}


@login_required
def dashboard(request):
    """Real numbers only: customers the user can see, by lifecycle stage and grade."""
    by_stage = selectors.counts_by(request.user, "stage")
    by_grade = selectors.counts_by(request.user, "grade")
    stages = [(value, label, by_stage.get(value, 0)) for value, label in Customer.Stage.choices]
    grades = [(value, value, by_grade.get(value, 0)) for value in Customer.Grade.values]
    ungraded = by_grade.get("", 0)
    total = sum(by_stage.values())
    grade_chart = [{"label": _("Grade %(grade)s") % {"grade": v}, "n": n} for v, _l, n in grades]
    if ungraded:
        grade_chart.append({"label": _("Not graded"), "n": ungraded, "color": "#9ca3af"})
    return render(
        request,
        "web/dashboard.html",
        {
            "stages": stages,
            "grades": grades,
            "ungraded": ungraded,
            "total": total,
            "stage_chart": [
                {"label": str(label), "n": n, "color": STAGE_COLORS.get(value)}
                for value, label, n in stages
            ],
            "grade_chart": grade_chart,
            "can_create": can(request.user, Action.CREATE),
        },
    )


def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")
