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
the mean), the standard eight-way RFM model (RFM 八大客户类型). The scores are kept in
``CustomerRfm``, a row per scored customer; customers without orders have none (shown as
scores 0 and no segment).

The recompute reads the statistics once (money in cents and times in microseconds, as
integers, so every comparison is exact), sorts each column in memory for the quintiles,
scores and segments every customer there (numpy), and writes only the rows whose scores
or segment change (or the whole table again, when most change). It also keeps the
overview's figures of all customers (customers and revenue per segment, the R×F grid)
with the run, so a user who sees every customer reads them from there; other users'
overviews are counted from their customers' rows.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from guanxi.accounts.roles import Action, Scope, require, role_of
from guanxi.analytics.models import CustomerRfm, CustomerStats
from guanxi.analytics.models_analysis import RfmSettings
from guanxi.core import audit, bulk
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
    # A context: the lifecycle stage "Lost" is another word in Chinese.
    Segment("lost", pgettext_lazy("RFM segment", "Lost"), "一般挽留客户", False, False, False),
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

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_MICRO = datetime.timedelta(microseconds=1)


def _micros(value: datetime.datetime) -> int:
    """A datetime as whole microseconds since 1970 (UTC): how the recompute compares
    recency, exactly."""
    return (value - _EPOCH) // _MICRO


def _int_columns(sql: str) -> list:
    """The columns of a one-row query of comma-separated integer lists, as numpy arrays.

    Each column comes as one text, which numpy parses at C speed: no Python object per
    row."""
    import numpy as np

    with connection.cursor() as cur:
        cur.execute(sql)  # no user input in it
        texts = cur.fetchone()
    return [
        np.fromstring(t, dtype=np.int64, sep=",") if t else np.zeros(0, dtype=np.int64)
        for t in texts
    ]


def _read_stats() -> tuple:
    """Every statistics row in one read, as numpy arrays: customer id, orders, revenue in
    cents, last order (µs since 1970, -1 when none), and the current scores and segment
    coded as ((R·10 + F)·10 + M)·10 + segment (1..8 in ``SEGMENTS`` order, 0 no scores);
    and the number of score rows, to tell whether some belong to no statistics row.

    The SQL turns money and timestamps into integers (so the comparisons below are
    exact). The scores are read apart and matched to the statistics here: joined in the
    database, PostgreSQL took twice as long (a hash join of 600k rows on each side,
    spilled to disk, before an aggregate that runs in one process)."""
    import numpy as np

    stats, scores = CustomerStats._meta.db_table, CustomerRfm._meta.db_table
    segment = " ".join(f"WHEN '{s.key}' THEN {i + 1}" for i, s in enumerate(SEGMENTS))
    code = f"((r_score * 10 + f_score) * 10 + m_score) * 10 + CASE segment {segment} ELSE 9 END"
    if connection.vendor == "postgresql":
        columns = [
            "customer_id",
            "orders",
            "(revenue * 100)::bigint",
            "COALESCE((EXTRACT(EPOCH FROM last_order_at) * 1000000)::bigint, -1)",
        ]
        agg = "string_agg(({})::text, ',')"
    else:
        columns = [
            "customer_id",
            "orders",
            "CAST(ROUND(revenue * 100) AS INTEGER)",
            # Stored as UTC text "YYYY-MM-DD HH:MM:SS[.ffffff]": whole seconds (exact
            # after rounding) plus the microseconds.
            "COALESCE(CAST(ROUND((julianday(substr(last_order_at, 1, 19)) - 2440587.5)"
            " * 86400) AS INTEGER) * 1000000"
            " + CAST(substr(last_order_at || '.000000', 21, 6) AS INTEGER), -1)",
        ]
        agg = "group_concat({})"
    ids, orders, cents, last = _int_columns(
        "SELECT " + ", ".join(agg.format(c) for c in columns) + f" FROM {stats}"
    )
    scored_ids, codes = _int_columns(
        f"SELECT {agg.format('customer_id')}, {agg.format(code)} FROM {scores}"
    )
    # Each statistics row's code: found by binary search among the sorted score rows.
    current = np.zeros(len(ids), dtype=np.int64)
    if len(scored_ids) and len(ids):
        order = np.argsort(scored_ids, kind="stable")
        scored_ids, codes = scored_ids[order], codes[order]
        at = np.minimum(np.searchsorted(scored_ids, ids), len(scored_ids) - 1)
        found = scored_ids[at] == ids
        current[found] = codes[at[found]]
    return ids, orders, cents, last, current, len(scored_ids)


# A recompute that changes more than this share of the score rows rewrites the table
# whole: emptying it and inserting every row in id order is cheaper than deleting and
# inserting most rows one by one in its indexes.
REWRITE_SHARE = 0.25


