"""The KPI rollup: daily figures per store, so the dashboard of a user who sees every
customer reads a few hundred rows instead of millions of orders (a team's or a sales
rep's sums the ledger below of its customers: ``kpi._entry_figures``).

What it holds
=============
``KpiDay`` (store, local day) holds the additive figures of ``guanxi.analytics.kpi``:
of the orders *paid* that day their paid amount (sales), count, units, refunded amount
and gross profit (as the statistics count it: 0 for orders that no longer count); of the
orders *placed* that day their count, how many are still unpaid and their amount.

Distinct customers are not additive, but they follow from the chain of each customer's
paid orders (ordered by ``paid_at``, then id). With prev(o) = the customer's paid order
before o, prev2(o) the one before that (within all stores, or within o's store):

* paying customers of [s, e]  = paid orders − #{o paid in [s, e]: prev(o) paid ≥ s}
  (every customer's first order of the period has no prev inside it);
* customers with 2+ orders   = #{o: prev(o) ≥ s} − #{o: prev2(o) ≥ s}
  (a customer with k orders adds k − 1 and max(k − 2, 0));
* paying customers of a day d = paid orders of d − #{o paid on d: prev(o) on d}.
* new customers of [s, e] (first payment ever in it, and, for a store, a payment in
  that store in it) = #{o: o is the customer's first paid order in the scope, paid in
  [s, e], and the customer's first paid order anywhere was paid ≥ s}.

``KpiChainDay`` (scope, day, ref_day) counts the paid orders of ``day`` whose prev
(``prev``) or prev2 (``prev2``) was paid on ``ref_day``, and the first paid orders in the
scope of customers whose first payment was on ``ref_day`` (``firsts``); scope 0 is all
stores, otherwise a store id. So every figure of the dashboard is a sum over cells with
day in the period and ref_day ≥ its start: a few thousand rows for a quarter.

How it stays up to date
=======================
``KpiOrderEntry`` is the ledger: what each order adds now. The statistics consumer
(``guanxi.analytics.stats.apply_order``) calls ``apply_order`` after it has brought the
customer statistics in line; the entry is compared with what the order should add now
and only the difference goes to the cells (an atomic ``INSERT … ON CONFLICT DO UPDATE``
adding the deltas). When an order's place in a chain may have moved (paid now, a new
customer after a merge), the customer's chains are recomputed from the ledger and again
only the difference applied. So duplicates and retries change nothing twice.

``rebuild_entries`` (per range of customers, with the statistics rebuild) and
``rebuild_cells`` (``GROUP BY`` over the ledger) recompute it all; ``KpiRollupState``
records that the rollup is complete and in which time zone its days are. The
dashboard reads the rollup only when it is complete and the user's time zone is that
one; otherwise it computes from the orders (same numbers, slower).
"""

import datetime
import decimal
import functools
import zoneinfo
from collections import defaultdict

from django.conf import settings
from django.db import connection
from django.utils import timezone

from guanxi.analytics.models import (
    CustomerStats,
    KpiChainDay,
    KpiDay,
    KpiOrderEntry,
    KpiRollupState,
    OrderContribution,
)
from guanxi.commerce.models import Order
from guanxi.core import bulk

ZERO = decimal.Decimal("0.00")
ALL_STORES = 0
DAY_FIELDS = ("sales", "orders", "items", "refunds", "profit", "placed", "unpaid", "unpaid_amount")
ENTRY_FIELDS = (
    "store_id",
    "customer_id",
    "placed_day",
    "unpaid_amount",
    "paid_at",
    "paid_day",
    "sales",
    "items",
    "refunds",
    "profit",
)
CHAIN_FIELDS = ("prev_day", "prev2_day", "store_prev_day", "store_prev2_day", "new_day")


def time_zone_name() -> str:
    return settings.TIME_ZONE


def local_day(value: datetime.datetime | None) -> datetime.date | None:
    if value is None:
        return None
    return value.astimezone(zoneinfo.ZoneInfo(time_zone_name())).date()


def ready(tz_name: str | None = None) -> bool:
    """Whether the rollup is complete and its days are local days of ``tz_name`` (the
    current time zone by default)."""
    tz_name = tz_name or timezone.get_current_timezone_name()
    if tz_name != time_zone_name():
        return False
    return KpiRollupState.objects.filter(time_zone=tz_name).exists()


