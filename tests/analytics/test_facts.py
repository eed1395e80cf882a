"""The analyses' precomputed order facts: kept current by the statistics consumer equal to
a full refresh, and giving the same group, cohort and churn figures as the orders."""

import datetime
import random

import pytest
from django.test import override_settings

from guanxi.analytics import churn, cohorts, facts, groups, stats
from guanxi.analytics.models_facts import (
    HOUR_FIELDS,
    WEEKDAY_FIELDS,
    CustomerFacts,
    CustomerMonth,
    FactsState,
    GroupBaseline,
)
from guanxi.commerce.models import Category, Product
from guanxi.customers.dedup import customer_merge
from guanxi.customers.selectors import apply_filters, customers_visible
from tests.analytics import analysis_data as data
from tests.analytics.test_groups import shop as group_shop  # noqa: F401  (fixture)
from tests.analytics.test_stats_support import Shop, at, make_store


def snapshot() -> tuple[list, list]:
    columns = ["customer_id", "orders", "cohort_month", "favourite_root_id"]
    columns += WEEKDAY_FIELDS + HOUR_FIELDS
    rows = sorted(CustomerFacts.objects.values_list(*columns))
    months = sorted(
        CustomerMonth.objects.values_list(
            "customer_id", "month", "cohort_month", "orders", "last_at", "prev_at", "next_month"
        )
    )
    return rows, months


@pytest.fixture
def categorised(db):
    """Products of two top-level categories (one through a child) and one without."""
    wear = Category.objects.create(name="Wear")
    shirts = Category.objects.create(name="Shirts", parent=wear)
    food = Category.objects.create(name="Food")
    Product.objects.create(sku="SHIRT", name="Shirt", category=shirts)
    Product.objects.create(sku="TEA", name="Tea", category=food)
    Product.objects.create(sku="BAG", name="Bag")
    return wear, food


SHIRT = ("SHIRT", 1, "50.00", "20.00")
TEA2 = ("TEA", 2, "10.00", "4.00")
BAG = ("BAG", 3, "5.00", "1.00")


def test_the_consumer_keeps_the_facts_equal_to_a_full_refresh(categorised, admin_user):
    """Random orders placed, paid, partly or wholly refunded and cancelled, at hours
    around local midnight and month ends, a merge: after each round the incremental
    facts equal a full refresh from the orders."""
    rng = random.Random(7)
    shop = Shop(make_store())
    day = datetime.datetime(2025, 1, 31, 23, 30, tzinfo=data.TZ)
    orders = []
    for round_ in range(6):
        for k in range(8):
            oid = f"O{round_}-{k}"
            buyer = f"b{rng.randint(1, 5)}"
            when = day + datetime.timedelta(days=rng.randint(0, 70), hours=rng.choice([0, 1, 8]))
            lines = rng.sample([SHIRT, TEA2, BAG], rng.randint(1, 3))
            shop.place(oid, buyer, when, lines)
            if rng.random() < 0.8:
                shop.pay(oid, when + datetime.timedelta(minutes=5))
                orders.append((oid, when, lines))
        for oid, when, lines in rng.sample(orders, min(3, len(orders))):
            fate = rng.random()
            later = when + datetime.timedelta(days=1)
            if fate < 0.3:
                shop.refund(oid, later, f"R{oid}", "5.00", [(lines[0][0], 1)])
            elif fate < 0.6:
                shop.cancel(oid, later)
        stats.process_events()
        incremental = snapshot()
        facts.refresh_facts()
        assert snapshot() == incremental, f"round {round_}"
    assert len(incremental[0]) >= 3 and len(incremental[1]) >= 5
    # A merge moves the orders: both customers are recomputed.
    survivor, other = shop.customer("b1"), shop.customer("b2")
    customer_merge(actor=admin_user, survivor=survivor, others=[other])
    stats.process_events()
    incremental = snapshot()
    assert not CustomerFacts.objects.filter(customer_id=other.pk).exists()
    facts.refresh_facts()
    assert snapshot() == incremental