def _write_scores(ids, codes, *, drop, rewrite: bool) -> None:
    """Store the scores of these customers (numpy arrays: ids, and codes as
    ``_read_stats`` makes them, all non-zero) and remove the scores of the customers in
    ``drop``; ``rewrite``: ``ids`` holds every scored customer, so the table is emptied
    and filled again (the others keep their rows otherwise).

    Rows go in sorted by id, so the database writes the table's pages in order. No Python
    loop per row on SQLite (one ``INSERT … SELECT`` from a JSON list of id × 10,000 +
    code); ``COPY`` on PostgreSQL, which took 0.8 s for 600k rows where the same
    ``INSERT`` from an array took 1.2–1.7 s."""
    import numpy as np

    table = CustomerRfm._meta.db_table
    order = np.argsort(ids, kind="stable")
    ids, codes = ids[order], codes[order]
    with connection.cursor() as cur:
        if rewrite:
            # TRUNCATE on PostgreSQL leaves no dead rows behind (a DELETE of 600k rows
            # would); SQLite's unqualified DELETE is its own fast truncate.
            pg = connection.vendor == "postgresql"
            cur.execute(f"TRUNCATE {table}" if pg else f"DELETE FROM {table}")
        else:
            gone = np.concatenate([ids, drop])
            if len(gone):
                gone_sql, param = bulk.list_table(gone)
                cur.execute(
                    f"DELETE FROM {table} WHERE customer_id IN (SELECT id FROM {gone_sql})",
                    [param],
                )
        if not len(ids):
            return
        if connection.vendor == "postgresql":
            keys = np.array(["", *SEGMENT_KEYS], dtype=object)
            # Rows in the table's column order (the primary key, the scores, the segment).
            values = zip(
                ids.tolist(),
                (codes // 1000).tolist(),
                (codes // 100 % 10).tolist(),
                (codes // 10 % 10).tolist(),
                keys[codes % 10].tolist(),
                strict=True,
            )
            bulk.Table(CustomerRfm, with_ids=True).write(list(values))
            return
        rows, param = bulk.list_table(ids * 10_000 + codes, alias="c", column="v")
        segment = " ".join(f"WHEN {i + 1} THEN '{s.key}'" for i, s in enumerate(SEGMENTS))
        cur.execute(
            f"INSERT INTO {table} (customer_id, r_score, f_score, m_score, segment)"
            f" SELECT v / 10000, v %% 10000 / 1000, v %% 1000 / 100, v %% 100 / 10,"
            f" CASE v %% 10 {segment} END FROM {rows}",
            [param],
        )  # no user input in the SQL itself


def rfm_recompute(*, actor=None, as_of: datetime.datetime | None = None) -> dict:
    """Score every customer with orders and assign segments; returns the run summary.

    ``actor`` None is the background task; a user needs the settings permission.

    One read of the statistics (customer, orders, revenue, last order) and one of the
    current scores; the quintile boundaries, scores, segments and the overview's counts
    are computed from them in memory (numpy). Only the customers whose scores or segment
    change are written, or, when they are more than ``REWRITE_SHARE`` of the score rows,
    the score table is written again whole."""
    import numpy as np

    if actor is not None:
        require(actor, Action.MANAGE_SETTINGS)
    as_of = as_of or timezone.now()
    settings = RfmSettings.load()
    with transaction.atomic():
        ids, orders, cents, last, current, score_rows = _read_stats()
        scored = (orders > 0) & (last >= 0)
        n = int(scored.sum())
        # Customers without orders (any more): no scores.
        stale = ~scored & (current != 0)
        if n == 0:
            _write_scores(ids[:0], ids[:0], drop=ids[:0], rewrite=True)  # empties the table
            summary = {"customers": 0, "as_of": as_of.isoformat(), "segments": {}, "grid": []}
            _save_run(settings, summary, as_of, 0)
            return summary
        s_ids, s_orders, s_cents, s_last = ids[scored], orders[scored], cents[scored], last[scored]
        positions = _rank_positions(n)

        # Recency: thresholds as timestamps t1 ≥ t2 ≥ t3 ≥ t4; R = 1 + #{t: last ≥ t}.
        if settings.recency_bounds:
            days = [float(b) for b in settings.recency_bounds]
            r_cuts = [_micros(as_of - datetime.timedelta(days=d)) for d in days]
        else:
            newest_first = np.sort(s_last)[::-1]
            r_cuts = [int(newest_first[p]) for p in positions]
            as_of_us = _micros(as_of)
            days = [round((as_of_us - t) / 86_400_000_000, 1) for t in r_cuts]
        # Frequency and monetary: F = 1 + #{c: orders > c}; M likewise on revenue.
        if settings.frequency_bounds:
            f_cuts = list(settings.frequency_bounds)
        else:
            ordered = np.sort(s_orders)
            f_cuts = [int(ordered[p]) for p in positions]
        if settings.monetary_bounds:
            m_cuts = [Decimal(str(c)) for c in settings.monetary_bounds]
        else:
            ordered = np.sort(s_cents)
            m_cuts = [Decimal(int(ordered[p])) / 100 for p in positions]
        # "value > c" for integer values ⟺ "value > ⌊c⌋" (c may be a fraction).
        f_floor = [math.floor(Decimal(str(c))) for c in f_cuts]
        m_floor = [math.floor(c * 100) for c in m_cuts]

        r = 1 + sum((s_last >= t).astype(np.int64) for t in r_cuts)
        f = 1 + sum((s_orders > c).astype(np.int64) for c in f_floor)
        m = 1 + sum((s_cents > c).astype(np.int64) for c in m_floor)
        means = {
            dim: 1 + int((score - 1).sum()) / n for dim, score in (("r", r), ("f", f), ("m", m))
        }
        # High = above the mean: score ≥ ⌊mean⌋ + 1.
        high = {
            dim: score >= math.floor(means[dim]) + 1
            for dim, score in (("r", r), ("f", f), ("m", m))
        }
        combo = high["r"] * 4 + high["f"] * 2 + high["m"] * 1
        by_combo = ["lost"] * 8
        for s in reversed(SEGMENTS):
            by_combo[s.r_high * 4 + s.f_high * 2 + s.m_high] = s.key
        seg_index = np.array([SEGMENT_KEYS.index(k) for k in by_combo], dtype=np.int64)[combo]

        # What changes: compare with the scores read (coded as ``_read_stats`` does).
        key = ((r * 10 + f) * 10 + m) * 10 + seg_index + 1
        changed = key != current[scored]
        n_changed = int(changed.sum()) + int(stale.sum())
        # Score rows of customers without a statistics row (never written so, but cheap
        # to rule out) are only removed by a rewrite.
        orphans = score_rows != int((current != 0).sum())
        if orphans or n_changed > REWRITE_SHARE * max(score_rows, 1):
            _write_scores(s_ids, key, drop=ids[:0], rewrite=True)
        elif n_changed:
            _write_scores(s_ids[changed], key[changed], drop=ids[stale], rewrite=False)

        # The overview's figures of every scored customer, so an admin's page reads them.
        seg_n = np.bincount(seg_index, minlength=len(SEGMENTS))
        seg_cents = [int(s_cents[seg_index == i].sum()) for i in range(len(SEGMENTS))]
        grid = np.bincount((r - 1) * 5 + (f - 1), minlength=25).reshape(5, 5)
        summary = {
            "customers": n,
            "as_of": as_of.isoformat(),
            "recency": days,
            "frequency": [float(c) if isinstance(c, Decimal) else c for c in f_cuts],
            "monetary": [float(c) for c in m_cuts],
            "means": {k: round(v, 4) for k, v in means.items()},
            "explicit": {d: bool(getattr(settings, f"{d}_bounds")) for d in DIMENSIONS},
            "changed": n_changed,
            # Per segment: customers and revenue in cents (exact), as of this run.
            "segments": {key: [int(seg_n[i]), seg_cents[i]] for i, key in enumerate(SEGMENT_KEYS)},
            "grid": grid.tolist(),
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
    user may see.

    For a user who sees every customer the figures are those of the last recompute
    (kept with it), plus the customers with orders scored by no recompute yet; for the
    others they are counted from their customers' rows (one ``GROUP BY``)."""
    require(user, Action.VIEW)
    settings = RfmSettings.load()
    run = settings.last_run or {}
    by_segment: dict[str, dict] = {}
    grid = [[0] * 5 for _r in range(5)]  # grid[r-1][f-1]
    if role_of(user).scope == Scope.ALL and "segments" in run and "grid" in run:
        for key, (n, cents) in run["segments"].items():
            by_segment[key] = {"n": n, "revenue": Decimal(cents) / 100}
        if run["grid"]:
            grid = [list(row) for row in run["grid"]]
        unscored = (
            scored_stats()
            .filter(~Exists(CustomerRfm.objects.filter(customer_id=OuterRef("customer_id"))))
            .aggregate(n=Count("pk"), revenue=Sum("revenue"))
        )
        if unscored["n"]:
            by_segment[""] = unscored
    else:
        qs = visible_to(user, scored_stats(), prefix="customer__")
        for row in qs.values(
            segment=F("customer__rfm__segment"),
            r=F("customer__rfm__r_score"),
            f=F("customer__rfm__f_score"),
        ).annotate(n=Count("pk"), revenue=Sum("revenue")):
            seg = by_segment.setdefault(row["segment"] or "", {"n": 0, "revenue": Decimal(0)})
            seg["n"] += row["n"]
            seg["revenue"] += Decimal(row["revenue"] or 0)
            if row["r"] and row["f"] and 1 <= row["r"] <= 5 and 1 <= row["f"] <= 5:
                grid[row["r"] - 1][row["f"] - 1] += row["n"]
    total_n = sum(r["n"] for r in by_segment.values())
    total_revenue = sum((r["revenue"] or Decimal(0) for r in by_segment.values()), Decimal(0))
    total_revenue = total_revenue.quantize(CENT)
    segments = []
    keys = SEGMENT_KEYS + ([""] if "" in by_segment else [])
    for key in keys:
        row = by_segment.get(key, {"n": 0, "revenue": Decimal(0)})
        revenue = Decimal(row["revenue"] or 0).quantize(CENT)
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
    return {
        "customers": total_n,
        "revenue": total_revenue,
        "segments": segments,
        "grid": grid,
        "computed_at": settings.computed_at,
        "last_run": {k: v for k, v in run.items() if k not in ("segments", "grid")},
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
