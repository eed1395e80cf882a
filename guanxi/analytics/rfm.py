"""RFM: recency, frequency and monetary scores 1–5 and the eight named segments.

Scores are computed over the customers with orders (``CustomerStats.orders > 0``):

* recency R: days since the last order; ≤ b1 → 5, ≤ b2 → 4, ≤ b3 → 3, ≤ b4 → 2, else 1;
* frequency F: orders; ≤ b1 → 1, ≤ b2 → 2, ≤ b3 → 3, ≤ b4 → 4, else 5;
* monetary M: revenue (paid − refunded), like F.

The boundaries b1..b4 of a dimension are the ones an admin set (``RfmSettings``) or, by
default, its quintiles: the values at ranks ⌈k·n/5⌉ (k = 1..4) of the sorted values
(for R sorted from the most recent), so with distinct values each score holds a fifth of
the customers; equal values always get the same score.

Segments compare each score with the mean score of the scored customers (high = above
the mean), the standard eight-way RFM model (RFM 八大客户类型). Customers without orders
have scores 0 and no segment.

The recompute is set-based: one ROW_NUMBER() query per dimension for the
quintiles, one aggregate for the mean scores, and one ``UPDATE … SET … = CASE WHEN``.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Case, Count, F, IntegerField, Q, QuerySet, Sum, Value, When, Window
from django.db.models import CharField as CharFieldType
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.accounts.roles import Action, require
from guanxi.analytics.models import CustomerStats
from guanxi.analytics.models_analysis import RfmSettings
from guanxi.core import audit
from guanxi.core.errors import ValidationFailed
from guanxi.core.visibility import visible_to


@dataclass(frozen=True)
class Segment:
    key: str
    label: object  # lazy, English msgid
    chinese: str  # the customary Chinese name, shown beside the label
    r_high: bool
    f_high: bool
    m_high: bool


SEGMENTS = [
    Segment("champions", gettext_lazy("Champions"), "重要价值客户", True, True, True),
    Segment("promising", gettext_lazy("Promising"), "重要发展客户", True, False, True),
    Segment("loyal", gettext_lazy("Loyal"), "重要保持客户", False, True, True),
    Segment("at_risk", gettext_lazy("At risk"), "重要挽留客户", False, False, True),
    Segment("potential", gettext_lazy("Potential loyalists"), "一般价值客户", True, True, False),
    Segment("new", gettext_lazy("New"), "一般发展客户", True, False, False),
    Segment("need_attention", gettext_lazy("Need attention"), "一般保持客户", False, True, False),
    Segment("lost", gettext_lazy("Lost"), "一般挽留客户", False, False, False),
]
SEGMENT_BY_KEY = {s.key: s for s in SEGMENTS}
SEGMENT_KEYS = [s.key for s in SEGMENTS]
DIMENSIONS = ("recency", "frequency", "monetary")
CENT = Decimal("0.01")


def segment_label(key: str) -> str:
    segment = SEGMENT_BY_KEY.get(key)
    return str(segment.label) if segment else _("No orders")


def scored_stats() -> QuerySet:
    return CustomerStats.objects.filter(orders__gt=0, last_order_at__isnull=False)


# ----------------------------------------------------------------------- boundaries


def _rank_positions(n: int) -> list[int]:
    """0-based positions of the quintile boundaries among n sorted values."""
    return [max(0, math.ceil(k * n / 5) - 1) for k in range(1, 5)]


def _values_at(qs: QuerySet, order: str, positions: list[int]) -> list:
    """The values at these 0-based ranks of ``qs`` sorted by ``order``: one sort (a
    ROW_NUMBER window) rather than one ``ORDER BY … OFFSET`` query per rank."""
    field = order.lstrip("-")
    expr = F(field).desc() if order.startswith("-") else F(field).asc()
    ranked = (
        qs.annotate(_rank=Window(RowNumber(), order_by=[expr]))
        .filter(_rank__in=[p + 1 for p in positions])
        .values_list("_rank", field)
    )
    found = dict(ranked)
    return [found[p + 1] for p in positions]


def clean_bounds(data: dict) -> dict[str, list]:
    """{"recency": [4 numbers] or [], ...} validated: non-negative, ascending."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, list] = {}
    for dim in DIMENSIONS:
        raw = data.get(dim) or []
        if isinstance(raw, str):
            raw = [p for p in raw.replace("，", ",").split(",") if p.strip()]
        if not raw:
            cleaned[dim] = []
            continue
        try:
            values = [Decimal(str(v).strip()) for v in raw]
        except (ArithmeticError, ValueError):
            errors[dim] = [_("Enter four numbers separated by commas.")]
            continue
        if len(values) != 4 or not all(v.is_finite() for v in values):
            errors[dim] = [_("Enter four numbers separated by commas.")]
        elif any(v < 0 for v in values):
            errors[dim] = [_("Boundaries cannot be negative.")]
        elif any(b <= a for a, b in zip(values, values[1:], strict=False)):
            errors[dim] = [_("Each boundary must be greater than the one before.")]
        else:
            cleaned[dim] = [int(v) if v == v.to_integral_value() else float(v) for v in values]
    if errors:
        raise ValidationFailed(errors)
    return cleaned


