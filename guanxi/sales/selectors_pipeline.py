"""Reading pipelines and opportunities: the kanban board, the list and the funnel.

Everything goes through ``visible_to``: a sales rep sees their own opportunities, a
manager the team's, others all. Filters (owner, team, expected close date range) are the
same for the board, the list and the API.
"""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from guanxi.accounts.roles import Scope, role_of
from guanxi.core.errors import ValidationFailed
from guanxi.core.pagination import _encode as encode_cursor
from guanxi.core.pagination import keyset_page
from guanxi.core.visibility import visible_to
from guanxi.sales.models import Opportunity, Pipeline, Stage, StageChange

CENT = Decimal("0.01")
CARDS_PER_COLUMN = 20
CLOSED_DAYS = 30  # won/lost columns of the board: closed in the last 30 days
FUNNEL_DAYS = 90  # default period of the funnel


def pipelines_for_board():
    return Pipeline.objects.filter(active=True).order_by("position", "id")


def stages_of(pipeline: Pipeline) -> list[Stage]:
    return list(pipeline.stages.order_by("position", "id"))


@dataclass
class Filters:
    owner: int | None = None
    team: int | None = None
    close_from: datetime.date | None = None
    close_to: datetime.date | None = None
    q: str = ""

    def query(self) -> dict:
        """The filters as query parameters (for links: "more", export, list ↔ board)."""
        out = {}
        if self.owner:
            out["owner"] = self.owner
        if self.team:
            out["team"] = self.team
        if self.close_from:
            out["close_from"] = self.close_from.isoformat()
        if self.close_to:
            out["close_to"] = self.close_to.isoformat()
        if self.q:
            out["q"] = self.q
        return out


def _int(raw, key, errors):
    if raw in (None, ""):
        return None
    text = str(raw).strip()
    if not text.isdigit():
        errors.setdefault(key, []).append(_("Choose one from the list."))
        return None
    return int(text)


def _day(raw, key, errors):
    if raw in (None, ""):
        return None
    if isinstance(raw, datetime.date):
        return raw
    try:
        return datetime.date.fromisoformat(str(raw).strip())
    except ValueError:
        errors.setdefault(key, []).append(_("Enter a date as YYYY-MM-DD."))
        return None


def parse_filters(params) -> Filters:
    errors: dict[str, list] = {}
    filters = Filters(
        owner=_int(params.get("owner"), "owner", errors),
        team=_int(params.get("team"), "team", errors),
        close_from=_day(params.get("close_from"), "close_from", errors),
        close_to=_day(params.get("close_to"), "close_to", errors),
        q=str(params.get("q") or "").strip()[:100],
    )
    if filters.close_from and filters.close_to and filters.close_from > filters.close_to:
        errors.setdefault("close_to", []).append(_("The end date is before the start date."))
    if errors:
        raise ValidationFailed(errors)
    return filters


def opportunities_for(user, pipeline: Pipeline | None, filters: Filters):
    qs = visible_to(user, Opportunity.objects.all())
    if pipeline is not None:
        qs = qs.filter(pipeline=pipeline)
    if filters.owner:
        qs = qs.filter(owner_id=filters.owner)
    if filters.team:
        qs = qs.filter(team_id=filters.team)
    if filters.close_from:
        qs = qs.filter(expected_close__gte=filters.close_from)
    if filters.close_to:
        qs = qs.filter(expected_close__lte=filters.close_to)
    if filters.q:
        qs = qs.filter(name__icontains=filters.q)
    return qs


# Board -------------------------------------------------------------------------------------


def _disjoint_parts(user, qs):
    """``qs`` (already limited by ``visible_to``) as disjoint parts whose sums add up to
    its own: for a team scope, the team's records and the user's own outside the team.
    Each part is one index range: SQLite reads the "own or team" OR by rowids and sorts
    or looks every row up; PostgreSQL combines the two indexes itself (a BitmapOr), so
    there the query stays whole."""
    if connection.vendor == "sqlite" and role_of(user).scope == Scope.TEAM and user.team_id:
        return [
            qs.filter(team_id=user.team_id),
            qs.filter(owner_id=user.pk).exclude(team_id=user.team_id),
        ]
    return [qs]


@dataclass
class Column:
    stage: Stage
    count: int = 0
    amount: Decimal = Decimal(0)
    cards: list = field(default_factory=list)
    next_cursor: str | None = None

    @property
    def weighted(self) -> Decimal:
        return (self.amount * self.stage.probability / Decimal(100)).quantize(Decimal("0.01"))


