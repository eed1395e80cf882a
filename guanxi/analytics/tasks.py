"""Background work for analytics. Tasks take ids (or nothing), are idempotent and call
the analytics services."""

from django_tasks import task

from guanxi.analytics import stats


@task()
def process_order_events() -> int:
    """Apply every pending ``order.*`` / ``customer.merged`` event to the customer
    statistics (the ``analytics.stats`` consumer). Enqueued by order ingestion after
    commit; running it twice, or two workers at once, counts nothing twice."""
    return stats.process_events()


@task()
def rebuild_stats() -> int:
    """Recompute every customer's statistics from the orders."""
    return stats.rebuild()
