"""The batch consumer: a batch of events is claimed at once and its orders recomputed
set-based; a batch that fails goes event by event; the KPI rollup's local days are the
same from SQL as from Python."""

import datetime

import pytest

from guanxi.analytics import rollup, stats
from guanxi.analytics.models import KpiOrderEntry
from guanxi.commerce.models import Order
from guanxi.core.models import ProcessedEvent
from tests.analytics.test_stats_support import (  # noqa: F401
    D,
    Shop,
    at,
    expected_table,
    shop_fixture,
    stats_table,
)

SHIRT = ("SHIRT", 2, "50.00", "20.00")
HAT = ("HAT", 1, "30.00", "10.00")


def test_one_batch_claims_every_event_once_and_equals_the_rebuild(shop):
    for n in range(12):
        shop.buy(f"T{n}", f"b{n % 3}", at("2024-03-01", 8 + n), [SHIRT, HAT])
    shop.refund("T1", at("2024-03-05"), "R1", "30.00", [("HAT", 1)])
    shop.cancel("T2", at("2024-03-06"))
    assert stats.process_events(limit=1000) == 26
    assert ProcessedEvent.objects.filter(consumer=stats.CONSUMER).count() == 26
    assert stats.process_events() == 0
    incremental = stats_table()
    assert incremental == expected_table()
    stats.rebuild()
    assert stats_table() == incremental


def test_a_failing_batch_is_handled_event_by_event(shop, monkeypatch):
    shop.buy("T1", "b1", at("2024-03-01"), [SHIRT])
    shop.buy("T2", "b2", at("2024-03-02"), [HAT])

    def broken(*args, **kwargs):
        raise RuntimeError("set-based path broken")

    monkeypatch.setattr(stats, "apply_orders", broken)
    assert stats.process_events() == 4
    assert stats_table() == expected_table()
    assert ProcessedEvent.objects.filter(consumer=stats.CONSUMER).count() == 4


def test_events_claimed_elsewhere_are_not_counted_again(shop):
    shop.buy("T1", "b1", at("2024-03-01"), [SHIRT])
    stats.process_events()
    before = stats_table()
    # Another worker's claim: the batch skips what is already claimed.
    from guanxi.core import events

    assert (
        events.claim(stats.CONSUMER, ProcessedEvent.objects.values_list("event_id", flat=True))
        == set()
    )
    assert stats.process_events() == 0
    assert stats_table() == before


@pytest.mark.parametrize(
    "utc",
    [
        datetime.datetime(2024, 3, 1, 15, 59, 59, 999_900, tzinfo=datetime.UTC),  # 23:59:59.9999
        datetime.datetime(2024, 3, 1, 16, 0, 0, tzinfo=datetime.UTC),  # midnight in Shanghai
        datetime.datetime(1990, 7, 1, 15, 30, tzinfo=datetime.UTC),  # summer time: +9
        datetime.datetime(1990, 7, 1, 14, 30, tzinfo=datetime.UTC),
    ],
)
def test_the_rollups_local_days_from_sql_are_the_days_in_python(shop, utc):
    shop.place("T1", "b1", utc, [HAT])
    shop.pay("T1", utc)
    stats.process_events()
    order = Order.objects.get()
    entry = KpiOrderEntry.objects.get(order_id=order.pk)
    assert entry.placed_day == entry.paid_day == rollup.local_day(utc)
    stats.rebuild()
    entry = KpiOrderEntry.objects.get(order_id=order.pk)
    assert entry.placed_day == entry.paid_day == rollup.local_day(utc)


def test_an_order_that_changed_customer_is_taken_from_the_old_one(shop):
    shop.buy("T1", "b1", at("2024-03-01"), [SHIRT])
    shop.buy("T2", "b1", at("2024-03-02"), [HAT])
    shop.buy("T3", "b2", at("2024-03-03"), [HAT])
    stats.process_events()
    order = Order.objects.get(external_id="T2")
    Order.objects.filter(pk=order.pk).update(customer=shop.customer("b2"))
    stats.apply_orders([order.pk])
    assert stats_table() == expected_table()
    incremental = (stats_table(), rollup.day_table(), rollup.chain_table())
    stats.rebuild()
    assert (stats_table(), rollup.day_table(), rollup.chain_table()) == incremental


def test_a_batch_chosen_as_deadlock_victim_is_run_again_as_a_batch(shop, monkeypatch):
    from django.db import OperationalError

    from guanxi.core import events

    shop.buy("T1", "b1", at("2024-03-01"), [SHIRT])
    real = stats._process_batch
    calls = []

    def deadlocked_once(limit):
        calls.append(limit)
        if len(calls) == 1:
            raise OperationalError("deadlock detected")
        return real(limit)

    def per_event(*args, **kwargs):
        raise AssertionError("a deadlock is retried as a batch, not event by event")

    monkeypatch.setattr(stats, "_process_batch", deadlocked_once)
    monkeypatch.setattr(events, "consume", per_event)
    assert stats.process_events() == 2
    assert len(calls) == 2
    assert stats_table() == expected_table()