def _closed_since():
    return timezone.now() - datetime.timedelta(days=CLOSED_DAYS)


def column_queryset(user, pipeline: Pipeline, stage: Stage, filters: Filters):
    qs = opportunities_for(user, pipeline, filters).filter(stage=stage)
    if stage.kind == Stage.Kind.OPEN:
        return qs.filter(status=Stage.Kind.OPEN)
    return qs.filter(status=stage.kind, closed_at__gte=_closed_since())


def _parse_dt(value):
    parsed = parse_datetime(value) if isinstance(value, str) else None
    return parsed


CARD_FIELDS = (
    "id",
    "name",
    "amount",
    "currency",
    "expected_close",
    "next_step",
    "stage_entered_at",
    "status",
    "stage_id",
    "customer__id",
    "customer__name",
    "owner__id",
    "owner__username",
    "owner__display_name",
    "owner__first_name",
    "owner__last_name",
)


def column_cards(user, pipeline, stage, filters, *, cursor=None, size=CARDS_PER_COLUMN):
    """One page of cards of a column, most recently moved first.

    In two steps: the page's ids (and times in stage), then those cards with their
    customer and owner. With an expected close date filter the database reads the
    column's matches through the date range and sorts them; read whole and joined, every
    match was looked up with its customer and owner before the sort (an administrator's
    90-day filter: ~20,000 per column, 80 ms each on SQLite); the ids come from the
    board's covering index alone (~2 ms)."""
    qs = column_queryset(user, pipeline, stage, filters).only("id", "stage_entered_at")
    parts = _disjoint_parts(user, qs)
    if len(parts) == 1:
        keys, next_cursor = keyset_page(
            qs, order="-stage_entered_at", cursor=cursor, size=size, parse=_parse_dt
        )
    else:
        # A team scope: the newest of each index range, merged (the "own or team" OR
        # would read and sort the whole column).
        pages = [
            keyset_page(part, order="-stage_entered_at", cursor=cursor, size=size, parse=_parse_dt)
            for part in parts
        ]
        merged = sorted(
            (card for rows, _next in pages for card in rows),
            key=lambda c: (c.stage_entered_at, c.pk),
            reverse=True,
        )
        keys = merged[:size]
        more = len(merged) > size or any(next_ for _rows, next_ in pages)
        next_cursor = (
            encode_cursor([keys[-1].stage_entered_at.isoformat(), keys[-1].pk])
            if more and keys
            else None
        )
    cards = []
    if keys:
        cards = list(
            Opportunity.objects.filter(pk__in=[key.pk for key in keys])
            .select_related("customer", "owner")
            .only(*CARD_FIELDS)
            .order_by("-stage_entered_at", "-id")
        )
    now = timezone.now()
    for card in cards:
        days = max(0, (now - card.stage_entered_at).days)
        card.days_label = ngettext("%(days)d day in stage", "%(days)d days in stage", days) % {
            "days": days
        }
    return cards, next_cursor


def board(user, pipeline: Pipeline, filters: Filters, *, size=CARDS_PER_COLUMN) -> list[Column]:
    """The columns of the board: totals over every matching opportunity (open ones, and
    those won or lost in the last CLOSED_DAYS days) and the first ``size`` cards."""
    stages = stages_of(pipeline)
    columns = {s.pk: Column(stage=s) for s in stages}
    base = opportunities_for(user, pipeline, filters)
    totals = []
    for part in _disjoint_parts(user, base.filter(status=Stage.Kind.OPEN)):
        totals += part.values("stage_id").annotate(n=Count("id"), total=Sum("amount")).order_by()
    if any(s.kind != Stage.Kind.OPEN for s in stages):
        # Few rows (closed in the last CLOSED_DAYS days), summed here: grouped in SQL,
        # SQLite would rather walk a stage-ordered index over every closed deal.
        closed = base.filter(
            status__in=[Stage.Kind.WON, Stage.Kind.LOST], closed_at__gte=_closed_since()
        ).order_by()
        sums: dict[int, dict] = {}
        for stage_id, amount in closed.values_list("stage_id", "amount"):
            row = sums.setdefault(stage_id, {"stage_id": stage_id, "n": 0, "total": Decimal(0)})
            row["n"] += 1
            row["total"] += amount or Decimal(0)
        totals += sums.values()
    for row in totals:
        column = columns.get(row["stage_id"])
        if column is not None:
            column.count += row["n"]
            column.amount = (column.amount + (row["total"] or Decimal(0))).quantize(CENT)
    for column in columns.values():
        if column.count:
            column.cards, column.next_cursor = column_cards(
                user, pipeline, column.stage, filters, size=size
            )
    return list(columns.values())


