"""The KPI rollup: the dashboard of a user who sees everything reads daily figures, and
they give exactly the numbers computed from the orders; the incremental rollup equals
the rebuilt one."""

import datetime
import random
import zoneinfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from guanxi.analytics import kpi, rollup, stats
from guanxi.analytics.models import KpiChainDay, KpiDay, KpiOrderEntry, KpiRollupState
from guanxi.commerce.models import Order
from guanxi.customers.dedup import customer_merge
from guanxi.customers.models import Customer
from tests.analytics.test_stats_support import (  # noqa: F401
    D,
    Shop,
    at,
    make_store,
    shop_fixture,
)

A = ("A", 1, "33.33", "10.00")
B = ("B", 2, "10.00", "4.00")
START = datetime.date(2024, 3, 1)


def _admin():
    from guanxi.accounts.models import User

    return User.objects.filter(role="admin").first() or User.objects.create_user(
        username="rollup-admin", password="x", role="admin"
    )


def both(store=None, periods=(), user=None):
    """The figures of ``periods`` from the rollup and from the orders (for ``user``,
    by default one who sees every customer)."""
    user = user or _admin()
    via_rollup = kpi.figures_for(user=user, store=store, periods=list(periods), source="rollup")
    direct = kpi.figures_for(user=user, store=store, periods=list(periods), source="direct")
    return via_rollup, direct


def tables():
    entries = {
        e["order_id"]: e for e in KpiOrderEntry.objects.values() if e["placed_day"] is not None
    }
    return rollup.day_table(), rollup.chain_table(), entries


def _random_shop(rng: random.Random, shops: list[Shop], n_orders: int):
    """Order events over three weeks: a few buyers who buy in both stores (matched by
    phone), several orders a day, paid or not, refunded in part or in full, cancelled;
    each order's events sometimes shuffled, some sent twice."""
    base = at("2024-03-01")
    histories = []
    for n in range(n_orders):
        shop = rng.choice(shops)
        b = rng.randint(1, 6)
        buyer = {"external_id": f"{shop.store.code}-b{b}", "phone": f"+86138000000{b:02d}"}
        t = base + datetime.timedelta(days=rng.randint(0, 20), hours=rng.randint(-9, 14))
        lines = [
            {"sku": s, "quantity": q, "unit_price": p, "unit_cost": c}
            for s, q, p, c in rng.sample([A, B], rng.randint(1, 2))
        ]
        goods = sum(D(line["unit_price"]) * line["quantity"] for line in lines)
        common = {
            "buyer": buyer,
            "items": lines,
            "amounts": {"goods": str(goods), "shipping": rng.choice(["0.00", "6.00"])},
        }
        oid = f"O{n}"
        evs = [(shop, oid, "placed", t, common)]
        fate = rng.random()
        if fate > 0.2:
            paid = t + datetime.timedelta(hours=rng.choice([0, 1, 30]))  # some the next day
            evs.append((shop, oid, "paid", paid, common))
            if fate > 0.85:
                evs.append((shop, oid, "cancelled", paid + datetime.timedelta(days=1), {}))
            elif fate > 0.55:
                line = rng.choice(lines)
                qty = rng.randint(1, line["quantity"])
                refund = {
                    "refund_id": f"R{n}",
                    "amount": str(min(D(line["unit_price"]) * qty, goods)),
                    "items": [{"sku": line["sku"], "quantity": qty}],
                }
                evs.append(
                    (shop, oid, "refunded", paid + datetime.timedelta(days=2), {"refund": refund})
                )
        elif fate > 0.1:
            evs.append((shop, oid, "cancelled", t + datetime.timedelta(hours=1), {}))
        if rng.random() < 0.4:
            rng.shuffle(evs)  # out of order: the first event creates the order
            if evs[0][2] != "placed":
                evs[0] = (*evs[0][:4], {**common, **evs[0][4]})
        evs += rng.sample(evs, rng.randint(0, len(evs)))  # some twice
        histories.append(evs)
    return histories


def _feed(rng, histories):
    queue = [list(h) for h in histories]
    while any(queue):
        evs = rng.choice([q for q in queue if q])
        shop, oid, kind, when, extra = evs.pop(0)
        shop.send(oid, kind, when, **extra)
        if rng.random() < 0.2:
            stats.process_events(limit=rng.choice([1, 3, 1000]))
    stats.process_events()


