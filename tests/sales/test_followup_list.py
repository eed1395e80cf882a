"""The "needs follow-up" list: per-grade rules, last activity or creation, visibility,
the longest overdue first, keyset pages that neither skip nor repeat."""

import datetime

import pytest
from django.utils import timezone

from guanxi.sales import selectors_followup as sel
from guanxi.sales import services_followup as svc
from tests.sales.test_followup_support import make_customer

pytestmark = pytest.mark.django_db


def ago(days, hours=0):
    return timezone.now() - datetime.timedelta(days=days, hours=hours)


def names(rows):
    return [r.customer.name for r in rows]


def test_rules_per_grade_and_last_activity(alice, manager):
    make_customer(alice, name="A fresh", grade="A", created_at=ago(3))
    make_customer(alice, name="A idle", grade="A", created_at=ago(10))
    make_customer(alice, name="B idle 10", grade="B", created_at=ago(10))
    make_customer(alice, name="B idle 20", grade="B", created_at=ago(20))
    make_customer(alice, name="none idle 40", grade="", created_at=ago(40))
    contacted = make_customer(alice, name="A contacted", grade="A", created_at=ago(100))
    svc.activity_create(
        actor=alice,
        data={"kind": "call", "customer": contacted.pk, "occurred_at": ago(2).isoformat()},
    )
    long_ago = make_customer(alice, name="D contacted long ago", grade="D", created_at=ago(300))
    svc.activity_create(
        actor=alice,
        data={"kind": "visit", "customer": long_ago.pk, "occurred_at": ago(90).isoformat()},
    )
    rows, cursor = sel.needs_follow_up(alice)
    # due since: D 90-60=30 days ago; none 40-30=10; B20 20-14=6; A idle 10-7=3
    assert names(rows) == ["D contacted long ago", "none idle 40", "B idle 20", "A idle"]
    assert cursor is None
    assert rows[0].has_activity is True and rows[1].has_activity is False
    assert sel.needs_follow_up(alice, grade="B")[0][0].customer.name == "B idle 20"
    # Changing a rule changes the list.
    svc.policy_set(actor=manager, data={"B": 5})
    assert "B idle 10" in names(sel.needs_follow_up(alice)[0])


def test_deleting_the_only_activity_brings_the_customer_back(alice, manager):
    c = make_customer(alice, name="C", grade="C", created_at=ago(60))
    a = svc.activity_create(actor=alice, data={"kind": "call", "customer": c.pk})
    assert names(sel.needs_follow_up(alice)[0]) == []
    svc.activity_delete(actor=manager, activity=a)
    assert names(sel.needs_follow_up(alice)[0]) == ["C"]


def test_visibility(alice, bob, charlie, manager, admin_user):
    make_customer(alice, name="alice's", grade="A", created_at=ago(30))
    make_customer(bob, name="bob's", grade="A", created_at=ago(31))
    make_customer(charlie, name="charlie's", grade="A", created_at=ago(32))
    assert names(sel.needs_follow_up(alice)[0]) == ["alice's"]
    assert names(sel.needs_follow_up(manager)[0]) == ["bob's", "alice's"]
    assert names(sel.needs_follow_up(admin_user)[0]) == ["charlie's", "bob's", "alice's"]


def test_pages_neither_skip_nor_repeat(alice):
    same_time = ago(50)
    expected = set()
    for i in range(7):
        c = make_customer(alice, name=f"A{i}", grade="A", created_at=same_time)  # ties
        expected.add(c.pk)
    for i in range(6):
        c = make_customer(alice, name=f"B{i}", grade="B", created_at=ago(40 + i))
        expected.add(c.pk)
    for i in range(5):
        c = make_customer(alice, name=f"touched{i}", grade="C", created_at=ago(400))
        svc.activity_create(
            actor=alice,
            data={"kind": "note", "customer": c.pk, "occurred_at": ago(60 + i).isoformat()},
        )
        expected.add(c.pk)
    seen, cursor, keys = [], None, []
    while True:
        rows, cursor = sel.needs_follow_up(alice, cursor=cursor, size=4)
        seen.extend(r.customer.pk for r in rows)
        keys.extend((r.due_since, r.customer.pk) for r in rows)
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == len(expected) and set(seen) == expected
    assert keys == sorted(keys)


def test_a_reassigned_customer_moves_after_the_copies_are_synced(alice, bob, manager):
    from guanxi.customers import services as customer_services
    from guanxi.sales.tasks import sync_copies

    c = make_customer(alice, name="Moved", grade="B", created_at=ago(100))
    svc.activity_create(
        actor=alice, data={"kind": "call", "customer": c.pk, "occurred_at": ago(50).isoformat()}
    )
    assert names(sel.needs_follow_up(alice)[0]) == ["Moved"]
    customer_services.customer_update(actor=manager, customer=c, data={"owner": bob.pk})
    # Before the sync the copy is stale: alice no longer sees it, bob not yet.
    assert names(sel.needs_follow_up(alice)[0]) == []
    assert names(sel.needs_follow_up(bob)[0]) == []
    assert sync_copies() == 1
    assert names(sel.needs_follow_up(bob)[0]) == ["Moved"]
    # Regraded: under the rule of the new grade (A: 7 days, due since 43 days ago).
    customer_services.customer_update(actor=manager, customer=c, data={"grade": "A"})
    assert sync_copies() == 1
    [row] = sel.needs_follow_up(bob, grade="A")[0]
    assert row.days == 7
    assert sync_copies() == 0  # nothing left to do
