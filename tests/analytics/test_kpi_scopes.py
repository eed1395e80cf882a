"""KPIs of a team or a sales rep (computed from the orders) equal the rollup's figures
restricted to the same customers, and local days are right with or without a constant
UTC offset."""

import datetime
import importlib

from django.utils import timezone

from guanxi.analytics import kpi, stats
from guanxi.customers.models import Customer
from tests.analytics.test_kpi import MARCH, A, B, _admin, _dates, march  # noqa: F401
from tests.analytics.test_stats_support import D, Shop, at, make_store, shop_fixture  # noqa: F401


def _give(shop, buyer, user):
    Customer.objects.filter(pk=shop.customer(buyer).pk).update(owner=user, team=user.team)


def test_a_manager_sees_the_teams_customers_and_a_rep_own(march, manager, alice, bob, charlie):  # noqa: F811
    _give(march, "b1", alice)
    _give(march, "b2", bob)
    _give(march, "b3", charlie)  # another team
    period = kpi.Period(*_dates(MARCH))
    team = kpi.figures(user=manager, store=None, period=period)
    # b1: M1 53.33 (returning); b2: M2 33.33 + M3 20.00 (new, repeat).
    assert (team["sales"], team["orders"], team["buyers"]) == (D("106.66"), 3, 2)
    assert (team["new_buyers"], team["repeat_buyers"], team["refunds"]) == (1, 1, D("10.00"))
    assert team["placed_orders"] == 4 and team["unpaid_orders"] == 0  # M1, M2, M3, M6
    own = kpi.figures(user=bob, store=None, period=period)
    assert (own["sales"], own["buyers"], own["new_buyers"], own["repeat_buyers"]) == (
        D("53.33"),
        1,
        1,
        1,
    )
    west = kpi.figures(user=charlie, store=None, period=period)
    assert (west["sales"], west["placed_orders"], west["unpaid_orders"]) == (D("33.33"), 2, 1)
    assert west["unpaid_amount"] == D("25.00")


def test_the_direct_figures_of_everyone_equal_the_rollups(march, manager, alice, bob, charlie):  # noqa: F811
    jd = Shop(make_store("jd", "jd"))
    jd.buy("J1", "j1", at("2024-03-03"), [B])
    jd.buy("J2", "b1", at("2024-03-09", 23), [A])
    stats.process_events()
    _give(march, "b1", alice)
    _give(march, "b2", bob)
    _give(march, "b3", charlie)
    _give(jd, "b1", bob)  # JD's b1 is another customer
    periods = [kpi.Period(*_dates(MARCH)), kpi.Period(*_dates(MARCH)).previous()]
    for user in (_admin(), manager, alice, bob, charlie):
        for store in (None, march.store, jd.store):
            direct = kpi.figures_for(user=user, store=store, periods=periods, source="direct")
            rollup = kpi.figures_for(user=user, store=store, periods=periods, source="rollup")
            assert direct == rollup, (user, store)
    # bob's customers bought in both stores: J2 is new to the business, M2 and M3 too.
    team_jd = kpi.figures_for(user=manager, store=jd.store, periods=periods, source="rollup")
    assert (team_jd[0]["orders"], team_jd[0]["buyers"], team_jd[0]["new_buyers"]) == (1, 1, 1)
    own = kpi.figures_for(user=bob, store=None, periods=periods, source="rollup")[0]
    assert (own["orders"], own["buyers"], own["new_buyers"], own["repeat_buyers"]) == (3, 2, 2, 1)


def test_the_last_instant_of_a_local_day_stays_on_that_day(shop):  # noqa: F811
    last = datetime.datetime(2024, 3, 5, 23, 59, 59, 999_900, tzinfo=at("2024-03-05").tzinfo)
    shop.buy("L1", "late", last, [A])
    stats.process_events()
    period = kpi.Period(datetime.date(2024, 3, 5), datetime.date(2024, 3, 6))
    row = kpi.figures_for(user=_admin(), store=None, periods=[period], source="direct")[0]
    days = {d["date"]: d["orders"] for d in row["_days"]}
    assert days == {datetime.date(2024, 3, 5): 1, datetime.date(2024, 3, 6): 0}


