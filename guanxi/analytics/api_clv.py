"""Customer lifetime value over /api/v1/analytics/clv: the last fit with a summary and
the distribution, the high-potential customers, and a refit request. Thin: parse →
clv_service → JSON. Figures cover the customers the caller may see."""

from decimal import Decimal

from ninja import Router, Schema, Status

from guanxi.analytics import clv_service
from guanxi.api.errors import ERRORS

router = Router(tags=["analytics"])


class FitOut(Schema):
    id: int
    fitted_at: str
    calibration_end: str
    customers: int
    seconds: float
    bgnbd: dict[str, float]
    gamma_gamma: dict[str, float | None]
    margin: float | None
    horizon_months: int | None
    monthly_discount_rate: float | None


class HighPotentialOut(Schema):
    id: int
    name: str
    owner: str | None
    orders: int
    revenue: Decimal
    expected_purchases_12m: float | None
    p_alive: float | None
    clv_12m: Decimal | None


class HighPotentialPage(Schema):
    threshold: Decimal | None
    max_orders: int
    share: float
    items: list[HighPotentialOut]
    next_cursor: str | None


def _fit(fit) -> dict | None:
    if fit is None:
        return None
    return {
        "id": fit.pk,
        "fitted_at": fit.fitted_at.isoformat(),
        "calibration_end": fit.calibration_end.isoformat(),
        "customers": fit.customers,
        "seconds": fit.seconds,
        "bgnbd": {
            "r": fit.r,
            "alpha": fit.alpha,
            "a": fit.a,
            "b": fit.b,
            "loglik": fit.bgnbd_loglik,
        },
        "gamma_gamma": {"p": fit.p, "q": fit.q, "gamma": fit.gamma, "loglik": fit.gg_loglik},
        # What the predictions were computed with (null for fits made before these
        # were recorded).
        "margin": fit.margin,
        "horizon_months": fit.horizon_months,
        "monthly_discount_rate": fit.monthly_discount_rate,
    }


@router.get("/analytics/clv", response={200: dict, **ERRORS}, summary="CLV: last fit and summary")
def clv_overview(request):
    """The last fit's parameters, log-likelihoods, time taken and the margin, horizon
    (months) and monthly discount rate its predictions were computed with; totals of the
    predictions and the histogram of predicted 12-month CLV over the customers the
    caller may see; and whether a refit is waiting or running."""
    summary = clv_service.clv_summary(user=request.auth)
    distribution = clv_service.clv_distribution(user=request.auth)
    refit = clv_service.refit_state()
    return {
        "fit": _fit(clv_service.last_fit()),
        "summary": {
            **summary,
            "total_clv": str(summary["total_clv"]),
            "average_clv": str(summary["average_clv"]),
        },
        "distribution": [
            {
                "low": str(b["low"]),
                "high": None if b["high"] is None else str(b["high"]),
                "customers": b["customers"],
                "total_clv": str(b["total_clv"]),
            }
            for b in distribution
        ],
        "refit": {
            "state": refit["state"],
            "since": refit["since"].isoformat() if refit["since"] else None,
        },
    }


@router.get(
    "/analytics/clv/high-potential",
    response={200: HighPotentialPage, **ERRORS},
    summary="High-potential customers",
)
def clv_high_potential(request, cursor: str | None = None, size: int = 50):
    """Customers with few orders (≤ max_orders) but a predicted CLV in the top ``share``
    of such customers, highest first, that the caller may see; page with next_cursor."""
    size = max(1, min(size, 500))
    rows, next_cursor = clv_service.high_potential(user=request.auth, cursor=cursor, size=size)
    return {
        "threshold": clv_service.high_potential_threshold(),
        "max_orders": clv_service.HIGH_POTENTIAL_MAX_ORDERS,
        "share": clv_service.HIGH_POTENTIAL_SHARE,
        "items": [
            {
                "id": c.pk,
                "name": c.name,
                "owner": c.owner.username if c.owner_id else None,
                "orders": c.stats.orders,
                "revenue": c.stats.revenue,
                "expected_purchases_12m": c.stats.expected_purchases_12m,
                "p_alive": c.stats.p_alive,
                "clv_12m": c.stats.clv_12m,
            }
            for c in rows
        ],
        "next_cursor": next_cursor,
    }


@router.post("/analytics/clv/refit", response={202: dict, **ERRORS}, summary="Queue a CLV refit")
def clv_refit(request):
    """Queue a refit on the task worker (roles with the ``refit_models`` action:
    administrators and analysts). Answers
    {"status": "queued"} or {"status": "already_queued"} when one is waiting or running."""
    return Status(202, {"status": clv_service.request_refit(actor=request.auth)})
