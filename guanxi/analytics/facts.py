"""Precomputed order facts per customer for the analyses that read order history.

Group analysis (favourite category, order weekday and hour), cohorts and the churn
report would otherwise read millions of orders and order lines per request. These
tables hold what they need, per customer, in the site's time zone
(``settings.TIME_ZONE``, recorded in ``FactsState``):

* ``CustomerFacts``: purchases, cohort month, favourite top-level category, purchases
  per ISO weekday and per hour;
* ``CustomerMonth``: one row per customer and month with a purchase (with the
  customer's cohort month, the previous month's last purchase and the next month).

A *purchase* is what the statistics count (``guanxi.analytics.stats``): a paid order
that is neither cancelled nor wholly refunded; its moment is ``placed_at``.

How they stay current
=====================
``refresh_facts(customer_ids)`` recomputes the given customers from one read of their
purchases and one of those purchases' lines, and writes only the rows that differ from
the stored ones; ``refresh_facts()`` does every customer with set-based SQL
(``DELETE`` + ``INSERT … SELECT``), a range of ids per transaction, and marks the facts
complete. Both give the same rows (``tests/analytics/test_facts.py``). The full
statistics rebuild calls it. The statistics consumer calls ``refresh_facts(ids)`` for
the customers whose purchases a batch may have changed (an order of the batch counts
now or counted before, or the customer lost an order), merged customers, or those whose
ledger changed (one event at a time), inside its own transaction, so the facts change
with the statistics.

Until a full refresh has run (e.g. right after the migration on a database with
orders), ``is_built()`` is false and the analyses compute from the orders as before.
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from collections.abc import Iterable

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from guanxi.analytics.models_facts import (
    HOUR_FIELDS,
    WEEKDAY_FIELDS,
    CustomerFacts,
    CustomerMonth,
    FactsState,
)
from guanxi.commerce.models import Category, Order, OrderItem, Product
from guanxi.core import bulk

NOT_COUNTED = ("cancelled", "refunded")
CHUNK = 50_000  # customer ids per transaction of a full refresh
BATCH = 1_000  # customers per statement of a partial refresh
LINES_BATCH = 5_000  # orders per read of their lines (partial refresh)
LOCK_KEY = 727_001  # the statistics' advisory lock (guanxi.analytics.stats.LOCK_KEY)


# Time zone ----------------------------------------------------------------------------------


def zone_name() -> str:
    name = settings.TIME_ZONE or "UTC"
    zoneinfo.ZoneInfo(name)  # raises for an unknown zone
    if not re.fullmatch(r"[A-Za-z0-9_+\-/]+", name):
        raise ValueError(f"unexpected time zone name {name!r}")
    return name


def month_index(moment: datetime.datetime | datetime.date) -> int:
    """year × 12 + month − 1 of ``moment`` (an aware moment in the site's zone)."""
    if isinstance(moment, datetime.datetime) and timezone.is_aware(moment):
        moment = moment.astimezone(zoneinfo.ZoneInfo(zone_name()))
    return moment.year * 12 + moment.month - 1


def month_start(index: int) -> datetime.datetime:
    """The first moment of month ``index`` in the site's zone."""
    return datetime.datetime(index // 12, index % 12 + 1, 1, tzinfo=zoneinfo.ZoneInfo(zone_name()))


def fixed_offset_minutes(lo: datetime.datetime | None, hi: datetime.datetime | None) -> int | None:
    """The zone's UTC offset in minutes if it is the same all over [lo, hi] (sampled
    every 10 days), else None."""
    zone = zoneinfo.ZoneInfo(zone_name())
    if lo is None or hi is None:
        return int(datetime.datetime.now(zone).utcoffset().total_seconds() // 60)
    offsets = set()
    moment = lo
    while True:
        offsets.add(moment.astimezone(zone).utcoffset())
        if len(offsets) > 1:
            return None
        if moment >= hi:
            break
        moment = min(hi, moment + datetime.timedelta(days=10))
    return int(offsets.pop().total_seconds() // 60)


class LocalTime:
    """SQL for the local weekday (ISO, 1 = Monday), hour and month index of a UTC
    timestamp column. PostgreSQL converts with ``AT TIME ZONE``; SQLite shifts by the
    zone's offset when it is constant over the data (no Python per row), else it uses
    Django's own conversion function."""

    def __init__(self, offset: int | None):
        self.zone = zone_name()
        self.offset = offset

    def _sqlite_shift(self) -> str:
        return f"'{self.offset:+d} minutes'"

    def weekday(self, col: str) -> str:
        if connection.vendor == "postgresql":
            return f"CAST(EXTRACT(ISODOW FROM ({col} AT TIME ZONE '{self.zone}')) AS INTEGER)"
        if self.offset is not None:
            w = f"CAST(strftime('%%w', {col}, {self._sqlite_shift()}) AS INTEGER)"
            return f"(({w} + 6) %% 7 + 1)"
        return f"django_datetime_extract('iso_week_day', {col}, '{self.zone}', 'UTC')"

    def hour(self, col: str) -> str:
        if connection.vendor == "postgresql":
            return f"CAST(EXTRACT(HOUR FROM ({col} AT TIME ZONE '{self.zone}')) AS INTEGER)"
        if self.offset is not None:
            return f"CAST(strftime('%%H', {col}, {self._sqlite_shift()}) AS INTEGER)"
        return f"django_datetime_extract('hour', {col}, '{self.zone}', 'UTC')"

    def month(self, col: str) -> str:
        if connection.vendor == "postgresql":
            local = f"({col} AT TIME ZONE '{self.zone}')"
            return (
                f"CAST(EXTRACT(YEAR FROM {local}) * 12 + EXTRACT(MONTH FROM {local}) - 1 "
                "AS INTEGER)"
            )
        if self.offset is not None:
            shift = self._sqlite_shift()
            return (
                f"(CAST(strftime('%%Y', {col}, {shift}) AS INTEGER) * 12"
                f" + CAST(strftime('%%m', {col}, {shift}) AS INTEGER) - 1)"
            )
        year = f"django_datetime_extract('year', {col}, '{self.zone}', 'UTC')"
        month = f"django_datetime_extract('month', {col}, '{self.zone}', 'UTC')"
        return f"({year} * 12 + {month} - 1)"


# Categories ---------------------------------------------------------------------------------


def root_map() -> dict[int, int]:
    """Every category id → the id of its top-level ancestor (itself for a root)."""
    parents = dict(Category.objects.values_list("pk", "parent_id"))
    roots = {}
    for pk in parents:
        node, seen = pk, set()
        while parents.get(node) and node not in seen:
            seen.add(node)
            node = parents[node]
        roots[pk] = node
    return roots


def _root_sql(col: str) -> str:
    by_root: dict[int, list[int]] = {}
    for pk, root in root_map().items():
        by_root.setdefault(root, []).append(pk)
    if not by_root:
        return "CAST(NULL AS BIGINT)"
    whens = " ".join(
        f"WHEN {col} IN ({', '.join(str(int(pk)) for pk in sorted(pks))}) THEN {int(root)}"
        for root, pks in sorted(by_root.items())
    )
    return f"CAST(CASE {whens} ELSE NULL END AS BIGINT)"


# Refresh ------------------------------------------------------------------------------------


def _tables() -> dict[str, str]:
    qn = connection.ops.quote_name
    return {
        "orders": qn(Order._meta.db_table),
        "items": qn(OrderItem._meta.db_table),
        "products": qn(Product._meta.db_table),
        "facts": qn(CustomerFacts._meta.db_table),
        "months": qn(CustomerMonth._meta.db_table),
    }


def _lock_exclusive() -> None:
    """Keep the statistics consumer out while the facts of its customers are read (it
    takes the same lock shared), so no order change is half seen."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])


def _refresh(cond: str, params: list) -> None:
    """Recompute the facts of the customers selected by ``cond`` (SQL with a ``{col}``
    placeholder for the customer id column) from their orders."""
    t = _tables()

    def where(col: str) -> str:
        return cond.format(col=col)

    counted = "o.paid_at IS NOT NULL AND o.status NOT IN (%s, %s)"
    with connection.cursor() as cursor:
        # The span of these customers' orders (all of them: an index-only read), to
        # see whether the zone's offset is constant over it.
        cursor.execute(
            f"SELECT MIN(o.placed_at), MAX(o.placed_at) FROM {t['orders']} o "
            f"WHERE {where('o.customer_id')}",
            params,
        )
        lo, hi = cursor.fetchone()
        if connection.vendor == "sqlite":
            lo, hi = (
                timezone.make_aware(datetime.datetime.fromisoformat(v), datetime.UTC)
                if isinstance(v, str)
                else v
                for v in (lo, hi)
            )
        local = LocalTime(fixed_offset_minutes(lo, hi))
        cursor.execute(f"DELETE FROM {t['months']} WHERE {where('customer_id')}", params)
        cursor.execute(f"DELETE FROM {t['facts']} WHERE {where('customer_id')}", params)
        if lo is None:
            return
        cursor.execute(
            f"""
            INSERT INTO {t["months"]}
                (customer_id, month, cohort_month, orders, last_at, prev_at, next_month)
            SELECT g.customer_id, g.m, MIN(g.m) OVER (PARTITION BY g.customer_id), g.n, g.last_at,
                   LAG(g.last_at) OVER (PARTITION BY g.customer_id ORDER BY g.m),
                   LEAD(g.m) OVER (PARTITION BY g.customer_id ORDER BY g.m)
            FROM (
                SELECT o.customer_id, {local.month("o.placed_at")} AS m, COUNT(*) AS n,
                       MAX(o.placed_at) AS last_at
                FROM {t["orders"]} o
                WHERE {where("o.customer_id")} AND {counted}
                GROUP BY 1, 2
            ) g
            """,
            [*params, *NOT_COUNTED],
        )
        sums = [
            f"SUM(CASE WHEN x.wd = {d} THEN 1 ELSE 0 END) AS {f}"
            for d, f in zip(range(1, 8), WEEKDAY_FIELDS, strict=True)
        ]
        sums += [
            f"SUM(CASE WHEN x.h = {h} THEN 1 ELSE 0 END) AS {f}"
            for h, f in zip(range(24), HOUR_FIELDS, strict=True)
        ]
        columns = ", ".join(WEEKDAY_FIELDS + HOUR_FIELDS)
        # The favourite as a scalar subquery per customer (an index walk through their
        # orders and lines): a join to a ranked derived table is quadratic on SQLite.
        cursor.execute(
            f"""
            INSERT INTO {t["facts"]}
                (customer_id, orders, cohort_month, favourite_root_id, {columns})
            SELECT a.customer_id, a.n, a.cm, (
                SELECT {_root_sql("p.category_id")} AS root
                FROM {t["orders"]} o
                JOIN {t["items"]} i ON i.order_id = o.id
                JOIN {t["products"]} p ON p.id = i.product_id
                WHERE o.customer_id = a.customer_id AND {counted}
                  AND p.category_id IS NOT NULL
                GROUP BY 1
                ORDER BY SUM(i.quantity) DESC, 1 ASC
                LIMIT 1
            ), {columns}
            FROM (
                SELECT x.customer_id, COUNT(*) AS n, MIN(x.m) AS cm, {", ".join(sums)}
                FROM (
                    SELECT o.customer_id, {local.weekday("o.placed_at")} AS wd,
                           {local.hour("o.placed_at")} AS h, {local.month("o.placed_at")} AS m
                    FROM {t["orders"]} o
                    WHERE {where("o.customer_id")} AND {counted}
                ) x
                GROUP BY x.customer_id
            ) a
            """,
            [*NOT_COUNTED, *params, *NOT_COUNTED],
        )


def _local_parts_sqlite(placed: list) -> list[tuple[int, int, int]]:
    """(ISO weekday, hour, month index) in the site's zone of SQLite's stored UTC
    timestamps (what ``LocalTime`` computes in SQL, here with zoneinfo in Python)."""
    zone = zoneinfo.ZoneInfo(zone_name())
    parts = []
    for value in placed:
        moment = value
        if not isinstance(value, datetime.datetime):
            moment = datetime.datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
        local = moment.astimezone(zone)
        parts.append((local.isoweekday(), local.hour, local.year * 12 + local.month - 1))
    return parts


def _refresh_some(ids: list[int]) -> None:
    """Recompute the facts of these customers (at most ``BATCH``): one read of their
    purchases and one of their purchases' units per category, the rows computed in
    Python, compared with the stored ones, and only the rows that differ written.

    Equal to ``_refresh`` (the set-based SQL of the full refresh): the same purchases,
    the same local time (PostgreSQL's ``AT TIME ZONE``; on SQLite zoneinfo, as Django's
    own conversion), the same favourite (most units per top-level category, ties → the
    smaller id) and the same stored timestamps (the orders' ``placed_at`` as read)."""
    if not ids:
        return
    t = _tables()
    of_customers, ids_param = bulk.in_list("o.customer_id", ids)
    counted = "o.paid_at IS NOT NULL AND o.status NOT IN (%s, %s)"
    pg = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        if pg:
            local = LocalTime(None)
            cursor.execute(
                f"SELECT o.customer_id, o.placed_at, {local.weekday('o.placed_at')}, "
                f"{local.hour('o.placed_at')}, {local.month('o.placed_at')}, o.id "
                f"FROM {t['orders']} o WHERE {of_customers} AND {counted}",
                [*ids_param, *NOT_COUNTED],
            )
            purchases = cursor.fetchall()
        else:
            cursor.execute(
                f"SELECT o.customer_id, o.placed_at, o.id FROM {t['orders']} o "
                f"WHERE {of_customers} AND {counted}",
                [*ids_param, *NOT_COUNTED],
            )
            rows = cursor.fetchall()
            parts = _local_parts_sqlite([row[1] for row in rows])
            purchases = [(c, at, *p, pk) for (c, at, pk), p in zip(rows, parts, strict=True)]
        # The purchases' units per top-level category, looked up by order id (an index
        # walk; a join from the customers' orders lets PostgreSQL scan every line).
        owner = {row[5]: row[0] for row in purchases}
        order_ids = sorted(owner)
        units: dict[int, dict[int | None, int]] = {}
        roots = root_map() if order_ids else {}
        for start in range(0, len(order_ids), LINES_BATCH):
            of_orders, part = bulk.in_list("i.order_id", order_ids[start : start + LINES_BATCH])
            cursor.execute(
                f"SELECT i.order_id, p.category_id, i.quantity FROM {t['items']} i "
                f"JOIN {t['products']} p ON p.id = i.product_id "
                f"WHERE {of_orders} AND p.category_id IS NOT NULL",
                part,
            )
            for order_id, category_id, quantity in cursor.fetchall():
                root = roots.get(category_id)
                per = units.setdefault(owner[order_id], {})
                per[root] = per.get(root, 0) + quantity

        # What the rows should be.
        by_customer: dict[int, list] = {}
        for row in purchases:
            by_customer.setdefault(row[0], []).append(row)
        want_facts: dict[int, tuple] = {}
        want_months: dict[tuple[int, int], tuple] = {}
        for customer_id, rows in by_customer.items():
            weekdays = [0] * 7
            hours = [0] * 24
            months: dict[int, list] = {}
            for _c, at, wd, h, m, _pk in rows:
                weekdays[wd - 1] += 1
                hours[h] += 1
                entry = months.get(m)
                if entry is None:
                    months[m] = [1, at]
                else:
                    entry[0] += 1
                    if at > entry[1]:
                        entry[1] = at
            cohort = min(months)
            per = units.get(customer_id)
            favourite = None
            if per:
                # Most units; ties → the smaller id (a missing root sorts as in SQL).
                favourite = min(
                    per.items(),
                    key=lambda kv: (
                        -kv[1],
                        kv[0] is not None if not pg else kv[0] is None,
                        kv[0] or 0,
                    ),
                )[0]
            want_facts[customer_id] = (len(rows), cohort, favourite, *weekdays, *hours)
            ordered = sorted(months)
            for k, m in enumerate(ordered):
                n, last_at = months[m]
                prev_at = months[ordered[k - 1]][1] if k else None
                next_month = ordered[k + 1] if k + 1 < len(ordered) else None
                want_months[(customer_id, m)] = (cohort, n, last_at, prev_at, next_month)

        # What they are.
        columns = WEEKDAY_FIELDS + HOUR_FIELDS
        of_customers, ids_param = bulk.in_list("customer_id", ids)
        cursor.execute(
            f"SELECT customer_id, orders, cohort_month, favourite_root_id, "
            f"{', '.join(columns)} FROM {t['facts']} WHERE {of_customers}",
            ids_param,
        )
        have_facts = {row[0]: tuple(row[1:]) for row in cursor.fetchall()}
        cursor.execute(
            f"SELECT customer_id, month, cohort_month, orders, last_at, prev_at, next_month "
            f"FROM {t['months']} WHERE {of_customers}",
            ids_param,
        )
        have_months = {(row[0], row[1]): tuple(row[2:]) for row in cursor.fetchall()}

        # Write the difference.
        stale_facts = [pk for pk, row in have_facts.items() if want_facts.get(pk) != row]
        new_facts = [(pk, *row) for pk, row in want_facts.items() if have_facts.get(pk) != row]
        stale_months = [k for k, row in have_months.items() if want_months.get(k) != row]
        new_months = [(*k, *row) for k, row in want_months.items() if have_months.get(k) != row]
        for start in range(0, len(stale_facts), BATCH):
            of_customers, part = bulk.in_list("customer_id", stale_facts[start : start + BATCH])
            cursor.execute(f"DELETE FROM {t['facts']} WHERE {of_customers}", part)
        if pg:
            if stale_months:
                cursor.execute(
                    f"DELETE FROM {t['months']} WHERE (customer_id, month) IN "
                    "(SELECT * FROM unnest(%s::bigint[], %s::integer[]))",
                    [[key[0] for key in stale_months], [key[1] for key in stale_months]],
                )
        else:
            for start in range(0, len(stale_months), 400):
                part = stale_months[start : start + 400]
                cursor.execute(
                    f"DELETE FROM {t['months']} WHERE "
                    + " OR ".join(["(customer_id = %s AND month = %s)"] * len(part)),
                    [v for key in part for v in key],
                )
        names = ["customer_id", "orders", "cohort_month", "favourite_root_id", *columns]
        _insert(cursor, t["facts"], names, new_facts)
        names = ["customer_id", "month", "cohort_month", "orders", "last_at", "prev_at"]
        _insert(cursor, t["months"], [*names, "next_month"], new_months)


def _insert(cursor, table: str, names: list[str], rows: list[tuple]) -> None:
    """``COPY`` on PostgreSQL; multi-row ``INSERT … VALUES`` on SQLite (fewer round trips
    than ``executemany``)."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        bulk.copy_rows(cursor, table, names, rows)
        return
    per = max(1, 2_000 // len(names))
    row_marks = "(" + ", ".join(["%s"] * len(names)) + ")"
    for start in range(0, len(rows), per):
        part = rows[start : start + per]
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(names)}) VALUES "
            + ", ".join([row_marks] * len(part)),
            [v for row in part for v in row],
        )


def refresh_facts(customer_ids: Iterable[int] | None = None, *, chunk: int = CHUNK) -> int:
    """Recompute the facts of these customers, or of all when None (a range of ids
    per transaction under the statistics' exclusive lock, then the facts are marked
    complete). Returns how many customers were given, or have facts after a full run.

    With ids, call it inside the transaction that changed their orders (the statistics
    consumer does): it takes no lock of its own."""
    if customer_ids is not None:
        ids = sorted({int(pk) for pk in customer_ids if pk is not None})
        with transaction.atomic():
            for start in range(0, len(ids), BATCH):
                _refresh_some(ids[start : start + BATCH])
        return len(ids)
    bounds = [
        Order.objects.aggregate(lo=Min("customer_id"), hi=Max("customer_id")),
        CustomerFacts.objects.aggregate(lo=Min("customer_id"), hi=Max("customer_id")),
        CustomerMonth.objects.aggregate(lo=Min("customer_id"), hi=Max("customer_id")),
    ]
    los = [b["lo"] for b in bounds if b["lo"] is not None]
    his = [b["hi"] for b in bounds if b["hi"] is not None]
    if los:
        start, hi = min(los), max(his)
        while start <= hi:
            with transaction.atomic():
                _lock_exclusive()
                _refresh("{col} >= %s AND {col} < %s", [start, start + chunk])
            start += chunk
    with transaction.atomic():
        FactsState.objects.all().delete()
        FactsState.objects.create(time_zone=zone_name())
    return CustomerFacts.objects.count()


def is_built() -> bool:
    """Whether the facts are complete and in the site's current time zone."""
    state = FactsState.objects.order_by("-built_at").first()
    return state is not None and state.time_zone == zone_name()


__all__ = [
    "is_built",
    "month_index",
    "month_start",
    "refresh_facts",
    "root_map",
]
