import datetime

import pytest

from guanxi.analytics import churn
from guanxi.analytics.models import CustomerStats
from guanxi.core.models import AuditEntry, BusinessEvent
from guanxi.customers.models import Customer
from tests.analytics import analysis_data as data

NOW = data.at("2025-06-30", 12)


def ago(days: int) -> datetime.datetime:
    return NOW - datetime.timedelta(days=days)


@pytest.fixture
def stores(db):
    strict = data.store("strict", dormant_after_days=30, lost_after_days=90, p_alive_threshold=0.1)
    relaxed = data.store("relaxed")  # 180 / 365 / 0.2
    return strict, relaxed


def stage_of(name: str) -> str:
    return Customer.objects.get(name=name).stage


def test_churn_rules_follow_the_store_of_the_last_order(stores, alice):
    strict, relaxed = stores
    c = data.customer
    # Last order in the strict store 40 days ago → dormant there (30), not in relaxed.
    data.order(c(alice, "strict-40"), strict, ago(40))
    data.order(c(alice, "relaxed-40"), relaxed, ago(40))
    data.order(c(alice, "strict-100"), strict, ago(100))
    data.order(c(alice, "relaxed-200"), relaxed, ago(200))
    data.order(c(alice, "relaxed-400"), relaxed, ago(400))
    # Old order in strict, last one recent in relaxed: governed by relaxed, stays.
    moved = c(alice, "moved-store")
    data.order(moved, strict, ago(300))
    data.order(moved, relaxed, ago(10))
    # A lead and an already-lost customer are left alone; a dormant one can become lost.
    data.order(c(alice, "lead", stage="lead"), strict, ago(400))
    data.order(c(alice, "was-lost", stage="lost"), strict, ago(400))
    data.order(c(alice, "was-dormant", stage="dormant"), strict, ago(100))
    data.rebuild_stats()

    result = churn.apply_churn_rules(as_of=NOW)

    assert (result["dormant"], result["lost"]) == (2, 3)
    assert {
        n: stage_of(n)
        for n in [
            "strict-40",
            "relaxed-40",
            "strict-100",
            "relaxed-200",
            "relaxed-400",
            "moved-store",
            "lead",
            "was-lost",
            "was-dormant",
        ]
    } == {
        "strict-40": "dormant",
        "relaxed-40": "customer",
        "strict-100": "lost",
        "relaxed-200": "dormant",
        "relaxed-400": "lost",
        "moved-store": "customer",
        "lead": "lead",
        "was-lost": "lost",
        "was-dormant": "lost",
    }


def test_each_move_is_audited_without_actor_and_sends_an_event(stores, alice):
    strict, _ = stores
    customer = data.customer(alice, "sleepy")
    data.order(customer, strict, ago(40))
    data.rebuild_stats()

    churn.apply_churn_rules(as_of=NOW)

    entry = AuditEntry.objects.get(model="customers.customer", object_id=customer.pk)
    assert entry.actor is None
    assert entry.changes == {"stage": ["customer", "dormant"]}
    assert entry.note == "Churn rule: 40 days since the last order (Strict: dormant after 30 days)."
    event = BusinessEvent.objects.get(name="customer.stage_changed", customer_id=customer.pk)
    assert event.actor is None
    assert event.payload["from"] == "customer" and event.payload["to"] == "dormant"


def test_running_the_rules_twice_changes_nothing_more(stores, alice):
    strict, _ = stores
    data.order(data.customer(alice, "x"), strict, ago(100))
    data.rebuild_stats()
    assert churn.apply_churn_rules(as_of=NOW)["lost"] == 1
    again = churn.apply_churn_rules(as_of=NOW)
    assert (again["dormant"], again["lost"]) == (0, 0)
    assert BusinessEvent.objects.filter(name="customer.stage_changed").count() == 1


def test_a_low_p_alive_makes_a_customer_dormant(stores, alice):
    strict, relaxed = stores
    low = data.customer(alice, "low")
    fine = data.customer(alice, "fine")
    data.order(low, relaxed, ago(20))
    data.order(fine, relaxed, ago(20))
    data.rebuild_stats()
    CustomerStats.objects.filter(customer=low).update(p_alive=0.15)
    CustomerStats.objects.filter(customer=fine).update(p_alive=0.5)

    churn.apply_churn_rules(as_of=NOW)

    assert (stage_of("low"), stage_of("fine")) == ("dormant", "customer")
    note = AuditEntry.objects.get(object_id=low.pk, model="customers.customer").note
    assert note == "Churn rule: P(alive) 0.15 is below Relaxed's threshold 0.20."


@pytest.mark.parametrize("use_facts", [True, False], ids=["facts", "orders"])
def test_the_churn_report_counts_customers_active_at_the_start_who_lapsed(
    stores, alice, charlie, admin_user, use_facts
):
    """Threshold 30 days. March 2025 starts 03-01: active = a purchase in Jan 30–Feb 28."""
    strict, _ = stores
    c = data.customer
    a = c(alice, "a")  # bought 02-10 and 03-20: active at 03-01 and at 04-01
    data.order(a, strict, data.at("2025-02-10"))
    data.order(a, strict, data.at("2025-03-20"))
    b = c(alice, "b")  # bought 02-20 only: active at 03-01, lapsed by 04-01 (window 03-02..03-31)
    data.order(b, strict, data.at("2025-02-20"))
    d = c(charlie, "d")  # bought 02-15 only: lapsed in March too
    data.order(d, strict, data.at("2025-02-15"))
    e = c(charlie, "e")  # new in March: not active at its start
    data.order(e, strict, data.at("2025-03-05"))
    data.rebuild_stats()

    report = churn.churn_report(
        user=admin_user, months=2, days=30, until=datetime.date(2025, 4, 15), use_facts=use_facts
    )
    assert report["months"] == [
        {
            "month": "2025-03",
            "active_at_start": 3,
            "churned": 2,
            "churn_rate": 66.67,
            "moved_by_rules": 0,
        },
        {
            "month": "2025-04",
            "active_at_start": 2,
            "churned": 2,
            "churn_rate": 100.0,
            "moved_by_rules": 0,
        },
    ]
    own = churn.churn_report(
        user=alice, months=1, days=30, until=datetime.date(2025, 3, 15), use_facts=use_facts
    )
    assert own["months"] == [
        {
            "month": "2025-03",
            "active_at_start": 2,
            "churned": 1,
            "churn_rate": 50.0,
            "moved_by_rules": 0,
        },
    ]


def test_the_churn_report_counts_the_moves_made_by_the_rules(stores, alice, charlie, admin_user):
    strict, _ = stores
    data.order(data.customer(alice, "x"), strict, ago(100))
    data.order(data.customer(charlie, "y"), strict, ago(100))
    data.rebuild_stats()
    churn.apply_churn_rules(as_of=NOW)
    from django.utils import timezone

    today = timezone.localdate()
    assert (
        churn.churn_report(user=admin_user, months=1, days=30, until=today)["months"][0][
            "moved_by_rules"
        ]
        == 2
    )
    assert (
        churn.churn_report(user=alice, months=1, days=30, until=today)["months"][0][
            "moved_by_rules"
        ]
        == 1
    )