def test_days_are_local_across_a_summer_time_change(shop):  # noqa: F811
    """Berlin moves to summer time on 2024-03-31: no constant offset from March into April,
    and 2024-03-31 22:30 UTC is 00:30 on April 1 there (23:30 on March 31 in winter time)."""
    utc = datetime.UTC
    shop.buy("S1", "spring", datetime.datetime(2024, 3, 31, 22, 30, tzinfo=utc), [A])
    shop.buy("S2", "winter", datetime.datetime(2024, 3, 25, 22, 30, tzinfo=utc), [A])
    stats.process_events()
    period = kpi.Period(datetime.date(2024, 3, 25), datetime.date(2024, 4, 5))
    with timezone.override("Europe/Berlin"):
        assert kpi._constant_offset(timezone.get_current_timezone(), *period.bounds()) is None
        row = kpi.figures_for(user=_admin(), store=None, periods=[period], source="direct")[0]
    days = {d["date"]: d["orders"] for d in row["_days"] if d["orders"]}
    assert days == {datetime.date(2024, 3, 25): 1, datetime.date(2024, 4, 1): 1}


def test_a_teams_day_range_read_equals_each_customers_read_and_the_orders(
    march,  # noqa: F811
    manager,
    alice,
    bob,
    charlie,
):
    """The day-range read of the ledger (a team on PostgreSQL: ``kpi._entry_rows_by_day``)
    gives the figures of the per-customer read and of the orders, with orders paid a day
    or two after their placing (in the range's margin), days after it (the partial index
    of entries paid apart) and placed in the period but paid after it."""
    jd = Shop(make_store("jd", "jd"))
    jd.place("J1", "b1", at("2024-02-25"), [A])
    jd.pay("J1", at("2024-03-01", 1))  # placed 5 days before the period: paid apart
    jd.place("J2", "j2", at("2024-02-28", 23), [B])
    jd.pay("J2", at("2024-03-01", 9))  # 2 days later: in the margin of the range
    jd.place("J3", "j2", at("2024-03-30"), [A])
    jd.pay("J3", at("2024-04-10"))  # placed in March, paid in April
    jd.place("J4", "j3", at("2024-01-20"), [B])
    jd.pay("J4", at("2024-02-05"))  # paid in the previous period, placed before it
    jd.buy("J5", "j3", at("2024-03-31", 23), [A, B])
    stats.process_events()
    _give(march, "b1", alice)
    _give(march, "b2", bob)
    _give(march, "b3", charlie)
    for buyer, user in (("b1", bob), ("j2", alice), ("j3", charlie)):
        _give(jd, buyer, user)
    march_period = kpi.Period(*_dates(MARCH))
    periods = [march_period, march_period.previous()]
    seen = set()
    for user in (manager, alice, bob, charlie):
        for store in (None, march.store, jd.store):
            direct = kpi.figures_for(user=user, store=store, periods=periods, source="direct")
            for day_range in (True, False):
                ledger = kpi._entry_figures(
                    user=user, store=store, periods=periods, day_range=day_range
                )
                assert ledger == direct, (user, store, day_range)
            seen.add((direct[0]["orders"], direct[1]["orders"]))
    assert len(seen) > 3  # the cases differ
    team = kpi.figures_for(user=manager, store=jd.store, periods=periods, source="rollup")
    # bob's b1 (J1) and alice's j2 (J2) paid in March; J3 placed in it (paid since).
    assert (team[0]["orders"], team[0]["placed_orders"], team[0]["unpaid_orders"]) == (2, 1, 0)


def test_the_partial_index_has_the_predicate_the_day_range_read_repeats():
    """PostgreSQL uses the partial index only when the query repeats its predicate."""
    migration = importlib.import_module("guanxi.analytics.migrations.0011_kpi_entry_day_indexes")
    predicate = kpi._PAID_APART_SQL["postgresql"].format(t="e").replace("e.", "")
    assert migration.CREATE[1].endswith(f"WHERE {predicate}")
    assert f"+ {kpi.PAID_WITHIN_DAYS})" in predicate


def test_the_sqlite_partial_index_has_the_predicate_the_day_range_read_repeats():
    """SQLite, likewise, uses a partial index only when the query repeats its predicate."""
    migration = importlib.import_module(
        "guanxi.analytics.migrations.0013_kpi_entry_sqlite_day_indexes"
    )
    predicate = kpi._PAID_APART_SQL["sqlite"].format(t="e").replace("e.", "")
    assert migration.CREATE[1].endswith(f"WHERE {predicate}")
    assert f"'+{kpi.PAID_WITHIN_DAYS} days'" in predicate
