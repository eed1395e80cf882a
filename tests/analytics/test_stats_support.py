"""Helpers for the statistics and KPI tests: a shop whose orders go in through order
ingestion (``order_ingest``), exactly as webhooks and the API put them in."""

import datetime
import decimal

import pytest
from django.utils import timezone

from guanxi.analytics import stats
from guanxi.analytics.models import CustomerStats
from guanxi.commerce.models import Order, Store
from guanxi.commerce.services import order_ingest
from guanxi.customers.models import Customer

D = decimal.Decimal
TZ = datetime.timezone(datetime.timedelta(hours=8))


def at(day: str, hour: int = 10) -> datetime.datetime:
    """A Shanghai time on ``day`` (YYYY-MM-DD)."""
    return datetime.datetime.fromisoformat(day).replace(hour=hour, tzinfo=TZ)


class Shop:
    def __init__(self, store: Store):
        self.store = store

    def send(self, order_id: str, event: str, when: datetime.datetime, **extra):
        body = {"order_id": order_id, "event": event, "occurred_at": when.isoformat(), **extra}
        return order_ingest(store=self.store, event=body, source="api")

    def place(self, order_id, buyer, when, lines, *, paid=None, shipping="0.00", discount="0.00"):
        """``lines`` = [(sku, quantity, unit_price, unit_cost)]; buyer = buyer id."""
        items = [
            {"sku": s, "name": s, "quantity": q, "unit_price": p, "unit_cost": c}
            for s, q, p, c in lines
        ]
        goods = sum((D(p) * q for _, q, p, _ in lines), D("0"))
        amounts = {"goods": str(goods), "discount": discount, "shipping": shipping}
        if paid is not None:
            amounts["paid"] = paid
        return self.send(
            order_id,
            "placed",
            when,
            buyer={"external_id": buyer, "name": buyer},
            items=items,
            amounts=amounts,
        )

    def pay(self, order_id, when, amount=None):
        extra = {"amounts": {"paid": amount}} if amount is not None else {}
        return self.send(order_id, "paid", when, **extra)

    def refund(self, order_id, when, refund_id, amount, lines=()):
        refund = {
            "refund_id": refund_id,
            "amount": amount,
            "items": [{"sku": s, "quantity": q} for s, q in lines],
        }
        return self.send(order_id, "refunded", when, refund=refund)

    def cancel(self, order_id, when):
        return self.send(order_id, "cancelled", when)

    def buy(self, order_id, buyer, when, lines, **kw):
        """Placed and paid at ``when``."""
        self.place(order_id, buyer, when, lines, **kw)
        return self.pay(order_id, when)

    def customer(self, buyer: str) -> Customer:
        return Order.objects.filter(store=self.store, buyer_external_id=buyer).first().customer


def make_store(code="tmall", channel="tmall"):
    return Store.objects.create(code=code, name=code.upper(), channel=channel)


@pytest.fixture(name="shop")
def shop_fixture(db):
    return Shop(make_store())


def stats_table() -> dict[int, tuple]:
    """Every customer's figures, a missing row being all zero."""
    rows = {}
    for customer_id in Customer.objects.values_list("pk", flat=True):
        row = CustomerStats.objects.filter(customer_id=customer_id).first()
        row = row or CustomerStats(customer_id=customer_id)
        rows[customer_id] = (
            row.orders,
            row.items,
            row.revenue,
            row.profit,
            row.first_order_at,
            row.last_order_at,
            row.first_paid_at,
        )
    return rows


def expected_table() -> dict[int, tuple]:
    """The documented definition, evaluated order by order in Python."""
    totals = stats.totals_from_orders()
    out = {}
    for customer_id in Customer.objects.values_list("pk", flat=True):
        t = totals.get(customer_id)
        out[customer_id] = (
            (
                t["orders"],
                t["items"],
                t["revenue"],
                t["profit"],
                t["first"],
                t["last"],
                t["first_paid"],
            )
            if t
            else (0, 0, D("0"), D("0"), None, None, None)
        )
    return out


def now_minus(days: int) -> datetime.datetime:
    return timezone.now() - datetime.timedelta(days=days)
