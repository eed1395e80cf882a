"""Per-customer order statistics (CustomerStats), kept up to date from ``order.*`` events
and rebuildable from the orders.

What counts
===========
An order **counts** when it is paid (``paid_at`` set) and its status is neither
``cancelled`` nor ``refunded`` (order ingestion makes an order ``refunded`` when all
that was paid is refunded, and a cancel after payment refunds it all). A counted order
adds to its customer:

* ``orders``  1
* ``items``   units kept: ``item_count`` − Σ refunded quantities of its lines
* ``revenue`` money kept: ``paid_amount`` − ``refunded_amount``
* ``profit``  revenue − cost of the goods kept:
  ``revenue − (cost_amount − Σ refunded quantity × unit cost of its lines)``
* ``first_order_at`` / ``last_order_at``: the earliest / latest ``placed_at``
  of the counted orders (when the customer ordered, not when the money arrived).

So a partial refund lowers revenue, items and profit; a full refund or a cancel after
payment takes the whole order out again. Average order value = revenue / orders, and
days since the last order are computed when read (``customer_stats``).

How it stays up to date
=======================
The consumer ``analytics.stats`` (``process_events``; the task
``guanxi.analytics.tasks.process_order_events`` runs it after every ingestion) takes each
``order.*`` event once (``guanxi.core.events.consume``), re-reads the order under a row
lock, works out what it should contribute now, compares that with what it contributed
so far (the ``OrderContribution`` ledger) and applies only the difference to the
customer's row. Duplicates, retries and events that arrive out of order therefore move
nothing twice: the order's current state is what counts, and a second look finds no
difference. ``customer.merged`` (the merge moved the orders) recomputes the survivor
from its orders with the same set-based SQL as the rebuild.

``rebuild`` (``guanxi rebuild_stats``) recomputes the ledger and every customer's figures
from the orders with ``INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE``, a range of
customer ids per transaction. Both paths use the definition above, and the tests check
that they agree after random sequences of events. The RFM and CLV columns of
CustomerStats belong to their analyses and are left alone here.

The same consumer and the same rebuild keep the KPI rollup (``guanxi.analytics.rollup``:
daily figures per store for the dashboard) with its own per-order ledger.
"""

import datetime
import decimal
import logging
from collections.abc import Iterable

from django.db import OperationalError, connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from guanxi.analytics import facts, rollup
from guanxi.analytics.models import CustomerRfm, CustomerStats, OrderContribution
from guanxi.commerce.models import Order, OrderItem
from guanxi.core import bulk, events
from guanxi.core.models import BusinessEvent

CONSUMER = "analytics.stats"
ORDER_EVENTS = (
    "order.placed",
    "order.paid",
    "order.shipped",
    "order.received",
    "order.cancelled",
    "order.refunded",
)
EVENT_NAMES = (*ORDER_EVENTS, "customer.merged")
NOT_COUNTED = ("cancelled", "refunded")
ZERO = decimal.Decimal("0.00")
CHUNK = 50_000  # customer ids per rebuild transaction
# The rebuild excludes the consumer (exclusive) while consumers exclude only the rebuild
# (shared): a PostgreSQL advisory lock; SQLite already runs one writer at a time.
log = logging.getLogger(__name__)
LOCK_KEY = 727_001
BATCH = 1000  # events per consumer transaction
DEADLOCK_RETRIES = 3
REFRESH_CHUNK = 500  # customers per set-based recompute statement


# The definition, in Python (one order) ---------------------------------------------------


def order_counts(order: Order) -> bool:
    return order.paid_at is not None and order.status not in NOT_COUNTED