def test_one_event_at_a_time_also_keeps_the_facts(categorised):
    """The consumer's per-event path (``apply_order``) refreshes the facts too."""
    shop = Shop(make_store())
    shop.buy("T1", "b1", at("2025-03-03", 9), [SHIRT, TEA2])
    customer = shop.customer("b1")
    for event in stats.BusinessEvent.objects.filter(name__startswith="order.").order_by("id"):
        stats.handle_event(event)
    row = CustomerFacts.objects.get(customer=customer)
    wear, food = categorised
    assert (row.orders, row.favourite_root_id, row.weekday_1, row.hour_9) == (1, food.pk, 1, 1)
    assert row.cohort_month == 2025 * 12 + 2


def test_local_weekday_hour_and_month_at_the_edges(categorised):
    """Friday 28 February 2025, 23:30 in Shanghai is 15:30 UTC (February, Friday, 23h);
    Saturday 1 March, 00:30 is 16:30 UTC on 28 February (March, Saturday, 0h)."""
    shop = Shop(make_store())
    shop.buy("T1", "b1", at("2025-02-28", 23).replace(minute=30), [SHIRT])
    shop.buy("T2", "b1", at("2025-03-01", 0).replace(minute=30), [TEA2])
    stats.process_events()
    row = CustomerFacts.objects.get()
    assert (row.weekday_5, row.weekday_6, row.hour_23, row.hour_0) == (1, 1, 1, 1)
    assert sum(getattr(row, f) for f in WEEKDAY_FIELDS + HOUR_FIELDS) == 4
    wear, food = categorised
    # One shirt against two teas: food; then a second shirt order ties 2–2 → smaller id.
    assert row.favourite_root_id == food.pk
    shop.buy("T3", "b1", at("2025-03-02"), [SHIRT])
    stats.process_events()
    assert CustomerFacts.objects.get().favourite_root_id == min(wear.pk, food.pk)
    assert list(CustomerMonth.objects.order_by("month").values_list("month", "orders")) == [
        (2025 * 12 + 1, 1),
        (2025 * 12 + 2, 2),
    ]


@override_settings(TIME_ZONE="Europe/Berlin")
def test_a_zone_with_daylight_saving_uses_its_local_time(categorised):
    """Berlin: 01:30 UTC on 30 March 2025 is 03:30 summer time (a Sunday); 23:30 UTC
    on 31 October is 00:30 on 1 November (winter time, a Saturday)."""
    utc = datetime.UTC
    shop = Shop(make_store())
    shop.buy("T1", "b1", datetime.datetime(2025, 3, 30, 1, 30, tzinfo=utc), [SHIRT])
    shop.buy("T2", "b1", datetime.datetime(2025, 10, 31, 23, 30, tzinfo=utc), [SHIRT])
    stats.process_events()
    row = CustomerFacts.objects.get()
    assert (row.weekday_7, row.hour_3, row.weekday_6, row.hour_0) == (1, 1, 1, 1)
    assert list(CustomerMonth.objects.order_by("month").values_list("month", flat=True)) == [
        2025 * 12 + 2,
        2025 * 12 + 10,
    ]


def test_facts_built_in_another_zone_are_not_used(group_shop, admin_user):  # noqa: F811
    assert facts.is_built()
    with override_settings(TIME_ZONE="Europe/Berlin"):
        assert not facts.is_built()
    FactsState.objects.all().delete()
    assert not facts.is_built()
    facts.refresh_facts()
    assert facts.is_built()


@pytest.mark.parametrize("role", ["admin_user", "alice"])
def test_every_group_dimension_from_the_facts_equals_the_one_from_the_orders(
    group_shop,  # noqa: F811
    role,
    request,
):
    user = request.getfixturevalue(role)
    for filters in ({}, {"stage": "vip"}, {"province": "上海"}):
        qs = apply_filters(customers_visible(user), filters)
        for dim in groups.DIMENSIONS:
            assert dim.counts(qs, True) == dim.counts(qs, False), (filters, dim.key)