def mark_ready() -> None:
    KpiRollupState.objects.all().delete()
    KpiRollupState.objects.create(time_zone=time_zone_name())


# One order --------------------------------------------------------------------------------


def entry_values(order: Order, *, profit) -> dict:
    """What ``order`` adds to the rollup now (its chain position aside)."""
    paid = order.paid_at is not None
    return {
        "store_id": order.store_id,
        "customer_id": order.customer_id,
        "placed_day": local_day(order.placed_at),
        "unpaid_amount": ZERO
        if paid
        else order.goods_amount - order.discount_amount + order.shipping_amount,
        "paid_at": order.paid_at,
        "paid_day": local_day(order.paid_at),
        "sales": order.paid_amount if paid else ZERO,
        "items": order.item_count if paid else 0,
        "refunds": order.refunded_amount if paid else ZERO,
        "profit": profit if paid else ZERO,
    }


def _day_parts(v: dict | None) -> list[tuple[int, datetime.date, dict]]:
    """The (store, day, figures) cells an entry adds to."""
    if v is None:
        return []
    parts = [
        (
            v["store_id"],
            v["placed_day"],
            {
                "placed": 1,
                "unpaid": 0 if v["paid_at"] else 1,
                "unpaid_amount": v["unpaid_amount"],
            },
        )
    ]
    if v["paid_at"] is not None:
        parts.append(
            (
                v["store_id"],
                v["paid_day"],
                {
                    "sales": v["sales"],
                    "orders": 1,
                    "items": v["items"],
                    "refunds": v["refunds"],
                    "profit": v["profit"],
                },
            )
        )
    return parts


def _add_days(cells: dict, parts, sign: int) -> None:
    for store_id, day, figures in parts:
        cell = cells[(store_id, day)]
        for key, value in figures.items():
            cell[key] = cell.get(key, 0) + sign * value


def _upsert_add(model, keys: tuple[str, ...], fields: tuple[str, ...], rows: list) -> None:
    """Add ``rows`` ((*keys, *fields) tuples, keys unique) to the cells in one atomic
    ``INSERT … ON CONFLICT DO UPDATE SET f = f + excluded.f``."""
    if not rows:
        return
    t = connection.ops.quote_name(model._meta.db_table)
    source, params = bulk.rows_source(model, (*keys, *fields), rows)
    sets = ", ".join(f"{c} = {t}.{c} + excluded.{c}" for c in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {t} ({', '.join((*keys, *fields))}) {source} "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}",
            params,
        )


def _write_days(cells: dict) -> None:
    rows = [
        (day, store_id, *(delta.get(c, 0) for c in DAY_FIELDS))
        for (store_id, day), delta in sorted(cells.items())
        if any(delta.values())
    ]
    _upsert_add(KpiDay, ("day", "store_id"), DAY_FIELDS, rows)


def _write_chain(cells: dict) -> None:
    rows = [(*key, *counts) for key, counts in sorted(cells.items()) if any(counts)]
    _upsert_add(KpiChainDay, ("scope", "day", "ref_day"), ("prev", "prev2", "firsts"), rows)


def _chain_parts(store_id, paid_day, chain: dict) -> list[tuple[tuple, tuple[int, int, int]]]:
    """The chain cells a paid, chained entry adds to: (key, (prev, prev2, firsts))."""
    out = []
    for scope, p1, p2 in (
        (ALL_STORES, chain["prev_day"], chain["prev2_day"]),
        (store_id, chain["store_prev_day"], chain["store_prev2_day"]),
    ):
        if p1 is not None:
            out.append(((scope, paid_day, p1), (1, 0, 0)))
        if p2 is not None:
            out.append(((scope, paid_day, p2), (0, 1, 0)))
    # The customer's first paid order: new on its day; its first in this store: new to
    # the store in any period that also holds the customer's first payment (new_day).
    if chain["prev_day"] is None:
        out.append(((ALL_STORES, paid_day, paid_day), (0, 0, 1)))
    if chain["new_day"] is not None:
        out.append(((store_id, paid_day, chain["new_day"]), (0, 0, 1)))
    return out