@transaction.atomic
def rfm_settings_update(*, actor, data: dict) -> RfmSettings:
    """Set (or clear, with empty lists) the explicit boundaries of each dimension."""
    require(actor, Action.MANAGE_SETTINGS)
    cleaned = clean_bounds(data)
    settings = RfmSettings.objects.select_for_update().get_or_create(pk=1)[0]
    before = {d: getattr(settings, f"{d}_bounds") for d in DIMENSIONS}
    for dim in DIMENSIONS:
        setattr(settings, f"{dim}_bounds", cleaned[dim])
    settings.updated_by = actor
    settings.updated_at = timezone.now()
    settings.save()
    changes = audit.diff(before, cleaned)
    if changes:
        audit.record(actor=actor, action="update", instance=settings, changes=changes)
    return settings


# ----------------------------------------------------------------------- recompute


def _score_case(conditions: list[Q], scores: list[int], default: int) -> Case:
    return Case(
        *[When(c, then=Value(s)) for c, s in zip(conditions, scores, strict=True)],
        default=Value(default),
        output_field=IntegerField(),
    )


def _at_least(conditions: list[Q], score_min: int) -> Q:
    """Q for "score ≥ score_min", where conditions[k] is "score ≥ k + 2"."""
    if score_min <= 1:
        return Q(pk__isnull=False)
    if score_min > 5:
        return Q(pk__in=[])
    return conditions[score_min - 2]


def rfm_recompute(*, actor=None, as_of: datetime.datetime | None = None) -> dict:
    """Score every customer with orders and assign segments; returns the run summary.

    ``actor`` None is the background task; a user needs the settings permission."""
    if actor is not None:
        require(actor, Action.MANAGE_SETTINGS)
    as_of = as_of or timezone.now()
    settings = RfmSettings.load()
    scored = scored_stats()
    with transaction.atomic():
        n = scored.count()
        # Customers without orders (any more): no scores.
        CustomerStats.objects.exclude(pk__in=scored.values("pk")).exclude(
            r_score=0, f_score=0, m_score=0, rfm_segment=""
        ).update(r_score=0, f_score=0, m_score=0, rfm_segment="")
        if n == 0:
            summary = {"customers": 0, "as_of": as_of.isoformat()}
            _save_run(settings, summary, as_of, 0)
            return summary
        positions = _rank_positions(n)

        # Recency: thresholds as timestamps t1 > t2 > t3 > t4; R ≥ k+2 ⟺ last ≥ t(4-k).
        if settings.recency_bounds:
            days = [float(b) for b in settings.recency_bounds]
            r_times = [as_of - datetime.timedelta(days=d) for d in days]
        else:
            r_times = _values_at(scored, "-last_order_at", positions)
            days = [round((as_of - t).total_seconds() / 86400, 1) for t in r_times]
        f_cuts = settings.frequency_bounds or _values_at(scored, "orders", positions)
        m_cuts = settings.monetary_bounds or _values_at(scored, "revenue", positions)
        m_cuts = [Decimal(str(c)) for c in m_cuts]

        # conditions[k]: score ≥ k + 2 (k = 0..3)
        r_at_least = [Q(last_order_at__gte=t) for t in reversed(r_times)]
        f_at_least = [Q(orders__gt=c) for c in f_cuts]
        m_at_least = [Q(revenue__gt=c) for c in m_cuts]

        counts = scored.aggregate(
            **{
                f"{dim}{k}": Count("pk", filter=cond)
                for dim, conds in (("r", r_at_least), ("f", f_at_least), ("m", m_at_least))
                for k, cond in enumerate(conds)
            }
        )
        means = {dim: 1 + sum(counts[f"{dim}{k}"] for k in range(4)) / n for dim in "rfm"}
        high = {
            dim: _at_least(conds, math.floor(means[dim]) + 1)
            for dim, conds in (("r", r_at_least), ("f", f_at_least), ("m", m_at_least))
        }

        def pick(flag: bool, dim: str) -> Q:
            return high[dim] if flag else ~high[dim]

        segment = Case(
            *[
                When(
                    pick(s.r_high, "r") & pick(s.f_high, "f") & pick(s.m_high, "m"),
                    then=Value(s.key),
                )
                for s in SEGMENTS
            ],
            default=Value("lost"),
            output_field=CharFieldType(),
        )
        new_values = {
            "r_score": _score_case(list(reversed(r_at_least)), [5, 4, 3, 2], 1),
            "f_score": _score_case(f_at_least[::-1], [5, 4, 3, 2], 1),
            "m_score": _score_case(m_at_least[::-1], [5, 4, 3, 2], 1),
            "rfm_segment": segment,
        }
        # Only the rows that change are written (a daily rerun rewrites few rows).
        scored.exclude(**new_values).update(**new_values)
        summary = {
            "customers": n,
            "as_of": as_of.isoformat(),
            "recency": days,
            "frequency": [float(c) if isinstance(c, Decimal) else c for c in f_cuts],
            "monetary": [float(c) for c in m_cuts],
            "means": {k: round(v, 4) for k, v in means.items()},
            "explicit": {d: bool(getattr(settings, f"{d}_bounds")) for d in DIMENSIONS},
        }
        _save_run(settings, summary, as_of, n)
    return summary


