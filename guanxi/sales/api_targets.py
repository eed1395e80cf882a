"""Sales targets, attainment and forecast over /api/v1."""

import datetime
from decimal import Decimal

from ninja import Query, Router, Schema, Status

from guanxi.accounts.roles import Action, require
from guanxi.customers.api import ERRORS, InputSchema
from guanxi.sales import selectors_targets, services_targets
from guanxi.sales.models import SalesTarget

router = Router(tags=["sales"])


class TargetOut(Schema):
    id: int
    month: datetime.date
    user_id: int | None
    team_id: int | None
    amount: Decimal
    won_deals: int


class TargetIn(InputSchema):
    month: str
    user: int | None = None
    team: int | None = None
    amount: Decimal | str = Decimal(0)
    won_deals: int | str = 0


class AttainmentOut(Schema):
    label: str
    user_id: int | None
    team_id: int | None
    target_amount: Decimal | None
    target_deals: int | None
    won_amount: Decimal
    won_deals: int
    amount_pct: Decimal | None
    deals_pct: Decimal | None


class ForecastOut(Schema):
    month: datetime.date
    won: Decimal
    weighted_open: Decimal
    open_amount: Decimal
    open_count: int
    forecast: Decimal
    target: Decimal | None


class DashboardOut(Schema):
    month: datetime.date
    subject_label: str
    user_id: int | None
    team_id: int | None
    total: AttainmentOut
    members: list[AttainmentOut]
    forecast: list[ForecastOut]


class DashboardQuery(Schema):
    month: str | None = None
    user: int | None = None
    team: int | None = None


@router.get("/sales/targets", response={200: list[TargetOut], **ERRORS}, summary="List targets")
def list_targets(request, month: str | None = None):
    """The targets of the users and teams the caller may see (of one month if given)."""
    require(request.user, Action.VIEW)
    qs = SalesTarget.objects.select_related("user", "team").order_by("-month", "id")
    if month:
        qs = qs.filter(month=services_targets.parse_month(month))
    return [
        t
        for t in qs[:2000]
        if services_targets.subject_allowed(request.user, user=t.user, team=t.team)
    ]


@router.put("/sales/targets", response={200: TargetOut, **ERRORS}, summary="Set a target")
def set_target(request, data: TargetIn):
    """Create or replace the target of a user or a team for a month (``2026-11``)."""
    return services_targets.target_set(request.user, data.dict())


@router.delete(
    "/sales/targets/{target_id}", response={204: None, **ERRORS}, summary="Delete a target"
)
def delete_target(request, target_id: int):
    services_targets.target_delete(request.user, target_id)
    return Status(204, None)


@router.get("/sales/dashboard", response={200: DashboardOut, **ERRORS}, summary="Sales dashboard")
def dashboard(request, query: Query[DashboardQuery]):
    """Attainment of a month (default: this month) and the forecast of the next six, for
    the caller (sales rep), their team (manager) or everyone (admin) — or a ``user`` /
    ``team`` the caller may see."""
    require(request.user, Action.VIEW)
    month = services_targets.parse_month(query.month) if query.month else None
    result = selectors_targets.sales_dashboard(
        request.user, month=month, user_id=query.user, team_id=query.team
    )
    return {
        "month": result.month,
        "subject_label": result.subject_label,
        "user_id": result.user_id,
        "team_id": result.team_id,
        "total": _attainment(result.total),
        "members": [_attainment(m) for m in result.members],
        "forecast": [_forecast(f) for f in result.forecast],
    }


def _attainment(a: selectors_targets.Attainment) -> dict:
    return {**a.__dict__, "amount_pct": a.amount_pct, "deals_pct": a.deals_pct}


def _forecast(f: selectors_targets.ForecastMonth) -> dict:
    return {**f.__dict__, "forecast": f.forecast}