def _add_chain(cells: dict, parts, sign: int) -> None:
    for key, counts in parts:
        old = cells.get(key, (0, 0, 0))
        cells[key] = tuple(a + sign * b for a, b in zip(old, counts, strict=True))


def _lock_customers(customer_ids) -> None:
    """The customers' statistics rows are the lock that orders work on their chains."""
    ids = sorted({pk for pk in customer_ids if pk is not None})
    if ids:
        list(CustomerStats.objects.select_for_update().filter(customer_id__in=ids).order_by("pk"))


def rechain(customer_ids, cells: dict | None = None) -> None:
    """Recompute the chains of these customers' paid orders from the ledger and apply the
    difference (with ``cells``, changes already due) to ``KpiChainDay``. Call inside a
    transaction."""
    cells = {} if cells is None else cells
    ids = sorted({int(pk) for pk in customer_ids if pk is not None})
    if not ids:
        _write_chain(cells)
        return
    _lock_customers(ids)
    rows = list(
        KpiOrderEntry.objects.filter(customer_id__in=ids, paid_at__isnull=False)
        .order_by("customer_id", "paid_at", "order_id")
        .values("order_id", "customer_id", "store_id", "paid_day", "chained", *CHAIN_FIELDS)
    )
    last_all: dict = defaultdict(list)  # customer → paid days so far
    last_store: dict = defaultdict(list)  # (customer, store) → paid days so far
    for row in rows:
        seen = last_all[row["customer_id"]]
        seen_store = last_store[(row["customer_id"], row["store_id"])]
        new = {
            "prev_day": seen[-1] if seen else None,
            "prev2_day": seen[-2] if len(seen) > 1 else None,
            "store_prev_day": seen_store[-1] if seen_store else None,
            "store_prev2_day": seen_store[-2] if len(seen_store) > 1 else None,
            # The customer's first paid day (this row's own when it is the first).
            "new_day": None if seen_store else (seen[0] if seen else row["paid_day"]),
        }
        seen.append(row["paid_day"])
        seen_store.append(row["paid_day"])
        old = {f: row[f] for f in CHAIN_FIELDS}
        if new != old or not row["chained"]:
            if row["chained"]:
                _add_chain(cells, _chain_parts(row["store_id"], row["paid_day"], old), -1)
            _add_chain(cells, _chain_parts(row["store_id"], row["paid_day"], new), +1)
            KpiOrderEntry.objects.filter(order_id=row["order_id"]).update(**new, chained=True)
    _write_chain(cells)


def apply_order(order: Order | None, *, order_id: int, profit=None) -> bool:
    """Bring the rollup in line with ``order`` (locked by the caller; None when it is
    gone) as it is now; ``profit`` is what the statistics count for it (read from their
    ledger when not given). Returns whether anything changed."""
    row = KpiOrderEntry.objects.select_for_update().filter(order_id=order_id).first()
    if order is None and row is None:
        return False
    if order is not None and profit is None:
        profit = (
            OrderContribution.objects.filter(order_id=order_id)
            .values_list("profit", flat=True)
            .first()
        )
    new = entry_values(order, profit=profit or ZERO) if order is not None else None
    old = {k: getattr(row, k) for k in ENTRY_FIELDS} if row else None
    if old == new:
        return False
    days: dict = defaultdict(dict)
    _add_days(days, _day_parts(old), -1)
    _add_days(days, _day_parts(new), +1)
    _write_days(days)
    moved = (
        old is None
        or new is None
        or any(old[k] != new[k] for k in ("paid_at", "customer_id", "store_id"))
    )
    customers = set()
    cells: dict = {}
    if row is not None and moved:
        # Out of its chains first; rechain puts it (and its neighbours) back.
        if row.chained:
            chain = {f: getattr(row, f) for f in CHAIN_FIELDS}
            _add_chain(cells, _chain_parts(row.store_id, row.paid_day, chain), -1)
        customers.add(row.customer_id)
    if new is None:
        KpiOrderEntry.objects.filter(order_id=order_id).delete()
    elif row is None:
        KpiOrderEntry.objects.create(order_id=order_id, **new)
    else:
        reset = {**dict.fromkeys(CHAIN_FIELDS), "chained": False} if moved else {}
        KpiOrderEntry.objects.filter(order_id=order_id).update(**new, **reset)
    if moved and new is not None and new["paid_at"] is not None:
        customers.add(new["customer_id"])
    if moved:
        rechain(customers, cells)
    return True