def board_totals(columns: list[Column]) -> dict:
    open_columns = [c for c in columns if c.stage.kind == Stage.Kind.OPEN]
    return {
        "count": sum(c.count for c in open_columns),
        "amount": sum((c.amount for c in open_columns), Decimal(0)),
        "weighted": sum((c.weighted for c in open_columns), Decimal(0)),
    }


# List --------------------------------------------------------------------------------------

LIST_SORTS = {"-stage_entered_at", "-created_at", "created_at", "-amount", "expected_close"}


def opportunity_list(user, pipeline, filters, *, stage=None, status=None, cursor=None, size=50):
    qs = opportunities_for(user, pipeline, filters).select_related(
        "customer", "owner", "stage", "pipeline"
    )
    if stage is not None:
        qs = qs.filter(stage_id=stage)
    if status:
        if status not in Stage.Kind.values:
            raise ValidationFailed({"status": [_("Unknown status.")]})
        qs = qs.filter(status=status)
    return keyset_page(qs, order="-created_at", cursor=cursor, size=size, parse=_parse_dt)


# Funnel ------------------------------------------------------------------------------------


@dataclass
class FunnelRow:
    stage: Stage
    count: int = 0
    amount: Decimal = Decimal(0)
    conversion: float | None = None  # to the next row, in %
    avg_days: float | None = None


@dataclass
class Funnel:
    pipeline: Pipeline
    start: datetime.date
    end: datetime.date
    rows: list[FunnelRow]
    total: int
    won: int
    lost: int
    open: int
    won_amount: Decimal
    lost_stages: list[FunnelRow]

    @property
    def win_rate(self) -> float | None:
        closed = self.won + self.lost
        return round(100 * self.won / closed, 1) if closed else None

    @property
    def overall_conversion(self) -> float | None:
        return round(100 * self.won / self.total, 1) if self.total else None


def funnel_period(params) -> tuple[datetime.date, datetime.date]:
    errors: dict[str, list] = {}
    today = timezone.localdate()
    start = _day(params.get("start"), "start", errors)
    end = _day(params.get("end"), "end", errors)
    if errors:
        raise ValidationFailed(errors)
    end = end or today
    start = start or end - datetime.timedelta(days=FUNNEL_DAYS - 1)
    if start > end:
        raise ValidationFailed({"end": [_("The end date is before the start date.")]})
    return start, end


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _funnel_groups(cohort, stage_pks: list[int], *, null_reached: bool) -> list[dict]:
    """Count and amount of ``cohort`` per (status, furthest stage reached, stage).

    Every value of the three columns is named (IN lists), so that the database reads
    each group as one range of creation times of ``opp_funnel_groups_idx`` (or of
    ``opp_funnel_team_idx`` for a team's part), already in group order. Grouped over a
    range of creation times alone, SQLite sorted every row of the period first (a year,
    260,000 rows: 280 ms of 330). Nothing is left out: an opportunity's stage and
    furthest stage are stages of its pipeline (``opportunity_create`` /
    ``opportunity_move`` check it, the pipeline of an opportunity never changes, a stage
    that has been used cannot be deleted) and its status is its stage's kind. A null
    furthest stage, left by the back-fill of migration 0005 where the history had no
    open stage, is a second query, run only if ``null_reached`` (there is one anywhere):
    for a manager or a rep it is a walk of their rows, not an empty index range."""
    cohort = cohort.filter(status__in=Stage.Kind.values, stage_id__in=stage_pks).order_by()
    parts = [cohort.filter(reached_stage_id__in=stage_pks)]
    if null_reached:
        parts.append(cohort.filter(reached_stage__isnull=True))
    groups = []
    for part in parts:
        groups += part.values("status", "reached_stage_id", "stage_id").annotate(
            n=Count("*"), total=Sum("amount")
        )
    return groups


