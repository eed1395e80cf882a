"""Stores, categories, products and orders over /api/v1: parse → service → schema."""

import datetime
import json
from typing import Annotated

from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import BeforeValidator

from guanxi.accounts.roles import Action, require
from guanxi.commerce import selectors, services
from guanxi.commerce.models import Category, Product
from guanxi.core.errors import NotFound, ServiceError
from guanxi.customers.api import ERRORS, InputSchema

router = Router(tags=["commerce"])


# Money and other decimals go out as text ("12.50"), exactly as stored.
DecimalText = Annotated[str, BeforeValidator(str)]


def _payload(data: Schema) -> dict:
    return data.dict(exclude_unset=True)


def _catalogue_entry(user, model, pk: int, not_found: str):
    """A category or product to change (the service checks the change permission)."""
    require(user, Action.VIEW)
    entry = model.objects.filter(pk=pk).first()
    if entry is None:
        raise NotFound(not_found)
    return entry


# Stores -------------------------------------------------------------------------------


class StoreOut(Schema):
    id: int
    code: str
    name: str
    channel: str
    currency: str
    dormant_after_days: int
    lost_after_days: int
    p_alive_threshold: float
    active: bool
    created_at: datetime.datetime
    webhook_url: str

    @staticmethod
    def resolve_webhook_url(obj):
        return f"/commerce/webhooks/{obj.code}/"


class StoreSecretOut(StoreOut):
    webhook_secret: str


class StoreIn(InputSchema):
    code: str | None = None
    name: str | None = None
    channel: str | None = None
    currency: str | None = None
    dormant_after_days: int | None = None
    lost_after_days: int | None = None
    p_alive_threshold: float | None = None
    active: bool | None = None


@router.get("/stores", response={200: list[StoreOut], **ERRORS})
def list_stores(request):
    require(request.user, Action.VIEW)
    return list(selectors.store_list())


@router.post("/stores", response={201: StoreSecretOut, **ERRORS})
def create_store(request, data: StoreIn):
    """Administrators and managers; the answer carries the new webhook secret."""
    return Status(201, services.store_create(actor=request.user, data=_payload(data)))


@router.get("/stores/{store_id}", response={200: StoreOut, **ERRORS})
def get_store(request, store_id: int):
    return selectors.store_get_for_user(user=request.user, id=store_id)


@router.patch("/stores/{store_id}", response={200: StoreOut, **ERRORS})
def update_store(request, store_id: int, data: StoreIn):
    store = selectors.store_get_for_user(user=request.user, id=store_id)
    return services.store_update(actor=request.user, store=store, data=_payload(data))


@router.post("/stores/{store_id}/rotate-secret", response={200: StoreSecretOut, **ERRORS})
def rotate_store_secret(request, store_id: int):
    store = selectors.store_get_for_user(user=request.user, id=store_id)
    return services.store_rotate_secret(actor=request.user, store=store)


class IngestItemOut(Schema):
    status: str
    order_id: int | None


class IngestOut(Schema):
    status: str
    results: list[IngestItemOut]


@router.post(
    "/stores/{store_id}/order-events",
    response={200: IngestOut, **ERRORS},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
            "description": 'One order event, or {"events": [...]} (all or nothing); '
            "the same body as the store's webhook.",
        }
    },
)
def post_order_events(request, store_id: int):
    """The webhook's body, authenticated by token (import permission) instead of HMAC.
    A repeated event is answered "duplicate" and changes nothing."""
    require(request.user, Action.IMPORT)
    store = selectors.store_get_for_user(user=request.user, id=store_id)
    try:
        body = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        message = _("The request body is not valid JSON.")
        raise ServiceError(
            message, field_errors={"__all__": [message]}, code="malformed_json"
        ) from exc
    results = services.order_ingest_body(store=store, body=body, source="api", actor=request.user)
    return {
        "status": "duplicate" if all(r.duplicate for r in results) else "ok",
        "results": [
            {"status": r.status, "order_id": r.order.pk if r.order else None} for r in results
        ],
    }


# Categories and products --------------------------------------------------------------------


class CategoryOut(Schema):
    id: int
    name: str
    parent_id: int | None


class CategoryIn(InputSchema):
    name: str | None = None
    parent: int | None = None


@router.get("/categories", response={200: list[CategoryOut], **ERRORS})
def list_categories(request):
    require(request.user, Action.VIEW)
    return list(selectors.category_list())


