"""Churn and dormancy: the automatic dormant/lost stages, and the churn-rate report.

The rules, per customer with orders, governed by the store of their last order:

* days since the last order > the store's ``lost_after_days`` → lost;
* otherwise days since the last order > ``dormant_after_days``, or P(alive) (from the
  CLV fit, when there is one) < ``p_alive_threshold`` → dormant.

Only customers in the stages customer / VIP move to dormant, and customer / VIP /
dormant to lost; leads and prospects are left alone, and nobody is moved back (a new
order reactivates a customer in the order services).

Set-based, for a million customers: one query on the statistics (indexed
``last_order_at``) finds the ids that may cross some store's line; then, per batch of a
few thousand, one query reads their stage, last order, P(alive) and the store of the
last purchase, the rules are applied here, and ``customers_stage_set_by_system_bulk``
moves them in one transaction (audited with no actor and a note, one
``customer.stage_changed`` each — as ``customer_stage_set_by_system`` does for one).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator

from django.db import connection
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.accounts.roles import Action, require
from guanxi.analytics import facts
from guanxi.analytics.groups import purchases
from guanxi.analytics.models_facts import CustomerMonth
from guanxi.commerce.models import Store
from guanxi.core.models import BusinessEvent
from guanxi.core.visibility import visibility_q, visible_to
from guanxi.customers import services as customer_services
from guanxi.customers.models import Customer
from guanxi.customers.selectors import customers_visible

Stage = Customer.Stage
TO_DORMANT_FROM = (Stage.CUSTOMER, Stage.VIP)
TO_LOST_FROM = (Stage.CUSTOMER, Stage.VIP, Stage.DORMANT)
ALLOWED_FROM = {Stage.DORMANT: set(TO_DORMANT_FROM), Stage.LOST: set(TO_LOST_FROM)}
BATCH = 5000


def _may_cross(stores: list[Store], as_of: datetime.datetime) -> Q:
    """Customers who may cross some store's line, from their statistics alone (a
    superset of the movers; which store governs is decided per batch)."""
    days = datetime.timedelta
    # Customer / VIP: older than the shortest dormant (or lost) limit, or a P(alive)
    # below the highest threshold. Dormant: older than the shortest lost limit.
    dormant_before = as_of - days(
        days=min(min(s.dormant_after_days, s.lost_after_days) for s in stores)
    )
    lost_before = as_of - days(days=min(s.lost_after_days for s in stores))
    highest_p = max(s.p_alive_threshold for s in stores)
    return Q(stats__orders__gt=0) & (
        Q(stage__in=TO_DORMANT_FROM)
        & (Q(stats__last_order_at__lt=dormant_before) | Q(stats__p_alive__lt=highest_p))
        | Q(stage=Stage.DORMANT, stats__last_order_at__lt=lost_before)
    )


def _rules(stores: dict[int, Store], as_of: datetime.datetime):
    """target(stage, store id, last order, p_alive) → the stage the rules move a
    customer to now, or "" — compared as the SQL would (a missing value crosses
    nothing)."""
    days = datetime.timedelta
    lines = {
        pk: (
            as_of - days(days=s.lost_after_days),
            as_of - days(days=s.dormant_after_days),
            s.p_alive_threshold,
        )
        for pk, s in stores.items()
    }

    def target(stage: str, store_id: int | None, last, p_alive) -> str:
        line = lines.get(store_id)
        if line is None:
            return ""
        lost_before, dormant_before, p_threshold = line
        if last is not None and last < lost_before:
            return Stage.LOST if stage in TO_LOST_FROM else ""
        if stage not in TO_DORMANT_FROM:
            return ""
        if (last is not None and last < dormant_before) or (
            p_alive is not None and p_alive < p_threshold
        ):
            return Stage.DORMANT
        return ""

    return target


def _candidate_batches(
    *, stores: dict[int, Store], as_of: datetime.datetime, batch_size: int
) -> Iterator[list[tuple]]:
    """Batches of (customer id, target stage, store id, last order, p_alive), id order.

    One query lists the ids that may cross; each batch is then read by an id range
    (cheaper than a list of thousands of ids) with the store of its last purchase."""
    if not stores:
        return
    may_cross = _may_cross(list(stores.values()), as_of)
    ids = list(Customer.objects.filter(may_cross).order_by("pk").values_list("pk", flat=True))
    target = _rules(stores, as_of)
    last_store = Subquery(
        purchases()
        .filter(customer=OuterRef("pk"))
        .order_by("-placed_at", "-pk")
        .values("store_id")[:1]
    )
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        rows = (
            Customer.objects.filter(may_cross, pk__gte=chunk[0], pk__lte=chunk[-1])
            # The same range on the statistics, so PostgreSQL reads only that range of
            # both tables (it does not carry a range across the join).
            .filter(stats__pk__gte=chunk[0], stats__pk__lte=chunk[-1])
            .annotate(_store=last_store)
            .order_by("pk")
            .values_list("pk", "stage", "_store", "stats__last_order_at", "stats__p_alive")
        )
        batch = [
            (pk, to, store_id, last, p_alive)
            for pk, stage, store_id, last, p_alive in rows
            if (to := target(stage, store_id, last, p_alive))
        ]
        if batch:
            yield batch


def churn_candidates(*, as_of: datetime.datetime | None = None, batch_size: int = BATCH):
    """[(customer id, target stage, store id, last order, p_alive)] of the customers the
    rules move now."""
    as_of = as_of or timezone.now()
    stores = {s.pk: s for s in Store.objects.all()}
    return [
        row
        for batch in _candidate_batches(stores=stores, as_of=as_of, batch_size=batch_size)
        for row in batch
    ]


def _note(target: str, store: Store, last, p_alive, as_of) -> str:
    days = (as_of - last).days if last else 0
    if target == Stage.LOST:
        return _(
            "Churn rule: %(days)s days since the last order (%(store)s: lost after %(limit)s days)."
        ) % {"days": days, "store": store.name, "limit": store.lost_after_days}
    if last and days > store.dormant_after_days:
        return _(
            "Churn rule: %(days)s days since the last order "
            "(%(store)s: dormant after %(limit)s days)."
        ) % {"days": days, "store": store.name, "limit": store.dormant_after_days}
    return _("Churn rule: P(alive) %(p).2f is below %(store)s's threshold %(limit).2f.") % {
        "p": p_alive or 0,
        "store": store.name,
        "limit": store.p_alive_threshold,
    }


def apply_churn_rules(
    *, actor=None, as_of: datetime.datetime | None = None, batch_size: int = BATCH
) -> dict:
    """Move the customers who crossed their store's thresholds; returns counts and time.

    ``actor`` None is the background task; a user needs the settings permission. Each
    batch is one transaction; a customer whose stage changed since the selection (to
    one the rule does not move from) is left as it is."""
    if actor is not None:
        require(actor, Action.MANAGE_SETTINGS)
    started = time.monotonic()
    as_of = as_of or timezone.now()
    stores = {s.pk: s for s in Store.objects.all()}
    moved = {Stage.DORMANT: 0, Stage.LOST: 0}
    for batch in _candidate_batches(stores=stores, as_of=as_of, batch_size=batch_size):
        ids_by_stage = {Stage.DORMANT: [], Stage.LOST: []}
        notes = {}
        for pk, target, store_id, last, p_alive in batch:
            ids_by_stage[target].append(pk)
            notes[pk] = _note(target, stores[store_id], last, p_alive, as_of)
        done = customer_services.customers_stage_set_by_system_bulk(
            ids_by_stage=ids_by_stage, allowed_from=ALLOWED_FROM, notes=notes
        )
        for stage, count in done.items():
            moved[stage] += count
    return {
        "dormant": moved[Stage.DORMANT],
        "lost": moved[Stage.LOST],
        "seconds": round(time.monotonic() - started, 3),
    }


# ------------------------------------------------------------------ churn-rate report


def _month_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime(day.year, day.month, 1))


def _add_months(moment: datetime.datetime, months: int) -> datetime.datetime:
    index = moment.year * 12 + moment.month - 1 + months
    return timezone.make_aware(datetime.datetime(index // 12, index % 12 + 1, 1))


def default_dormant_days() -> int:
    """The dormancy threshold most stores use (180 without stores)."""
    row = (
        Store.objects.values("dormant_after_days")
        .annotate(n=Count("pk"))
        .order_by("-n", "dormant_after_days")
        .first()
    )
    return row["dormant_after_days"] if row else 180


def _counts_from_orders(user, first_month, months: int, window) -> tuple[list, list]:
    """Active at each month's start and churned during it, from the purchases: two
    COUNT(DISTINCT) per month."""
    bought = visible_to(user, purchases(), prefix="customer__")
    active_counts, churned_counts = [], []
    for i in range(months):
        start = _add_months(first_month, i)
        end = _add_months(start, 1)
        active = (
            bought.filter(placed_at__gte=start - window, placed_at__lt=start)
            .values("customer_id")
            .distinct()
        )
        active_n = active.count()
        still = (
            bought.filter(placed_at__gte=end - window, placed_at__lt=end, customer_id__in=active)
            .values("customer_id")
            .distinct()
            .count()
        )
        active_counts.append(active_n)
        churned_counts.append(active_n - still)
    return active_counts, churned_counts


def _counts_from_facts(user, first_i: int, months: int, window) -> tuple[list, list]:
    """The same counts from each customer's months with a purchase (``CustomerMonth``),
    in one pass and one GROUP BY.

    Month boundaries t_j are local month starts (j = month index). A customer is active
    at t_j when their last purchase before t_j — the ``last_at`` of their latest month
    m < j — is at or after t_j − window. For a month row (m, last ℓ, next month m′,
    previous month's last ℓ′) let J be the last boundary with t_J − window ≤ ℓ. The row
    makes the customer active at t_j for m < j ≤ min(m′, J), and it is where they lapse
    in month J (active at t_J, not at t_J+1) when J < m′ and either J > m, or J = m and
    the previous month kept them active at t_m (ℓ′ ≥ t_m − window)."""
    j0, j_last = first_i, first_i + months - 1
    adapt = connection.ops.adapt_datetimefield_value
    theta = {j: adapt(facts.month_start(j) - window) for j in range(j0, j_last + 2)}
    big_j = " ".join(f"WHEN m.last_at >= %s THEN {j}" for j in range(j_last + 1, j0 - 1, -1))
    prev_theta = " ".join(f"WHEN {j} THEN %s" for j in range(j0, j_last + 1))
    params = [theta[j] for j in range(j_last + 1, j0 - 1, -1)]
    where = "m.last_at >= %s AND m.month <= %s"
    where_params = [theta[j0], j_last]
    visible = visibility_q(user, Customer)
    if visible:
        sql, sub_params = Customer.objects.filter(visible).values("pk").query.sql_with_params()
        where += f" AND m.customer_id IN ({sql})"
        where_params += list(sub_params)
    months_table = connection.ops.quote_name(CustomerMonth._meta.db_table)
    query = f"""
        SELECT x.lo, x.hi, x.churn_at, COUNT(*) FROM (
            SELECT CASE WHEN r.month + 1 > {j0} THEN r.month + 1 ELSE {j0} END AS lo,
                   CASE WHEN r.next_month IS NOT NULL AND r.next_month < r.j
                        THEN r.next_month ELSE r.j END AS hi,
                   CASE WHEN (r.next_month IS NULL OR r.j < r.next_month)
                         AND (r.j > r.month OR (r.j = r.month AND r.prev_at >= (
                              CASE r.month {prev_theta} ELSE NULL END)))
                        THEN r.j ELSE NULL END AS churn_at
            FROM (
                SELECT m.month, m.next_month, m.prev_at,
                       CASE {big_j} ELSE {j0 - 1} END AS j
                FROM {months_table} m
                WHERE {where}
            ) r
        ) x
        GROUP BY x.lo, x.hi, x.churn_at
    """
    active = [0] * months
    churned = [0] * months
    with connection.cursor() as cursor:
        cursor.execute(query, [*[theta[j] for j in range(j0, j_last + 1)], *params, *where_params])
        for lo, hi, churn_at, n in cursor.fetchall():
            for j in range(max(lo, j0), min(hi, j_last) + 1):
                active[j - j0] += n
            if churn_at is not None and j0 <= churn_at <= j_last:
                churned[churn_at - j0] += n
    return active, churned


def churn_report(
    *, user, months: int = 12, days: int | None = None, until=None, use_facts: bool | None = None
) -> dict:
    """Per month: customers active at its start (a purchase in the ``days`` before),
    how many of them were no longer active at its end (no purchase in the ``days``
    before the next month), the churn rate (None without active customers), and how
    many customers the rules moved to dormant/lost in that month. ``use_facts`` None:
    from the precomputed facts when they are built (``guanxi.analytics.facts``)."""
    require(user, Action.VIEW)
    months = max(1, min(int(months), 60))
    days = int(days) if days else default_dormant_days()
    if days < 1:
        days = 1
    window = datetime.timedelta(days=days)
    until = until or timezone.localdate()
    last_month = _month_start(until)
    first_month = _add_months(last_month, -(months - 1))
    if use_facts is None:
        use_facts = facts.is_built()
    if use_facts:
        first_i = first_month.year * 12 + first_month.month - 1
        active, churned = _counts_from_facts(user, first_i, months, window)
    else:
        active, churned = _counts_from_orders(user, first_month, months, window)
    moved = {
        (row["m"].year, row["m"].month): row["n"]
        for row in BusinessEvent.objects.filter(
            name="customer.stage_changed",
            actor__isnull=True,
            payload__to__in=[Stage.DORMANT, Stage.LOST],
            occurred_at__gte=first_month,
            occurred_at__lt=_add_months(last_month, 1),
            customer_id__in=customers_visible(user).values("pk"),
        )
        .annotate(m=TruncMonth("occurred_at"))
        .values("m")
        .annotate(n=Count("pk"))
        .order_by()
    }
    rows = []
    for i in range(months):
        start = _add_months(first_month, i)
        active_n, churned_n = active[i], churned[i]
        rows.append(
            {
                "month": start.strftime("%Y-%m"),
                "active_at_start": active_n,
                "churned": churned_n,
                "churn_rate": round(churned_n / active_n * 100, 2) if active_n else None,
                "moved_by_rules": moved.get((start.year, start.month), 0),
            }
        )
    return {"days": days, "months": rows}


def churn_table(report: dict):
    from guanxi.analytics.reports import Table

    return Table(
        name="churn-rate",
        title=_("Churn rate by month"),
        headers=[
            _("Month"),
            _("Active at start"),
            _("Became inactive"),
            _("Churn rate %"),
            _("Moved to dormant/lost by the rules"),
        ],
        rows=[
            [r["month"], r["active_at_start"], r["churned"], r["churn_rate"], r["moved_by_rules"]]
            for r in report["months"]
        ],
    )