def _save_run(settings: RfmSettings, summary: dict, as_of, n: int) -> None:
    RfmSettings.objects.filter(pk=settings.pk).update(
        last_run=summary, computed_at=as_of, scored_customers=n
    )


# ----------------------------------------------------------------------- reports


def rfm_overview(*, user) -> dict:
    """Customers and revenue per segment and the 5×5 R×F grid, of the customers the
    user may see."""
    require(user, Action.VIEW)
    qs = visible_to(user, scored_stats(), prefix="customer__")
    by_segment = {
        row["rfm_segment"]: row
        for row in qs.values("rfm_segment").annotate(n=Count("pk"), revenue=Sum("revenue"))
    }
    total_n = sum(r["n"] for r in by_segment.values())
    total_revenue = sum((r["revenue"] or Decimal(0) for r in by_segment.values()), Decimal(0))
    total_revenue = total_revenue.quantize(CENT)
    segments = []
    keys = SEGMENT_KEYS + ([""] if "" in by_segment else [])
    for key in keys:
        row = by_segment.get(key, {"n": 0, "revenue": Decimal(0)})
        revenue = (row["revenue"] or Decimal(0)).quantize(CENT)
        segments.append(
            {
                "key": key,
                "label": segment_label(key) if key else _("Not scored yet"),
                "chinese": SEGMENT_BY_KEY[key].chinese if key else "",
                "customers": row["n"],
                "revenue": revenue,
                "customer_share": _share(row["n"], total_n),
                "revenue_share": _share(revenue, total_revenue),
                "average_revenue": (revenue / row["n"]).quantize(CENT) if row["n"] else CENT * 0,
            }
        )
    grid = [[0] * 5 for _r in range(5)]  # grid[r-1][f-1]
    for row in (
        qs.filter(r_score__gte=1, f_score__gte=1)
        .values("r_score", "f_score")
        .annotate(n=Count("pk"))
    ):
        grid[row["r_score"] - 1][row["f_score"] - 1] = row["n"]
    settings = RfmSettings.load()
    return {
        "customers": total_n,
        "revenue": total_revenue,
        "segments": segments,
        "grid": grid,
        "computed_at": settings.computed_at,
        "last_run": settings.last_run,
        "bounds": {d: getattr(settings, f"{d}_bounds") for d in DIMENSIONS},
    }


def _share(part, whole) -> float:
    return round(float(part) / float(whole) * 100, 2) if whole else 0.0


def segment_table(overview: dict):
    from guanxi.analytics.reports import Table

    return Table(
        name="rfm-segments",
        title=_("RFM segments"),
        headers=[
            _("Segment"),
            _("Customers"),
            _("Share of customers %"),
            _("Revenue"),
            _("Share of revenue %"),
            _("Average revenue"),
        ],
        rows=[
            [
                s["label"],
                s["customers"],
                s["customer_share"],
                s["revenue"],
                s["revenue_share"],
                s["average_revenue"],
            ]
            for s in overview["segments"]
        ],
    )


def grid_table(overview: dict):
    from guanxi.analytics.reports import Table

    return Table(
        name="rfm-grid",
        title=_("Customers by R and F score"),
        headers=[_("R score \\ F score"), *[f"F{f}" for f in range(1, 6)]],
        rows=[[f"R{r}", *overview["grid"][r - 1]] for r in range(5, 0, -1)],
    )