def _random_periods(rng):
    out = [kpi.Period(START, START + datetime.timedelta(days=20))]
    for _ in range(6):
        first = START + datetime.timedelta(days=rng.randint(-2, 22))
        out.append(kpi.Period(first, first + datetime.timedelta(days=rng.randint(0, 10))))
    return out


def _share(rng, users):
    """Give every customer to one of ``users`` (or nobody) and that user's team."""
    for customer in Customer.objects.order_by("pk"):
        owner = rng.choice([*users, None])
        customer.owner = owner
        customer.team = owner.team if owner else None
        customer.save(update_fields=["owner", "team"])


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_the_rollup_gives_the_numbers_of_the_orders_and_equals_its_rebuild(
    db, seed, alice, bob, charlie, manager
):
    rng = random.Random(seed)
    shops = [Shop(make_store("tmall", "tmall")), Shop(make_store("jd", "jd"))]
    _feed(rng, _random_shop(rng, shops, 60))
    assert Order.objects.filter(paid_at__isnull=False).count() > 20
    periods = _random_periods(rng)
    for store in (None, shops[0].store, shops[1].store):
        for period in periods:
            via_rollup, direct = both(store, [period, period.previous()])
            assert via_rollup == direct, (store, period)
    # A team (manager) and sales reps (own customers) read the ledger of their customers:
    # the same numbers as from their orders, before and after the customers change hands.
    for _round in range(2):
        _share(rng, [alice, bob, charlie])
        seen = 0
        for user in (alice, bob, charlie, manager):
            for store in (None, shops[0].store, shops[1].store):
                for period in periods[:3]:
                    via_rollup, direct = both(store, [period, period.previous()], user)
                    assert via_rollup == direct, (user, store, period)
                    seen += via_rollup[0]["orders"]
        assert seen > 0
    # The same buyers did buy more than once in a period, in both stores.
    whole = both(None, [periods[0]])[0][0]
    assert whole["repeat_buyers"] > 0 and whole["buyers"] < whole["orders"]
    assert 0 < whole["new_buyers"] < whole["buyers"] + 1
    incremental = tables()
    stats.rebuild(chunk=2)
    assert tables() == incremental
    stats.rebuild()
    assert tables() == incremental


def test_the_march_dashboard_reads_the_rollup_and_not_the_orders(shop):
    shop.buy("M1", "b1", at("2024-03-02"), [A, B])
    shop.buy("M2", "b2", at("2024-03-05"), [A])
    shop.buy("M3", "b2", at("2024-03-05", 20), [B])
    shop.place("M5", "b3", at("2024-03-15"), [B], shipping="5.00")
    stats.process_events()
    with CaptureQueriesContext(connection) as queries:
        report = kpi.kpi_report(user=_admin(), start="2024-03-01", end="2024-03-31")
    order_table = Order._meta.db_table
    assert not [q for q in queries.captured_queries if order_table in q["sql"]]
    e = report.exact
    assert (e["sales"], e["orders"], e["buyers"], e["repeat_buyers"]) == (D("106.66"), 3, 2, 1)
    assert (e["placed_orders"], e["unpaid_orders"], e["unpaid_amount"]) == (4, 1, D("25.00"))
    by_day = {d["date"]: d for d in report.trend}
    assert by_day[datetime.date(2024, 3, 5)] == {
        "date": datetime.date(2024, 3, 5),
        "sales": D("53.33"),
        "orders": 2,
        "buyers": 1,
    }


