"""The KPI system (KPI体系): one period of one store (or all), against the period of the
same length just before it. The page, its exports and ``GET /api/v1/kpi`` all call
``kpi_report``, so they cannot disagree.

Definitions (a period is whole local days, start and end inclusive)
===================================================================
Orders are those the user may see (visibility follows the customer) in the store
chosen. "Paid in the period" means ``paid_at`` falls in it.

* **Sales** 销售额 = Σ paid amount of the orders paid in the period (what buyers paid,
  before refunds; refunds are shown separately).
* **Paid orders** 支付订单数, **paying customers** 支付买家数 (distinct customers of those
  orders), **items** 支付件数 = Σ units of those orders.
* **Sales per customer** 客单价 = sales / paying customers.
* **Orders per customer** = paid orders / paying customers; **average order value**
  笔单价 = sales / paid orders; **items per order** = items / paid orders;
  **items per customer** = items / paying customers; **average item price** 件单价 =
  sales / items.

  The tree: sales = paying customers × 客单价; 客单价 = orders per customer × 笔单价;
  笔单价 = items per order × 件单价; and so also 客单价 = items per customer × 件单价.
  The ratios are kept as exact fractions (``Report.exact``), where the identities hold
  exactly; each is shown rounded (money to 0.01) and carried as a Decimal with 20
  places, so ``(customers × 客单价).quantize(0.01) == sales`` holds in Decimal too.
* **New customers** 新客: paying customers with no paid order before the period (in any
  store: new to the business), i.e. whose ``CustomerStats.first_paid_at`` (first payment
  of any of their orders, kept by the statistics consumer) falls in the period;
  **returning** 老客 = paying − new. (So this figure follows the consumer, which runs
  right after each ingestion.)
* **Repeat purchase rate** 复购率 = customers with ≥ 2 paid orders in the period /
  paying customers.
* **Unpaid orders** 拍下未付款: orders placed in the period and not paid (now): count,
  amount (goods − discount + shipping) and rate = unpaid / orders placed in the period.
* **Refunds** = Σ refunded amount of the orders paid in the period (whenever refunded);
  **refund rate** = refunds / sales; **net sales** = sales − refunds.
* **Gross profit** 毛利 = Σ over those orders that still count (not cancelled, not fully
  refunded; see ``guanxi.analytics.stats``) of paid − refunded − cost of the goods kept;
  **gross margin** = gross profit / net sales.

Where the numbers come from
===========================
For a user who sees every customer (scope *all*) the figures are sums over the daily
rollup (``guanxi.analytics.rollup``: additive figures per store and local day, and the
chains of each customer's paid orders, from which paying, repeat and new customers
follow exactly), kept by the statistics consumer; so, like new customers, they follow
the consumer. Users who see their team's or their own customers sum the rollup's
ledger (``KpiOrderEntry``) of those customers, by day in SQL, with the same formulas (the
chain columns of an entry are its customer's, so they hold for any set of whole
customers; visibility is evaluated at the moment, so a customer given to someone else
counts for them at once). Users in another time zone, and a rollup not yet built
(``guanxi rebuild_stats``), compute from the orders. The tests check that all give the
same numbers.
"""

import calendar
import contextlib
import dataclasses
import datetime
import decimal
import json
from fractions import Fraction

from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    BooleanField,
    Case,
    Count,
    DateField,
    DecimalField,
    F,
    Func,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Coalesce, Round, Substr, TruncDate
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext, pgettext_lazy

from guanxi.accounts.roles import Action, Scope, require, role_of
from guanxi.analytics import rollup
from guanxi.analytics.models import KpiChainDay, KpiDay, KpiOrderEntry
from guanxi.analytics.reports import Table
from guanxi.commerce.models import Order, OrderItem, Store
from guanxi.core.errors import ValidationFailed
from guanxi.core.visibility import visible_to
from guanxi.customers.models import Customer

D = decimal.Decimal
CENT = D("0.01")
MONEY = DecimalField(max_digits=18, decimal_places=2)
MAX_DAYS = 3 * 366
PLACES = D(10) ** -20

PRESETS = {
    "this_month": gettext_lazy("This month"),
    "last_month": gettext_lazy("Last month"),
    "last_7": gettext_lazy("Last 7 days"),
    "last_30": gettext_lazy("Last 30 days"),
    "last_90": gettext_lazy("Last 90 days"),
    "custom": gettext_lazy("Custom range"),
}

