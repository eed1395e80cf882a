"""Reads of orders, stores and products. Orders are visible as their customer is."""

import datetime

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from guanxi.accounts.roles import Action, can
from guanxi.core.errors import NotFound, ValidationFailed
from guanxi.core.pagination import keyset_page
from guanxi.core.visibility import can_see, visible_to

from .models import Category, Order, OrderEvent, Product, Store, WebhookRejection

ORDER_FILTERS = ["store", "status", "customer", "placed_from", "placed_to", "q"]


def orders_visible(user) -> QuerySet:
    return visible_to(user, Order.objects.all(), prefix="customer__")


def _day(raw, field: str, errors: dict) -> datetime.date | None:
    if raw in (None, ""):
        return None
    if isinstance(raw, datetime.date):
        return raw
    value = parse_date(str(raw).strip())
    if value is None:
        errors.setdefault(field, []).append(_("Use a date such as 2024-05-01."))
    return value


def _int(raw, field: str, errors: dict) -> int | None:
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        errors.setdefault(field, []).append(_("Expected a whole number."))
        return None


def apply_order_filters(qs: QuerySet, params: dict) -> QuerySet:
    """store (id or code), status, customer (id), placed_from / placed_to (dates,
    inclusive, local time), q (order number)."""
    errors: dict[str, list[str]] = {}
    store = params.get("store")
    if store not in (None, ""):
        store = str(store)
        qs = qs.filter(store_id=int(store)) if store.isdigit() else qs.filter(store__code=store)
    status = params.get("status")
    if status not in (None, ""):
        if status not in Order.Status.values:
            errors["status"] = [
                _("“%(value)s” is not one of: %(choices)s.")
                % {"value": status, "choices": ", ".join(Order.Status.values)}
            ]
        else:
            qs = qs.filter(status=status)
    customer = _int(params.get("customer"), "customer", errors)
    if customer is not None:
        qs = qs.filter(customer_id=customer)
    start = _day(params.get("placed_from"), "placed_from", errors)
    end = _day(params.get("placed_to"), "placed_to", errors)
    tz = timezone.get_current_timezone()
    if start:
        qs = qs.filter(placed_at__gte=datetime.datetime.combine(start, datetime.time(0), tz))
    if end:
        end_at = datetime.datetime.combine(end + datetime.timedelta(days=1), datetime.time(0), tz)
        qs = qs.filter(placed_at__lt=end_at)
    q = str(params.get("q") or "").strip()
    if q:
        qs = qs.filter(external_id__startswith=q)
    if errors:
        raise ValidationFailed(errors)
    return qs


def order_list(*, user, params: dict, cursor: str | None = None, size: int = 50):
    """(rows, next_cursor): the orders the user may see, newest placed first."""
    size = max(1, min(int(size or 50), 200))
    qs = apply_order_filters(orders_visible(user), params)
    qs = qs.select_related("store", "customer")
    return keyset_page(qs, order="-placed_at", cursor=cursor, size=size, parse=parse_datetime)


def order_get_for_user(*, user, id: int) -> Order:
    order = Order.objects.select_related("store", "customer").filter(pk=id).first()
    if order is None or not can(user, Action.VIEW) or not can_see(user, order.customer):
        raise NotFound(_("Order not found."))
    return order


def order_events(order: Order) -> QuerySet:
    return OrderEvent.objects.filter(order=order).order_by("occurred_at", "id")


def orders_of_customer(*, user, customer, limit: int = 50) -> list[Order]:
    if not can_see(user, customer):
        return []
    qs = Order.objects.filter(customer=customer).select_related("store")
    return list(qs.order_by("-placed_at", "-id")[:limit])


def store_list() -> QuerySet:
    return Store.objects.order_by("name", "id")


def store_get_for_user(*, user, id: int) -> Store:
    store = Store.objects.filter(pk=id).first()
    if store is None or not can(user, Action.VIEW):
        raise NotFound(_("Store not found."))
    return store


def recent_rejections(store: Store, limit: int = 20) -> list[WebhookRejection]:
    return list(
        WebhookRejection.objects.filter(store=store).order_by("-received_at", "-id")[:limit]
    )


def product_list(*, q: str = "", cursor: str | None = None, size: int = 50):
    qs = Product.objects.select_related("category")
    q = (q or "").strip()
    if q:
        qs = qs.filter(sku__startswith=q) | qs.filter(name__icontains=q)
    return keyset_page(qs, order="sku", cursor=cursor, size=max(1, min(int(size), 200)))


def category_list() -> QuerySet:
    return Category.objects.select_related("parent").order_by("parent_id", "name")
