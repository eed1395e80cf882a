"""The sales dashboard (attainment and forecast) and the targets page. Thin: the same
selectors and services as /api/v1/sales/dashboard and /api/v1/sales/targets."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from guanxi.accounts.models import Team
from guanxi.accounts.roles import Action, Scope, can, require, role_of
from guanxi.analytics import reports
from guanxi.core.errors import ValidationFailed
from guanxi.sales import selectors_targets, services_targets
from guanxi.sales.models import SalesTarget
from guanxi.web.decorators import service_errors


def _int(value):
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _choosable(user):
    """The users and teams whose figures ``user`` may look at (for the pickers)."""
    User = get_user_model()
    scope = role_of(user).scope
    users = User.objects.filter(is_active=True, role__in=["sales", "manager"]).order_by("username")
    teams = Team.objects.order_by("name")
    if scope == Scope.OWN:
        return users.filter(pk=user.pk), teams.none()
    if scope == Scope.TEAM:
        return users.filter(team_id=user.team_id), teams.filter(pk=user.team_id)
    return users, teams


def dashboard_tables(board: selectors_targets.Dashboard) -> list[reports.Table]:
    attainment = reports.Table(
        name="attainment",
        title=_("Target attainment"),
        headers=[
            _("Who"),
            _("Target amount"),
            _("Won amount"),
            _("Attainment (amount) %"),
            _("Target won deals"),
            _("Won deals"),
            _("Attainment (deals) %"),
        ],
    )
    for a in [board.total, *board.members]:
        attainment.rows.append(
            [
                a.label,
                a.target_amount,
                a.won_amount,
                a.amount_pct,
                a.target_deals,
                a.won_deals,
                a.deals_pct,
            ]
        )
    forecast = reports.Table(
        name="forecast",
        title=_("Forecast"),
        headers=[
            _("Month"),
            _("Won"),
            _("Weighted open pipeline"),
            _("Forecast"),
            _("Target"),
            _("Open opportunities"),
            _("Open amount"),
        ],
    )
    for f in board.forecast:
        forecast.rows.append(
            [
                f.month.strftime("%Y-%m"),
                f.won,
                f.weighted_open,
                f.forecast,
                f.target,
                f.open_count,
                f.open_amount,
            ]
        )
    return [attainment, forecast]


@service_errors
def dashboard_page(request):
    require(request.user, Action.VIEW)
    errors = []
    month = None
    try:
        if request.GET.get("month"):
            month = services_targets.parse_month(request.GET["month"])
    except ValidationFailed as exc:
        errors = [m for ms in exc.field_errors.values() for m in ms]
    user_id, team_id = _int(request.GET.get("user")), _int(request.GET.get("team"))
    board = selectors_targets.sales_dashboard(
        request.user, month=month, user_id=user_id, team_id=team_id
    )
    tables = dashboard_tables(board)
    if request.GET.get("format"):
        return reports.export_response(
            user=request.user,
            tables=tables,
            name=request.GET.get("table"),
            fmt=request.GET["format"],
        )
    query = {"month": board.month.strftime("%Y-%m"), "user": user_id or "", "team": team_id or ""}
    users, teams = _choosable(request.user)
    chart = {
        "labels": [f.month.strftime("%Y-%m") for f in board.forecast],
        "series": [
            {"name": _("Won"), "data": [str(f.won) for f in board.forecast]},
            {
                "name": _("Weighted open pipeline"),
                "data": [str(f.weighted_open) for f in board.forecast],
            },
            {
                "name": _("Target"),
                "data": [str(f.target) if f.target is not None else None for f in board.forecast],
            },
        ],
    }
    attainment_chart = {
        "labels": [a.label for a in board.members] or [board.total.label],
        "series": [
            {
                "name": _("Won amount"),
                "data": [str(a.won_amount) for a in board.members or [board.total]],
            },
            {
                "name": _("Target amount"),
                "data": [
                    str(a.target_amount) if a.target_amount is not None else None
                    for a in board.members or [board.total]
                ],
            },
        ],
    }
    return render(
        request,
        "sales/targets/dashboard.html",
        {
            "board": board,
            "errors": errors,
            "users": users,
            "teams": teams,
            "query": query,
            "export_query": urlencode({k: v for k, v in query.items() if v != ""}),
            "chart": chart,
            "attainment_chart": attainment_chart,
            "can_export": can(request.user, Action.EXPORT),
            "can_set": can(request.user, Action.SET_TARGETS),
        },
    )


@service_errors
def targets_page(request):
    require(request.user, Action.SET_TARGETS)
    month = selectors_targets.current_month()
    field_errors: dict = {}
    posted: dict = {}
    if request.method == "POST":
        posted = request.POST.dict()
        subject = posted.get("subject", "")
        kind, _sep, pk = subject.partition(":")
        data = {
            "month": posted.get("month"),
            "amount": posted.get("amount"),
            "won_deals": posted.get("won_deals"),
            "user": _int(pk) if kind == "user" else None,
            "team": _int(pk) if kind == "team" else None,
        }
        try:
            services_targets.target_set(request.user, data)
        except ValidationFailed as exc:
            field_errors = exc.field_errors
        else:
            messages.success(request, _("Target saved."))
            return redirect(
                f"{request.path}?month={services_targets.parse_month(data['month']):%Y-%m}"
            )
    try:
        if request.GET.get("month"):
            month = services_targets.parse_month(request.GET["month"])
    except ValidationFailed as exc:
        field_errors = exc.field_errors
    users, teams = _choosable(request.user)
    targets = [
        t
        for t in SalesTarget.objects.filter(month=month).select_related("user", "team")
        if services_targets.subject_allowed(request.user, user=t.user, team=t.team)
    ]
    return render(
        request,
        "sales/targets/targets.html",
        {
            "month": month,
            "targets": targets,
            "users": users.exclude(pk=request.user.pk)
            if role_of(request.user).scope != Scope.ALL
            else users,
            "teams": teams,
            "field_errors": field_errors,
            "posted": posted,
        },
    )


@service_errors
def target_delete(request, target_id: int):
    if request.method != "POST":
        return redirect("sales:targets")
    target = SalesTarget.objects.filter(pk=target_id).first()
    month = target.month if target else selectors_targets.current_month()
    services_targets.target_delete(request.user, target_id)
    messages.success(request, _("Target removed."))
    return redirect(f"{reverse('sales:targets')}?month={month:%Y-%m}")
