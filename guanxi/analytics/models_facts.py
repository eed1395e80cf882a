"""Precomputed per-customer order facts for the customer analyses (group analysis,
cohorts, churn report); kept by ``guanxi.analytics.facts``. Imported by
``guanxi.analytics.models`` so they belong to this app."""

from django.db import models
from django.utils import timezone

WEEKDAY_FIELDS = [f"weekday_{d}" for d in range(1, 8)]  # ISO: 1 = Monday … 7 = Sunday
HOUR_FIELDS = [f"hour_{h}" for h in range(24)]


class CustomerFacts(models.Model):
    """What a customer's purchases (paid orders that are neither cancelled nor wholly
    refunded, as in the statistics) say about them, in the site's time zone
    (``FactsState.time_zone``): how many, the month of the first, the favourite
    top-level category (most units; ties → the smaller category id) and how many were
    placed on each weekday and at each hour. Only customers with a purchase have a row.
    """

    customer = models.OneToOneField(
        "customers.Customer", on_delete=models.CASCADE, primary_key=True, related_name="facts"
    )
    orders = models.IntegerField(default=0)
    # year × 12 + month − 1 of the first purchase (the customer's cohort).
    cohort_month = models.IntegerField(null=True, db_index=True)
    favourite_root_id = models.BigIntegerField(null=True)  # a top-level Category id
    # weekday_1 … weekday_7 and hour_0 … hour_23: purchases placed then (added below).


for _name in WEEKDAY_FIELDS + HOUR_FIELDS:
    CustomerFacts.add_to_class(_name, models.IntegerField(default=0))


class CustomerMonth(models.Model):
    """One row per customer and local month (year × 12 + month − 1) with a purchase:
    how many, when the last of them was placed, and — so that cohorts and the churn
    report read no more than these rows — the customer's cohort month, the last
    purchase of their previous month with one (``prev_at``) and their next such month
    (``next_month``)."""

    pk = models.CompositePrimaryKey("customer_id", "month")
    customer_id = models.BigIntegerField()
    month = models.IntegerField()
    cohort_month = models.IntegerField()
    orders = models.IntegerField(default=0)
    last_at = models.DateTimeField()
    prev_at = models.DateTimeField(null=True)
    next_month = models.IntegerField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["cohort_month", "month"], name="facts_month_cohort_idx"),
        ]


class FactsState(models.Model):
    """One row once the facts are complete (a full ``facts.refresh_facts()``, or no
    orders at migration time): in which time zone they were computed and when."""

    time_zone = models.CharField(max_length=64)
    built_at = models.DateTimeField(default=timezone.now)


class GroupBaseline(models.Model):
    """The "all customers" side of the group analysis for one visibility scope (the
    same for every group analysed by users of that scope), kept for a while."""

    scope = models.CharField(max_length=200, unique=True)
    computed_at = models.DateTimeField(default=timezone.now)
    counts = models.JSONField(default=dict)  # {dimension: [[value, n], …]}