# key, label, kind (money/count/ratio/rate), whether up is good
METRICS = [
    ("sales", pgettext_lazy("kpi", "Sales"), "money", True),
    ("buyers", gettext_lazy("Paying customers"), "count", True),
    ("sales_per_buyer", gettext_lazy("Sales per customer"), "money", True),
    ("orders_per_buyer", gettext_lazy("Orders per customer"), "ratio", True),
    ("order_value", gettext_lazy("Average order value"), "money", True),
    ("items_per_order", gettext_lazy("Items per order"), "ratio", True),
    ("items_per_buyer", gettext_lazy("Items per customer"), "ratio", True),
    ("item_price", gettext_lazy("Average item price"), "money", True),
    ("orders", gettext_lazy("Paid orders"), "count", True),
    ("items", gettext_lazy("Items sold"), "count", True),
    ("new_buyers", gettext_lazy("New customers"), "count", True),
    ("returning_buyers", gettext_lazy("Returning customers"), "count", True),
    ("repeat_buyers", gettext_lazy("Customers with 2+ orders"), "count", True),
    ("repeat_rate", gettext_lazy("Repeat purchase rate"), "rate", True),
    ("placed_orders", gettext_lazy("Orders placed"), "count", True),
    ("unpaid_orders", gettext_lazy("Unpaid orders"), "count", False),
    ("unpaid_amount", gettext_lazy("Unpaid amount"), "money", False),
    ("unpaid_rate", gettext_lazy("Unpaid rate"), "rate", False),
    ("refunds", gettext_lazy("Refunds"), "money", False),
    ("refund_rate", gettext_lazy("Refund rate"), "rate", False),
    ("net_sales", gettext_lazy("Net sales"), "money", True),
    ("gross_profit", gettext_lazy("Gross profit"), "money", True),
    ("gross_margin", gettext_lazy("Gross margin"), "rate", True),
]
METRIC = {key: (label, kind, up_good) for key, label, kind, up_good in METRICS}

# The decomposition tree: (key, children); a node's value is the product of its
# children's (buyers = new + returning is a sum).
TREE = (
    "sales",
    [
        ("buyers", [("new_buyers", []), ("returning_buyers", [])]),
        (
            "sales_per_buyer",
            [
                ("orders_per_buyer", []),
                ("order_value", [("items_per_order", []), ("item_price", [])]),
            ],
        ),
    ],
)


# Periods --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Period:
    start: datetime.date
    end: datetime.date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> "Period":
        end = self.start - datetime.timedelta(days=1)
        return Period(end - datetime.timedelta(days=self.days - 1), end)

    def bounds(self) -> tuple[datetime.datetime, datetime.datetime]:
        """[start 00:00, the day after end 00:00) in the current time zone."""
        tz = timezone.get_current_timezone()
        start = datetime.datetime.combine(self.start, datetime.time(0), tzinfo=tz)
        end = datetime.datetime.combine(
            self.end + datetime.timedelta(days=1), datetime.time(0), tzinfo=tz
        )
        return start, end


def _date(raw, field: str) -> datetime.date:
    if isinstance(raw, datetime.date):
        return raw
    try:
        return datetime.date.fromisoformat(str(raw).strip())
    except ValueError as exc:
        raise ValidationFailed({field: [_("Enter a date such as 2024-05-01.")]}) from exc


def period_from(
    *, preset: str = "", start=None, end=None, today: datetime.date | None = None
) -> tuple[str, Period]:
    """The period asked for: a preset, or a start and end (a custom range). Without
    either, this month. Returns (preset, period)."""
    today = today or timezone.localdate()
    if not preset:
        preset = "custom" if (start or end) else "this_month"
    if preset not in PRESETS:
        raise ValidationFailed({"period": [_("Unknown period.")]})
    if preset == "this_month":
        return preset, Period(today.replace(day=1), today)
    if preset == "last_month":
        last = today.replace(day=1) - datetime.timedelta(days=1)
        return preset, Period(
            last.replace(day=1), last.replace(day=calendar.monthrange(last.year, last.month)[1])
        )
    if preset.startswith("last_"):
        days = int(preset.removeprefix("last_"))
        return preset, Period(today - datetime.timedelta(days=days - 1), today)
    errors: dict[str, list[str]] = {}
    if not start:
        errors["start"] = [_("This field is required.")]
    if not end:
        errors["end"] = [_("This field is required.")]
    if errors:
        raise ValidationFailed(errors)
    first, last = _date(start, "start"), _date(end, "end")
    if last < first:
        raise ValidationFailed({"end": [_("The end must not be before the start.")]})
    if (last - first).days + 1 > MAX_DAYS:
        raise ValidationFailed(
            {"end": [_("At most %(days)d days at a time.") % {"days": MAX_DAYS}]}
        )
    return preset, Period(first, last)


def store_from(raw) -> Store | None:
    if raw in (None, ""):
        return None
    try:
        return Store.objects.get(pk=int(raw))
    except (ValueError, TypeError, Store.DoesNotExist) as exc:
        raise ValidationFailed({"store": [_("Unknown store.")]}) from exc


# Figures --------------------------------------------------------------------------------


def _orders(user, store: Store | None):
    """The orders ``user`` may see (of ``store``). For a team or a sales rep as
    ``customer_id IN (their customers)``, not a join: so the databases walk the
    customers and then each one's orders through the (customer, paid_at) and (customer,
    placed_at) indexes, instead of every order of the period checked against its
    customer."""
    qs = Order.objects.all()
    if role_of(user).scope != Scope.ALL:
        qs = qs.filter(customer_id__in=visible_to(user, Customer.objects.all()).values("pk"))
    return qs.filter(store=store) if store is not None else qs


def _refunded_cost():
    lines = (
        OrderItem.objects.filter(order=OuterRef("pk"), refunded_quantity__gt=0)
        .values("order")
        .annotate(c=Sum(F("refunded_quantity") * F("unit_cost"), output_field=MONEY))
        .values("c")
    )
    return Coalesce(Subquery(lines, output_field=MONEY), Value(D(0)), output_field=MONEY)