@router.post("/categories", response={201: CategoryOut, **ERRORS})
def create_category(request, data: CategoryIn):
    return Status(201, services.category_create(actor=request.user, data=_payload(data)))


@router.patch("/categories/{category_id}", response={200: CategoryOut, **ERRORS})
def update_category(request, category_id: int, data: CategoryIn):
    category = _catalogue_entry(request.user, Category, category_id, _("Category not found."))
    return services.category_update(actor=request.user, category=category, data=_payload(data))


class ProductOut(Schema):
    id: int
    sku: str
    name: str
    category_id: int | None
    price: DecimalText
    cost: DecimalText
    active: bool


class ProductIn(InputSchema):
    sku: str | None = None
    name: str | None = None
    category: int | None = None
    price: str | float | None = None
    cost: str | float | None = None
    active: bool | None = None


class ProductPage(Schema):
    items: list[ProductOut]
    next_cursor: str | None


class ProductFilters(Schema):
    q: str = ""
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


@router.get("/products", response={200: ProductPage, **ERRORS})
def list_products(request, filters: Query[ProductFilters]):
    require(request.user, Action.VIEW)
    rows, next_cursor = selectors.product_list(
        q=filters.q, cursor=filters.cursor, size=filters.limit
    )
    return {"items": rows, "next_cursor": next_cursor}


@router.post("/products", response={201: ProductOut, **ERRORS})
def create_product(request, data: ProductIn):
    return Status(201, services.product_create(actor=request.user, data=_payload(data)))


@router.patch("/products/{product_id}", response={200: ProductOut, **ERRORS})
def update_product(request, product_id: int, data: ProductIn):
    product = _catalogue_entry(request.user, Product, product_id, _("Product not found."))
    return services.product_update(actor=request.user, product=product, data=_payload(data))


# Orders -------------------------------------------------------------------------------------


class OrderOut(Schema):
    id: int
    store_id: int
    external_id: str
    customer_id: int
    customer_name: str
    buyer_external_id: str
    status: str
    currency: str
    goods_amount: DecimalText
    discount_amount: DecimalText
    shipping_amount: DecimalText
    paid_amount: DecimalText
    refunded_amount: DecimalText
    cost_amount: DecimalText
    item_count: int
    placed_at: datetime.datetime
    paid_at: datetime.datetime | None
    shipped_at: datetime.datetime | None
    received_at: datetime.datetime | None
    cancelled_at: datetime.datetime | None
    refunded_at: datetime.datetime | None

    @staticmethod
    def resolve_customer_name(obj):
        return obj.customer.name


class OrderItemOut(Schema):
    sku: str
    name: str
    product_id: int | None
    quantity: int
    unit_price: DecimalText
    amount: DecimalText
    unit_cost: DecimalText
    refunded_quantity: int


class OrderEventOut(Schema):
    event: str
    event_key: str
    occurred_at: datetime.datetime
    received_at: datetime.datetime
    source: str


class OrderDetailOut(OrderOut):
    items: list[OrderItemOut]
    events: list[OrderEventOut]

    @staticmethod
    def resolve_items(obj):
        return list(obj.items.order_by("id"))

    @staticmethod
    def resolve_events(obj):
        return list(selectors.order_events(obj))


class OrderPage(Schema):
    items: list[OrderOut]
    next_cursor: str | None


class OrderFilters(Schema):
    store: str | None = None
    status: str | None = None
    customer: int | None = None
    placed_from: datetime.date | None = None
    placed_to: datetime.date | None = None
    q: str | None = None
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


@router.get("/orders", response={200: OrderPage, **ERRORS})
def list_orders(request, filters: Query[OrderFilters]):
    """Newest placed first, keyset-paginated (pass ``next_cursor`` back as ``cursor``).
    Only orders of customers the caller may see."""
    require(request.user, Action.VIEW)
    rows, next_cursor = selectors.order_list(
        user=request.user,
        params=filters.dict(exclude_none=True),
        cursor=filters.cursor,
        size=filters.limit,
    )
    return {"items": rows, "next_cursor": next_cursor}


@router.get("/orders/{order_id}", response={200: OrderDetailOut, **ERRORS})
def get_order(request, order_id: int):
    return selectors.order_get_for_user(user=request.user, id=order_id)