ENTRY_READ = ("order_id", *ENTRY_FIELDS, *CHAIN_FIELDS, "chained")
_DAY_COLUMNS = frozenset({"placed_day", "paid_day", *CHAIN_FIELDS})
_MONEY_COLUMNS = frozenset({"unpaid_amount", "sales", "refunds", "profit"})


def _raw_entries(cond: str, params: list, *, col: str = "customer_id") -> dict[int, tuple]:
    """{order id: row as the database returns it} of the entries selected by ``cond``
    (of customers, or with ``col``, of orders)."""
    table = connection.ops.quote_name(KpiOrderEntry._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(ENTRY_READ)} FROM {table} WHERE {cond.format(col=col)}",
            params,
        )
        return {row[0]: row for row in cursor.fetchall()}


def _entry_of(row: tuple) -> dict:
    """A raw entry row as Python values (SQLite returns text days and float money)."""
    out = {}
    for name, value in zip(ENTRY_READ, row, strict=True):
        if value is not None and name in _DAY_COLUMNS and isinstance(value, str):
            value = datetime.date.fromisoformat(value[:10])
        elif value is not None and name in _MONEY_COLUMNS:
            value = decimal.Decimal(str(value)).quantize(decimal.Decimal("0.01"))
        out[name] = value
    return out


def _entry_cells(row: tuple, days: dict, chains: dict, sign: int) -> None:
    v = _entry_of(row)
    _add_days(days, _day_parts(v), sign)
    if v["chained"] and v["paid_at"] is not None:
        _add_chain(chains, _chain_parts(v["store_id"], v["paid_day"], v), sign)


def refresh_customers(customer_ids) -> None:
    """Recompute the entries of these customers' orders (and of the orders the ledger
    still has under them) with the rebuild's SQL and apply the difference to the cells,
    e.g. for a batch of order events or after a merge moved orders; inside a transaction
    that excludes other consumers. The statistics ledger of these customers must be
    fresh (it gives the profit)."""
    ids = sorted({int(pk) for pk in customer_ids})
    if not ids:
        return
    cond, params = bulk.in_list("{col}", ids)
    old = _raw_entries(cond, params)
    rebuild_entries(cond, params)
    new = _raw_entries(cond, params)
    days: dict = defaultdict(dict)
    chains: dict = {}
    for order_id in old.keys() | new.keys():
        before, after = old.get(order_id), new.get(order_id)
        if before == after:
            continue  # the same row: what it adds to the cells did not change
        if before is not None:
            _entry_cells(before, days, chains, -1)
        if after is not None:
            _entry_cells(after, days, chains, +1)
    _write_days(days)
    _write_chain(chains)


