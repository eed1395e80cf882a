import decimal

import pytest

from guanxi.commerce import services
from guanxi.commerce.models import Order, OrderEvent, OrderItem, StoreBuyer
from guanxi.core.errors import ValidationFailed
from guanxi.core.models import AuditEntry, BusinessEvent
from guanxi.customers.models import Customer

from .conftest import make_event, refund_event

D = decimal.Decimal


def ingest(store, event, source="api"):
    return services.order_ingest(store=store, event=event, source=source)


def order_events():
    return list(BusinessEvent.objects.filter(name__startswith="order.").order_by("id"))


def test_a_placed_event_creates_order_items_and_customer(store):
    result = ingest(store, make_event("placed"))
    order = result.order
    assert result.status == "applied"
    assert order.status == "placed"
    assert order.external_id == "T1001"
    assert order.goods_amount == D("109.00")
    assert order.discount_amount == D("10.00")
    assert order.paid_amount == D("0.00")
    assert order.item_count == 3
    assert order.cost_amount == D("43.00")
    assert order.paid_at is None
    assert OrderItem.objects.filter(order=order).count() == 2
    customer = order.customer
    assert customer.name == "张伟"
    assert customer.phone == "+8613812345678"
    assert customer.email == "buyer@example.com"
    assert customer.source == "tmall"
    assert customer.owner_id is None
    created = AuditEntry.objects.get(model="customers.customer", object_id=customer.pk)
    assert created.actor_id is None
    assert created.action == "create"
    assert StoreBuyer.objects.get().customer == customer
    [event] = order_events()
    assert event.name == "order.placed"
    assert event.customer_id == customer.pk
    assert event.payload["order_id"] == order.pk
    assert event.payload["paid_delta"] == "0.00"
    assert event.payload["orders_delta"] == 0


def test_the_same_event_three_times_makes_one_order_one_event_one_business_event(store):
    results = [ingest(store, make_event("paid")) for _ in range(3)]
    assert [r.status for r in results] == ["applied", "duplicate", "duplicate"]
    assert Order.objects.count() == 1
    assert OrderEvent.objects.count() == 1
    assert [e.name for e in order_events()] == ["order.paid"]
    assert Customer.objects.count() == 1
    assert results[2].order.pk == results[0].order.pk


def test_paid_before_placed_creates_the_order_from_the_paid_event(store):
    ingest(store, make_event("paid"))
    order = Order.objects.get()
    assert order.status == "paid"
    assert order.paid_amount == D("99.00")
    assert order.placed_at == order.paid_at
    ingest(store, make_event("placed"))
    order.refresh_from_db()
    assert order.status == "paid"
    assert order.placed_at.isoformat() == "2024-05-01T02:00:00+00:00"
    assert order.paid_at.isoformat() == "2024-05-01T02:05:00+00:00"
    paid, placed = order_events()
    assert paid.payload["paid_delta"] == "99.00"
    assert paid.payload["orders_delta"] == 1
    assert placed.payload["paid_delta"] == "0.00"
    assert placed.payload["previous_status"] == "paid"


def test_a_late_placed_after_shipped_does_not_move_the_status_back(store):
    for kind in ("paid", "shipped", "placed"):
        ingest(store, make_event(kind))
    order = Order.objects.get()
    assert order.status == "shipped"
    assert order.shipped_at.isoformat() == "2024-05-02T01:00:00+00:00"
    assert order.placed_at.isoformat() == "2024-05-01T02:00:00+00:00"


def test_shipped_before_paid_counts_revenue_only_when_paid_arrives(store):
    ingest(store, make_event("shipped"))
    ingest(store, make_event("paid"))
    order = Order.objects.get()
    assert order.status == "shipped"
    shipped, paid = order_events()
    assert shipped.payload["paid_delta"] == "0.00"
    assert paid.payload["paid_delta"] == "99.00"
    assert paid.payload["items_delta"] == 3
    assert paid.payload["cost_delta"] == "43.00"


def test_cancelled_is_terminal(store):
    ingest(store, make_event("placed"))
    ingest(store, make_event("cancelled"))
    ingest(store, make_event("shipped"))
    order = Order.objects.get()
    assert order.status == "cancelled"
    assert order.shipped_at is not None


def test_cancel_after_payment_refunds_the_rest(store):
    ingest(store, make_event("paid"))
    ingest(store, make_event("cancelled"))
    order = Order.objects.get()
    assert order.status == "cancelled"
    assert order.refunded_amount == D("99.00")
    assert order_events()[-1].payload["refund_delta"] == "99.00"


def test_partial_then_full_refund(store):
    ingest(store, make_event("paid"))
    ingest(store, refund_event("R1", "49.50", [{"sku": "A1", "quantity": 1}]))
    order = Order.objects.get()
    assert order.status == "paid"
    assert order.refunded_amount == D("49.50")
    assert order.items.get(sku="A1").refunded_quantity == 1
    partial = order_events()[-1].payload
    assert partial["refund_delta"] == "49.50"
    assert partial["cost_delta"] == "-20.00"
    assert partial["items_delta"] == -1
    # The same refund again changes nothing.
    assert ingest(store, refund_event("R1", "49.50")).status == "duplicate"
    ingest(store, refund_event("R2", "49.50", [{"sku": "A1", "quantity": 1}]))
    order.refresh_from_db()
    assert order.status == "refunded"
    assert order.refunded_amount == D("99.00")
    assert order.refunded_at.isoformat() == "2024-05-06T04:00:00+00:00"
    assert [i.refunded_quantity for i in order.items.order_by("sku")] == [2, 1]
    total = order_events()
    assert sum(D(e.payload["paid_delta"]) - D(e.payload["refund_delta"]) for e in total) == 0
    assert sum(D(e.payload["cost_delta"]) for e in total) == 0
    assert sum(e.payload["items_delta"] for e in total) == 0
    assert OrderEvent.objects.filter(event="refunded").count() == 2


