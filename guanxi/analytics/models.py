"""Per-customer aggregates kept up to date from events, and CLV model fits."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 16, "decimal_places": 2, "default": 0}


class CustomerStats(models.Model):
    """Order statistics of one customer (all stores), updated incrementally from
    ``order.*`` events and rebuildable from the orders (``guanxi rebuild_stats``)."""

    customer = models.OneToOneField(
        "customers.Customer", on_delete=models.CASCADE, primary_key=True, related_name="stats"
    )
    orders = models.PositiveIntegerField(_("orders"), default=0)  # paid, not fully refunded
    items = models.IntegerField(_("items"), default=0)
    revenue = models.DecimalField(_("revenue"), **MONEY)  # paid − refunded
    profit = models.DecimalField(_("gross profit"), **MONEY)
    first_order_at = models.DateTimeField(_("first order"), null=True, blank=True)
    last_order_at = models.DateTimeField(_("last order"), null=True, blank=True, db_index=True)
    # The first payment of any of its orders, even one refunded later: a customer is new
    # in the KPI period that holds it.
    first_paid_at = models.DateTimeField(_("first paid"), null=True, blank=True, db_index=True)
    # CLV, written by its refit. (RFM scores live in ``CustomerRfm``.)
    expected_purchases_12m = models.FloatField(null=True, blank=True)
    p_alive = models.FloatField(null=True, blank=True)
    clv_12m = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("customer statistics")
        verbose_name_plural = _("customer statistics")
        indexes = [
            models.Index(fields=["revenue"], name="stats_revenue_idx"),
            models.Index(fields=["clv_12m"], name="stats_clv_idx"),
        ]

    @property
    def average_order_value(self):
        return (self.revenue / self.orders) if self.orders else 0


class CustomerRfm(models.Model):
    """The RFM scores (1–5) and segment of one customer with orders, as the last
    recompute gave them (``guanxi.analytics.rfm``); no row = not scored.

    A narrow table of its own rather than columns of ``CustomerStats``: a recompute that
    changes most scores rewrites this table whole (``COPY`` on PostgreSQL), where
    updating the wide statistics rows wrote a new version of each row in all their
    indexes (11.5 s for 600k customers on PostgreSQL, against about 1 s).

    No foreign-key constraint in the database (Django still deletes a customer's row
    with the customer): PostgreSQL would check every inserted row again at COMMIT, and
    cannot TRUNCATE a table with such checks pending. A row whose customer is gone
    without Django is removed by the next recompute (``rfm._read_stats`` counts them)."""

    customer = models.OneToOneField(
        "customers.Customer",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="rfm",
        db_constraint=False,
    )
    r_score = models.PositiveSmallIntegerField(_("recency score"))
    f_score = models.PositiveSmallIntegerField(_("frequency score"))
    m_score = models.PositiveSmallIntegerField(_("monetary score"))
    # Not indexed: a segment is an eighth of the scored customers, so a list filtered by
    # it walks the customers in its order and looks each one up here by its key; an index
    # would cost every recompute a third more time (PostgreSQL, 600k rows: 1.4 s → 0.8 s).
    segment = models.CharField(_("RFM segment"), max_length=20)

    class Meta:
        verbose_name = _("RFM scores")
        verbose_name_plural = _("RFM scores")


class ClvFit(models.Model):
    """One fit of the BG/NBD and Gamma-Gamma models (kept for history and diagnostics)."""

    fitted_at = models.DateTimeField(default=timezone.now)
    calibration_end = models.DateTimeField()
    customers = models.PositiveIntegerField()
    r = models.FloatField()
    alpha = models.FloatField()
    a = models.FloatField()
    b = models.FloatField()
    bgnbd_loglik = models.FloatField()
    p = models.FloatField(null=True)
    q = models.FloatField(null=True)
    gamma = models.FloatField(null=True)
    gg_loglik = models.FloatField(null=True)
    seconds = models.FloatField(default=0)
    # What the predictions were computed with (empty for fits made before they were
    # recorded here and not found in the audit log).
    margin = models.FloatField(_("margin"), null=True)
    horizon_months = models.PositiveSmallIntegerField(_("horizon (months)"), null=True)
    monthly_discount_rate = models.FloatField(_("monthly discount rate"), null=True)

    class Meta:
        ordering = ["-fitted_at"]


class OrderContribution(models.Model):
    """What one order currently adds to its customer's statistics: the ledger that makes
    the incremental update exact. When an order event arrives, the consumer re-reads the
    order, compares what it should contribute now with the row here and applies only the
    difference, so duplicates and out-of-order events change nothing twice.

    Only orders that count (paid, not cancelled, not fully refunded; see
    ``guanxi.analytics.stats``) have a row; ``guanxi rebuild_stats`` rebuilds it."""

    order = models.OneToOneField(
        "commerce.Order", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    customer_id = models.BigIntegerField(db_index=True)
    items = models.IntegerField(default=0)
    revenue = models.DecimalField(**MONEY)
    profit = models.DecimalField(**MONEY)
    ordered_at = models.DateTimeField()


# The KPI rollup (see guanxi.analytics.rollup) ----------------------------------------------


class KpiOrderEntry(models.Model):
    """What one order currently adds to the KPI rollup: the ledger that makes its
    incremental update exact (like ``OrderContribution`` for the customer statistics, but
    for every order and with the KPI definitions of ``guanxi.analytics.kpi``).

    Days are local days in the rollup's time zone (``KpiRollupState.time_zone``). The
    ``*prev*_day`` columns place a paid order in its customer's chain of paid orders (all
    stores, and this store): the day of the paid order before it and the one before that;
    ``new_day``, on the customer's first paid order in this store, is the day of the
    customer's first paid order anywhere. They let distinct customers be counted from
    daily sums (``KpiChainDay``); ``chained`` says they are counted there."""

    # Not a foreign key: when an order is deleted its entry stays until
    # ``stats.refresh_customers`` (or the rebuild) takes it out of the cells too.
    order_id = models.BigIntegerField(primary_key=True)
    store_id = models.BigIntegerField()
    customer_id = models.BigIntegerField()
    placed_day = models.DateField()
    unpaid_amount = models.DecimalField(**MONEY)  # goods − discount + shipping, if unpaid
    paid_at = models.DateTimeField(null=True)
    paid_day = models.DateField(null=True)
    sales = models.DecimalField(**MONEY)  # paid amount
    items = models.IntegerField(default=0)
    refunds = models.DecimalField(**MONEY)
    profit = models.DecimalField(**MONEY)  # as the statistics count it (0 if not counted)
    prev_day = models.DateField(null=True)
    prev2_day = models.DateField(null=True)
    store_prev_day = models.DateField(null=True)
    store_prev2_day = models.DateField(null=True)
    new_day = models.DateField(null=True)
    chained = models.BooleanField(default=False)

    class Meta:
        indexes = [
            # Chains are per customer; new customers of a store look up (customer, store).
            models.Index(
                fields=["customer_id", "store_id", "paid_at"], name="kpi_entry_customer_idx"
            ),
            # The dashboard of a team or a sales rep (``kpi._entry_figures``) sums its
            # customers' entries of a period: covering indexes, so that is one index
            # range per customer and no table rows.
            models.Index(
                fields=[
                    "customer_id",
                    "paid_day",
                    "store_id",
                    "chained",
                    "sales",
                    "items",
                    "refunds",
                    "profit",
                    "prev_day",
                    "prev2_day",
                    "store_prev_day",
                    "store_prev2_day",
                    "new_day",
                ],
                name="kpi_entry_paid_cover_idx",
            ),
            models.Index(
                fields=["customer_id", "placed_day", "store_id", "paid_day", "unpaid_amount"],
                name="kpi_entry_placed_cover_idx",
            ),
        ]


class KpiDay(models.Model):
    """The additive KPI figures of one store on one local day: what the orders paid that
    day add (sales, orders, items, their refunds and gross profit) and what the orders
    placed that day add (placed, still unpaid and their amount)."""

    store_id = models.BigIntegerField()
    day = models.DateField()
    sales = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    orders = models.IntegerField(default=0)
    items = models.BigIntegerField(default=0)
    refunds = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    profit = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    placed = models.IntegerField(default=0)
    unpaid = models.IntegerField(default=0)
    unpaid_amount = models.DecimalField(max_digits=18, decimal_places=2, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "store_id"], name="uniq_kpi_day_store"),
        ]


class KpiChainDay(models.Model):
    """Paid orders of ``day`` whose customer's previous paid order (``prev``) or the one
    before it (``prev2``) was paid on ``ref_day``, and customers' first paid orders in
    the scope whose first payment anywhere was on ``ref_day`` (``firsts``), within
    ``scope`` (a store id, or 0 for all stores). Distinct customers of a period [s, e]
    follow from the sums over day in [s, e], ref_day ≥ s: paying customers = paid orders
    − Σ prev; customers with 2+ orders = Σ prev − Σ prev2; new customers = Σ firsts."""

    scope = models.BigIntegerField()
    day = models.DateField()
    ref_day = models.DateField()
    prev = models.IntegerField(default=0)
    prev2 = models.IntegerField(default=0)
    firsts = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "day", "ref_day"], name="uniq_kpi_chain_day"),
        ]


class KpiRollupState(models.Model):
    """Whether the rollup is complete (built by ``guanxi rebuild_stats``, or created
    empty with no orders) and in which time zone its days are; one row."""

    time_zone = models.CharField(max_length=64)
    built_at = models.DateTimeField(default=timezone.now)


# The analyses' precomputed facts (kept by guanxi.analytics.facts) live in their own module.
from guanxi.analytics.models_facts import (  # noqa: E402,F401
    CustomerFacts,
    CustomerMonth,
    FactsState,
    GroupBaseline,
)
