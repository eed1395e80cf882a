"""Background work for customer lifetime value: the refit runs on the task worker."""

from django_tasks import task

from guanxi.accounts.models import User
from guanxi.analytics import clv_service


@task()
def refit_clv(requested_by: int | None = None) -> dict:
    """Refit BG/NBD and Gamma-Gamma on all orders and store every customer's
    predictions (``clv_service.refit``). Idempotent: a second run recomputes the same
    figures. ``requested_by`` is the user id recorded in the audit log."""
    actor = User.objects.filter(pk=requested_by).first() if requested_by else None
    try:
        fit = clv_service.refit(actor=actor)
    except clv_service.NotEnoughHistory as exc:
        return {"status": "not_enough_history", "message": str(exc.message)}
    return {"status": "done", "fit_id": fit.pk, "customers": fit.customers, "seconds": fit.seconds}