def test_a_refund_larger_than_what_remains_is_refused_and_writes_nothing(store):
    ingest(store, make_event("paid"))
    before = (OrderEvent.objects.count(), BusinessEvent.objects.count())
    with pytest.raises(ValidationFailed) as exc:
        ingest(store, refund_event("R1", "120.00"))
    assert list(exc.value.field_errors) == ["refund.amount"]
    assert (OrderEvent.objects.count(), BusinessEvent.objects.count()) == before
    assert Order.objects.get().refunded_amount == 0


def test_refund_before_payment_still_sums_to_the_final_figures(store):
    ingest(store, refund_event("R1", "99.00"))
    ingest(store, make_event("paid"))
    order = Order.objects.get()
    assert order.status == "refunded"
    total = order_events()
    assert sum(D(e.payload["paid_delta"]) - D(e.payload["refund_delta"]) for e in total) == 0


def test_a_buyer_is_matched_by_store_buyer_id_first(store):
    ingest(store, make_event("placed"))
    other = make_event("placed", order_id="T2")
    other["buyer"] = {"external_id": "tb_buyer_1", "phone": "13900000000"}
    ingest(store, other)
    assert Customer.objects.count() == 1
    assert Order.objects.get(external_id="T2").customer.phone == "+8613812345678"


def test_a_buyer_is_matched_by_phone_then_by_email(store, alice):
    by_phone = Customer.objects.create(name="Phone", phone="+8613812345678", owner=alice)
    by_email = Customer.objects.create(name="Mail", email="mail@example.com", owner=alice)
    first = make_event("placed", order_id="P1")
    first["buyer"] = {"external_id": "b1", "phone": "138 1234 5678"}
    second = make_event("placed", order_id="P2")
    second["buyer"] = {"external_id": "b2", "email": "MAIL@example.com"}
    ingest(store, first)
    ingest(store, second)
    assert Order.objects.get(external_id="P1").customer == by_phone
    assert Order.objects.get(external_id="P2").customer == by_email
    assert Customer.objects.count() == 2
    assert StoreBuyer.objects.get(buyer_external_id="b2").customer == by_email


def test_an_unknown_buyer_becomes_a_new_unassigned_customer(store):
    event = make_event("placed")
    event["buyer"] = {"external_id": "only-id"}
    ingest(store, event)
    customer = Customer.objects.get()
    assert customer.name == "only-id"
    assert customer.owner_id is None
    assert customer.source == "tmall"
    assert BusinessEvent.objects.filter(name="customer.created").count() == 1


@pytest.mark.parametrize(
    "change, field",
    [
        ({"order_id": ""}, "order_id"),
        ({"event": "teleported"}, "event"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at"),
        ({"buyer": {"phone": "abc"}}, "buyer.phone"),
        ({"buyer": {"email": "not-an-email"}}, "buyer.email"),
        ({"buyer": "x"}, "buyer"),
        ({"items": [{"sku": "A", "quantity": 0, "unit_price": "1"}]}, "items.0.quantity"),
        ({"items": [{"sku": "A", "quantity": 1, "unit_price": "-1"}]}, "items.0.unit_price"),
        ({"items": [{"sku": "A", "quantity": 1, "unit_price": "1.234"}]}, "items.0.unit_price"),
        ({"items": [{"sku": "A", "quantity": 1}]}, "items.0.unit_price"),
        ({"items": "many"}, "items"),
        ({"amounts": {"paid": "NaN"}}, "amounts.paid"),
        ({"amounts": {"discount": True}}, "amounts.discount"),
    ],
)
def test_a_bad_field_is_named_and_nothing_is_written(store, change, field):
    event = make_event("placed", **change)
    with pytest.raises(ValidationFailed) as exc:
        ingest(store, event)
    assert field in exc.value.field_errors
    assert Order.objects.count() == 0
    assert OrderEvent.objects.count() == 0
    assert BusinessEvent.objects.count() == 0
    assert Customer.objects.count() == 0


def test_a_refund_needs_its_id_and_a_positive_amount(store):
    event = make_event("refunded")
    event["refund"] = {"amount": "0"}
    with pytest.raises(ValidationFailed) as exc:
        ingest(store, event)
    assert sorted(exc.value.field_errors) == ["refund.amount", "refund.refund_id"]


def test_a_new_order_without_any_buyer_key_is_refused(store):
    event = make_event("placed", buyer={"name": "Nobody"})
    with pytest.raises(ValidationFailed) as exc:
        ingest(store, event)
    assert list(exc.value.field_errors) == ["buyer"]
    assert OrderEvent.objects.count() == 0
    assert Customer.objects.count() == 0


def test_a_batch_is_all_or_nothing(store):
    good = make_event("placed", order_id="B1")
    bad_later = refund_event("R9", "500.00", order_id="B1")
    body = {"events": [good, make_event("paid", order_id="B1"), bad_later]}
    with pytest.raises(ValidationFailed):
        services.order_ingest_body(store=store, body=body, source="api")
    assert Order.objects.count() == 0
    assert OrderEvent.objects.count() == 0
    assert BusinessEvent.objects.count() == 0