def contribution(order: Order) -> dict | None:
    """What ``order`` adds to its customer's statistics now, or None if it does not count."""
    if not order_counts(order):
        return None
    refunded = OrderItem.objects.filter(order_id=order.pk, refunded_quantity__gt=0).values_list(
        "refunded_quantity", "unit_cost"
    )
    units = sum(q for q, _ in refunded)
    cost = sum((q * c for q, c in refunded), ZERO)
    revenue = order.paid_amount - order.refunded_amount
    return {
        "customer_id": order.customer_id,
        "items": order.item_count - units,
        "revenue": revenue,
        "profit": revenue - (order.cost_amount - cost),
        "ordered_at": order.placed_at,
    }


def _ledger_values(row: OrderContribution | None) -> dict | None:
    if row is None:
        return None
    return {
        "customer_id": row.customer_id,
        "items": row.items,
        "revenue": row.revenue,
        "profit": row.profit,
        "ordered_at": row.ordered_at,
    }


# Incremental path ---------------------------------------------------------------------------


def _lock(*, exclusive: bool) -> None:
    if connection.vendor == "postgresql":
        fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {fn}(%s)", [LOCK_KEY])


def _stats_row(customer_id: int) -> CustomerStats:
    row = CustomerStats.objects.select_for_update().filter(customer_id=customer_id).first()
    if row is None:
        CustomerStats.objects.get_or_create(customer_id=customer_id)
        row = CustomerStats.objects.select_for_update().get(customer_id=customer_id)
    return row


def _add(customer_id: int, part: dict, sign: int) -> None:
    stats = _stats_row(customer_id)
    stats.orders += sign
    stats.items += sign * part["items"]
    stats.revenue += sign * part["revenue"]
    stats.profit += sign * part["profit"]
    at = part["ordered_at"]
    if sign > 0:
        stats.first_order_at = min(filter(None, [stats.first_order_at, at]))
        stats.last_order_at = max(filter(None, [stats.last_order_at, at]))
    elif stats.orders <= 0:
        stats.first_order_at = stats.last_order_at = None
    elif at in (stats.first_order_at, stats.last_order_at):
        # The edge order went away: the ledger (already updated) knows the new edges.
        edges = OrderContribution.objects.filter(customer_id=customer_id).aggregate(
            first=Min("ordered_at"), last=Max("ordered_at")
        )
        stats.first_order_at, stats.last_order_at = edges["first"], edges["last"]
    stats.updated_at = timezone.now()
    stats.save(
        update_fields=[
            "orders",
            "items",
            "revenue",
            "profit",
            "first_order_at",
            "last_order_at",
            "updated_at",
        ]
    )


def apply_order(order_id: int) -> bool:
    """Bring the statistics in line with order ``order_id`` as it is now; returns whether
    anything changed. Call inside a transaction."""
    _lock(exclusive=False)
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        return rollup.apply_order(None, order_id=order_id)
    old = _ledger_values(OrderContribution.objects.filter(order_id=order_id).first())
    new = contribution(order)
    changed = old != new
    if changed:
        if new is None:
            OrderContribution.objects.filter(order_id=order_id).delete()
        else:
            OrderContribution.objects.update_or_create(order_id=order_id, defaults=new)
        if old is not None:
            _add(old["customer_id"], old, -1)
        if new is not None:
            _add(new["customer_id"], new, +1)
        # The analyses' order facts of the customers involved (guanxi.analytics.facts).
        facts.refresh_facts([(old or {}).get("customer_id"), (new or {}).get("customer_id")])
    if order.paid_at is not None:
        stats = _stats_row(order.customer_id)
        if stats.first_paid_at is None or order.paid_at < stats.first_paid_at:
            stats.first_paid_at = order.paid_at
            stats.save(update_fields=["first_paid_at"])
            changed = True
    # The KPI rollup (same order, same moment; its own ledger).
    profit = new["profit"] if new is not None else ZERO
    changed = rollup.apply_order(order, order_id=order_id, profit=profit) or changed
    return changed


