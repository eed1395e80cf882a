import json

from guanxi.commerce.models import Order, OrderEvent, WebhookRejection
from guanxi.core.models import BusinessEvent
from guanxi.customers.models import Customer

from .conftest import make_event


def nothing_written():
    return (
        Order.objects.count(),
        OrderEvent.objects.count(),
        BusinessEvent.objects.count(),
        Customer.objects.count(),
    ) == (0, 0, 0, 0)


def test_a_signed_event_is_applied(store, post_webhook):
    response = post_webhook(store, make_event("paid"))
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["results"][0]["status"] == "applied"
    order = Order.objects.get()
    assert order.status == "paid"
    assert OrderEvent.objects.get().source == "webhook"
    assert WebhookRejection.objects.count() == 0


def test_a_repeated_delivery_is_acknowledged_as_duplicate(store, post_webhook):
    for _ in range(3):
        response = post_webhook(store, make_event("paid"))
    assert response.status_code == 200
    assert response.json()["status"] == "duplicate"
    assert Order.objects.count() == 1
    assert OrderEvent.objects.count() == 1
    assert BusinessEvent.objects.filter(name="order.paid").count() == 1


def test_a_wrong_signature_is_refused_logged_and_writes_nothing_else(store, post_webhook):
    response = post_webhook(store, make_event("paid"), secret="not-the-secret")
    assert response.status_code == 401
    assert response.json()["code"] == "bad_signature"
    rejection = WebhookRejection.objects.get()
    assert rejection.reason == "wrong signature"
    assert rejection.store == store
    assert '"order_id": "T1001"' in rejection.body_excerpt
    assert nothing_written()


def test_a_missing_signature_is_refused_and_logged(store, post_webhook):
    response = post_webhook(store, make_event("paid"), secret=False)
    assert response.status_code == 401
    assert WebhookRejection.objects.get().reason == "missing signature"
    assert nothing_written()


def test_a_signature_of_another_body_is_refused(store, post_webhook):
    from guanxi.commerce.webhooks import sign

    signature = sign(store.webhook_secret, b"{}")
    response = post_webhook(store, make_event("paid"), signature=signature)
    assert response.status_code == 401
    assert nothing_written()


def test_malformed_json_is_422_and_logged(store, post_webhook):
    response = post_webhook(store, None, raw=b'{"order_id": ')
    assert response.status_code == 422
    assert response.json()["code"] == "malformed_json"
    assert WebhookRejection.objects.get().reason == "malformed JSON"
    assert nothing_written()


def test_an_invalid_event_is_422_naming_the_field(store, post_webhook):
    event = make_event("paid")
    event["items"][1]["quantity"] = -3
    response = post_webhook(store, event)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert list(body["errors"]) == ["items.1.quantity"]
    assert WebhookRejection.objects.get().reason.startswith("invalid event: items.1.quantity")
    assert nothing_written()


def test_a_batch_is_all_or_nothing(store, post_webhook):
    bad = make_event("shipped", order_id="X2")
    bad["occurred_at"] = "not a time"
    body = {"events": [make_event("placed", order_id="X1"), bad]}
    response = post_webhook(store, body)
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["events.1.occurred_at"]
    assert nothing_written()
    good = {"events": [make_event("placed", order_id="X1"), make_event("paid", order_id="X1")]}
    response = post_webhook(store, good)
    assert response.status_code == 200
    assert [r["status"] for r in response.json()["results"]] == ["applied", "applied"]
    assert Order.objects.get().status == "paid"


def test_an_unknown_store_is_404_without_writing(store, post_webhook):
    store.code = "nope"
    response = post_webhook(store, make_event("paid"))
    assert response.status_code == 404
    assert WebhookRejection.objects.count() == 0
    assert nothing_written()


def test_get_is_not_allowed(store, client):
    response = client.get(f"/commerce/webhooks/{store.code}/")
    assert response.status_code == 405


def test_the_body_is_checked_byte_for_byte(store, post_webhook):
    raw = json.dumps(make_event("paid"), ensure_ascii=False).encode()
    from guanxi.commerce.webhooks import sign

    response = post_webhook(store, None, raw=raw, signature=sign(store.webhook_secret, raw))
    assert response.status_code == 200
    assert Order.objects.get().customer.name == "张伟"