def test_the_all_customers_side_is_kept_per_scope_for_a_while(group_shop, alice, admin_user):  # noqa: F811
    first = groups.group_analysis(user=alice, filters={"stage": "vip"})
    assert first["all_customers"] == 4
    groups.group_analysis(user=admin_user, filters={"stage": "vip"}, dimensions=["gender"])
    assert GroupBaseline.objects.count() == 2  # one per visibility scope
    data.customer(alice, "new one", province="浙江")
    kept = groups.group_analysis(user=alice, filters={"stage": "vip"})
    assert kept["all_customers"] == 4
    assert kept["dimensions"] == first["dimensions"]
    recounted = groups.group_analysis(
        user=alice, filters={"stage": "vip"}, baseline_max_age=datetime.timedelta(0)
    )
    assert recounted["all_customers"] == 5
    region = next(d for d in recounted["dimensions"] if d["key"] == "region")
    assert region["all_total"] == 5
    # …and the recount is what the next analysis keeps.
    assert groups.group_analysis(user=alice, filters={})["all_customers"] == 5


def test_without_built_facts_the_analysis_reads_the_orders(group_shop, admin_user):  # noqa: F811
    with_facts = groups.group_analysis(user=admin_user, filters={"stage": "vip"})
    FactsState.objects.all().delete()
    CustomerFacts.objects.all().delete()
    from_orders = groups.group_analysis(user=admin_user, filters={"stage": "vip"})
    assert from_orders["dimensions"] == with_facts["dimensions"]


# Cohorts and churn: the facts against the orders, on random histories ----------------------


@pytest.fixture
def random_history(alice, charlie):
    rng = random.Random(11)
    shop = data.store()
    start = datetime.datetime(2024, 1, 1, tzinfo=data.TZ)
    for n in range(40):
        owner = alice if n % 3 else charlie
        customer = data.customer(owner, f"r{n}")
        when = start + datetime.timedelta(days=rng.randint(0, 500), hours=rng.randint(0, 23))
        for _k in range(rng.randint(1, 7)):
            status = rng.choice(["paid", "paid", "paid", "refunded", "cancelled"])
            data.order(customer, shop, when, status=status, paid=rng.random() < 0.9)
            when += datetime.timedelta(days=rng.choice([1, 12, 29, 31, 45, 70, 200]))
    data.rebuild_stats()


@pytest.mark.parametrize("days", [1, 10, 30, 45, 90, 180, 400])
def test_the_churn_report_from_the_facts_equals_the_one_from_the_orders(
    random_history, admin_user, alice, days
):
    active = churned = 0
    for user in (admin_user, alice):
        for until, months in ((datetime.date(2025, 6, 10), 12), (datetime.date(2024, 9, 1), 5)):
            kw = {"user": user, "months": months, "days": days, "until": until}
            from_facts = churn.churn_report(**kw, use_facts=True)
            from_orders = churn.churn_report(**kw, use_facts=False)
            assert from_facts == from_orders, (user, until, days)
            active += sum(r["active_at_start"] for r in from_facts["months"])
            churned += sum(r["churned"] for r in from_facts["months"])
    if days >= 10:  # the data have something to compare
        assert active > churned > 0


def test_the_cohorts_from_the_facts_equal_the_ones_from_the_orders(
    random_history, admin_user, alice, charlie
):
    for user in (admin_user, alice, charlie):
        for until, months in ((datetime.date(2025, 6, 10), 18), (datetime.date(2024, 3, 1), 3)):
            kw = {"user": user, "months": months, "until": until}
            from_facts = cohorts.cohort_matrix(**kw, use_facts=True)
            assert from_facts == cohorts.cohort_matrix(**kw, use_facts=False)
    assert sum(c["customers"] for c in from_facts["cohorts"]) > 0