def handle_event(event: BusinessEvent) -> None:
    if event.name == "customer.merged":
        payload = event.payload or {}
        survivor = payload.get("survivor") or event.customer_id
        merged = [int(pk) for pk in payload.get("merged") or []]
        if survivor:
            _lock(exclusive=False)
            refresh_customers([int(survivor), *merged])
        return
    order_id = (event.payload or {}).get("order_id") or event.object_id
    if order_id:
        apply_order(int(order_id))


def process_events(*, limit: int = BATCH) -> int:
    """Handle every pending order/merge event, up to ``limit`` per transaction; returns
    how many. Each batch is claimed at once and its customers recomputed set-based
    (``apply_orders``); a batch that fails is retried event by event, so one bad event
    holds up only itself."""
    total = 0
    while True:
        for attempt in range(DEADLOCK_RETRIES + 1):
            try:
                with transaction.atomic():
                    seen, handled = _process_batch(limit)
                break
            except OperationalError as exc:
                # Another writer of the same statistics rows (an RFM or CLV run) locked
                # them in another order: PostgreSQL aborted this batch, which is safe to
                # run again.
                if attempt < DEADLOCK_RETRIES and _is_deadlock(exc):
                    continue
                log.exception("statistics batch failed; handling its events one by one")
            except Exception:
                log.exception("statistics batch failed; handling its events one by one")
            seen = handled = events.consume(CONSUMER, handle_event, EVENT_NAMES, limit=limit)
            break
        total += handled
        if seen < limit:
            return total


def _is_deadlock(exc: Exception) -> bool:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) == "40P01" or "deadlock" in str(exc).lower()


def _process_batch(limit: int) -> tuple[int, int]:
    # One consumer batch at a time and never during a rebuild (PostgreSQL; SQLite has one
    # writer anyway): batches recompute whole customers, so two at once could both count
    # the same difference into the KPI cells.
    _lock(exclusive=True)
    batch = list(
        events.pending(CONSUMER, EVENT_NAMES, limit=limit).values_list(
            "id", "name", "model", "object_id", "customer_id"
        )
    )
    if not batch:
        return 0, 0
    claimed = events.claim(CONSUMER, [row[0] for row in batch])
    order_ids: set[int] = set()
    customer_ids: set[int] = set()
    merges = []
    for pk, name, model, object_id, customer_id in batch:
        if pk not in claimed:
            continue
        if name == "customer.merged":
            merges.append(pk)
        elif model == "commerce.order" and object_id:
            order_ids.add(int(object_id))
        if customer_id:
            customer_ids.add(int(customer_id))
    if merges:
        merged: set[int] = set()
        for payload in BusinessEvent.objects.filter(pk__in=merges).values_list(
            "payload", flat=True
        ):
            payload = payload or {}
            if payload.get("survivor"):
                merged.add(int(payload["survivor"]))
            merged.update(int(pk) for pk in payload.get("merged") or [])
        refresh_customers(merged)
    apply_orders(order_ids, customer_ids)
    return len(batch), len(claimed)