def apply_orders(order_ids, customer_ids) -> None:
    """Bring the entries of these orders in line with the orders as they are now, rechain
    these customers (the orders' customers now and as the entries had them) and apply
    the difference to the cells, in a few statements whatever the number of orders: the
    batch consumer's path. Inside a transaction that excludes other consumers; the
    statistics ledger of these orders must be fresh (it gives the profit)."""
    order_ids = sorted({int(pk) for pk in order_ids})
    ids = sorted({int(pk) for pk in customer_ids if pk is not None})
    if not order_ids:
        return
    days: dict = defaultdict(dict)
    chains: dict = {}
    cond, params = bulk.in_list("{col}", order_ids)
    old = _raw_entries(cond, params, col="order_id")
    for row in old.values():
        _entry_cells(row, days, chains, -1)
    entries = connection.ops.quote_name(KpiOrderEntry._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {entries} WHERE {cond.format(col='order_id')}", params)
    _insert_entries(cond.format(col="o.id"), params, chains_sql=False)
    for row in _raw_entries(cond, params, col="order_id").values():
        _entry_cells(row, days, chains, +1)  # not chained yet: the day figures only
    _rechain_sql(ids, chains)
    _write_days(days)
    _write_chain(chains)


def _rechain_sql(customer_ids: list[int], chains: dict) -> None:
    """Recompute the chain columns of these customers' paid entries with the rebuild's
    window functions; only the rows that differ (or are not chained yet) come back to
    Python, move their chain cells in ``chains`` and are updated."""
    if not customer_ids:
        return
    entries = connection.ops.quote_name(KpiOrderEntry._meta.db_table)
    of_customers, params = bulk.in_list("customer_id", customer_ids)
    w_all = "PARTITION BY customer_id ORDER BY paid_at, order_id"
    w_store = "PARTITION BY customer_id, store_id ORDER BY paid_at, order_id"
    differ = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    old_cols = ", ".join(f"{c} AS old_{c}" for c in CHAIN_FIELDS)
    changed = " OR ".join(f"old_{c} {differ} {c}" for c in CHAIN_FIELDS)
    n = len(CHAIN_FIELDS)
    with connection.cursor() as cursor:
        # One read of the customers' paid entries: their chain as stored and as it is.
        cursor.execute(
            f"""
            SELECT order_id, store_id, paid_day, chained,
                   {", ".join(f"old_{c}" for c in CHAIN_FIELDS)}, {", ".join(CHAIN_FIELDS)}
            FROM (
                SELECT order_id, store_id, paid_day, chained, {old_cols},
                       LAG(paid_day, 1) OVER ({w_all}) AS prev_day,
                       LAG(paid_day, 2) OVER ({w_all}) AS prev2_day,
                       LAG(paid_day, 1) OVER ({w_store}) AS store_prev_day,
                       LAG(paid_day, 2) OVER ({w_store}) AS store_prev2_day,
                       CASE WHEN ROW_NUMBER() OVER ({w_store}) = 1
                            THEN MIN(paid_day) OVER (PARTITION BY customer_id) END AS new_day
                FROM {entries}
                WHERE {of_customers} AND paid_at IS NOT NULL
            ) w
            WHERE NOT chained OR {changed}
            """,
            params,
        )
        updates = []
        for row in cursor.fetchall():
            order_id, store_id, paid_day, chained = row[:4]
            old = _days(dict(zip(CHAIN_FIELDS, row[4 : 4 + n], strict=True)))
            new = _days(dict(zip(CHAIN_FIELDS, row[4 + n :], strict=True)))
            if chained:
                _add_chain(chains, _chain_parts(store_id, _days(paid_day), old), -1)
            _add_chain(chains, _chain_parts(store_id, _days(paid_day), new), +1)
            updates.append([*row[4 + n :], True, order_id])
        if updates:
            sets = ", ".join(f"{c} = %s" for c in (*CHAIN_FIELDS, "chained"))
            cursor.executemany(f"UPDATE {entries} SET {sets} WHERE order_id = %s", updates)


def _days(value):
    """Days as SQLite returns them (text) as dates; the values of a dict too."""
    if isinstance(value, dict):
        return {k: _days(v) for k, v in value.items()}
    if isinstance(value, str):
        return datetime.date.fromisoformat(value[:10])
    return value


# Set-based path (rebuild) -----------------------------------------------------------------


def _local_date_sql(column: str) -> tuple[str, list]:
    """SQL for the local day of ``column``. PostgreSQL converts with the zone itself.
    SQLite has no time zones and Django's per-row conversion is a Python call per row:
    from the moment the zone's offset has stayed the same (Asia/Shanghai: since 1991)
    the offset is added in SQL, and only older times take the Python function."""
    sql, params = connection.ops.datetime_cast_date_sql(column, (), time_zone_name())
    if connection.vendor != "sqlite":
        return sql, list(params)
    since, offset = _constant_since(time_zone_name())
    if since is None:
        return sql, list(params)
    # SQLite's date functions round to the millisecond, which would move 23:59:59.9995
    # to the next day: cut the stored text ("YYYY-MM-DD HH:MM:SS.ffffff", UTC) to whole
    # seconds first.
    return (
        f"CASE WHEN {column} >= %s THEN date(substr({column}, 1, 19), %s) ELSE {sql} END",
        [since, f"{offset:+d} seconds", *params],
    )


@functools.lru_cache(maxsize=8)
def _constant_since(tz_name: str) -> tuple[str | None, int]:
    """(UTC time as SQLite stores it from which the zone's UTC offset no longer changes,
    that offset in seconds), sampled daily from 1970 to a year ahead; (None, 0) when it
    changes within the coming year (zones with summer time)."""
    tz = zoneinfo.ZoneInfo(tz_name)
    day = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    end = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=400)
    final = end.astimezone(tz).utcoffset()
    since = day
    while day <= end:
        if day.astimezone(tz).utcoffset() != final:
            since = day + datetime.timedelta(days=1)
        day += datetime.timedelta(days=1)
    if since > datetime.datetime.now(datetime.UTC):
        return None, 0
    return since.strftime("%Y-%m-%d %H:%M:%S"), int(final.total_seconds())


