"""Background work for the customer analyses: the RFM recompute and the churn rules.
Both are set-based and idempotent (running twice gives the same result)."""

from django_tasks import task

from guanxi.analytics import churn, rfm


@task()
def rfm_recompute() -> dict:
    """Score every customer with orders (R/F/M 1–5) and assign the RFM segments."""
    return rfm.rfm_recompute()


@task()
def apply_churn_rules() -> dict:
    """Move customers past their store's thresholds to dormant / lost (run daily)."""
    return churn.apply_churn_rules()