def _profit():
    """Profit of one order as statistics count it (0 for orders that do not count)."""
    kept = F("paid_amount") - F("refunded_amount") - F("cost_amount")
    return Case(
        When(status__in=("cancelled", "refunded"), then=Value(D(0))),
        # Lines are refunded only with money: look at them only then.
        When(refunded_amount__gt=0, then=kept + _refunded_cost()),
        default=kept,
        output_field=MONEY,
    )


def figures_for(
    *, user, store: Store | None, periods: list[Period], source: str = "auto"
) -> list[dict]:
    """The raw figures (ints and Decimals) of each period, plus its days (``_days``).

    A user who sees every customer reads the daily rollup (``guanxi.analytics.rollup``)
    when it is complete and in the user's time zone; everyone else, and ``source=
    "direct"``, computes from the orders. Both give the same numbers (tested)."""
    if source not in ("auto", "direct", "rollup"):
        raise ValueError(source)
    everyone = role_of(user).scope == Scope.ALL
    if source == "rollup" or (
        source == "auto" and (everyone or _entries_pay_off()) and rollup.ready()
    ):
        if everyone:
            return _rollup_figures(store=store, periods=periods)
        return _entry_figures(user=user, store=store, periods=periods)
    return _direct_figures(user=user, store=store, periods=periods)


def _entries_pay_off() -> bool:
    """Whether a team's or a sales rep's dashboard reads the ledger (``_entry_figures``)
    rather than the orders. On SQLite it is about twice as fast (one covering-index
    range per customer). On PostgreSQL too, provided the ledger is read one index range
    per visible customer (``_PROBE_SETTINGS``): left to itself the planner scans the
    whole ledger in parallel, slower than the orders for a sales rep."""
    return connection.vendor in ("sqlite", "postgresql")


# For the ledger queries of a team or a sales rep on PostgreSQL, two ways, each held to its
# plan (the planner's estimates would pick neither), with no JIT compilation, which costs
# more than these queries take, and no parallel workers (two cores, shared):
# - probes: one covering-index range per visible customer (a nested loop driven by the
#   customers), never a (parallel) scan of the whole ledger hashed against them;
# - the day range (``_entry_rows_by_day``): the range of the day index, index only,
#   against a hash of the visible customers (their bitmap scan), never a nested loop of
#   customer look-ups per entry; aggregated in memory by hash (a few hundred groups the
#   planner takes for tens of thousands, which it would sort on disk).
_PROBE_SETTINGS = {
    "jit": "off",
    "max_parallel_workers_per_gather": "0",
    "enable_seqscan": "off",
    "enable_bitmapscan": "off",
}
_RANGE_SETTINGS = {
    "jit": "off",
    "max_parallel_workers_per_gather": "0",
    "enable_seqscan": "off",
    "enable_nestloop": "off",
    "work_mem": "32MB",
}


@contextlib.contextmanager
def _planner_settings(settings: dict[str, str]):
    """Run the queries inside with these planner settings (PostgreSQL; nothing
    elsewhere). Set for the transaction (``set_config(…, true)``) and put back afterwards,
    so an enclosing transaction keeps its own settings; if a query fails, rolling back the
    savepoint undoes them."""
    if connection.vendor != "postgresql":
        yield
        return
    names = list(settings)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT " + ", ".join("current_setting(%s)" for _ in names), names)
            before = cursor.fetchone()
            cursor.execute(
                "SELECT " + ", ".join("set_config(%s, %s, true)" for _ in names),
                [v for n in names for v in (n, settings[n])],
            )
        yield
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT " + ", ".join("set_config(%s, %s, true)" for _ in names),
                [v for n, b in zip(names, before, strict=True) for v in (n, b)],
            )


# The day-range read of the ledger (``_entry_rows_by_day``): the entries placed from this
# many days before the period on hold every paid entry of the period whose payment came
# at most this many days after its placing (in the bench data every one: orders are paid
# within a day or not at all); the others, paid earlier than placed or later, have a small
# partial index of their own (migrations ``analytics/0011_kpi_entry_day_indexes`` for
# PostgreSQL and ``0013_kpi_entry_sqlite_day_indexes`` for SQLite, whose predicates
# ``_PAID_APART_SQL`` repeats).
PAID_WITHIN_DAYS = 2
_PAID_APART_SQL = {
    "postgresql": (
        f"({{t}}.paid_day < {{t}}.placed_day"
        f" OR {{t}}.paid_day > {{t}}.placed_day + {PAID_WITHIN_DAYS})"
    ),
    "sqlite": (
        f"({{t}}.paid_day < {{t}}.placed_day"
        f" OR {{t}}.paid_day > date({{t}}.placed_day, '+{PAID_WITHIN_DAYS} days'))"
    ),
}
# The day range is read when it holds fewer entries than this many per visible customer;
# otherwise each customer's entries are probed. Measured on PostgreSQL at 1M customers /
# 5M orders (docs/benchmarks.md, "KPI dashboard"): listing a customer and probing its
# entries in each of the two queries costs ~9 µs, an entry of the range read and tested
# against the hash ~0.3 µs (2026-12-06, since the range's sums test no days: a rep's
# 26.5k customers over 60 days, 436k entries, 230–260 ms probed, 130–150 ms by range).
DAY_RANGE_ENTRIES_PER_CUSTOMER = 24


