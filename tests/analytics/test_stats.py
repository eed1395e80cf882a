"""Per-customer statistics: the incremental consumer, the full rebuild, and that they
agree."""

import datetime
import random

import pytest
from django.core.management import call_command
from django.db import connection

from guanxi.analytics import stats
from guanxi.analytics.models import CustomerRfm, CustomerStats, OrderContribution
from guanxi.commerce.models import Order
from guanxi.core.models import BusinessEvent, ProcessedEvent
from guanxi.customers.dedup import customer_merge
from tests.analytics.test_stats_support import (  # noqa: F401
    D,
    Shop,
    at,
    expected_table,
    make_store,
    shop_fixture,
    stats_table,
)

SHIRT = ("SHIRT", 2, "50.00", "20.00")  # 2 × 50, cost 20 each
HAT = ("HAT", 1, "30.00", "10.00")


def row(customer):
    return CustomerStats.objects.get(customer=customer)


def test_a_paid_order_counts_once_with_its_items_revenue_and_profit(shop):
    shop.buy("T1", "b1", at("2024-03-01"), [SHIRT, HAT])
    assert stats.process_events() == 2
    s = row(shop.customer("b1"))
    assert (s.orders, s.items, s.revenue, s.profit) == (1, 3, D("130.00"), D("80.00"))
    assert s.first_order_at == s.last_order_at == at("2024-03-01")


def test_an_order_placed_but_not_paid_counts_nothing(shop):
    shop.place("T1", "b1", at("2024-03-01"), [SHIRT])
    stats.process_events()
    s = CustomerStats.objects.filter(customer=shop.customer("b1")).first()
    assert s is None or (s.orders, s.items, s.revenue, s.profit) == (0, 0, 0, 0)


def test_the_same_event_three_times_is_counted_once(shop):
    shop.place("T1", "b1", at("2024-03-01"), [SHIRT])
    for _ in range(3):
        shop.pay("T1", at("2024-03-01", 11))
    assert BusinessEvent.objects.filter(name="order.paid").count() == 1
    for _ in range(3):
        stats.process_events()
    paid = BusinessEvent.objects.get(name="order.paid")
    for _ in range(3):  # even handed to the consumer again, it moves nothing
        stats.handle_event(paid)
    s = row(shop.customer("b1"))
    assert (s.orders, s.items, s.revenue) == (1, 2, D("100.00"))
    assert ProcessedEvent.objects.filter(consumer=stats.CONSUMER).count() == 2


def test_a_partial_refund_reverses_revenue_items_and_profit(shop):
    shop.buy("T1", "b1", at("2024-03-01"), [SHIRT, HAT])
    stats.process_events()
    shop.refund("T1", at("2024-03-05"), "R1", "30.00", [("HAT", 1)])
    stats.process_events()
    s = row(shop.customer("b1"))
    assert (s.orders, s.items, s.revenue, s.profit) == (1, 2, D("100.00"), D("60.00"))


def test_a_full_refund_takes_the_order_out_and_moves_first_order(shop):
    shop.buy("T1", "b1", at("2024-03-01"), [HAT])
    shop.buy("T2", "b1", at("2024-04-01"), [SHIRT])
    shop.buy("T3", "b1", at("2024-05-01"), [SHIRT])
    stats.process_events()
    shop.refund("T1", at("2024-03-02"), "R1", "30.00")
    shop.cancel("T3", at("2024-05-02"))  # cancelled after payment: refunded in full
    stats.process_events()
    s = row(shop.customer("b1"))
    assert (s.orders, s.items, s.revenue, s.profit) == (1, 2, D("100.00"), D("60.00"))
    assert s.first_order_at == s.last_order_at == at("2024-04-01")
    assert Order.objects.get(external_id="T1").status == "refunded"


