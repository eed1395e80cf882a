"""Customer lifetime value in the product: refit the models on the orders, store each
customer's prediction, and read the results for pages and the API.

The math is in :mod:`guanxi.analytics.clv`; this module feeds it from the database and
writes its answers back.

What a transaction is
=====================
The models see the orders that **count** for the customer statistics (paid — ``paid_at``
set — and neither cancelled nor refunded, see :mod:`guanxi.analytics.stats`), paid at or
before the calibration end (``as_of``, default now). Its value is what was kept,
``paid_amount − refunded_amount``. Several orders of a customer on one day are **one
transaction** (their values summed); the day is the calendar day of ``paid_at`` in the
site's time zone (``settings.TIME_ZONE``, Asia/Shanghai by default), and the calibration
end is the day of ``as_of`` in that zone. Time is in weeks, days / 7, as in Fader, Hardie
& Lee (2005); ``T`` runs from a customer's first purchase day to the calibration end day.

The per-customer summary (first and last purchase day, number of purchase days, total
value and the value of the first day) is computed in numpy from one scan of the orders
that gives two integers per order (customer and day as one key, value in cents): read
with ``COPY … (FORMAT binary)`` on PostgreSQL, that is several times faster than
grouping 5M orders by (customer, day) and then by customer in the database. Orders
paid after ``as_of`` are left out; refunds are counted as the order stands now.

What is written
===============
* one :class:`~guanxi.analytics.models.ClvFit` row: the BG/NBD parameters (r, α, a, b)
  and log-likelihood, the Gamma-Gamma parameters (p, q, γ) and log-likelihood, the
  number of customers, the seconds the whole refit took, and the margin, horizon
  (months) and monthly discount rate the predictions were computed with;
* for every customer with a counted order: ``CustomerStats.expected_purchases_12m``
  (expected transactions in the next ``horizon_months``), ``p_alive`` and ``clv_12m``
  (discounted value of the next ``horizon_months``: expected purchases per month ×
  Gamma-Gamma expected spend × margin, month k discounted by (1 + rate)^k). Only these
  three columns and ``updated_at`` are written (and only where they changed), set-based
  from a scratch table, so the statistics consumer can keep updating the other columns
  meanwhile. Missing CustomerStats rows are created with the model's defaults; rows of
  customers that no longer have a counted order get the three columns cleared. See
  :func:`write_predictions` for transactions.

The columns are named for the default horizon of 12 months; ``horizon_months`` changes
what they hold; the fit records the horizon used.

Time: the bench data set (593k customers with 4.4M counted orders of 5M) on the 2-core
machine, every prediction written, about 11 s on SQLite and 20 s on PostgreSQL at load
2–3 (PostgreSQL: read ~4 s, fit ~2 s, write ~14 s); ``python -m bench.run_commerce --only
clv`` or ``python -m bench.clv`` (``bench/clv.py``) measure it, docs/benchmarks.md has the
figures.

Margin
======
``margin`` (0–1) turns spend into profit. When not given it is the overall gross margin
of the shop, Σ profit / Σ revenue over CustomerStats (revenue and profit as the
statistics define them: cost of the goods kept); with no revenue yet, or when no costs
were recorded, it is 1 and CLV is in revenue terms.
"""

from __future__ import annotations

import datetime
import math
import time
import uuid
import zoneinfo
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, IntegerField, Q, Sum, Value
from django.db.models.functions import Floor, Least
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.accounts.roles import Action, can, require
from guanxi.analytics import clv
from guanxi.analytics.models import ClvFit, CustomerStats
from guanxi.commerce.models import Order
from guanxi.core import audit, bulk
from guanxi.core.errors import PermissionDenied, ServiceError, ValidationFailed
from guanxi.core.pagination import keyset_page
from guanxi.core.visibility import visible_to
from guanxi.customers.models import Customer

NOT_COUNTED = ("cancelled", "refunded")  # as guanxi.analytics.stats
MIN_CUSTOMERS = 10
MIN_REPEAT_CUSTOMERS = 2
WRITE_CHUNK = 50_000
# PostgreSQL: split the UPDATE over this many sessions from this many predictions on.
WRITE_WORKERS = 2
PARALLEL_MIN_ROWS = 200_000
# High-potential customers: predicted CLV in the top ``HIGH_POTENTIAL_SHARE`` of the
# customers with at most ``HIGH_POTENTIAL_MAX_ORDERS`` orders so far.
HIGH_POTENTIAL_MAX_ORDERS = 2
HIGH_POTENTIAL_SHARE = 0.10
HISTOGRAM_BINS = 20
REFIT_TASK_PATH = "guanxi.analytics.clv_tasks.refit_clv"
MAX_CLV = 10**13  # clv_12m is NUMERIC(16, 2)
# Order keys of _scan_orders: customer id × DAY_KEY + DAY_OFFSET + day (days since
# 1970-01-01, ± 1,400 years).
DAY_KEY = 2**20
DAY_OFFSET = 2**19