def test_a_sales_rep_and_a_manager_count_their_customers_from_the_ledger_or_orders(
    shop, alice, bob, charlie, manager
):
    shop.buy("M1", "b1", at("2024-03-02"), [A])
    shop.buy("M2", "b2", at("2024-03-03"), [B])
    shop.buy("M3", "b3", at("2024-03-04"), [A, B])
    stats.process_events()
    for buyer, user in (("b1", alice), ("b2", bob), ("b3", charlie)):
        Customer.objects.filter(pk=shop.customer(buyer).pk).update(owner=user, team=user.team)
    expected = {alice: D("33.33"), bob: D("20.00"), charlie: D("53.33"), manager: D("53.33")}
    reads_ledger = kpi._entries_pay_off()  # the ledger once the rollup is built
    for user, sales in expected.items():
        with CaptureQueriesContext(connection) as queries:
            report = kpi.kpi_report(user=user, start="2024-03-01", end="2024-03-31")
        sqls = " ".join(q["sql"] for q in queries.captured_queries)
        assert (Order._meta.db_table not in sqls) == reads_ledger
        assert (KpiOrderEntry._meta.db_table in sqls) == reads_ledger
        # The day cells only for the size of the ledger's day range (PostgreSQL: whether
        # to read that range or each customer's entries), never for the figures.
        cells = [q["sql"] for q in queries.captured_queries if KpiDay._meta.db_table in q["sql"]]
        assert all('SUM("analytics_kpiday"."placed")' in sql for sql in cells), cells
        assert KpiChainDay._meta.db_table not in sqls
        assert report.exact["sales"] == sales, user
        ledger = kpi.figures_for(
            user=user,
            store=None,
            periods=[kpi.Period(START, START.replace(day=31))],
            source="rollup",
        )[0]
        assert ledger["sales"] == sales
    # A customer given to another rep counts for the new owner at once.
    Customer.objects.filter(pk=shop.customer("b1").pk).update(owner=bob)
    assert kpi.kpi_report(user=alice, start="2024-03-01", end="2024-03-31").exact["sales"] == 0
    bob_now = kpi.kpi_report(user=bob, start="2024-03-01", end="2024-03-31").exact
    assert (bob_now["sales"], bob_now["buyers"]) == (D("53.33"), 2)
    # Without a complete rollup they are counted from the orders.
    KpiRollupState.objects.all().delete()
    with CaptureQueriesContext(connection) as queries:
        again = kpi.kpi_report(user=bob, start="2024-03-01", end="2024-03-31").exact
    assert Order._meta.db_table in " ".join(q["sql"] for q in queries.captured_queries)
    assert again == bob_now


def test_an_unbuilt_rollup_or_another_time_zone_is_not_read(shop):
    shop.buy("M1", "b1", at("2024-03-31", 23), [A])  # 23:00 Shanghai = 15:00 UTC
    stats.process_events()
    admin = _admin()
    assert rollup.ready()
    with timezone.override(zoneinfo.ZoneInfo("UTC")):
        assert not rollup.ready()
        utc = kpi.kpi_report(user=admin, start="2024-03-31", end="2024-03-31").exact
    assert utc["sales"] == D("33.33")  # 15:00 UTC is on the 31st in UTC too
    with timezone.override(zoneinfo.ZoneInfo("America/New_York")):
        ny = kpi.kpi_report(user=admin, start="2024-03-31", end="2024-03-31").exact
    assert ny["sales"] == D("33.33")  # 11:00 in New York
    KpiRollupState.objects.all().delete()
    assert not rollup.ready()
    KpiDay.objects.all().delete()  # a half-built rollup would show nothing...
    report = kpi.kpi_report(user=admin, start="2024-03-31", end="2024-03-31")
    assert report.exact["sales"] == D("33.33")  # ... but it is not read
    stats.rebuild()
    assert rollup.ready()
    assert both(None, [kpi.Period(START, datetime.date(2024, 3, 31))])[0][0]["sales"] == D("33.33")


def test_the_same_events_again_change_nothing(shop):
    shop.buy("M1", "b1", at("2024-03-02"), [A, B])
    shop.refund("M1", at("2024-03-03"), "R1", "10.00", [("B", 1)])
    stats.process_events()
    before = tables()
    for order in Order.objects.all():
        assert not stats.apply_order(order.pk)
    shop.refund("M1", at("2024-03-03"), "R1", "10.00", [("B", 1)])  # a repeat delivery
    stats.process_events()
    assert tables() == before
    assert KpiDay.objects.get(day=datetime.date(2024, 3, 2)).refunds == D("10.00")


