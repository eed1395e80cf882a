import copy
import json

import pytest
from django.test import Client

from guanxi.commerce.models import Store
from guanxi.commerce.webhooks import sign

BASE_EVENT = {
    "order_id": "T1001",
    "event": "placed",
    "occurred_at": "2024-05-01T10:00:00+08:00",
    "buyer": {
        "external_id": "tb_buyer_1",
        "phone": "13812345678",
        "email": "buyer@example.com",
        "name": "张伟",
        "province": "浙江",
        "city": "杭州",
    },
    "items": [
        {"sku": "A1", "name": "T-shirt", "quantity": 2, "unit_price": "49.50", "unit_cost": "20"},
        {"sku": "B2", "name": "Socks", "quantity": 1, "unit_price": "10.00", "unit_cost": "3"},
    ],
    "amounts": {"goods": "109.00", "discount": "10.00", "shipping": "0", "paid": "99.00"},
}

TIMES = {
    "placed": "2024-05-01T10:00:00+08:00",
    "paid": "2024-05-01T10:05:00+08:00",
    "shipped": "2024-05-02T09:00:00+08:00",
    "received": "2024-05-04T15:00:00+08:00",
    "cancelled": "2024-05-01T11:00:00+08:00",
    "refunded": "2024-05-06T12:00:00+08:00",
}


def make_event(kind="placed", **changes):
    event = copy.deepcopy(BASE_EVENT)
    event["event"] = kind
    event["occurred_at"] = TIMES[kind]
    for key, value in changes.items():
        event[key] = value
    return event


def refund_event(refund_id="R1", amount="49.50", items=None, **changes):
    event = make_event("refunded", **changes)
    event["refund"] = {"refund_id": refund_id, "amount": amount, "items": items or []}
    return event


@pytest.fixture
def store(db):
    return Store.objects.create(
        code="tmall-main",
        name="Tmall flagship",
        channel="tmall",
        webhook_secret="s3cret-for-tests",
    )


@pytest.fixture
def post_webhook():
    client = Client()

    def post(store, body, *, secret=None, signature=None, raw=None):
        data = raw if raw is not None else json.dumps(body).encode()
        headers = {}
        if signature is not None:
            headers["X-Guanxi-Signature"] = signature
        elif secret is not False:
            headers["X-Guanxi-Signature"] = sign(secret or store.webhook_secret, data)
        return client.post(
            f"/commerce/webhooks/{store.code}/",
            data=data,
            content_type="application/json",
            headers=headers,
        )

    return post