def _day_range_pays_off(visible, lo: datetime.date, hi: datetime.date) -> bool:
    """Whether reading the whole day range of the ledger (every customer's entries, those
    not visible dropped by a hash of the ``visible`` customers) is cheaper than probing the
    visible customers' entries one by one: for a team, usually, and for a sales rep over a
    long period rarely. Only on PostgreSQL, which has the index for it. The size of the
    range comes from the rollup's day cells (orders placed per day); the number of
    customers is the planner's estimate (counting them would cost a quarter of the read)."""
    if connection.vendor == "sqlite":
        # The day range there is the visible customers' own (one look-up each in the
        # index led by the customer and the placing day) plus the small partial index of
        # the entries paid apart: never more than probing each customer twice.
        return True
    entries = KpiDay.objects.filter(
        day__gte=lo - datetime.timedelta(days=PAID_WITHIN_DAYS), day__lte=hi
    ).aggregate(n=Sum("placed"))["n"]
    return (entries or 0) < _estimated_rows(visible) * DAY_RANGE_ENTRIES_PER_CUSTOMER


def _estimated_rows(queryset) -> int:
    """How many rows PostgreSQL's planner expects ``queryset`` to return."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def _paid_sums(where: Q, p1: str, p2: str, store, periods: list[Period]) -> dict:
    """The aggregates of the paid entries selected by ``where``: the additive figures and
    the chain counts (see ``guanxi.analytics.rollup``)."""

    def firsts(start):
        if store is None:  # the customer's first paid order: new on its own day
            return Q(chained=True, prev_day__isnull=True)
        return Q(new_day__gte=start)

    return {
        "sales_c": _cents(F("sales"), filter=where),
        "n": Count("customer_id", filter=where),
        "n_items": Coalesce(Sum("items", filter=where), 0),
        "refunds_c": _cents(F("refunds"), filter=where),
        "profit_c": _cents(F("profit"), filter=where),
        "same": Count("customer_id", filter=where & Q(**{p1: F("paid_day")})),
        **{
            f"{name}{i}": Count("customer_id", filter=where & cond)
            for i, p in enumerate(periods)
            for name, cond in (
                ("prev", Q(**{f"{p1}__gte": p.start})),
                ("prev2", Q(**{f"{p2}__gte": p.start})),
                ("firsts", firsts(p.start)),
            )
        },
    }


def _placed_sums(where: Q) -> dict:
    """The aggregates of the entries placed selected by ``where``."""
    return {
        "n_placed": Count("customer_id", filter=where),
        "n_unpaid": Count("customer_id", filter=where & Q(paid_day__isnull=True)),
        "unpaid_c": _cents(F("unpaid_amount"), filter=where),
    }


def _entry_rows_by_day(
    entries, *, lo, hi, p1, p2, store, periods, apart_entries=None
) -> tuple[list, list]:
    """The paid and the placed day sums of ``entries`` (as ``_entry_figures`` queries
    them) from one read of the day range: the entries placed in [lo − PAID_WITHIN_DAYS,
    hi] give the days placed in the period and the days paid in it of every entry paid
    within PAID_WITHIN_DAYS of its placing; the partial index of the others adds theirs
    (UNION ALL, the same statement). Groups of (paid day, placed day), summed per day here
    (integers: counts and cents): a group's paid sums count if its paid day is in the
    periods, its placed sums if its placed day is, so the sums themselves need no test of
    either day (on SQLite those tests, repeated in every sum of every entry, were a third
    of the read). ``apart_entries``: the same entries, selected so that the database
    starts from that partial index (default ``entries``)."""
    table = connection.ops.quote_name(KpiOrderEntry._meta.db_table)
    from_day = lo - datetime.timedelta(days=PAID_WITHIN_DAYS)
    in_paid = Q(paid_day__gte=lo, paid_day__lte=hi)
    sums = {
        **_paid_sums(Q(), p1, p2, store, periods),
        **_placed_sums(Q()),
    }
    near = entries.filter(placed_day__gte=from_day, placed_day__lte=hi)
    apart = (
        (entries if apart_entries is None else apart_entries)
        .filter(in_paid)
        .filter(RawSQL(_PAID_APART_SQL[connection.vendor].format(t=table), (), BooleanField()))
        .exclude(placed_day__gte=from_day, placed_day__lte=hi)
    )
    rows = (
        near.values("paid_day", "placed_day")
        .annotate(**sums)
        .order_by()
        .union(apart.values("paid_day", "placed_day").annotate(**sums).order_by(), all=True)
    )
    placed_keys = list(_placed_sums(Q()))
    paid_keys = [k for k in sums if k not in placed_keys]
    paid: dict = {}
    placed: dict = {}
    for r in rows:
        if r["paid_day"] is not None and lo <= r["paid_day"] <= hi:
            d = paid.setdefault(r["paid_day"], dict.fromkeys(paid_keys, 0))
            for k in paid_keys:
                d[k] += r[k] or 0
        if lo <= r["placed_day"] <= hi:
            d = placed.setdefault(r["placed_day"], dict.fromkeys(placed_keys, 0))
            for k in placed_keys:
                d[k] += r[k] or 0
    return (
        [{"paid_day": day, **d} for day, d in paid.items()],
        [{"placed_day": day, **d} for day, d in placed.items()],
    )


def _entry_figures(
    *, user, store: Store | None, periods: list[Period], day_range: bool | None = None
) -> list[dict]:
    """``figures_for`` of a team or a sales rep from the rollup's ledger: the entries
    (``KpiOrderEntry``) of the visible customers' orders, summed per day in SQL. The
    chain columns of an entry are its customer's, so the sums over whole customers are
    exactly what ``KpiDay`` / ``KpiChainDay`` would hold for these customers alone (the
    same formulas as ``_rollup_figures``). Visibility is evaluated now, so a change of
    owner or team shows at once. No order rows are read: either two queries, each
    walking the customers' entries of the periods through a covering index ((customer,
    paid_day, …) and (customer, placed_day, …)), or one read of the periods' day range
    (``_entry_rows_by_day``): always on SQLite, and on PostgreSQL when the customers are
    many for the range (``_day_range_pays_off``; ``day_range`` forces either)."""
    lo = min(p.start for p in periods)
    hi = max(p.end for p in periods)
    visible = visible_to(user, Customer.objects.all()).values("pk")
    if day_range is None:
        day_range = _day_range_pays_off(visible, lo, hi)
    if connection.vendor == "postgresql" and not day_range:
        # The customers once, as an array: each query then probes the covering index
        # once per customer (``customer_id = ANY(…)``), in the customers' order.
        ids = list(visible.values_list("pk", flat=True))
        entries = KpiOrderEntry.objects.filter(
            RawSQL(
                f'{connection.ops.quote_name(KpiOrderEntry._meta.db_table)}."customer_id"'
                " = ANY(%s::bigint[])",
                (ids,),
                output_field=BooleanField(),
            )
        )
    else:
        entries = KpiOrderEntry.objects.filter(customer_id__in=visible)
    # SQLite reads the entries paid apart from their placing from their partial index,
    # testing each one's customer; led by the customer, it would look every visible
    # customer up again (``customer_id + 0`` is not an indexed column to it).
    apart_entries = None
    if connection.vendor == "sqlite":
        apart_entries = KpiOrderEntry.objects.alias(_customer=F("customer_id") + 0).filter(
            _customer__in=visible
        )
    if store is not None:
        entries = entries.filter(store_id=store.pk)
        if apart_entries is not None:
            apart_entries = apart_entries.filter(store_id=store.pk)
        p1, p2 = "store_prev_day", "store_prev2_day"
    else:
        p1, p2 = "prev_day", "prev2_day"

    by_day = {}
    by_day_chain = {}
    with _planner_settings(_RANGE_SETTINGS if day_range else _PROBE_SETTINGS):
        if day_range:
            paid, placed = _entry_rows_by_day(
                entries,
                lo=lo,
                hi=hi,
                p1=p1,
                p2=p2,
                store=store,
                periods=periods,
                apart_entries=apart_entries,
            )
        else:
            paid = list(
                entries.filter(paid_day__gte=lo, paid_day__lte=hi)
                .values("paid_day")
                .annotate(**_paid_sums(Q(), p1, p2, store, periods))
                .order_by()
            )
            placed = list(
                entries.filter(placed_day__gte=lo, placed_day__lte=hi)
                .values("placed_day")
                .annotate(**_placed_sums(Q()))
                .order_by()
            )
    for r in paid:
        day = r["paid_day"]
        by_day[day] = {
            "sales": _money(r["sales_c"]),
            "n": r["n"],
            "n_items": r["n_items"],
            "n_refunds": _money(r["refunds_c"]),
            "n_profit": _money(r["profit_c"]),
            "n_placed": 0,
            "n_unpaid": 0,
            "n_unpaid_amount": D(0),
        }
        by_day_chain[day] = r
    for r in placed:
        d = by_day.setdefault(
            r["placed_day"],
            {
                "sales": D(0),
                "n": 0,
                "n_items": 0,
                "n_refunds": D(0),
                "n_profit": D(0),
            },
        )
        d["n_placed"] = r["n_placed"]
        d["n_unpaid"] = r["n_unpaid"]
        d["n_unpaid_amount"] = _money(r["unpaid_c"])
    return _assemble(periods, by_day, by_day_chain)


def _rollup_figures(*, store: Store | None, periods: list[Period]) -> list[dict]:
    """``figures_for`` from the rollup: the additive figures are sums of ``KpiDay``;
    paying, repeat and new customers come from the chains of paid orders
    (``KpiChainDay``, see ``guanxi.analytics.rollup``)."""
    lo = min(p.start for p in periods)
    hi = max(p.end for p in periods)
    zero = Value(D(0), output_field=MONEY)
    days = KpiDay.objects.filter(day__gte=lo, day__lte=hi)
    if store is not None:
        days = days.filter(store_id=store.pk)
    by_day = {
        r["day"]: r
        for r in days.values("day").annotate(
            sales=Coalesce(Sum("sales"), zero),
            n=Coalesce(Sum("orders"), 0),
            n_items=Coalesce(Sum("items"), 0),
            n_refunds=Coalesce(Sum("refunds"), zero),
            n_profit=Coalesce(Sum("profit"), zero),
            n_placed=Coalesce(Sum("placed"), 0),
            n_unpaid=Coalesce(Sum("unpaid"), 0),
            n_unpaid_amount=Coalesce(Sum("unpaid_amount"), zero),
        )
    }
    # Per day: orders whose prev is the same day (→ the day's customers) and, for each
    # period, whose prev / prev2 falls in the period (→ its customers and repeaters).
    # The days listed rather than a range: each is one tight index range (day, ref_day).
    chain = KpiChainDay.objects.filter(
        scope=store.pk if store is not None else rollup.ALL_STORES,
        day__in=[lo + datetime.timedelta(days=n) for n in range((hi - lo).days + 1)],
        ref_day__gte=lo,
    )
    by_day_chain = {
        r["day"]: r
        for r in chain.values("day").annotate(
            same=Coalesce(Sum("prev", filter=Q(ref_day=F("day"))), 0),
            **{
                f"{name}{i}": Coalesce(Sum(name, filter=Q(ref_day__gte=p.start)), 0)
                for i, p in enumerate(periods)
                for name in ("prev", "prev2", "firsts")
            },
        )
    }
    return _assemble(periods, by_day, by_day_chain)


def _assemble(periods: list[Period], by_day: dict, by_day_chain: dict) -> list[dict]:
    """The figures of each period from the day sums (``by_day``: sales, n, n_items,
    n_refunds, n_profit, n_placed, n_unpaid, n_unpaid_amount) and the chain sums
    (``by_day_chain``: same, and prev/prev2/firsts with the period's index)."""
    out = []
    for i, period in enumerate(periods):
        row = {
            "sales": D(0),
            "orders": 0,
            "buyers": 0,
            "items": 0,
            "refunds": D(0),
            "gross_profit": D(0),
            "repeat_buyers": 0,
            "new_buyers": 0,
            "placed_orders": 0,
            "unpaid_orders": 0,
            "unpaid_amount": D(0),
        }
        prev = prev2 = 0
        trend = []
        for n in range(period.days):
            day = period.start + datetime.timedelta(days=n)
            d = by_day.get(day)
            c = by_day_chain.get(day)
            if c:
                prev += c[f"prev{i}"]
                prev2 += c[f"prev2{i}"]
                row["new_buyers"] += c[f"firsts{i}"]
            if d:
                row["sales"] += d["sales"]
                row["orders"] += d["n"]
                row["items"] += d["n_items"]
                row["refunds"] += d["n_refunds"]
                row["gross_profit"] += d["n_profit"]
                row["placed_orders"] += d["n_placed"]
                row["unpaid_orders"] += d["n_unpaid"]
                row["unpaid_amount"] += d["n_unpaid_amount"]
            trend.append(
                {
                    "date": day,
                    "sales": D(d["sales"]).quantize(CENT) if d else D("0.00"),
                    "orders": d["n"] if d else 0,
                    "buyers": (d["n"] - (c["same"] if c else 0)) if d else 0,
                }
            )
        row["buyers"] = row["orders"] - prev
        row["repeat_buyers"] = prev - prev2
        for key in ("sales", "refunds", "gross_profit", "unpaid_amount"):
            row[key] = D(row[key]).quantize(CENT)
        row["_days"] = trend
        out.append(row)
    return out


def _constant_offset(tz, start: datetime.datetime, end: datetime.datetime):
    """The zone's UTC offset if it is the same over [start, end] (checked day by day),
    else None."""
    offsets = set()
    moment = start
    while True:
        offsets.add(moment.astimezone(tz).utcoffset())
        if len(offsets) > 1:
            return None
        if moment >= end:
            return offsets.pop()
        moment = min(end, moment + datetime.timedelta(days=1))


def _local_day(field: str, tz, start, end):
    """The local day of a timestamp column as SQL. SQLite has no time zones: when the
    zone's offset is constant over the period (Asia/Shanghai since 1991) the offset is
    added in SQL, on the text cut to whole seconds (SQLite's date functions round to the
    millisecond, which would move 23:59:59.9995 to the next day); otherwise, and on
    PostgreSQL, Django's ``TruncDate`` (a Python function per row on SQLite)."""
    if connection.vendor == "sqlite":
        offset = _constant_offset(tz, start, end)
        if offset is not None:
            return Func(
                Substr(field, 1, 19),
                Value(f"{int(offset.total_seconds()):+d} seconds"),
                function="date",
                output_field=DateField(),
            )
    return TruncDate(field, tzinfo=tz)


def _cents(expression, **extra):
    """A money expression summed as whole cents (an exact integer on both databases;
    SQLite keeps decimals as floating point)."""
    return Sum(
        Cast(Round(expression * Value(100)), BigIntegerField()),
        output_field=BigIntegerField(),
        **extra,
    )


def _money(cents) -> D:
    return (D(cents or 0) / 100).quantize(CENT)


def _direct_figures(*, user, store: Store | None, periods: list[Period]) -> list[dict]:
    """``figures_for`` computed from the orders.

    Two queries over all the periods together: the paid orders grouped by customer and
    local day of payment, with the customer's first payment ever (from which the days,
    the distinct and repeat customers and the new customers follow in Python), and the
    orders placed. Both walk the visible customers' orders through the indexes
    (customer, paid_at) and (customer, placed_at), reading only the periods' orders."""
    tz = timezone.get_current_timezone()
    spans = [p.bounds() for p in periods]
    lo, hi = min(s for s, _ in spans), max(e for _, e in spans)
    base = _orders(user, store)
    paid = base.filter(paid_at__gte=lo, paid_at__lt=hi)

    # 1. Paid orders per (customer, local day), with the customer's first payment.
    groups = list(
        paid.annotate(day=_local_day("paid_at", tz, lo, hi))
        .values("customer_id", "day", "customer__stats__first_paid_at")
        .annotate(
            sales=_cents(F("paid_amount")),
            orders=Count("id"),
            items=Coalesce(Sum("item_count"), 0),
            refunds=_cents(F("refunded_amount")),
            gross_profit=_cents(_profit()),
        )
        .order_by()
    )
    day_spans = [(p.start, p.end) for p in periods]
    by_day: dict[datetime.date, dict] = {}
    per_customer: list[dict[int, int]] = [{} for _p in periods]
    new: list[set] = [set() for _p in periods]
    for g in groups:
        day, customer = g["day"], g["customer_id"]
        d = by_day.setdefault(
            day,
            {"sales": 0, "orders": 0, "items": 0, "refunds": 0, "gross_profit": 0, "buyers": 0},
        )
        for key in ("sales", "orders", "items", "refunds", "gross_profit"):
            d[key] += g[key] or 0
        d["buyers"] += 1  # one group per customer and day
        first = g["customer__stats__first_paid_at"]
        for i, (first_day, last_day) in enumerate(day_spans):
            if first_day <= day <= last_day:
                per_customer[i][customer] = per_customer[i].get(customer, 0) + g["orders"]
                s, e = spans[i]
                if first is not None and s <= first < e:
                    new[i].add(customer)

    # 2. Orders placed, and those not paid.
    unpaid = Q(paid_at__isnull=True)
    placed = base.filter(placed_at__gte=lo, placed_at__lt=hi).aggregate(
        **{
            f"{name}{i}": agg
            for i, (s, e) in enumerate(spans)
            for name, agg in (
                ("placed", Count("id", filter=Q(placed_at__gte=s, placed_at__lt=e))),
                ("unpaid", Count("id", filter=Q(placed_at__gte=s, placed_at__lt=e) & unpaid)),
                (
                    "unpaid_amount",
                    _cents(
                        F("goods_amount") - F("discount_amount") + F("shipping_amount"),
                        filter=Q(placed_at__gte=s, placed_at__lt=e) & unpaid,
                    ),
                ),
            )
        }
    )

    out = []
    for i, period in enumerate(periods):
        counts = per_customer[i].values()
        row = {
            "sales": 0,
            "orders": 0,
            "buyers": len(per_customer[i]),
            "items": 0,
            "refunds": 0,
            "gross_profit": 0,
            "repeat_buyers": sum(1 for n in counts if n >= 2),
            "new_buyers": len(new[i]),
            "placed_orders": placed[f"placed{i}"],
            "unpaid_orders": placed[f"unpaid{i}"],
            "unpaid_amount": _money(placed[f"unpaid_amount{i}"]),
        }
        trend = []
        for n in range(period.days):
            day = period.start + datetime.timedelta(days=n)
            d = by_day.get(day)
            if d:
                for key in ("sales", "orders", "items", "refunds", "gross_profit"):
                    row[key] += d[key]
            trend.append(
                {
                    "date": day,
                    "sales": _money(d["sales"]) if d else D("0.00"),
                    "orders": d["orders"] if d else 0,
                    "buyers": d["buyers"] if d else 0,
                }
            )
        for key in ("sales", "refunds", "gross_profit"):
            row[key] = _money(row[key])
        row["_days"] = trend
        out.append(row)
    return out


def figures(*, user, store: Store | None, period: Period) -> dict:
    """The raw figures (ints and Decimals) of one period."""
    row = figures_for(user=user, store=store, periods=[period])[0]
    row.pop("_days")
    return row


def _ratio(a, b) -> Fraction | None:
    return Fraction(a) / Fraction(b) if b else None


def derive(raw: dict) -> dict[str, Fraction | int | D | None]:
    """Every metric, exact: counts as int, money as Decimal, ratios as Fraction."""
    out = dict(raw)
    buyers, orders, items, sales = raw["buyers"], raw["orders"], raw["items"], raw["sales"]
    out["returning_buyers"] = buyers - raw["new_buyers"]
    out["sales_per_buyer"] = _ratio(sales, buyers)
    out["orders_per_buyer"] = _ratio(orders, buyers)
    out["order_value"] = _ratio(sales, orders)
    out["items_per_order"] = _ratio(items, orders)
    out["items_per_buyer"] = _ratio(items, buyers)
    out["item_price"] = _ratio(sales, items)
    out["repeat_rate"] = _ratio(raw["repeat_buyers"], buyers)
    out["unpaid_rate"] = _ratio(raw["unpaid_orders"], raw["placed_orders"])
    out["refund_rate"] = _ratio(raw["refunds"], sales)
    out["net_sales"] = sales - raw["refunds"]
    out["gross_margin"] = _ratio(raw["gross_profit"], out["net_sales"])
    return out


def decimal_of(value, places=PLACES) -> D | None:
    """A Fraction as a Decimal rounded to ``places`` (20 decimals by default)."""
    if value is None:
        return None
    if isinstance(value, Fraction):
        with decimal.localcontext() as ctx:
            ctx.prec = 60
            return (D(value.numerator) / D(value.denominator)).quantize(places)
    return D(value)


def shown(key: str, value) -> D | int | None:
    """The value as shown and exported: money to 0.01, ratios to 0.01, rates to 0.0001."""
    if value is None:
        return None
    kind = METRIC[key][1]
    if kind == "count":
        return int(value)
    if kind == "rate":
        return decimal_of(value, D("0.0001"))
    return decimal_of(value, CENT)


def display(kind: str, value) -> str:
    """A shown value as text: grouped digits, rates as percentages."""
    if value is None:
        return "—"
    if kind == "count":
        return number_format(value, 0, force_grouping=True)
    if kind == "rate":
        return number_format(value * 100, 1, force_grouping=True) + "%"
    return number_format(value, 2, force_grouping=True)


def _change(key: str, cur, prev) -> dict:
    if cur is None or prev is None:
        return {"delta": None, "pct": None, "trend": "none"}
    delta = Fraction(cur) - Fraction(prev)
    pct = (delta / Fraction(prev)) if prev else None
    up_good = METRIC[key][2]
    if delta == 0:
        trend = "flat"
    else:
        trend = "good" if (delta > 0) == up_good else "bad"
    kind = METRIC[key][1]
    places = CENT if kind in ("money", "ratio") else D("0.0001") if kind == "rate" else D(1)
    return {
        "delta": int(delta) if kind == "count" else decimal_of(delta, places),
        "pct": decimal_of(pct, D("0.0001")),
        "trend": trend,
        "up": delta > 0,
    }


@dataclasses.dataclass
class Report:
    period: Period
    previous: Period
    store: Store | None
    preset: str
    exact: dict  # metric → exact value (current period)
    exact_previous: dict
    trend: list[dict]

    def rows(self) -> list[dict]:
        out = []
        for key, label, kind, _up in METRICS:
            cur, prev = self.exact.get(key), self.exact_previous.get(key)
            out.append(
                {
                    "key": key,
                    "label": str(label),
                    "kind": kind,
                    "value": shown(key, cur),
                    "previous": shown(key, prev),
                    **_change(key, cur, prev),
                }
            )
            row = out[-1]
            row["display"] = display(kind, row["value"])
            row["previous_display"] = display(kind, row["previous"])
            row["pct_display"] = "" if row["pct"] is None else f"{row['pct'] * 100:+.1f}%"
        return out

    def tree(self) -> dict:
        rows = {r["key"]: r for r in self.rows()}

        def node(spec):
            key, children = spec
            # buyers = new + returning; every other node is the product of its children.
            op = "+" if key == "buyers" else "×"
            return {**rows[key], "op": op, "children": [node(c) for c in children]}

        return node(TREE)

    def as_dict(self) -> dict:
        """JSON-ready (Decimals as strings): what the API returns."""

        def s(v):
            return None if v is None else (v if isinstance(v, int) else str(v))

        rows = self.rows()
        return {
            "start": self.period.start.isoformat(),
            "end": self.period.end.isoformat(),
            "previous_start": self.previous.start.isoformat(),
            "previous_end": self.previous.end.isoformat(),
            "store": self.store.pk if self.store else None,
            "current": {r["key"]: s(r["value"]) for r in rows},
            "previous": {r["key"]: s(r["previous"]) for r in rows},
            "change": {r["key"]: s(r["pct"]) for r in rows},
            "trend": [
                {
                    "date": d["date"].isoformat(),
                    "sales": str(d["sales"]),
                    "orders": d["orders"],
                    "buyers": d["buyers"],
                }
                for d in self.trend
            ],
        }


def kpi_report(*, user, preset: str = "", start=None, end=None, store=None, today=None) -> Report:
    """The KPIs of a period (preset or start/end) and store id (or all), with the
    previous period of the same length."""
    require(user, Action.VIEW)
    preset, period = period_from(preset=preset, start=start, end=end, today=today)
    store_obj = store if isinstance(store, Store) else store_from(store)
    previous = period.previous()
    current, before = figures_for(user=user, store=store_obj, periods=[period, previous])
    trend = current.pop("_days")
    before.pop("_days")
    return Report(
        period=period,
        previous=previous,
        store=store_obj,
        preset=preset,
        exact=derive(current),
        exact_previous=derive(before),
        trend=trend,
    )


# Export ---------------------------------------------------------------------------------


def report_tables(report: Report) -> list[Table]:
    """The numbers of the page: the KPI table and the daily sales behind the chart."""
    metrics = Table(
        name="kpi",
        title=_("KPIs"),
        headers=[
            _("Metric"),
            _("Current"),
            _("Previous"),
            pgettext("kpi", "Change"),
            pgettext("kpi", "Change %"),
        ],
    )
    for r in report.rows():
        pct = r["pct"]
        metrics.rows.append(
            [
                r["label"],
                r["value"],
                r["previous"],
                r["delta"],
                None if pct is None else (pct * 100).quantize(D("0.01")),
            ]
        )
    daily = Table(
        name="kpi_daily",
        title=_("Daily sales"),
        headers=[_("Date"), pgettext("kpi", "Sales"), _("Paid orders"), _("Paying customers")],
    )
    daily.rows = [
        [d["date"].isoformat(), d["sales"], d["orders"], d["buyers"]] for d in report.trend
    ]
    return [metrics, daily]