def test_a_month_without_active_customers_has_no_churn_rate(admin_user):
    report = churn.churn_report(user=admin_user, months=2, days=30, until=datetime.date(2025, 4, 1))
    assert [r["churn_rate"] for r in report["months"]] == [None, None]
    assert churn.churn_table(report).rows[0][3] is None


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin"])
def test_a_partial_refresh_writes_only_what_changed_and_equals_a_full_one(categorised, zone):
    """``refresh_facts(ids)`` after random direct changes to the orders (placed moment,
    status, payment, line quantities, owner) equals a full refresh; customers not given
    keep their rows, and so do given customers whose purchases did not change."""
    from guanxi.commerce.models import Order, OrderItem

    with override_settings(TIME_ZONE=zone):
        rng = random.Random(11)
        shop = Shop(make_store())
        start = datetime.datetime(2025, 3, 29, 22, 30, tzinfo=datetime.UTC)
        for k in range(40):
            when = start + datetime.timedelta(days=rng.randint(0, 220), hours=rng.randint(0, 5))
            buyer = f"b{rng.randint(1, 8)}"
            shop.buy(f"P{k}", buyer, when, rng.sample([SHIRT, TEA2, BAG], rng.randint(1, 3)))
        stats.process_events()
        facts.refresh_facts()
        customers = sorted({o.customer_id for o in Order.objects.all()})
        for round_ in range(8):
            changed = set()
            for order in rng.sample(list(Order.objects.all()), 4):
                changed.add(order.customer_id)
                fate = rng.random()
                if fate < 0.2:
                    order.placed_at += datetime.timedelta(hours=rng.choice([-30, -2, 1, 26]))
                elif fate < 0.35:
                    order.status = rng.choice(["cancelled", "refunded", "paid", "shipped"])
                elif fate < 0.5:
                    order.paid_at = None if order.paid_at else order.placed_at
                elif fate < 0.7:
                    order.customer_id = rng.choice(customers)
                    changed.add(order.customer_id)
                else:
                    item = order.items.first()
                    OrderItem.objects.filter(pk=item.pk).update(quantity=rng.randint(1, 5))
                order.save()
            before = snapshot()
            untouched = sorted(set(customers) - changed)[:2]
            facts.refresh_facts([*changed, *untouched, 10**9])  # and an unknown id
            partial = snapshot()
            facts.refresh_facts()
            assert snapshot() == partial, f"round {round_}"

            # Customers whose purchases did not change: the same rows as before.
            def rows_of(snap, ids):
                return [r for r in snap[0] + snap[1] if r[0] in ids]

            same = set(customers) - changed
            assert rows_of(partial, same) == rows_of(before, same)
        assert CustomerFacts.objects.count() >= 3 and CustomerMonth.objects.count() >= 5


def test_a_purchase_cancelled_or_refunded_in_a_batch_of_its_own_leaves_the_facts(categorised):
    """The consumer refreshes the facts of the customers whose purchases changed, also
    when the only change is that a purchase stopped counting (cancelled, wholly
    refunded); an order only placed changes nobody's facts."""
    wear, food = categorised
    shop = Shop(make_store())
    shop.buy("C1", "b1", at("2025-03-03", 9), [SHIRT])
    shop.buy("C2", "b1", at("2025-04-03", 9), [TEA2])
    shop.buy("C3", "b2", at("2025-03-05"), [TEA2])
    shop.buy("C4", "b3", at("2025-03-06"), [SHIRT, BAG])
    stats.process_events()
    shop.cancel("C2", at("2025-04-04"))
    shop.cancel("C3", at("2025-03-06"))
    shop.refund("C4", at("2025-03-07"), "RC4", "50.00", [("SHIRT", 1), ("BAG", 3)])
    shop.place("C5", "b4", at("2025-03-08"), [SHIRT])
    stats.process_events()
    b1 = CustomerFacts.objects.get(customer=shop.customer("b1"))
    assert (b1.orders, b1.favourite_root_id, b1.cohort_month) == (1, wear.pk, 2025 * 12 + 2)
    assert list(
        CustomerMonth.objects.filter(customer_id=b1.pk).values_list("month", "next_month")
    ) == [(2025 * 12 + 2, None)]
    gone = [shop.customer("b2").pk, shop.customer("b4").pk]
    assert not CustomerFacts.objects.filter(customer_id__in=gone).exists()
    assert not CustomerMonth.objects.filter(customer_id__in=gone).exists()
    incremental = snapshot()
    facts.refresh_facts()
    assert snapshot() == incremental