def apply_orders(order_ids: Iterable[int], customer_ids: Iterable[int] = ()) -> None:
    """Bring the statistics and the KPI rollup in line with these orders as they are now,
    set-based: their ledger rows are recomputed, then the statistics of their customers
    from the ledger, then the orders' KPI entries and their customers' chains. Only these
    orders are read, not the customers' whole histories. Customers an order no longer
    belongs to (the ledgers, or ``customer_ids``, had it under another) are recomputed
    whole. Call inside a transaction that excludes other consumers."""
    customers = {int(pk) for pk in customer_ids}
    current: set[int] = set()
    # Customers whose order facts may change: a batch order counts now or counted
    # before (its ledger row), or the customer lost an order (``moved`` below).
    purchasers: set[int] = set()
    order_ids = sorted({int(pk) for pk in order_ids})
    t = _tables()
    entries = connection.ops.quote_name(rollup.KpiOrderEntry._meta.db_table)
    for start in range(0, len(order_ids), REFRESH_CHUNK):
        chunk = order_ids[start : start + REFRESH_CHUNK]
        of_chunk, params = bulk.in_list("{col}", chunk)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT CASE WHEN paid_at IS NOT NULL AND status NOT IN (%s, %s) THEN 2 "
                f"ELSE 1 END, customer_id FROM {t['orders']} WHERE {of_chunk.format(col='id')} "
                f"UNION SELECT 3, customer_id FROM {t['ledger']} "
                f"WHERE {of_chunk.format(col='order_id')} "
                f"UNION SELECT 0, customer_id FROM {entries} "
                f"WHERE {of_chunk.format(col='order_id')}",
                [*NOT_COUNTED, *params * 3],
            )
            now_of_chunk = set()
            for kind, customer_id in cursor.fetchall():
                (now_of_chunk if kind in (1, 2) else customers).add(customer_id)
                if kind in (2, 3):
                    purchasers.add(customer_id)
        current |= now_of_chunk
        _refresh_orders(chunk)
        _lock_stats_rows(sorted(now_of_chunk))
        _refresh_stats_of_orders(chunk, sorted(now_of_chunk))
    moved = sorted(customers - current)
    for start in range(0, len(moved), REFRESH_CHUNK):
        _refresh_stats(*bulk.in_list("{col}", moved[start : start + REFRESH_CHUNK]))
    ids = sorted(customers | current)
    for start in range(0, len(order_ids), 5000):
        rollup.apply_orders(order_ids[start : start + 5000], ids)
    facts_ids = sorted(purchasers | set(moved))
    if facts_ids:
        facts.refresh_facts(facts_ids)  # the analyses' order facts of those customers


# Set-based path (rebuild, merges) ---------------------------------------------------------


def _tables() -> dict[str, str]:
    qn = connection.ops.quote_name
    return {
        "orders": qn(Order._meta.db_table),
        "items": qn(OrderItem._meta.db_table),
        "ledger": qn(OrderContribution._meta.db_table),
        "stats": qn(CustomerStats._meta.db_table),
    }


def _refresh(cond: str, params: list) -> None:
    """Recompute the ledger and the statistics of the customers selected by ``cond`` (SQL
    with a ``{col}`` placeholder for the customer id column) from their orders."""
    t = _tables()

    def where(col: str) -> str:
        return cond.format(col=col)

    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {t['ledger']} WHERE {where('customer_id')}", params)
        cursor.execute(
            _ledger_insert_sql(t, where("o.customer_id"), where("o2.customer_id")),
            [*params, *params, *NOT_COUNTED],
        )
    _refresh_stats(cond, params)


def _ledger_insert_sql(t: dict, orders_where: str, items_where: str) -> str:
    return f"""
            INSERT INTO {t["ledger"]}
                (order_id, customer_id, items, revenue, profit, ordered_at)
            SELECT o.id, o.customer_id,
                   o.item_count - COALESCE(r.units, 0),
                   o.paid_amount - o.refunded_amount,
                   o.paid_amount - o.refunded_amount - o.cost_amount + COALESCE(r.cost, 0),
                   o.placed_at
            FROM {t["orders"]} o
            LEFT JOIN (
                SELECT i.order_id,
                       SUM(i.refunded_quantity) AS units,
                       SUM(i.refunded_quantity * i.unit_cost) AS cost
                FROM {t["items"]} i
                JOIN {t["orders"]} o2 ON o2.id = i.order_id
                WHERE i.refunded_quantity > 0 AND {items_where}
                GROUP BY i.order_id
            ) r ON r.order_id = o.id
            WHERE {orders_where}
              AND o.paid_at IS NOT NULL AND o.status NOT IN (%s, %s)
            ON CONFLICT (order_id) DO UPDATE SET
                customer_id = excluded.customer_id, items = excluded.items,
                revenue = excluded.revenue, profit = excluded.profit,
                ordered_at = excluded.ordered_at
            """