class NotEnoughHistory(ServiceError):
    code = "not_enough_history"
    status = 409


# --------------------------------------------------------------------------- reading


@dataclass
class CustomerSummary:
    """One row per customer with a counted order up to the calibration end."""

    customer_ids: np.ndarray
    frequency: np.ndarray  # x: purchase days − 1
    recency: np.ndarray  # t_x in weeks
    T: np.ndarray  # weeks from the first purchase day to the calibration end day
    monetary_value: np.ndarray  # mean value of the repeat days; 0 when x == 0
    first_day: np.ndarray  # datetime64[D], first purchase day (local)


def _local_day_number(value: datetime.datetime, tz: zoneinfo.ZoneInfo) -> int:
    """Days since 1970-01-01 of the local calendar day of ``value``."""
    local = timezone.localtime(value, tz).date()
    return (local - datetime.date(1970, 1, 1)).days


def _day_sql(tz: zoneinfo.ZoneInfo, *, start, end) -> tuple[str, list]:
    """SQL giving the local day number (days since 1970-01-01) of ``o.paid_at``.

    PostgreSQL converts with the zone itself. SQLite has no time zones: when the zone's
    UTC offset is the same over the whole period (Asia/Shanghai since 1991) it adds the
    offset in SQL; otherwise it falls back to Django's per-row conversion function."""
    if connection.vendor == "postgresql":
        return "((o.paid_at AT TIME ZONE %s)::date - DATE '1970-01-01')", [tz.key]
    offset = _constant_offset(tz, start, end)
    if offset is not None:
        # SQLite's date functions round to the millisecond, which would move 23:59:59.9995
        # to the next day: cut the stored text ("YYYY-MM-DD HH:MM:SS.ffffff", UTC) to
        # whole seconds first.
        return (
            "CAST(julianday(substr(o.paid_at, 1, 19), %s) - 2440587.5 AS INTEGER)",
            [f"{int(offset.total_seconds()):+d} seconds"],
        )
    sql, params = connection.ops.datetime_cast_date_sql("o.paid_at", (), tz.key)
    return f"CAST(julianday({sql}) - 2440587.5 AS INTEGER)", list(params)


