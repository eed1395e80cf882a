"""KPIs and per-customer statistics over /api/v1: parse → service → schema. The numbers
come from the same services as the pages (``kpi.kpi_report``, ``stats.customer_stats``)."""

import datetime
import decimal

from ninja import Router, Schema

from guanxi.analytics import kpi, stats
from guanxi.customers import services as customer_services
from guanxi.customers.api import ERRORS

router = Router(tags=["analytics"])

Value = int | str | None


class TrendDay(Schema):
    date: datetime.date
    sales: str
    orders: int
    buyers: int


class KpiOut(Schema):
    start: datetime.date
    end: datetime.date
    previous_start: datetime.date
    previous_end: datetime.date
    store: int | None
    current: dict[str, Value]
    previous: dict[str, Value]
    change: dict[str, str | None]
    trend: list[TrendDay]


@router.get("/kpi", response={200: KpiOut, **ERRORS}, summary="KPIs of a period")
def get_kpi(
    request,
    start: str | None = None,
    end: str | None = None,
    store: str | None = None,
    period: str | None = None,
):
    """KPIs of ``start``–``end`` (dates, inclusive; or ``period`` = this_month,
    last_month, last_7, last_30, last_90) for one store (id) or all, with the previous
    period of the same length. Money and ratios are decimal strings; ``change`` is the
    relative change against the previous period (0.1250 = +12.5 %)."""
    report = kpi.kpi_report(
        user=request.user, preset=period or "", start=start, end=end, store=store
    )
    return report.as_dict()


class CustomerStatsOut(Schema):
    customer_id: int
    orders: int
    items: int
    revenue: decimal.Decimal
    profit: decimal.Decimal
    average_order_value: decimal.Decimal | None
    first_order_at: datetime.datetime | None
    last_order_at: datetime.datetime | None
    days_since_last_order: int | None
    r_score: int
    f_score: int
    m_score: int
    rfm_segment: str
    expected_purchases_12m: float | None
    p_alive: float | None
    clv_12m: decimal.Decimal | None


@router.get(
    "/customers/{customer_id}/stats",
    response={200: CustomerStatsOut, **ERRORS},
    summary="A customer's order statistics",
)
def customer_stats(request, customer_id: int):
    customer_services.require_view(request.user)
    customer = customer_services.customer_get_for_user(user=request.user, id=customer_id)
    return stats.customer_stats(customer)