def test_events_arriving_out_of_order_end_with_the_same_figures(shop):
    lines = [{"sku": "HAT", "quantity": 1, "unit_price": "30.00", "unit_cost": "10.00"}]
    buyer = {"external_id": "b1"}
    shop.send(
        "T1",
        "refunded",
        at("2024-03-03"),
        buyer=buyer,
        refund={"refund_id": "R1", "amount": "10.00"},
    )
    shop.send("T1", "paid", at("2024-03-02"), buyer=buyer, items=lines, amounts={"paid": "30.00"})
    stats.process_events()
    shop.send("T1", "placed", at("2024-03-01"), buyer=buyer, items=lines)
    stats.process_events()
    s = row(shop.customer("b1"))
    assert (s.orders, s.revenue) == (1, D("20.00"))
    assert stats_table() == expected_table()


def test_a_merge_gives_the_survivor_the_orders_of_both(shop, admin_user):
    shop.buy("T1", "b1", at("2024-03-01"), [SHIRT])
    shop.buy("T2", "b2", at("2024-02-01"), [HAT])
    stats.process_events()
    survivor, other = shop.customer("b1"), shop.customer("b2")
    customer_merge(actor=admin_user, survivor=survivor, others=[other])
    stats.process_events()
    s = row(survivor)
    assert (s.orders, s.items, s.revenue, s.profit) == (2, 3, D("130.00"), D("80.00"))
    assert s.first_order_at == at("2024-02-01")
    assert not OrderContribution.objects.filter(customer_id=other.pk).exists()
    assert stats_table() == expected_table()


def test_the_rebuild_leaves_rfm_scores_and_clv_columns_alone_and_zeroes_stale_rows(shop):
    shop.buy("T1", "b1", at("2024-03-01"), [SHIRT])
    stats.process_events()
    customer = shop.customer("b1")
    CustomerStats.objects.filter(customer=customer).update(p_alive=0.5)
    CustomerRfm.objects.create(customer=customer, r_score=4, f_score=1, m_score=2, segment="loyal")
    Order.objects.filter(external_id="T1").update(status="refunded")  # behind its back
    call_command("rebuild_stats", verbosity=0)
    s = row(customer)
    assert (s.orders, s.items, s.revenue, s.first_order_at) == (0, 0, 0, None)
    assert s.p_alive == 0.5
    scores = CustomerRfm.objects.get(customer=customer)
    assert (scores.r_score, scores.segment) == (4, "loyal")