def _refresh_orders(order_ids: list[int]) -> None:
    """Recompute the ledger rows of these orders (what each adds now)."""
    t = _tables()
    of_orders, params = bulk.in_list("{col}", order_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {t['ledger']} WHERE {of_orders.format(col='order_id')}", params
        )
        cursor.execute(
            _ledger_insert_sql(t, of_orders.format(col="o.id"), of_orders.format(col="i.order_id")),
            [*params, *params, *NOT_COUNTED],
        )


def _lock_stats_rows(customer_ids: list[int]) -> None:
    """Lock these statistics rows in id order before writing them (PostgreSQL), so that
    another writer of many rows (an RFM or CLV run) and this one rarely wait on each
    other in a circle; when they do, the batch is retried."""
    if connection.vendor != "postgresql" or not customer_ids:
        return
    of_customers, params = bulk.in_list("customer_id", customer_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT customer_id FROM {_tables()['stats']} WHERE {of_customers} "
            "ORDER BY customer_id FOR UPDATE",
            params,
        )


def _refresh_stats_of_orders(order_ids: list[int], customer_ids: list[int]) -> None:
    """Recompute the statistics rows of the customers of these paid orders (all among
    ``customer_ids``) from the ledger (fresh for these orders) without reading the
    customers' other orders: an order's payment time only ever moves earlier, so the
    first payment is the earlier of the row's and these orders'. (Orders that change
    customer — merges — and deleted orders take ``refresh_customers``.)"""
    if not order_ids or not customer_ids:
        return
    t = _tables()
    of_orders, o_params = bulk.in_list("o.id", order_ids)
    of_customers, c_params = bulk.in_list("customer_id", customer_ids)
    stats = t["stats"]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {stats}
                (customer_id, orders, items, revenue, profit, first_order_at, last_order_at,
                 first_paid_at, updated_at)
            SELECT p.customer_id, COALESCE(s.orders, 0), COALESCE(s.items, 0),
                   COALESCE(s.revenue, 0), COALESCE(s.profit, 0),
                   s.first_order_at, s.last_order_at, p.first_paid, %s
            FROM (
                SELECT o.customer_id, MIN(o.paid_at) AS first_paid
                FROM {t["orders"]} o
                WHERE {of_orders} AND o.paid_at IS NOT NULL
                GROUP BY o.customer_id
            ) p
            LEFT JOIN (
                SELECT customer_id, COUNT(*) AS orders, SUM(items) AS items,
                       SUM(revenue) AS revenue, SUM(profit) AS profit,
                       MIN(ordered_at) AS first_order_at, MAX(ordered_at) AS last_order_at
                FROM {t["ledger"]}
                WHERE {of_customers}
                GROUP BY customer_id
            ) s ON s.customer_id = p.customer_id
            ON CONFLICT (customer_id) DO UPDATE SET
                orders = excluded.orders, items = excluded.items,
                revenue = excluded.revenue, profit = excluded.profit,
                first_order_at = excluded.first_order_at,
                last_order_at = excluded.last_order_at,
                first_paid_at = CASE
                    WHEN {stats}.first_paid_at IS NULL
                      OR excluded.first_paid_at < {stats}.first_paid_at
                    THEN excluded.first_paid_at ELSE {stats}.first_paid_at END,
                updated_at = excluded.updated_at
            """,
            [timezone.now(), *o_params, *c_params],
        )


def _refresh_stats(cond: str, params: list) -> None:
    """Recompute the statistics rows of the customers selected by ``cond`` from the
    ledger (fresh for them) and their orders' first payment."""
    t = _tables()
    now = timezone.now()

    def where(col: str) -> str:
        return cond.format(col=col)

    with connection.cursor() as cursor:
        # Every customer with a paid order: the counted ones' sums, and the first payment.
        cursor.execute(
            f"""
            INSERT INTO {t["stats"]}
                (customer_id, orders, items, revenue, profit, first_order_at, last_order_at,
                 first_paid_at, updated_at)
            SELECT o.customer_id, COUNT(l.order_id), COALESCE(SUM(l.items), 0),
                   COALESCE(SUM(l.revenue), 0), COALESCE(SUM(l.profit), 0),
                   MIN(l.ordered_at), MAX(l.ordered_at), MIN(o.paid_at), %s
            FROM {t["orders"]} o
            LEFT JOIN {t["ledger"]} l ON l.order_id = o.id
            WHERE {where("o.customer_id")} AND o.paid_at IS NOT NULL
            GROUP BY o.customer_id
            ON CONFLICT (customer_id) DO UPDATE SET
                orders = excluded.orders, items = excluded.items,
                revenue = excluded.revenue, profit = excluded.profit,
                first_order_at = excluded.first_order_at,
                last_order_at = excluded.last_order_at,
                first_paid_at = excluded.first_paid_at, updated_at = excluded.updated_at
            """,
            [now, *params],
        )
        # Customers left without a paid order.
        cursor.execute(
            f"""
            UPDATE {t["stats"]} SET orders = 0, items = 0, revenue = 0, profit = 0,
                   first_order_at = NULL, last_order_at = NULL, first_paid_at = NULL,
                   updated_at = %s
            WHERE {where("customer_id")}
              AND (orders <> 0 OR items <> 0 OR revenue <> 0 OR profit <> 0
                   OR last_order_at IS NOT NULL OR first_paid_at IS NOT NULL)
              AND NOT EXISTS (SELECT 1 FROM {t["orders"]} o
                              WHERE o.customer_id = {t["stats"]}.customer_id
                                AND o.paid_at IS NOT NULL)
            """,
            [now, *params],
        )


