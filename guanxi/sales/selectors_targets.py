"""Target attainment and the forecast, for one user, one team or the whole company.

- **Won** in a month: opportunities whose status is won and whose ``closed_at`` falls in
  the month (in the site's time zone), summed by amount and counted.
- **Attainment**: won ÷ target, for the amount and for the number of won deals.
- **Forecast** of a month: won in that month + the weighted open pipeline expected to
  close in it (amount × the stage's win probability). Open opportunities with no
  expected close date, or one already past, count in the current month: they are still
  open, so this is when they can close at the earliest.

Everything reads through ``visible_to``, so a sales rep's figures are their own, a
manager's their team's, whatever is asked.
"""

from __future__ import annotations

import datetime
import zoneinfo
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from guanxi.accounts.models import Team
from guanxi.accounts.roles import Scope, role_of
from guanxi.core.visibility import visible_to
from guanxi.sales.models import Opportunity, SalesTarget, Stage
from guanxi.sales.services_targets import resolve_subject

ZERO = Decimal("0.00")
FORECAST_MONTHS = 6


def site_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def add_months(month: datetime.date, n: int) -> datetime.date:
    index = month.year * 12 + month.month - 1 + n
    return datetime.date(index // 12, index % 12 + 1, 1)


def month_bounds(month: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    zone = site_zone()
    start = datetime.datetime.combine(month, datetime.time(), tzinfo=zone)
    end = datetime.datetime.combine(add_months(month, 1), datetime.time(), tzinfo=zone)
    return start, end


def current_month() -> datetime.date:
    return timezone.localtime(timezone.now(), site_zone()).date().replace(day=1)


def _pct(part, whole) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"))


@dataclass
class Attainment:
    label: str
    user_id: int | None
    team_id: int | None
    target_amount: Decimal | None
    target_deals: int | None
    won_amount: Decimal = ZERO
    won_deals: int = 0

    @property
    def amount_pct(self) -> Decimal | None:
        return _pct(self.won_amount, self.target_amount)

    @property
    def deals_pct(self) -> Decimal | None:
        return _pct(self.won_deals, self.target_deals)


@dataclass
class ForecastMonth:
    month: datetime.date
    won: Decimal
    weighted_open: Decimal
    open_amount: Decimal
    open_count: int
    target: Decimal | None

    @property
    def forecast(self) -> Decimal:
        return self.won + self.weighted_open


@dataclass
class Dashboard:
    month: datetime.date
    subject_label: str
    user_id: int | None
    team_id: int | None
    total: Attainment
    members: list[Attainment] = field(default_factory=list)
    forecast: list[ForecastMonth] = field(default_factory=list)


def _subject_filter(user, team) -> Q:
    if user is not None:
        return Q(owner_id=user.pk)
    if team is not None:
        return Q(team_id=team.pk)
    return Q()


def _won(qs, start, end) -> tuple[Decimal, int]:
    row = qs.filter(status=Stage.Kind.WON, closed_at__gte=start, closed_at__lt=end).aggregate(
        amount=Coalesce(Sum("amount"), ZERO, output_field=DecimalField()), deals=Count("id")
    )
    return row["amount"].quantize(Decimal("0.01")), row["deals"]


def _default_subject(viewer):
    """A rep sees themself; a manager their team; all-scope roles the company."""
    scope = role_of(viewer).scope
    if scope == Scope.OWN:
        return viewer, None
    if scope == Scope.TEAM and viewer.team_id:
        return None, viewer.team
    if scope == Scope.TEAM:
        return viewer, None
    return None, None


def sales_dashboard(viewer, *, month=None, user_id=None, team_id=None) -> Dashboard:
    month = month or current_month()
    if user_id or team_id:
        user, team = resolve_subject(viewer, user_id=user_id, team_id=team_id)
    else:
        user, team = _default_subject(viewer)
    scope = visible_to(viewer, Opportunity.objects.all()).filter(_subject_filter(user, team))
    start, end = month_bounds(month)
    targets = SalesTarget.objects.filter(month=month)

    def attainment(label, qs, target_qs, *, user_id=None, team_id=None) -> Attainment:
        won_amount, won_deals = _won(qs, start, end)
        target = target_qs.aggregate(amount=Sum("amount"), deals=Sum("won_deals"), n=Count("id"))
        return Attainment(
            label=label,
            user_id=user_id,
            team_id=team_id,
            target_amount=target["amount"] if target["n"] else None,
            target_deals=target["deals"] if target["n"] else None,
            won_amount=won_amount,
            won_deals=won_deals,
        )

    User = get_user_model()
    members: list[Attainment] = []
    if user is not None:
        label = user.display_name or user.get_username()
        total = attainment(label, scope, targets.filter(user=user), user_id=user.pk)
    elif team is not None:
        label = team.name
        total = attainment(label, scope, targets.filter(team=team), team_id=team.pk)
        for member in User.objects.filter(team=team, is_active=True).order_by("username"):
            members.append(
                attainment(
                    member.display_name or member.get_username(),
                    scope.filter(owner_id=member.pk),
                    targets.filter(user=member),
                    user_id=member.pk,
                )
            )
    else:
        from django.utils.translation import gettext

        label = gettext("All teams")
        # The company's target is what its teams were given.
        total = attainment(label, scope, targets.filter(team__isnull=False))
        for each in Team.objects.order_by("name"):
            members.append(
                attainment(
                    each.name,
                    scope.filter(team_id=each.pk),
                    targets.filter(team=each),
                    team_id=each.pk,
                )
            )
    return Dashboard(
        month=month,
        subject_label=label,
        user_id=user.pk if user else None,
        team_id=team.pk if team else None,
        total=total,
        members=members,
        forecast=forecast(scope, month, user=user, team=team),
    )


def forecast(scope, first: datetime.date, *, user=None, team=None, months=FORECAST_MONTHS):
    """Won + weighted open pipeline for ``months`` months from ``first``."""
    now_month = current_month()
    weighted = ExpressionWrapper(
        F("amount") * F("stage__probability") / 100,
        output_field=DecimalField(max_digits=20, decimal_places=4),
    )
    open_qs = scope.filter(status=Stage.Kind.OPEN)
    target_qs = SalesTarget.objects.filter(
        Q(user=user) if user else Q(team=team) if team else Q(team__isnull=False)
    )
    target_by_month: dict = {}
    for row in target_qs.filter(month__gte=first, month__lt=add_months(first, months)).values(
        "month", "amount"
    ):
        target_by_month[row["month"]] = target_by_month.get(row["month"], ZERO) + row["amount"]
    result = []
    for k in range(months):
        month = add_months(first, k)
        start, end = month_bounds(month)
        won, _deals = _won(scope, start, end)
        if month < now_month:
            in_month = open_qs.none()  # the past: only what was won counts
        elif month == now_month:
            in_month = open_qs.filter(
                Q(expected_close__isnull=True) | Q(expected_close__lt=add_months(month, 1))
            )
        else:
            in_month = open_qs.filter(
                expected_close__gte=month, expected_close__lt=add_months(month, 1)
            )
        row = in_month.aggregate(
            weighted=Coalesce(Sum(weighted), ZERO, output_field=DecimalField()),
            amount=Coalesce(Sum("amount"), ZERO, output_field=DecimalField()),
            n=Count("id"),
        )
        result.append(
            ForecastMonth(
                month=month,
                won=won,
                weighted_open=Decimal(row["weighted"]).quantize(Decimal("0.01")),
                open_amount=Decimal(row["amount"]).quantize(Decimal("0.01")),
                open_count=row["n"],
                target=target_by_month.get(month),
            )
        )
    return result