def test_orders_ingested_in_a_transaction_update_statistics_after_commit(
    shop, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        shop.buy("T1", "b1", at("2024-03-01"), [HAT])
    assert row(shop.customer("b1")).revenue == D("30.00")


def _random_history(rng: random.Random, n_orders: int):
    """Order events of a few buyers: paid or not, refunded in parts or fully, cancelled;
    each order's events shuffled, some sent twice."""
    skus = [("A", "19.90", "7.30"), ("B", "99.00", "41.00"), ("C", "5.55", "1.11")]
    all_events = []
    base = at("2024-01-01")
    for n in range(n_orders):
        buyer = {"external_id": f"b{rng.randint(1, 6)}"}
        t = base + datetime.timedelta(days=rng.randint(0, 200), minutes=rng.randint(0, 900))
        lines = [
            {"sku": s, "quantity": rng.randint(1, 3), "unit_price": p, "unit_cost": c}
            for s, p, c in rng.sample(skus, rng.randint(1, 3))
        ]
        goods = sum(D(line["unit_price"]) * line["quantity"] for line in lines)
        common = {"buyer": buyer, "items": lines, "amounts": {"goods": str(goods)}}
        oid = f"O{n}"
        evs = [(oid, "placed", t, common)]
        fate = rng.random()
        if fate > 0.2:
            evs.append((oid, "paid", t + datetime.timedelta(minutes=5), common))
            if fate > 0.85:
                evs.append((oid, "cancelled", t + datetime.timedelta(days=1), {"buyer": buyer}))
            elif fate > 0.5:
                line = rng.choice(lines)
                qty = rng.randint(1, line["quantity"])
                amount = min(D(line["unit_price"]) * qty, goods)
                refund = {
                    "refund_id": f"R{n}a",
                    "amount": str(amount),
                    "items": [{"sku": line["sku"], "quantity": qty}],
                }
                evs.append(
                    (
                        oid,
                        "refunded",
                        t + datetime.timedelta(days=2),
                        {"refund": refund, "buyer": buyer},
                    )
                )
                if rng.random() > 0.5:  # then the rest
                    rest = {"refund_id": f"R{n}b", "amount": str(goods - amount)}
                    if goods - amount > 0:
                        evs.append(
                            (
                                oid,
                                "refunded",
                                t + datetime.timedelta(days=3),
                                {"refund": rest, "buyer": buyer},
                            )
                        )
            elif fate > 0.3:
                evs.append((oid, "shipped", t + datetime.timedelta(days=1), {"buyer": buyer}))
        elif fate > 0.1:
            evs.append((oid, "cancelled", t + datetime.timedelta(hours=1), {"buyer": buyer}))
        if rng.random() < 0.5:
            rng.shuffle(evs)  # out of order
        evs += rng.sample(evs, rng.randint(0, len(evs)))  # some twice
        all_events.append(evs)
    return all_events


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_incremental_statistics_equal_the_full_rebuild(shop, seed):
    rng = random.Random(seed)
    histories = _random_history(rng, 25)
    # Interleave the orders' events; run the consumer now and then.
    queue = [list(h) for h in histories]
    while any(queue):
        evs = rng.choice([q for q in queue if q])
        oid, kind, when, extra = evs.pop(0)
        shop.send(oid, kind, when, **extra)
        if rng.random() < 0.3:
            stats.process_events(limit=rng.choice([1, 3, 1000]))
    stats.process_events()
    incremental = stats_table()
    assert incremental == expected_table()
    assert any(v[0] for v in incremental.values())
    stats.rebuild(chunk=2)
    assert stats_table() == incremental
    stats.rebuild()
    assert stats_table() == incremental


def test_customer_stats_reads_average_order_value_and_days_since_last_order(shop):
    shop.buy("T1", "b1", at("2024-03-01"), [SHIRT])
    shop.buy("T2", "b1", at("2024-03-11"), [HAT])
    stats.process_events()
    data = stats.customer_stats(shop.customer("b1"), now=at("2024-03-21"))
    assert data["average_order_value"] == D("65.00")
    assert data["days_since_last_order"] == 10
    assert data["orders"] == 2


def test_a_second_store_adds_to_the_same_customer(shop):
    other = Shop(make_store("jd", "jd"))
    shop.buy("T1", "b1", at("2024-03-01"), [SHIRT])
    other.place("J1", "jd-b1", at("2024-03-02"), [HAT])
    Order.objects.filter(external_id="J1").update(customer=shop.customer("b1"))
    other.pay("J1", at("2024-03-02"))
    stats.process_events()
    assert row(shop.customer("b1")).orders == 2
    assert stats_table() == expected_table()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="VACUUM is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_a_full_rebuild_leaves_the_rewritten_tables_vacuumed_and_analysed():
    """Right after a rebuild the planner and index-only scans see the new rows (not only
    once autovacuum has come round)."""
    shop = Shop(make_store())
    shop.buy("T1", "b1", at("2024-03-01"), [SHIRT])
    stats.rebuild()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")  # this session's counters
        cursor.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE relname IN "
            "('analytics_customerstats', 'analytics_kpiorderentry', 'analytics_customermonth')"
            " AND last_vacuum IS NOT NULL AND last_analyze IS NOT NULL ORDER BY relname"
        )
        assert [row[0] for row in cursor.fetchall()] == [
            "analytics_customermonth",
            "analytics_customerstats",
            "analytics_kpiorderentry",
        ]
    assert row(shop.customer("b1")).revenue == D("100.00")