def funnel(user, pipeline: Pipeline, filters: Filters, start, end) -> Funnel:
    """The opportunities of ``pipeline`` created from ``start`` to ``end`` (inclusive):
    how many reached each open stage (or a later one: skipping a stage counts as passing
    it; a won opportunity passed them all), their amount, the conversion from each stage
    to the next and the win rate (won ÷ closed). Average days in a stage: the stays in
    that stage that ended in the period (from the stage history)."""
    stages = stages_of(pipeline)
    by_pk = {s.pk: s for s in stages}
    open_stages = [s for s in stages if s.kind == Stage.Kind.OPEN]
    won_stages = [s for s in stages if s.kind == Stage.Kind.WON]
    lost_stages = [s for s in stages if s.kind == Stage.Kind.LOST]
    since, until = _day_start(start), _day_start(end + datetime.timedelta(1))
    cohort = opportunities_for(user, pipeline, filters).filter(
        created_at__gte=since, created_at__lt=until
    )
    null_reached = Opportunity.objects.filter(reached_stage__isnull=True).exists()
    groups = []
    for part in _disjoint_parts(user, cohort):
        groups += _funnel_groups(part, [s.pk for s in stages], null_reached=null_reached)
    first_position = open_stages[0].position if open_stages else 0
    rows = [FunnelRow(stage=s) for s in open_stages]
    won = lost = still_open = 0
    won_amount = Decimal(0)
    lost_rows = {s.pk: FunnelRow(stage=s) for s in lost_stages}
    won_row = FunnelRow(stage=won_stages[0]) if won_stages else None
    for group in groups:
        n, amount = group["n"], (group["total"] or Decimal(0)).quantize(CENT)
        status = group["status"]
        reached = by_pk.get(group["reached_stage_id"])
        reach = reached.position if reached is not None else first_position
        if status == Stage.Kind.WON:
            won += n
            won_amount += amount
        elif status == Stage.Kind.LOST:
            lost += n
            if group["stage_id"] in lost_rows:
                lost_rows[group["stage_id"]].count += n
                lost_rows[group["stage_id"]].amount += amount
        else:
            still_open += n
        for row in rows:
            if status == Stage.Kind.WON or reach >= row.stage.position:
                row.count += n
                row.amount += amount
    if won_row is not None:
        won_row.count, won_row.amount = won, won_amount
        rows.append(won_row)
    for here, following in zip(rows, rows[1:], strict=False):
        here.conversion = round(100 * following.count / here.count, 1) if here.count else None
    stays = StageChange.objects.filter(
        at__gte=since, at__lt=until, from_stage_id__in=[s.pk for s in open_stages]
    )
    if role_of(user).scope != Scope.ALL or filters.query():
        # The stays of the opportunities this user sees (the filters included): a set of
        # ids probed per change, rather than a join to each change's opportunity.
        stays = stays.filter(
            opportunity_id__in=opportunities_for(user, pipeline, filters).values("id")
        )
    seconds: dict[int, list] = {}
    for r in (
        stays.values("from_stage_id")
        .annotate(total=Sum("seconds_in_previous"), n=Count("seconds_in_previous"))
        .order_by()
    ):
        seconds[r["from_stage_id"]] = [r["total"] or 0, r["n"]]
    for row in rows:
        total, n = seconds.get(row.stage.pk, (0, 0))
        row.avg_days = round(total / n / 86400, 1) if n else None
    return Funnel(
        pipeline=pipeline,
        start=start,
        end=end,
        rows=rows,
        total=won + lost + still_open,
        won=won,
        lost=lost,
        open=still_open,
        won_amount=won_amount,
        lost_stages=list(lost_rows.values()),
    )


def stage_history(opportunity: Opportunity) -> list[dict]:
    """The stage changes of one opportunity, oldest first, each with how long the
    opportunity stayed in that stage (until the next change, or until now)."""
    changes = list(
        StageChange.objects.filter(opportunity=opportunity)
        .select_related("from_stage", "to_stage", "actor")
        .order_by("at", "id")
    )
    out = []
    now = timezone.now()
    for index, change in enumerate(changes):
        following = changes[index + 1] if index + 1 < len(changes) else None
        if following is not None and following.seconds_in_previous is not None:
            seconds = following.seconds_in_previous
        elif following is not None:
            seconds = int((following.at - change.at).total_seconds())
        else:
            seconds = int((now - change.at).total_seconds())
        out.append(
            {
                "change": change,
                "seconds": seconds,
                "days": round(seconds / 86400, 1),
                "current": following is None,
            }
        )
    return out
