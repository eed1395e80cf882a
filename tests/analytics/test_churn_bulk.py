"""The churn rules move customers in bulk with the same outcome as one by one."""

import datetime

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from guanxi.analytics import churn
from guanxi.analytics.models import CustomerStats
from guanxi.core.errors import ValidationFailed
from guanxi.core.models import AuditEntry, BusinessEvent
from guanxi.customers import services as customer_services
from guanxi.customers.models import Customer
from tests.analytics import analysis_data as data

NOW = data.at("2025-06-30", 12)
ALLOWED = {"dormant": {"customer", "vip"}, "lost": {"customer", "vip", "dormant"}}


def ago(days: int) -> datetime.datetime:
    return NOW - datetime.timedelta(days=days)


@pytest.fixture
def stores(db):
    strict = data.store("strict", dormant_after_days=30, lost_after_days=90, p_alive_threshold=0.1)
    relaxed = data.store("relaxed")  # 180 / 365 / 0.2
    return strict, relaxed


@pytest.fixture
def mixed(stores, alice, charlie):
    """Customers of every kind the rules look at: some move, some don't."""
    strict, relaxed = stores
    c = data.customer
    data.order(c(alice, "strict-40"), strict, ago(40))
    data.order(c(alice, "relaxed-40"), relaxed, ago(40))
    data.order(c(charlie, "strict-100", stage="vip"), strict, ago(100))
    data.order(c(alice, "relaxed-200"), relaxed, ago(200))
    data.order(c(charlie, "relaxed-400"), relaxed, ago(400))
    moved = c(alice, "moved-store")
    data.order(moved, strict, ago(300))
    data.order(moved, relaxed, ago(10))
    data.order(c(alice, "lead", stage="lead"), strict, ago(400))
    data.order(c(alice, "prospect", stage="prospect"), relaxed, ago(400))
    data.order(c(alice, "was-lost", stage="lost"), strict, ago(400))
    data.order(c(alice, "was-dormant", stage="dormant"), strict, ago(100))
    data.order(c(alice, "dormant-50", stage="dormant"), strict, ago(50))
    low = c(charlie, "low-p")
    data.order(low, relaxed, ago(20))
    data.order(c(alice, "unpaid"), strict, ago(400), paid=False)
    data.rebuild_stats()
    CustomerStats.objects.filter(customer=low).update(p_alive=0.15)


def outcome(audit_after: int, event_after: int) -> dict:
    """Everything the moves wrote, without ids and times."""
    return {
        "stages": dict(Customer.objects.values_list("name", "stage")),
        "audit": list(
            AuditEntry.objects.filter(pk__gt=audit_after)
            .order_by("pk")
            .values_list(
                "actor_id", "action", "model", "object_id", "object_repr", "changes", "note"
            )
        ),
        "events": list(
            BusinessEvent.objects.filter(pk__gt=event_after)
            .order_by("pk")
            .values_list("name", "actor_id", "model", "object_id", "customer_id", "payload")
        ),
    }


def last_ids() -> tuple[int, int]:
    return (
        AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0,
        BusinessEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0,
    )


def one_by_one(as_of) -> None:
    """The rules as they ran before: each candidate through customer_stage_set_by_system."""
    stores = {s.pk: s for s in churn.Store.objects.all()}
    for pk, target, store_id, last, p_alive in churn.churn_candidates(as_of=as_of):
        customer = Customer.objects.get(pk=pk)
        note = churn._note(target, stores[store_id], last, p_alive, as_of)
        customer_services.customer_stage_set_by_system(customer=customer, stage=target, note=note)


@pytest.mark.parametrize("batch_size", [5000, 2])
def test_the_bulk_moves_write_what_the_single_service_writes(mixed, batch_size):
    audit_after, event_after = last_ids()
    with transaction.atomic():
        one_by_one(NOW)
        expected = outcome(audit_after, event_after)
        transaction.set_rollback(True)
    assert Customer.objects.get(name="strict-40").stage == "customer"  # rolled back

    before = dict(Customer.objects.values_list("name", "updated_at"))
    result = churn.apply_churn_rules(as_of=NOW, batch_size=batch_size)

    got = outcome(audit_after, event_after)
    assert got == expected
    assert (result["dormant"], result["lost"]) == (3, 3)
    assert [e[5] for e in got["events"] if e[0] == "customer.stage_changed"][0] == {
        "from": "customer",
        "to": "dormant",
        "reason": "Churn rule: 40 days since the last order (Strict: dormant after 30 days).",
    }
    moved = {row[3] for row in got["audit"]}
    assert len(moved) == 6
    for pk, name, updated_at in Customer.objects.values_list("pk", "name", "updated_at"):
        assert (updated_at > before[name]) == (pk in moved), name


def test_the_candidates_are_the_same_in_any_batch_size(mixed):
    whole = churn.churn_candidates(as_of=NOW)
    assert churn.churn_candidates(as_of=NOW, batch_size=1) == whole
    by_name = {Customer.objects.get(pk=row[0]).name: row[1] for row in whole}
    assert by_name == {
        "strict-40": "dormant",
        "strict-100": "lost",
        "relaxed-200": "dormant",
        "relaxed-400": "lost",
        "was-dormant": "lost",
        "low-p": "dormant",
    }


