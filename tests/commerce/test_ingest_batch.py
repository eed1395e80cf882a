"""Batches take the bulk path for new orders and the per-event path for known ones: the
rows they leave are the rows one event at a time leaves."""

import random

import pytest
from django.db import IntegrityError

from guanxi.commerce import services
from guanxi.commerce.models import Order, OrderEvent, OrderItem, Store, StoreBuyer
from guanxi.core.models import AuditEntry, BusinessEvent
from guanxi.customers.models import Customer
from tests.analytics.test_stats import _random_history

IGNORED = {"order_id", "store_id"}


def _store(code):
    return Store.objects.create(code=code, name=code, channel="tmall")


def _bodies(histories, rng):
    """Each order's events as JSON bodies, the orders' events interleaved."""
    queue = [list(h) for h in histories]
    out = []
    while any(queue):
        evs = rng.choice([q for q in queue if q])
        oid, kind, when, extra = evs.pop(0)
        out.append({"order_id": oid, "event": kind, "occurred_at": when.isoformat(), **extra})
    return out


def _snapshot(store):
    orders = {}
    for order in Order.objects.filter(store=store).select_related("customer"):
        orders[order.external_id] = (
            order.customer.name,
            order.buyer_external_id,
            order.status,
            order.goods_amount,
            order.paid_amount,
            order.refunded_amount,
            order.cost_amount,
            order.item_count,
            order.placed_at,
            order.paid_at,
            order.shipped_at,
            order.cancelled_at,
            order.refunded_at,
            sorted(
                OrderItem.objects.filter(order=order).values_list(
                    "sku", "quantity", "unit_price", "unit_cost", "refunded_quantity"
                )
            ),
            sorted(
                OrderEvent.objects.filter(order=order).values_list("event", "event_key", "source")
            ),
            [
                (e.name, e.customer_id == order.customer_id, _payload(e.payload))
                for e in BusinessEvent.objects.filter(
                    model="commerce.order", object_id=order.pk
                ).order_by("pk")
            ],
        )
    buyers = sorted(
        StoreBuyer.objects.filter(store=store).values_list("buyer_external_id", "customer__name")
    )
    return orders, buyers


def _payload(payload):
    return {k: v for k, v in payload.items() if k not in IGNORED}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batches_leave_the_rows_that_single_events_leave(db, seed):
    rng = random.Random(seed)
    bodies = _bodies(_random_history(rng, 30), rng)
    one, batched = _store("one"), _store("batched")
    single_results = [
        services.order_ingest_body(store=one, body=body, source="webhook")[0].status
        for body in bodies
    ]
    batch_results = []
    start = 0
    while start < len(bodies):
        size = rng.choice([1, 5, 17, 60])
        chunk = bodies[start : start + size]
        results = services.order_ingest_body(
            store=batched, body={"events": chunk}, source="webhook"
        )
        batch_results += [r.status for r in results]
        assert all(r.order is not None and r.order.pk for r in results)
        start += size
    assert batch_results == single_results
    assert "duplicate" in single_results and "applied" in single_results
    got, want = _snapshot(batched), _snapshot(one)
    for oid in want[0]:
        assert got[0].get(oid) == want[0][oid], oid
    assert got == want
    # Each new buyer became one customer, with its audit entry and event, in both stores.
    assert Customer.objects.count() == 2 * len(_snapshot(one)[1])
    assert AuditEntry.objects.filter(model="customers.customer", action="create").count() == (
        Customer.objects.count()
    )
    assert BusinessEvent.objects.filter(name="customer.created").count() == Customer.objects.count()


def test_a_batch_whose_new_order_appeared_meanwhile_goes_event_by_event(db, monkeypatch):
    store = _store("race")

    def created_meanwhile(self, orders):
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(services._History, "write", created_meanwhile)
    body = {
        "events": [
            {
                "order_id": "N1",
                "event": "placed",
                "occurred_at": "2024-05-01T10:00:00+08:00",
                "buyer": {"external_id": "b1"},
                "items": [{"sku": "A", "quantity": 2, "unit_price": "5.00"}],
            },
            {"order_id": "N1", "event": "paid", "occurred_at": "2024-05-01T10:01:00+08:00"},
            {"order_id": "N1", "event": "paid", "occurred_at": "2024-05-01T10:01:00+08:00"},
        ]
    }
    results = services.order_ingest_body(store=store, body=body, source="api")
    assert [r.status for r in results] == ["applied", "applied", "duplicate"]
    order = Order.objects.get(store=store, external_id="N1")
    assert (order.status, order.paid_amount, order.item_count) == ("paid", 10, 2)
    assert BusinessEvent.objects.filter(model="commerce.order", object_id=order.pk).count() == 2


def test_a_new_order_whose_first_event_has_no_buyer_is_refused_in_a_batch(db):
    store = _store("nobuyer")
    body = {
        "events": [
            {
                "order_id": "K1",
                "event": "placed",
                "occurred_at": "2024-05-01T10:00:00+08:00",
                "buyer": {"external_id": "b1"},
            },
            {"order_id": "N2", "event": "paid", "occurred_at": "2024-05-01T10:01:00+08:00"},
        ]
    }
    with pytest.raises(services.ValidationFailed) as exc:
        services.order_ingest_body(store=store, body=body, source="api")
    assert "buyer" in exc.value.field_errors
    assert not Order.objects.exists() and not OrderEvent.objects.exists()


class _Queued:
    def __init__(self, log, status="READY"):
        self.status = status
        self.log = log

    def refresh(self):
        self.log.append("refresh")


def test_the_statistics_task_is_enqueued_once_while_it_waits(monkeypatch):
    from guanxi.analytics import tasks

    log = []
    queued = []

    class FakeTask:
        def enqueue(self):
            log.append("enqueue")
            queued.append(_Queued(log))
            return queued[-1]

    monkeypatch.setattr(tasks, "process_order_events", FakeTask())
    monkeypatch.setattr(services, "_queued_stats_task", None)
    services.enqueue_stats()
    services.enqueue_stats()
    services.enqueue_stats()
    assert log == ["enqueue", "refresh", "refresh"]
    queued[-1].status = "RUNNING"  # the worker took it: the next commit needs a new run
    services.enqueue_stats()
    assert log == ["enqueue", "refresh", "refresh", "refresh", "enqueue"]
    queued[-1].status = "SUCCESSFUL"
    services.enqueue_stats()
    assert log[-2:] == ["refresh", "enqueue"]