def refresh_customers(customer_ids: Iterable[int]) -> None:
    """Recompute these customers from their orders (the batch consumer, merges that moved
    orders, deleted orders), set-based; inside a transaction."""
    ids = sorted({int(pk) for pk in customer_ids})
    for start in range(0, len(ids), REFRESH_CHUNK):
        chunk = ids[start : start + REFRESH_CHUNK]
        _refresh(*bulk.in_list("{col}", chunk))
        rollup.refresh_customers(chunk)
    facts.refresh_facts(ids)  # the analyses' order facts of the same customers


def rebuild(*, chunk: int = CHUNK, progress=None) -> int:
    """Recompute every customer's statistics from the orders; returns customers touched.

    Pending events are handled first, then each range of customer ids is recomputed in
    its own transaction; ``progress(done, total)`` is called after each range."""
    process_events()
    bounds = Order.objects.aggregate(lo=Min("customer_id"), hi=Max("customer_id"))
    stats_bounds = CustomerStats.objects.aggregate(lo=Min("customer_id"), hi=Max("customer_id"))
    los = [v for v in (bounds["lo"], stats_bounds["lo"]) if v is not None]
    his = [v for v in (bounds["hi"], stats_bounds["hi"]) if v is not None]
    if not los:
        with transaction.atomic():
            _lock(exclusive=True)
            rollup.rebuild_entries("{col} IS NOT NULL", [])
            rollup.rebuild_cells()
        facts.refresh_facts()  # the analyses' order facts (guanxi.analytics.facts)
        return 0
    lo, hi = min(los), max(his)
    start = lo
    while start <= hi:
        with transaction.atomic():
            _lock(exclusive=True)
            cond = "{col} >= %s AND {col} < %s"
            _refresh(cond, [start, start + chunk])
            rollup.rebuild_entries(cond, [start, start + chunk])
        start += chunk
        if progress:
            progress(min(start, hi + 1) - lo, hi + 1 - lo)
    with transaction.atomic():
        # The KPI rollup's cells from its ledger (entries left outside the range first).
        _lock(exclusive=True)
        rollup.rebuild_entries("({col} < %s OR {col} > %s)", [lo, hi])
        rollup.rebuild_cells()
    facts.refresh_facts()  # the analyses' order facts, all customers (guanxi.analytics.facts)
    _tidy_after_rebuild()
    return CustomerStats.objects.count()