_ENTRY_COLUMNS = ("order_id", *ENTRY_FIELDS, *CHAIN_FIELDS, "chained")


def rebuild_entries(cond: str, params: list) -> None:
    """Recompute the ledger of the customers selected by ``cond`` (SQL with a ``{col}``
    placeholder for the customer id column; the statistics ledger of these customers
    must be fresh, it gives the profit)."""
    entries = connection.ops.quote_name(KpiOrderEntry._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {entries} WHERE {cond.format(col='customer_id')}", params)
    _insert_entries(cond.format(col="o.customer_id"), params, chains_sql=True)


def _insert_entries(where: str, params: list, *, chains_sql: bool) -> None:
    """Insert the entries of the orders selected by ``where`` (SQL on ``o``, the orders)
    with their chains computed among them (``chains_sql``: all of a customer's orders are
    selected) or left for ``_rechain_sql`` (not chained)."""
    qn = connection.ops.quote_name
    entries = qn(KpiOrderEntry._meta.db_table)
    orders = qn(Order._meta.db_table)
    ledger = qn(OrderContribution._meta.db_table)
    placed_sql, placed_params = _local_date_sql("o.placed_at")
    paid_sql, paid_params = _local_date_sql("o.paid_at")
    w_all = "PARTITION BY customer_id, paid_at IS NULL ORDER BY paid_at, order_id"
    w_store = "PARTITION BY customer_id, store_id, paid_at IS NULL ORDER BY paid_at, order_id"

    def lag(n: int, window: str) -> str:
        return f"CASE WHEN paid_at IS NULL THEN NULL ELSE LAG(paid_day, {n}) OVER ({window}) END"

    if chains_sql:
        chain_cols = f"""{lag(1, w_all)}, {lag(2, w_all)}, {lag(1, w_store)}, {lag(2, w_store)},
                   CASE WHEN paid_at IS NOT NULL AND ROW_NUMBER() OVER ({w_store}) = 1
                        THEN MIN(paid_day) OVER (PARTITION BY customer_id, paid_at IS NULL)
                   END,
                   paid_at IS NOT NULL"""
    else:
        chain_cols = "NULL, NULL, NULL, NULL, NULL, 1 = 0"
    # An entry of the same order under another customer (a stale ledger: orders deleted
    # and their ids used again outside the consumer) is replaced, not a conflict. The
    # WHERE before ON CONFLICT is SQLite's rule for INSERT … SELECT … ON CONFLICT.
    replace = ", ".join(f"{c} = excluded.{c}" for c in _ENTRY_COLUMNS[1:])
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {entries}
                (order_id, store_id, customer_id, placed_day, unpaid_amount, paid_at, paid_day,
                 sales, items, refunds, profit,
                 prev_day, prev2_day, store_prev_day, store_prev2_day, new_day, chained)
            SELECT order_id, store_id, customer_id, placed_day, unpaid_amount, paid_at,
                   paid_day, sales, items, refunds, profit,
                   {chain_cols}
            FROM (
                SELECT o.id AS order_id, o.store_id, o.customer_id,
                       {placed_sql} AS placed_day,
                       CASE WHEN o.paid_at IS NULL
                            THEN o.goods_amount - o.discount_amount + o.shipping_amount
                            ELSE 0 END AS unpaid_amount,
                       o.paid_at,
                       CASE WHEN o.paid_at IS NULL THEN NULL ELSE {paid_sql} END AS paid_day,
                       CASE WHEN o.paid_at IS NULL THEN 0 ELSE o.paid_amount END AS sales,
                       CASE WHEN o.paid_at IS NULL THEN 0 ELSE o.item_count END AS items,
                       CASE WHEN o.paid_at IS NULL THEN 0 ELSE o.refunded_amount END
                           AS refunds,
                       COALESCE(l.profit, 0) AS profit
                FROM {orders} o
                LEFT JOIN {ledger} l ON l.order_id = o.id
                WHERE {where}
            ) x
            WHERE 1 = 1
            ON CONFLICT (order_id) DO UPDATE SET {replace}
            """,
            [*placed_params, *paid_params, *params],
        )


def rebuild_cells() -> None:
    """Recompute ``KpiDay`` and ``KpiChainDay`` from the ledger and mark the rollup
    complete. Call inside a transaction that excludes the consumer. The rows go in in
    key order, so a dashboard's cells lie together on disk."""
    qn = connection.ops.quote_name
    entries = qn(KpiOrderEntry._meta.db_table)
    days = qn(KpiDay._meta.db_table)
    chain = qn(KpiChainDay._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {days}")
        cursor.execute(
            f"""
            INSERT INTO {days} (store_id, day, {", ".join(DAY_FIELDS)})
            SELECT store_id, paid_day, SUM(sales), COUNT(*), SUM(items), SUM(refunds),
                   SUM(profit), 0, 0, 0
            FROM {entries} WHERE paid_at IS NOT NULL
            GROUP BY store_id, paid_day
            ORDER BY paid_day, store_id
            """
        )
        cursor.execute(
            f"""
            INSERT INTO {days} (store_id, day, {", ".join(DAY_FIELDS)})
            SELECT store_id, placed_day, 0, 0, 0, 0, 0, COUNT(*),
                   SUM(CASE WHEN paid_at IS NULL THEN 1 ELSE 0 END), SUM(unpaid_amount)
            FROM {entries}
            GROUP BY store_id, placed_day
            ORDER BY placed_day, store_id
            ON CONFLICT (day, store_id) DO UPDATE SET placed = excluded.placed,
                unpaid = excluded.unpaid, unpaid_amount = excluded.unpaid_amount
            """
        )
        cursor.execute(f"DELETE FROM {chain}")
        cursor.execute(
            f"""
            INSERT INTO {chain} (scope, day, ref_day, prev, prev2, firsts)
            SELECT scope, day, ref_day, SUM(p1), SUM(p2), SUM(f) FROM (
                SELECT 0 AS scope, paid_day AS day, prev_day AS ref_day,
                       1 AS p1, 0 AS p2, 0 AS f
                FROM {entries} WHERE prev_day IS NOT NULL
                UNION ALL
                SELECT 0, paid_day, prev2_day, 0, 1, 0
                FROM {entries} WHERE prev2_day IS NOT NULL
                UNION ALL
                SELECT 0, paid_day, paid_day, 0, 0, 1
                FROM {entries} WHERE paid_at IS NOT NULL AND prev_day IS NULL
                UNION ALL
                SELECT store_id, paid_day, store_prev_day, 1, 0, 0
                FROM {entries} WHERE store_prev_day IS NOT NULL
                UNION ALL
                SELECT store_id, paid_day, store_prev2_day, 0, 1, 0
                FROM {entries} WHERE store_prev2_day IS NOT NULL
                UNION ALL
                SELECT store_id, paid_day, new_day, 0, 0, 1
                FROM {entries} WHERE new_day IS NOT NULL
            ) x
            GROUP BY scope, day, ref_day
            ORDER BY scope, day, ref_day
            """
        )
    mark_ready()


# Reading (for checks and tests) -------------------------------------------------------------


def day_table() -> dict[tuple[int, datetime.date], tuple]:
    """Every non-empty KpiDay cell."""
    out = {}
    for row in KpiDay.objects.values("store_id", "day", *DAY_FIELDS):
        values = tuple(row[f] for f in DAY_FIELDS)
        if any(values):
            out[(row["store_id"], row["day"])] = values
    return out


def chain_table() -> dict[tuple[int, datetime.date, datetime.date], tuple[int, int, int]]:
    """Every non-empty KpiChainDay cell."""
    return {
        (r["scope"], r["day"], r["ref_day"]): (r["prev"], r["prev2"], r["firsts"])
        for r in KpiChainDay.objects.values("scope", "day", "ref_day", "prev", "prev2", "firsts")
        if r["prev"] or r["prev2"] or r["firsts"]
    }
