"""Cohort retention: customers by the month of their first order × months since.

A cohort is the customers whose first order (``CustomerStats.first_order_at``) fell in
a month; cell k is the share of the cohort with a purchase (paid, not cancelled, not
wholly refunded) in the k-th month after it (k = 0 is the first month itself). Months
are calendar months in the site's time zone. With the precomputed facts
(``guanxi.analytics.facts``) it is one GROUP BY over the customers' months with a
purchase (``CustomerMonth``, which carries the cohort month); before they are built, one
GROUP BY over the purchases. A cohort without customers has no rates (None, shown
"—")."""

from __future__ import annotations

from django.db.models import Count
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.accounts.roles import Action, require
from guanxi.analytics import facts
from guanxi.analytics.churn import _add_months, _month_start
from guanxi.analytics.groups import purchases
from guanxi.analytics.models import CustomerStats
from guanxi.analytics.models_facts import CustomerFacts, CustomerMonth
from guanxi.core.visibility import visibility_q, visible_to
from guanxi.customers.models import Customer


def _index(moment) -> int:
    moment = timezone.localtime(moment) if timezone.is_aware(moment) else moment
    return moment.year * 12 + moment.month - 1


def _counts_from_facts(user, first_i: int, last_i: int) -> tuple[dict, dict]:
    cohort = {"cohort_month__gte": first_i, "cohort_month__lte": last_i}
    sizes = dict(
        visible_to(user, CustomerFacts.objects.filter(**cohort), prefix="customer__")
        .values_list("cohort_month")
        .annotate(n=Count("pk"))
        .order_by()
    )
    months = CustomerMonth.objects.filter(**cohort, month__lte=last_i)
    visible = visibility_q(user, Customer)
    if visible:
        months = months.filter(customer_id__in=Customer.objects.filter(visible).values("pk"))
    cells = {
        (c, m): n
        for c, m, n in months.values_list("cohort_month", "month").annotate(n=Count("*")).order_by()
    }
    return sizes, cells


def _counts_from_orders(user, first, end) -> tuple[dict, dict]:
    stats = visible_to(
        user,
        CustomerStats.objects.filter(
            orders__gt=0, first_order_at__gte=first, first_order_at__lt=end
        ),
        prefix="customer__",
    )
    sizes = {
        _index(row["c"]): row["n"]
        for row in stats.annotate(c=TruncMonth("first_order_at"))
        .values("c")
        .annotate(n=Count("pk"))
        .order_by()
    }
    cells = {}
    orders = visible_to(user, purchases(), prefix="customer__").filter(
        customer__stats__orders__gt=0,
        customer__stats__first_order_at__gte=first,
        customer__stats__first_order_at__lt=end,
        placed_at__lt=end,
    )
    for row in (
        orders.annotate(c=TruncMonth("customer__stats__first_order_at"), m=TruncMonth("placed_at"))
        .values("c", "m")
        .annotate(n=Count("customer_id", distinct=True))
        .order_by()
    ):
        cells[(_index(row["c"]), _index(row["m"]))] = row["n"]
    return sizes, cells


def cohort_matrix(*, user, months: int = 12, until=None, use_facts: bool | None = None) -> dict:
    """The last ``months`` cohorts (up to the month of ``until``, default today).
    ``use_facts`` None: the precomputed facts when they are built."""
    require(user, Action.VIEW)
    months = max(1, min(int(months), 60))
    last = _month_start(until or timezone.localdate())
    first = _add_months(last, -(months - 1))
    end = _add_months(last, 1)
    first_i, last_i = _index(first), _index(last)
    if use_facts is None:
        use_facts = facts.is_built()
    if use_facts:
        sizes, cells = _counts_from_facts(user, first_i, last_i)
    else:
        sizes, cells = _counts_from_orders(user, first, end)
    cohorts = []
    for c in range(first_i, last_i + 1):
        size = sizes.get(c, 0)
        span = last_i - c + 1  # months observed so far, including the first
        counts = [cells.get((c, c + k), 0) for k in range(span)]
        cohorts.append(
            {
                "month": f"{c // 12:04d}-{c % 12 + 1:02d}",
                "customers": size,
                "counts": counts,
                "rates": [round(n / size * 100, 2) if size else None for n in counts],
            }
        )
    return {"months": months, "cohorts": cohorts}


def cohort_tables(matrix: dict):
    from guanxi.analytics.reports import Table

    width = max((len(c["counts"]) for c in matrix["cohorts"]), default=0)
    month_headers = [_("Month %(k)s") % {"k": k} for k in range(width)]
    head = [_("First order month"), _("Customers")]
    return [
        Table(
            name="cohort-retention",
            title=_("Retention % by months since the first order"),
            headers=head + month_headers,
            rows=[
                [c["month"], c["customers"], *c["rates"], *[""] * (width - len(c["rates"]))]
                for c in matrix["cohorts"]
            ],
        ),
        Table(
            name="cohort-customers",
            title=_("Customers with an order, by months since the first order"),
            headers=head + month_headers,
            rows=[
                [c["month"], c["customers"], *c["counts"], *[""] * (width - len(c["counts"]))]
                for c in matrix["cohorts"]
            ],
        ),
    ]