def test_a_refund_and_a_cancel_move_the_days_of_payment(shop):
    shop.buy("M1", "b1", at("2024-03-02"), [A, B])  # 53.33, cost 18
    shop.buy("M2", "b1", at("2024-03-04"), [A])
    stats.process_events()
    shop.refund("M1", at("2024-03-10"), "R1", "10.00", [("B", 1)])
    shop.cancel("M2", at("2024-03-11"))
    stats.process_events()
    day2 = KpiDay.objects.get(store_id=shop.store.pk, day=datetime.date(2024, 3, 2))
    day4 = KpiDay.objects.get(store_id=shop.store.pk, day=datetime.date(2024, 3, 4))
    # Refunds go to the day the order was paid; a cancelled order keeps its sales and
    # refunds them all, and its profit leaves.
    assert (day2.sales, day2.refunds, day2.profit) == (D("53.33"), D("10.00"), D("29.33"))
    assert (day4.sales, day4.refunds, day4.profit, day4.orders) == (
        D("33.33"),
        D("33.33"),
        D("0.00"),
        1,
    )
    assert not KpiDay.objects.filter(day=datetime.date(2024, 3, 10)).exists()
    period = kpi.Period(START, datetime.date(2024, 3, 31))
    via_rollup, direct = both(None, [period])
    assert via_rollup == direct


def test_an_order_paid_before_it_was_placed_moves_to_its_earlier_day(shop):
    # "paid" arrives first: the order is created then; "placed" comes later, earlier.
    shop.send(
        "M1",
        "paid",
        at("2024-03-05"),
        buyer={"external_id": "b1"},
        items=[{"sku": "A", "quantity": 1, "unit_price": "33.33", "unit_cost": "10.00"}],
    )
    stats.process_events()
    shop.send("M1", "placed", at("2024-03-03"), buyer={"external_id": "b1"})
    stats.process_events()
    cells = {r.day: (r.placed, r.orders) for r in KpiDay.objects.all()}
    assert cells == {datetime.date(2024, 3, 3): (1, 0), datetime.date(2024, 3, 5): (0, 1)}
    incremental = tables()
    stats.rebuild()
    assert tables() == incremental


def test_a_merge_joins_the_customers_chains(shop, admin_user):
    shop.buy("M1", "b1", at("2024-03-02"), [A])
    shop.buy("M2", "b2", at("2024-03-02", 12), [B])
    shop.buy("M3", "b2", at("2024-03-09"), [B])
    stats.process_events()
    period = kpi.Period(START, datetime.date(2024, 3, 31))
    before = both(None, [period])[0][0]
    assert (before["buyers"], before["repeat_buyers"]) == (2, 1)
    customer_merge(actor=admin_user, survivor=shop.customer("b1"), others=[shop.customer("b2")])
    stats.process_events()
    via_rollup, direct = both(None, [period])
    assert via_rollup == direct
    assert (via_rollup[0]["buyers"], via_rollup[0]["repeat_buyers"]) == (1, 1)
    day2 = next(d for d in via_rollup[0]["_days"] if d["date"] == datetime.date(2024, 3, 2))
    assert (day2["orders"], day2["buyers"]) == (2, 1)
    incremental = tables()
    stats.rebuild()
    assert tables() == incremental


def test_deleted_orders_leave_the_rollup_when_their_customers_are_refreshed(shop):
    shop.buy("M1", "b1", at("2024-03-02"), [A])
    shop.buy("M2", "b1", at("2024-03-03"), [B])
    stats.process_events()
    customer = shop.customer("b1")
    Order.objects.filter(external_id="M2").delete()  # as the benchmark cleans up
    stats.refresh_customers([customer.pk])
    period = kpi.Period(START, datetime.date(2024, 3, 31))
    via_rollup, direct = both(None, [period])
    assert via_rollup == direct
    assert (via_rollup[0]["orders"], via_rollup[0]["placed_orders"]) == (1, 1)
    assert not KpiChainDay.objects.exclude(prev=0, prev2=0).exists()


def test_the_rebuild_replaces_a_stale_entry_of_an_order_under_another_customer(shop):
    """Orders deleted and their ids used again outside the consumer (as a benchmark
    regeneration does) leave entries under other customers: the rebuild, range by range
    of customers, replaces them instead of failing on the order id."""
    shop.buy("M1", "b1", at("2024-03-02"), [A])
    shop.buy("M2", "b2", at("2024-03-03"), [B])
    stats.process_events()
    before = tables()
    first = Order.objects.get(external_id="M1")
    later = shop.customer("b2").pk
    assert later > first.customer_id  # the stale entry's customer comes in a later range
    KpiOrderEntry.objects.filter(order_id=first.pk).update(customer_id=later)
    stats.rebuild(chunk=1)
    assert tables() == before
    assert KpiOrderEntry.objects.get(order_id=first.pk).customer_id == first.customer_id
