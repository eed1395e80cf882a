"""Small data sets for the RFM, group, churn and cohort tests: customers owned by the
conftest personas and orders written directly (the statistics are then rebuilt from
the orders by ``guanxi.analytics.stats.rebuild``, as the real consumer would keep them)."""

import datetime
import decimal
import itertools

from guanxi.analytics import stats
from guanxi.commerce.models import Category, Order, OrderItem, Product, Store
from guanxi.customers.models import Customer

D = decimal.Decimal
TZ = datetime.timezone(datetime.timedelta(hours=8))
_numbers = itertools.count(1)


def at(day: str, hour: int = 10) -> datetime.datetime:
    """A Shanghai time on ``day`` (YYYY-MM-DD)."""
    return datetime.datetime.fromisoformat(day).replace(hour=hour, tzinfo=TZ)


def store(code="tmall", **extra) -> Store:
    return Store.objects.create(code=code, name=code.title(), channel="tmall", **extra)


def customer(owner=None, name=None, **extra) -> Customer:
    n = next(_numbers)
    return Customer.objects.create(
        name=name or f"C{n}",
        owner=owner,
        team=owner.team if owner else None,
        stage=extra.pop("stage", Customer.Stage.CUSTOMER),
        **extra,
    )


def product(sku: str, category: Category | None = None, price="10.00") -> Product:
    return Product.objects.create(sku=sku, name=sku, category=category, price=D(price))


def order(cust, shop, when, amount="100.00", *, lines=(), status="paid", paid=True) -> Order:
    """A paid order (``lines`` = [(product, quantity, unit_price)])."""
    n = next(_numbers)
    quantity = sum(q for _p, q, _u in lines) or 1
    o = Order.objects.create(
        store=shop,
        external_id=f"O{n}",
        customer=cust,
        status=status,
        goods_amount=D(amount),
        paid_amount=D(amount) if paid else D(0),
        item_count=quantity,
        placed_at=when,
        paid_at=when if paid else None,
    )
    for prod, q, unit in lines:
        OrderItem.objects.create(
            order=o,
            product=prod,
            sku=prod.sku,
            name=prod.name,
            quantity=q,
            unit_price=D(unit),
            amount=D(unit) * q,
        )
    return o


def rebuild_stats() -> None:
    stats.rebuild()