def _constant_offset(tz, start, end) -> datetime.timedelta | None:
    if start is None or end is None:
        return datetime.timedelta(0)
    offsets = set()
    day = start.astimezone(datetime.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    while day <= end + datetime.timedelta(days=1):
        offsets.add(day.astimezone(tz).utcoffset())
        if len(offsets) > 1:
            return None
        day += datetime.timedelta(days=1)
    return offsets.pop() if offsets else datetime.timedelta(0)


def read_summary(*, as_of: datetime.datetime, tz: zoneinfo.ZoneInfo | None = None):
    """Frequency, recency, T and repeat spend of every customer, from the orders."""
    tz = tz or zoneinfo.ZoneInfo(settings.TIME_ZONE)
    keys, cents = _scan_orders(as_of=as_of, tz=tz)
    ids, first, last, n, first_cents, total_cents = _per_customer(keys, cents)
    end_day = _local_day_number(as_of, tz)
    first, last, n = (v.astype(np.float64) for v in (first, last, n))
    frequency = n - 1
    repeat_total = (total_cents - first_cents).astype(np.float64) / 100
    monetary = np.divide(
        repeat_total, frequency, out=np.zeros_like(repeat_total), where=frequency > 0
    )
    return CustomerSummary(
        customer_ids=ids,
        frequency=frequency,
        recency=(last - first) / clv.DAYS_PER_WEEK,
        T=(end_day - first) / clv.DAYS_PER_WEEK,
        monetary_value=monetary,
        first_day=first.astype(np.int64).astype("datetime64[D]"),
    )


def _scan_orders(*, as_of, tz) -> tuple[np.ndarray, np.ndarray]:
    """Every counted order paid up to ``as_of`` as two int64 arrays: its key (customer
    id × DAY_KEY + DAY_OFFSET + local day number, so that sorting the keys groups by
    customer, then day) and its kept value in cents."""
    counted = Order.objects.filter(paid_at__isnull=False, paid_at__lte=as_of).exclude(
        status__in=NOT_COUNTED
    )
    span = {"start": None, "end": None}
    if connection.vendor == "sqlite":
        first = counted.order_by("paid_at").values_list("paid_at", flat=True).first()
        span = {"start": first, "end": as_of}
    day, day_params = _day_sql(tz, **span)
    # SQLite would walk the paid_at index and fetch each order's row from there, ten
    # times slower than reading the table once when (as usual) most orders qualify.
    not_indexed = "NOT INDEXED" if connection.vendor == "sqlite" else ""
    status_marks = ", ".join(["%s"] * len(NOT_COUNTED))
    sql = f"""
        SELECT CAST(o.customer_id AS BIGINT) * {DAY_KEY} + {DAY_OFFSET} + {day},
               CAST(ROUND((o.paid_amount - o.refunded_amount) * 100) AS BIGINT)
        FROM {Order._meta.db_table} o {not_indexed}
        WHERE o.paid_at IS NOT NULL AND o.paid_at <= %s
          AND o.status NOT IN ({status_marks})
    """
    params = [*day_params, connection.ops.adapt_datetimefield_value(as_of), *NOT_COUNTED]
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A plain scan: compiling it (JIT) would take longer than it saves.
            cursor.execute("SET LOCAL jit = off")
            rows = _copy_int8_pairs(cursor, sql, params)
        else:
            cursor.execute(sql, params)
            rows = _fetch_array(cursor, columns=2)
    return rows[:, 0], rows[:, 1]


def _copy_int8_pairs(cursor, sql: str, params) -> np.ndarray:
    """The rows of a two-bigint-column query through ``COPY … TO STDOUT (FORMAT
    binary)``, read straight into numpy (a few seconds for millions of rows, where
    fetching them as Python tuples, or grouping them in the database, takes far longer)."""
    raw = cursor.cursor  # the psycopg cursor under Django's wrapper
    query = raw.mogrify(sql, params)
    data = bytearray()
    with raw.copy(f"COPY ({query}) TO STDOUT (FORMAT binary)") as copy:
        for chunk in copy:
            data += chunk
    # Header: 11-byte signature, flags (int32), extension length (int32) and extension;
    # then per row: field count (int16), and per field its length (int32) and value;
    # last, a field count of -1.
    if bytes(data[:11]) != b"PGCOPY\n\xff\r\n\x00":
        raise RuntimeError("unexpected COPY header")  # pragma: no cover
    start = 19 + int.from_bytes(data[15:19], "big")
    row = np.dtype([("n", ">i2"), ("l1", ">i4"), ("a", ">i8"), ("l2", ">i4"), ("b", ">i8")])
    body = np.frombuffer(data, dtype=row, offset=start, count=(len(data) - start - 2) // 26)
    if len(body) and not (
        (body["n"] == 2).all() and (body["l1"] == 8).all() and (body["l2"] == 8).all()
    ):
        raise RuntimeError("unexpected NULL in the COPY rows")  # pragma: no cover
    out = np.empty((len(body), 2), dtype=np.int64)
    out[:, 0], out[:, 1] = body["a"], body["b"]
    return out


def _per_customer(keys: np.ndarray, cents: np.ndarray):
    """Group the orders by (customer, day), then by customer: customer ids, first and
    last purchase day, number of purchase days, value of the first day and in all."""
    if not len(keys):
        return (keys,) * 6
    order = np.argsort(keys)
    keys, cents = keys[order], cents[order]
    day_starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    day_cents = np.add.reduceat(cents, day_starts)
    customer, day = np.divmod(keys[day_starts], DAY_KEY)
    day = day - DAY_OFFSET
    starts = np.flatnonzero(np.r_[True, customer[1:] != customer[:-1]])
    ends = np.r_[starts[1:], len(customer)] - 1
    total = np.add.reduceat(day_cents, starts)
    return (
        customer[starts],
        day[starts],
        day[ends],
        ends - starts + 1,
        day_cents[starts],
        total,
    )


def _fetch_array(cursor, *, columns: int, chunk: int = 100_000) -> np.ndarray:
    """All rows of integers as one int64 array."""
    parts = []
    while True:
        rows = cursor.fetchmany(chunk)
        if not rows:
            break
        parts.append(np.array(rows, dtype=np.int64).reshape(-1, columns))
    if not parts:
        return np.zeros((0, columns), dtype=np.int64)
    return np.concatenate(parts)


def overall_margin() -> float:
    """Σ profit / Σ revenue of all customers, within [0, 1]; 1 without revenue."""
    totals = CustomerStats.objects.aggregate(revenue=Sum("revenue"), profit=Sum("profit"))
    revenue, profit = totals["revenue"] or 0, totals["profit"] or 0
    if revenue <= 0:
        return 1.0
    return float(min(max(profit / revenue, Decimal(0)), Decimal(1)))


# --------------------------------------------------------------------------- refit


@dataclass
class Predictions:
    customer_ids: np.ndarray
    expected_purchases: np.ndarray
    p_alive: np.ndarray
    clv: np.ndarray


def predict(
    summary: CustomerSummary,
    bgnbd: clv.BgNbdParams,
    gamma_gamma: clv.GammaGammaParams,
    *,
    horizon_months: int,
    monthly_discount_rate: float,
    margin: float,
) -> Predictions:
    x, t_x, T = summary.frequency, summary.recency, summary.T
    # Many customers share a history (one-time buyers of the same day, ...): compute
    # each distinct (x, t_x, T, m) once.
    (ux, utx, uT, um), _counts, inverse = clv.group_rows(x, t_x, T, summary.monetary_value)
    weeks = horizon_months * clv.WEEKS_PER_MONTH
    expected = clv.bgnbd_expected_purchases(weeks, ux, utx, uT, bgnbd)
    alive = clv.bgnbd_p_alive(ux, utx, uT, bgnbd)
    spend = clv.gg_expected_spend(ux, um, gamma_gamma)
    value = clv.clv_discounted(
        ux,
        utx,
        uT,
        bgnbd,
        spend,
        months=horizon_months,
        monthly_discount_rate=monthly_discount_rate,
        margin=margin,
    )
    return Predictions(summary.customer_ids, expected[inverse], alive[inverse], value[inverse])


def refit(
    *,
    as_of: datetime.datetime | None = None,
    horizon_months: int = 12,
    monthly_discount_rate: float = 0.01,
    margin: float | None = None,
    actor=None,
) -> ClvFit:
    """Fit BG/NBD and Gamma-Gamma on the orders up to ``as_of`` (default now), store the
    fit and every customer's expected purchases, P(alive) and CLV. Returns the ClvFit.

    ``actor`` is who asked for it (None: the system); it is recorded in the audit log.
    Raises NotEnoughHistory when there are too few customers or repeat buyers."""
    started = time.perf_counter()
    as_of = as_of or timezone.now()
    if timezone.is_naive(as_of):
        as_of = timezone.make_aware(as_of)
    errors = {}
    if not 1 <= horizon_months <= 120:
        errors["horizon_months"] = [_("Between 1 and 120 months.")]
    if not 0 <= monthly_discount_rate < 1:
        errors["monthly_discount_rate"] = [_("At least 0 and below 1.")]
    if margin is not None and not 0 <= margin <= 1:
        errors["margin"] = [_("Between 0 and 1.")]
    if errors:
        raise ValidationFailed(errors)

    summary = read_summary(as_of=as_of)
    read_seconds = time.perf_counter() - started
    repeaters = int((summary.frequency > 0).sum())
    if len(summary.customer_ids) < MIN_CUSTOMERS or repeaters < MIN_REPEAT_CUSTOMERS:
        raise NotEnoughHistory(
            _(
                "Not enough purchase history to fit the models yet: %(n)d customers, "
                "%(r)d with repeat purchases (at least %(min_n)d and %(min_r)d needed)."
            )
            % {
                "n": len(summary.customer_ids),
                "r": repeaters,
                "min_n": MIN_CUSTOMERS,
                "min_r": MIN_REPEAT_CUSTOMERS,
            }
        )
    bgnbd = clv.fit_bgnbd(summary.frequency, summary.recency, summary.T)
    gamma_gamma = clv.fit_gamma_gamma(summary.frequency, summary.monetary_value)
    used_margin = overall_margin() if margin is None else float(margin)
    predictions = predict(
        summary,
        bgnbd,
        gamma_gamma,
        horizon_months=horizon_months,
        monthly_discount_rate=monthly_discount_rate,
        margin=used_margin,
    )
    fit_seconds = time.perf_counter() - started - read_seconds

    rows_written = write_predictions(predictions)
    with transaction.atomic():
        fit = ClvFit.objects.create(
            fitted_at=timezone.now(),
            calibration_end=as_of,
            customers=len(summary.customer_ids),
            r=bgnbd.r,
            alpha=bgnbd.alpha,
            a=bgnbd.a,
            b=bgnbd.b,
            bgnbd_loglik=bgnbd.loglik,
            p=gamma_gamma.p,
            q=gamma_gamma.q,
            gamma=gamma_gamma.gamma,
            gg_loglik=gamma_gamma.loglik,
            seconds=0,
            margin=used_margin,
            horizon_months=horizon_months,
            monthly_discount_rate=monthly_discount_rate,
        )
        fit.seconds = round(time.perf_counter() - started, 3)
        ClvFit.objects.filter(pk=fit.pk).update(seconds=fit.seconds)
        write_seconds = fit.seconds - read_seconds - fit_seconds
        audit.record(
            actor=actor,
            action="create",
            instance=fit,
            object_repr=f"CLV fit {fit.pk}",
            changes={
                "customers": fit.customers,
                "calibration_end": as_of.isoformat(),
                "horizon_months": horizon_months,
                "monthly_discount_rate": monthly_discount_rate,
                "margin": round(used_margin, 6),
            },
            note=(
                f"read {read_seconds:.1f} s, fit {fit_seconds:.1f} s, "
                f"write {write_seconds:.1f} s, total {fit.seconds:.1f} s"
            ),
        )
    # Where the time went (not stored; the audit note has it too).
    fit.timings = {
        "read": read_seconds,
        "fit": fit_seconds,
        "write": write_seconds,
        "rows_written": rows_written,
    }
    return fit


# --------------------------------------------------------------------------- writing


def _stats_columns() -> dict[str, str]:
    meta = CustomerStats._meta
    names = ["customer", "expected_purchases_12m", "p_alive", "clv_12m", "updated_at"]
    return {name: meta.get_field(name).column for name in names}


def write_predictions(predictions: Predictions) -> int:
    """Store the three CLV columns of every predicted customer, set-based; create missing
    CustomerStats rows; clear the columns of customers no longer predicted. Returns the
    number of CustomerStats rows written: updated with new predictions (the others had
    them), created, or cleared.

    The predictions go into a scratch table (COPY on PostgreSQL), then one
    ``UPDATE … FROM`` writes them. Normally all of it is one transaction. On PostgreSQL,
    for a large shop and when not called inside a transaction (the task, the command),
    the UPDATE is split by customer id over ``WRITE_WORKERS`` database sessions that run
    at once (a million-row update is most of a refit's time, and one session uses one
    core); each part commits on its own, so a crash may leave part of the customers with
    new figures, which the next refit completes."""
    ids = predictions.customer_ids.astype(np.int64)
    value = np.round(np.clip(predictions.clv, 0, MAX_CLV), 2)
    # Non-finite numbers (a degenerate fit) are stored as "unknown".
    rows = _Rows(
        ids=ids,
        expected=np.where(
            np.isfinite(predictions.expected_purchases), predictions.expected_purchases, np.nan
        ),
        alive=np.where(np.isfinite(predictions.p_alive), predictions.p_alive, np.nan),
        value=np.where(np.isfinite(predictions.clv), value, np.nan),
    )
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    parallel = (
        connection.vendor == "postgresql"
        and not connection.in_atomic_block
        and len(ids) >= PARALLEL_MIN_ROWS
    )
    if parallel:
        return _write_in_parallel(rows, now)
    with transaction.atomic(), connection.cursor() as cursor:
        scratch = "clv_predictions"
        cursor.execute(f"DROP TABLE IF EXISTS {scratch}")
        if connection.vendor == "postgresql":
            cursor.execute(f"CREATE TEMP TABLE {scratch} ({SCRATCH_COLUMNS}) ON COMMIT DROP")
        else:
            cursor.execute(
                f"CREATE TEMP TABLE {scratch} (customer_id INTEGER PRIMARY KEY, "
                "expected REAL, alive REAL, value REAL)"
            )
        _fill_scratch(cursor, scratch, rows)
        cursor.execute(*_update_sql(scratch, now))
        updated = cursor.rowcount
        updated += _finish(cursor, scratch, now, rows.ids)
        if connection.vendor != "postgresql":
            cursor.execute(f"DROP TABLE {scratch}")
    return updated


@dataclass
class _Rows:
    ids: np.ndarray
    expected: np.ndarray
    alive: np.ndarray
    value: np.ndarray

    def chunks(self):
        for start in range(0, len(self.ids), WRITE_CHUNK):
            part = slice(start, start + WRITE_CHUNK)
            yield zip(
                self.ids[part].tolist(),
                self.expected[part].tolist(),
                self.alive[part].tolist(),
                self.value[part].tolist(),
                strict=True,
            )


SCRATCH_COLUMNS = (
    "customer_id bigint PRIMARY KEY, expected float8, alive float8, value numeric(16, 2)"
)


def _fill_scratch(cursor, scratch: str, rows: _Rows) -> None:
    if connection.vendor == "postgresql":
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(f"COPY {scratch} (customer_id, expected, alive, value) FROM STDIN") as cp:
            for chunk in rows.chunks():
                cp.write(
                    "".join(
                        f"{i}\t{_text(e)}\t{_text(a)}\t{_text(v, money=True)}\n"
                        for i, e, a, v in chunk
                    )
                )
        cursor.execute(f"ANALYZE {scratch}")
    else:
        for chunk in rows.chunks():
            cursor.executemany(
                f"INSERT INTO {scratch} VALUES (%s, %s, %s, %s)",
                [(i, _nullable(e), _nullable(a), _nullable(v)) for i, e, a, v in chunk],
            )


def _update_sql(scratch: str, now, *, id_range: tuple[int, int] | None = None):
    """The UPDATE of the three columns from the scratch table (rows whose predictions
    did not change, as in a repeated refit, are left alone)."""
    table, col = CustomerStats._meta.db_table, _stats_columns()
    differs = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    key = f"{table}.{col['customer']}"
    sql = (
        f"UPDATE {table} SET {col['expected_purchases_12m']} = t.expected, "
        f"{col['p_alive']} = t.alive, {col['clv_12m']} = t.value, "
        f"{col['updated_at']} = %s "
        f"FROM {scratch} t WHERE {key} = t.customer_id "
        f"AND ({table}.{col['clv_12m']} {differs} t.value "
        f"OR {table}.{col['p_alive']} {differs} t.alive "
        f"OR {table}.{col['expected_purchases_12m']} {differs} t.expected)"
    )
    params = [now]
    if id_range is not None:
        sql += f" AND {key} >= %s AND {key} < %s AND t.customer_id >= %s AND t.customer_id < %s"
        params += [*id_range, *id_range]
    return sql, params


def _finish(cursor, scratch: str, now, predicted: np.ndarray) -> int:
    """Create the rows of customers the statistics do not have yet, and clear the
    predictions of customers that are no longer predicted. One pass over the statistics'
    ids finds both; the (set-based) statements run only when there is something to do,
    which after the first refit is rarely the case. Returns the rows created or cleared."""
    table, col = CustomerStats._meta.db_table, _stats_columns()
    has_prediction = (
        f"CASE WHEN {col['clv_12m']} IS NOT NULL OR {col['p_alive']} IS NOT NULL "
        f"OR {col['expected_purchases_12m']} IS NOT NULL THEN 1 ELSE 0 END"
    )
    cursor.execute(f"SELECT {col['customer']}, {has_prediction} FROM {table}")
    existing = _fetch_array(cursor, columns=2)
    predicted = np.sort(predicted)
    missing = ~np.isin(predicted, existing[:, 0], assume_unique=True)
    stale = (existing[:, 1] == 1) & ~np.isin(existing[:, 0], predicted, assume_unique=True)
    written = 0
    if missing.any():
        # A new row has the model's defaults and the predictions; should the statistics
        # consumer create the row meanwhile, its row stays and the next refit fills it.
        cursor.execute(*_insert_missing_sql(table, scratch, col, now, predicted[missing]))
        written += cursor.rowcount
    if stale.any():
        ids_sql, ids_param = bulk.list_table(existing[stale, 0])
        cursor.execute(
            f"UPDATE {table} SET {col['expected_purchases_12m']} = NULL, "
            f"{col['p_alive']} = NULL, {col['clv_12m']} = NULL, {col['updated_at']} = %s "
            f"WHERE {col['customer']} IN (SELECT id FROM {ids_sql})",
            [now, ids_param],
        )
        written += cursor.rowcount
    return written


def _write_in_parallel(rows: _Rows, now) -> int:
    scratch = f"clv_predictions_{uuid.uuid4().hex[:12]}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE UNLOGGED TABLE {scratch} ({SCRATCH_COLUMNS})")
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            _fill_scratch(cursor, scratch, rows)
        # Ranges of customer ids with about the same number of predictions each.
        ordered = np.sort(rows.ids)
        edges = [int(ordered[len(ordered) * k // WRITE_WORKERS]) for k in range(WRITE_WORKERS)]
        ranges = list(zip(edges, [*edges[1:], int(ordered[-1]) + 1], strict=True))
        with ThreadPoolExecutor(max_workers=WRITE_WORKERS) as pool:
            futures = [pool.submit(_update_range, scratch, now, r) for r in ranges]
            updated = sum(future.result() for future in futures)
        with transaction.atomic(), connection.cursor() as cursor:
            updated += _finish(cursor, scratch, now, rows.ids)
        return updated
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {scratch}")


def _update_range(scratch: str, now, id_range: tuple[int, int]) -> int:
    """One part of the parallel UPDATE, in this thread's own database session; returns
    the rows it updated."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(*_update_sql(scratch, now, id_range=id_range))
            return cursor.rowcount
    finally:
        connection.close()


def _insert_missing_sql(table: str, scratch: str, col: dict, now, ids: np.ndarray):
    """INSERT … SELECT of the predictions of ``ids`` (customers without a CustomerStats
    row): every other column gets its field default, as ``CustomerStats(customer_id=…)``
    would. Customers deleted meanwhile are skipped."""
    from_scratch = {
        col["customer"]: "t.customer_id",
        col["expected_purchases_12m"]: "t.expected",
        col["p_alive"]: "t.alive",
        col["clv_12m"]: "t.value",
    }
    columns, values, params = [], [], []
    for field in CustomerStats._meta.concrete_fields:
        columns.append(field.column)
        if field.column in from_scratch:
            values.append(from_scratch[field.column])
        elif field.column == col["updated_at"]:
            values.append("%s")
            params.append(now)
        else:
            values.append("%s")
            params.append(field.get_db_prep_save(field.get_default(), connection))
    ids_sql, ids_param = bulk.list_table(ids)
    customers = Customer._meta.db_table
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} "
        f"FROM {scratch} t JOIN {ids_sql} ON m.id = t.customer_id "
        f"JOIN {customers} c ON c.id = t.customer_id WHERE TRUE "
        "ON CONFLICT DO NOTHING"
    )
    return sql, [*params, ids_param]


def _nullable(value: float):
    return None if math.isnan(value) else value


def _text(value: float, *, money: bool = False) -> str:
    if math.isnan(value):
        return "\\N"
    return f"{value:.2f}" if money else repr(value)


# --------------------------------------------------------------------------- refit requests


def can_refit(user) -> bool:
    """Administrators and analysts (the ``refit_models`` action of their roles)."""
    return can(user, Action.REFIT_MODELS)


def refit_state() -> dict:
    """Whether a refit is waiting or running on the task queue (database backend only)."""
    try:
        from django_tasks_db.models import DBTaskResult
    except ImportError:  # pragma: no cover - the database backend is installed
        return {"state": "", "since": None}
    if "django_tasks_db" not in settings.INSTALLED_APPS:
        return {"state": "", "since": None}
    pending = (
        DBTaskResult.objects.filter(task_path=REFIT_TASK_PATH, status__in=("READY", "RUNNING"))
        .order_by("-enqueued_at")
        .values("status", "enqueued_at", "started_at")
        .first()
    )
    if pending is None:
        return {"state": "", "since": None}
    running = pending["status"] == "RUNNING"
    return {
        "state": "running" if running else "queued",
        "since": pending["started_at"] if running else pending["enqueued_at"],
    }


def request_refit(*, actor) -> str:
    """Queue a refit for the worker. Returns "queued", or "already_queued" when one is
    waiting or running already (a double click queues one)."""
    if not can_refit(actor):
        raise PermissionDenied()
    from guanxi.analytics.clv_tasks import refit_clv

    if _task_backend_is_database() and refit_state()["state"]:
        return "already_queued"
    transaction.on_commit(lambda: refit_clv.enqueue(requested_by=actor.pk))
    return "queued"


def _task_backend_is_database() -> bool:
    backend = settings.TASKS.get("default", {}).get("BACKEND", "")
    return backend.startswith("django_tasks_db")


# --------------------------------------------------------------------------- reading results


def last_fit() -> ClvFit | None:
    return ClvFit.objects.order_by("-fitted_at", "-pk").first()


def _visible_stats(user):
    require(user, Action.VIEW)
    return visible_to(user, CustomerStats.objects.all(), prefix="customer__")


def clv_summary(*, user) -> dict:
    """Totals of the predictions over the customers the user may see."""
    totals = (
        _visible_stats(user)
        .filter(clv_12m__isnull=False)
        .aggregate(
            customers=Count("pk"),
            total_clv=Sum("clv_12m"),
            expected_purchases=Sum("expected_purchases_12m"),
            p_alive_sum=Sum("p_alive"),
            likely_alive=Count("pk", filter=Q(p_alive__gte=0.5)),
        )
    )
    n = totals["customers"] or 0
    total = totals["total_clv"] or Decimal("0.00")
    return {
        "customers": n,
        "total_clv": total,
        "average_clv": (total / n).quantize(Decimal("0.01")) if n else Decimal("0.00"),
        "expected_purchases": round(totals["expected_purchases"] or 0.0, 1),
        "average_p_alive": round((totals["p_alive_sum"] or 0.0) / n, 4) if n else None,
        "likely_alive": totals["likely_alive"] or 0,
    }


def _nice_width(value: float) -> Decimal:
    """The smallest of 1, 2, 2.5, 5 × 10^k at least ``value`` (bin widths people read),
    as a plain Decimal (20, not 2E+1)."""
    if value <= 0:
        return Decimal(1)
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        width = step * 10.0**exponent
        if width >= value * (1 - 1e-12):
            return plain_decimal(Decimal(f"{width:.6g}"))
    return plain_decimal(Decimal(10) ** (exponent + 1))  # pragma: no cover


def plain_decimal(value: Decimal) -> Decimal:
    """``value`` without trailing zeros or an exponent: 20, 2.5, 0.25."""
    text = format(value.normalize(), "f")
    return Decimal(text)


def clv_distribution(*, user, bins: int = HISTOGRAM_BINS) -> list[dict]:
    """Histogram of predicted CLV over the customers the user may see: ``bins``
    equal-width bins up to about the 99th percentile and one open bin above.
    Each: {"low", "high" (None for the open bin), "customers", "total_clv"}."""
    qs = _visible_stats(user).filter(clv_12m__isnull=False)
    n = qs.count()
    if not n:
        return []
    p99 = qs.order_by("-clv_12m").values_list("clv_12m", flat=True)[n // 100]
    width = _nice_width(float(p99) / bins)
    rows = (
        qs.annotate(
            bin=Least(Floor(F("clv_12m") / width), Value(bins), output_field=IntegerField())
        )
        .values("bin")
        .annotate(customers=Count("pk"), total=Sum("clv_12m"))
    )
    found = {int(r["bin"]): r for r in rows}
    last = max(found)
    out = []
    for i in range(last + 1):
        row = found.get(i, {"customers": 0, "total": Decimal("0.00")})
        out.append(
            {
                "low": plain_decimal(width * i),
                "high": plain_decimal(width * (i + 1)) if i < bins else None,
                "customers": row["customers"],
                "total_clv": row["total"] or Decimal("0.00"),
            }
        )
    return out


def high_potential_threshold(
    *, max_orders: int = HIGH_POTENTIAL_MAX_ORDERS, share: float = HIGH_POTENTIAL_SHARE
) -> Decimal | None:
    """The lowest CLV in the top ``share`` of customers with ≤ ``max_orders`` orders.

    Taken over all customers (not just the visible ones), so "high potential" means the
    same for everyone; the list is then cut down to what the user may see."""
    candidates = CustomerStats.objects.filter(clv_12m__isnull=False, orders__lte=max_orders)
    n = candidates.count()
    if not n:
        return None
    k = max(1, math.ceil(n * share))
    return candidates.order_by("-clv_12m").values_list("clv_12m", flat=True)[k - 1]


def high_potential(
    *,
    user,
    cursor: str | None = None,
    size: int = 50,
    max_orders: int = HIGH_POTENTIAL_MAX_ORDERS,
    share: float = HIGH_POTENTIAL_SHARE,
):
    """Customers the user may see with few orders but a top predicted CLV, highest first.

    Returns (customers, next_cursor); each customer has ``clv``, and its ``stats``."""
    threshold = high_potential_threshold(max_orders=max_orders, share=share)
    require(user, Action.VIEW)
    if threshold is None:
        return [], None
    qs = (
        visible_to(user, Customer.objects.all())
        .filter(stats__orders__lte=max_orders, stats__clv_12m__gte=threshold)
        .select_related("stats", "owner")
        .annotate(clv=F("stats__clv_12m"))
    )
    return keyset_page(qs, order="-clv", cursor=cursor, size=size, parse=Decimal)


def high_potential_count(*, user, threshold: Decimal | None) -> int:
    if threshold is None:
        return 0
    return (
        _visible_stats(user)
        .filter(orders__lte=HIGH_POTENTIAL_MAX_ORDERS, clv_12m__gte=threshold)
        .count()
    )


# --------------------------------------------------------------------------- report tables


REPORT_TABLES = ("clv_distribution", "clv_high_potential")


def report_tables(*, user, only: str | None = None, high_potential_rows: int = 10_000):
    """The numbers behind the page as export tables: the CLV distribution and the
    high-potential customers (at most ``high_potential_rows``); ``only`` builds just the
    table of that name (an unknown name gives no table)."""
    from guanxi.analytics.reports import Table

    tables = []
    if only in (None, "clv_distribution"):
        tables.append(
            Table(
                name="clv_distribution",
                title=_("Distribution of predicted 12-month CLV"),
                headers=[
                    _("CLV from"),
                    _("CLV to (below)"),
                    _("Customers"),
                    _("Total predicted CLV"),
                ],
                rows=[
                    [
                        b["low"],
                        "" if b["high"] is None else b["high"],
                        b["customers"],
                        b["total_clv"],
                    ]
                    for b in clv_distribution(user=user)
                ],
            )
        )
    if only in (None, "clv_high_potential"):
        customers, _next = high_potential(user=user, size=high_potential_rows)
        tables.append(
            Table(
                name="clv_high_potential",
                title=_("High-potential customers"),
                headers=[
                    _("Customer ID"),
                    _("Name"),
                    _("Owner"),
                    _("Orders"),
                    _("Revenue"),
                    _("Expected purchases (12 months)"),
                    _("P(alive)"),
                    _("Predicted CLV (12 months)"),
                ],
                rows=[
                    [
                        c.pk,
                        c.name,
                        c.owner.username if c.owner_id else "",
                        c.stats.orders,
                        c.stats.revenue,
                        round(c.stats.expected_purchases_12m or 0.0, 3),
                        round(c.stats.p_alive or 0.0, 4),
                        c.stats.clv_12m,
                    ]
                    for c in customers
                ],
            )
        )
    return tables