def test_a_stage_changed_after_the_selection_is_not_overwritten(stores, alice, monkeypatch):
    strict, _ = stores
    c = data.customer
    now_lead = c(alice, "now-lead")  # dormant by the rules, made a lead meanwhile
    now_vip = c(alice, "now-vip")  # lost by the rules, made VIP meanwhile: still lost
    now_dormant = c(alice, "now-dormant")  # dormant by the rules, already moved meanwhile
    untouched = c(alice, "untouched")
    data.order(now_lead, strict, ago(40))
    data.order(now_vip, strict, ago(100))
    data.order(now_dormant, strict, ago(40))
    data.order(untouched, strict, ago(40))
    data.rebuild_stats()
    selected = churn._candidate_batches

    def meanwhile(**kwargs):
        for batch in selected(**kwargs):
            Customer.objects.filter(pk=now_lead.pk).update(stage="lead")
            Customer.objects.filter(pk=now_vip.pk).update(stage="vip")
            Customer.objects.filter(pk=now_dormant.pk).update(stage="dormant")
            yield batch

    monkeypatch.setattr(churn, "_candidate_batches", meanwhile)
    result = churn.apply_churn_rules(as_of=NOW)

    assert (result["dormant"], result["lost"]) == (1, 1)
    stages = dict(Customer.objects.values_list("name", "stage"))
    assert stages == {
        "now-lead": "lead",
        "now-vip": "lost",
        "now-dormant": "dormant",
        "untouched": "dormant",
    }
    assert sorted(
        AuditEntry.objects.filter(model="customers.customer").values_list("object_id", "changes")
    ) == sorted(
        [
            (now_vip.pk, {"stage": ["vip", "lost"]}),
            (untouched.pk, {"stage": ["customer", "dormant"]}),
        ]
    )
    assert sorted(
        BusinessEvent.objects.filter(name="customer.stage_changed").values_list(
            "customer_id", "payload__from"
        )
    ) == sorted([(now_vip.pk, "vip"), (untouched.pk, "customer")])


def test_the_bulk_service_moves_only_from_the_allowed_stages(db, alice):
    c = data.customer
    a, b = c(alice, "a"), c(alice, "b", stage="vip")
    lead, dormant = c(alice, "l", stage="lead"), c(alice, "d", stage="dormant")

    moved = customer_services.customers_stage_set_by_system_bulk(
        ids_by_stage={"dormant": [a.pk, lead.pk, dormant.pk], "lost": [b.pk]},
        allowed_from={"dormant": {"customer", "vip", "dormant"}, "lost": {"vip"}},
        notes={a.pk: "why a", lead.pk: "why l", dormant.pk: "why d", b.pk: "why b"},
    )

    assert moved == {"dormant": 1, "lost": 1}
    assert dict(Customer.objects.values_list("name", "stage")) == {
        "a": "dormant",
        "b": "lost",
        "l": "lead",
        "d": "dormant",
    }
    assert list(
        AuditEntry.objects.order_by("pk").values_list(
            "actor", "action", "object_id", "object_repr", "changes", "note"
        )
    ) == [
        (None, "update", a.pk, "a", {"stage": ["customer", "dormant"]}, "why a"),
        (None, "update", b.pk, "b", {"stage": ["vip", "lost"]}, "why b"),
    ]
    assert list(
        BusinessEvent.objects.order_by("pk").values_list("name", "object_id", "payload")
    ) == [
        ("customer.updated", a.pk, {"fields": ["stage"]}),
        ("customer.stage_changed", a.pk, {"from": "customer", "to": "dormant", "reason": "why a"}),
        ("customer.updated", b.pk, {"fields": ["stage"]}),
        ("customer.stage_changed", b.pk, {"from": "vip", "to": "lost", "reason": "why b"}),
    ]


def test_the_bulk_service_refuses_an_unknown_stage_and_writes_nothing(db, alice):
    a = data.customer(alice, "a")
    with pytest.raises(ValidationFailed):
        customer_services.customers_stage_set_by_system_bulk(
            ids_by_stage={"dormant": [a.pk], "asleep": [a.pk]},
            allowed_from=ALLOWED,
            notes={},
        )
    assert Customer.objects.get(pk=a.pk).stage == "customer"
    assert (AuditEntry.objects.count(), BusinessEvent.objects.count()) == (0, 0)


def test_the_bulk_service_with_nobody_writes_nothing(db):
    with CaptureQueriesContext(connection) as queries:
        moved = customer_services.customers_stage_set_by_system_bulk(
            ids_by_stage={"dormant": [], "lost": []}, allowed_from=ALLOWED, notes={}
        )
    assert moved == {"dormant": 0, "lost": 0}
    assert [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))] == []


def test_a_batch_takes_the_same_queries_for_three_or_thirty_moves(stores, alice):
    strict, _ = stores

    def queries_for(n: int) -> list[str]:
        for _i in range(n):
            data.order(data.customer(alice), strict, ago(100))
        data.rebuild_stats()
        with CaptureQueriesContext(connection) as queries:
            assert churn.apply_churn_rules(as_of=NOW)["lost"] == n
        # An executemany is logged as "<n> times: INSERT ...": one statement still.
        return [q["sql"].split(" times: ")[-1].split()[0] for q in queries]

    three = queries_for(3)
    assert queries_for(30) == three
    # Stores, the ids, one batch: its rows; then lock, update, audit, events (PostgreSQL
    # COPYs those two, which the captured queries do not show).
    inserts = ["INSERT", "INSERT"] if connection.vendor == "sqlite" else []
    statements = [verb for verb in three if verb not in ("SAVEPOINT", "RELEASE")]
    assert statements == ["SELECT", "SELECT", "SELECT", "SELECT", "UPDATE", *inserts]