def _tidy_after_rebuild() -> None:
    """Let PostgreSQL see the rewritten tables as they are now: ``VACUUM (ANALYZE)`` marks
    their pages all-visible (the KPI's covering indexes are read index-only only then)
    and gives the planner their new statistics. Autovacuum would get there in its own
    time; until it did, the consumer ran at a third of its speed (700 against 2,000
    events/s, 5M orders). Outside a transaction only (inside one, e.g. in tests, just
    ``ANALYZE``)."""
    if connection.vendor != "postgresql":
        return
    from guanxi.analytics.models import KpiChainDay, KpiDay, KpiOrderEntry
    from guanxi.analytics.models_facts import CustomerFacts, CustomerMonth

    rewritten = (
        CustomerStats,
        OrderContribution,
        KpiOrderEntry,
        KpiDay,
        KpiChainDay,
        CustomerFacts,
        CustomerMonth,
    )
    tables = [connection.ops.quote_name(m._meta.db_table) for m in rewritten]
    command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
    with connection.cursor() as cursor:
        cursor.execute(f"{command} {', '.join(tables)}")


# Reading ----------------------------------------------------------------------------------


def customer_stats(customer, *, now: datetime.datetime | None = None) -> dict:
    """The statistics of one (already visible) customer, with the derived figures."""
    row = CustomerStats.objects.filter(customer_id=customer.pk).first()
    row = row or CustomerStats(customer_id=customer.pk)
    scores = CustomerRfm.objects.filter(customer_id=customer.pk).first()
    now = now or timezone.now()
    days = (now - row.last_order_at).days if row.last_order_at else None
    aov = (row.revenue / row.orders).quantize(decimal.Decimal("0.01")) if row.orders else None
    return {
        "customer_id": customer.pk,
        "orders": row.orders,
        "items": row.items,
        "revenue": row.revenue,
        "profit": row.profit,
        "average_order_value": aov,
        "first_order_at": row.first_order_at,
        "last_order_at": row.last_order_at,
        "first_paid_at": row.first_paid_at,
        "days_since_last_order": days,
        "r_score": scores.r_score if scores else 0,
        "f_score": scores.f_score if scores else 0,
        "m_score": scores.m_score if scores else 0,
        "rfm_segment": scores.segment if scores else "",
        "expected_purchases_12m": row.expected_purchases_12m,
        "p_alive": row.p_alive,
        "clv_12m": row.clv_12m,
    }


def totals_from_orders(customer_ids: Iterable[int] | None = None) -> dict[int, dict]:
    """The definition evaluated order by order in Python (for checks and tests)."""
    qs = Order.objects.all()
    if customer_ids is not None:
        qs = qs.filter(customer_id__in=list(customer_ids))
    out: dict[int, dict] = {}
    for order in qs.iterator():
        if order.paid_at is None:
            continue
        row = out.setdefault(
            order.customer_id,
            {
                "orders": 0,
                "items": 0,
                "revenue": ZERO,
                "profit": ZERO,
                "first": None,
                "last": None,
                "first_paid": None,
            },
        )
        row["first_paid"] = min(filter(None, [row["first_paid"], order.paid_at]))
        part = contribution(order)
        if part is None:
            continue
        row["orders"] += 1
        row["items"] += part["items"]
        row["revenue"] += part["revenue"]
        row["profit"] += part["profit"]
        at = part["ordered_at"]
        row["first"] = min(filter(None, [row["first"], at]))
        row["last"] = max(filter(None, [row["last"], at]))
    return out


__all__ = [
    "CONSUMER",
    "EVENT_NAMES",
    "apply_order",
    "contribution",
    "customer_stats",
    "handle_event",
    "process_events",
    "rebuild",
    "refresh_customers",
]
