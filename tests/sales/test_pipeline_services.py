"""Opportunities and pipelines through their services: validation, stage moves with time
in stage, status and closing, lost reasons, lines from the catalogue, audit and events,
visibility and roles."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from guanxi.commerce.models import Product
from guanxi.core.errors import NotFound, PermissionDenied, ValidationFailed
from guanxi.core.models import AuditEntry, BusinessEvent
from guanxi.customers import services as customer_services
from guanxi.sales import services_pipeline as svc
from guanxi.sales.models import LostReason, Opportunity, Pipeline, StageChange

pytestmark = pytest.mark.django_db


def stage(name_en_or_kind, pipeline=None):
    pipeline = pipeline or svc.default_pipeline()
    stages = list(pipeline.stages.order_by("position"))
    by_kind = {
        "won": [s for s in stages if s.kind == "won"],
        "lost": [s for s in stages if s.kind == "lost"],
    }
    if name_en_or_kind in by_kind:
        return by_kind[name_en_or_kind][0]
    return stages[int(name_en_or_kind)]


@pytest.fixture
def acme(alice):
    return customer_services.customer_create(actor=alice, data={"name": "ACME 上海"})


def test_default_pipeline_from_migration():
    pipeline = svc.default_pipeline()
    assert pipeline is not None and pipeline.is_default
    stages = list(pipeline.stages.order_by("position"))
    assert [s.probability for s in stages] == [10, 30, 60, 80, 100, 0]
    assert [s.kind for s in stages] == ["open"] * 4 + ["won", "lost"]
    assert [s.name for s in stages][:2] == ["Qualification", "Needs analysis"]  # en settings
    assert LostReason.objects.filter(active=True).count() >= 3


def test_create_defaults_and_events(alice, acme):
    opp = svc.opportunity_create(
        alice, {"name": "50 seats", "customer": acme.pk, "amount": "1200.5"}
    )
    assert opp.owner == alice and opp.team_id == alice.team_id
    assert opp.pipeline == svc.default_pipeline()
    assert opp.stage == stage(0) and opp.status == "open"
    assert opp.amount == Decimal("1200.50") and opp.currency == "CNY"
    first = StageChange.objects.get(opportunity=opp)
    assert first.from_stage is None and first.to_stage == opp.stage
    assert first.seconds_in_previous is None
    assert AuditEntry.objects.filter(
        model="sales.opportunity", object_id=opp.pk, action="create"
    ).exists()
    event = BusinessEvent.objects.get(name="opportunity.created", object_id=opp.pk)
    assert event.customer_id == acme.pk and event.payload["amount"] == "1200.50"


def test_create_rejects_bad_input_without_writing(alice, acme):
    with pytest.raises(ValidationFailed) as exc:
        svc.opportunity_create(
            alice,
            {
                "name": "",
                "customer": acme.pk,
                "amount": "-3",
                "currency": "yuan",
                "expected_close": "31/12/2026",
                "stage": stage("won").pk,
            },
        )
    errors = exc.value.field_errors
    assert set(errors) >= {"name", "amount", "currency", "expected_close", "stage"}
    assert not Opportunity.objects.exists()
    assert not BusinessEvent.objects.filter(name__startswith="opportunity.").exists()


def test_create_refuses_hidden_customer(alice, charlie):
    theirs = customer_services.customer_create(actor=charlie, data={"name": "West Co"})
    with pytest.raises(ValidationFailed) as exc:
        svc.opportunity_create(alice, {"name": "x", "customer": theirs.pk})
    assert "customer" in exc.value.field_errors
    # A Customer instance is trusted (the lead conversion checked it).
    opp = svc.opportunity_create(alice, {"name": "x", "customer": theirs})
    assert opp.customer == theirs and opp.owner == alice


def test_lines_from_catalogue_make_the_amount(alice, acme):
    product = Product.objects.create(sku="S-1", name="Seat licence", price=Decimal("100.00"))
    opp = svc.opportunity_create(
        alice,
        {
            "name": "Seats",
            "customer": acme.pk,
            "amount": "5",  # ignored: lines decide
            "lines": [
                {"product": product.pk, "quantity": "3", "discount_percent": "10"},
                {"name": "Installation", "unit_price": "99.99", "quantity": 1},
            ],
        },
    )
    lines = list(opp.lines.all())
    assert [line.name for line in lines] == ["Seat licence", "Installation"]
    assert lines[0].unit_price == Decimal("100.00") and lines[0].amount == Decimal("270.00")
    assert opp.amount == Decimal("369.99")
    svc.opportunity_update(alice, opp, {"lines": [{"product": product.pk, "quantity": 1}]})
    opp.refresh_from_db()
    assert opp.amount == Decimal("100.00") and opp.lines.count() == 1


def test_bad_lines_are_reported_per_line(alice, acme):
    with pytest.raises(ValidationFailed) as exc:
        svc.opportunity_create(
            alice,
            {
                "name": "x",
                "customer": acme.pk,
                "lines": [
                    {"product": 999999},
                    {"name": "a", "unit_price": "1", "discount_percent": "120"},
                ],
            },
        )
    assert "lines.0.product" in exc.value.field_errors
    assert "lines.1.discount_percent" in exc.value.field_errors


def test_move_records_time_in_stage_and_closes(alice, acme):
    opp = svc.opportunity_create(alice, {"name": "Deal", "customer": acme.pk})
    Opportunity.objects.filter(pk=opp.pk).update(
        stage_entered_at=timezone.now() - datetime.timedelta(days=2)
    )
    opp.refresh_from_db()
    svc.opportunity_move(alice, opp, stage(1), note="call went well")
    change = StageChange.objects.filter(opportunity=opp).last()
    assert change.from_stage == stage(0) and change.to_stage == stage(1)
    assert 2 * 86400 - 5 <= change.seconds_in_previous <= 2 * 86400 + 60
    opp = svc.opportunity_move(alice, opp, stage("won").pk)
    assert opp.status == "won" and opp.closed_at is not None
    names = list(
        BusinessEvent.objects.filter(object_id=opp.pk, model="sales.opportunity")
        .order_by("id")
        .values_list("name", flat=True)
    )
    assert names == [
        "opportunity.created",
        "opportunity.stage_changed",
        "opportunity.stage_changed",
        "opportunity.won",
    ]
    # Reopen: closed_at cleared, status open again.
    assert opp.reached_stage == stage(1)  # won does not change the furthest open stage
    opp = svc.opportunity_move(alice, opp, stage(2))
    assert opp.status == "open" and opp.closed_at is None
    assert opp.reached_stage == stage(2)
    opp = svc.opportunity_move(alice, opp, stage(0))
    assert opp.reached_stage == stage(2)  # moving back keeps the furthest stage reached
    assert StageChange.objects.filter(opportunity=opp).count() == 5
    assert AuditEntry.objects.filter(model="sales.opportunity", object_id=opp.pk).count() == 5


def test_lost_needs_a_reason(alice, acme):
    opp = svc.opportunity_create(alice, {"name": "Deal", "customer": acme.pk})
    with pytest.raises(ValidationFailed) as exc:
        svc.opportunity_move(alice, opp, stage("lost"))
    assert "lost_reason" in exc.value.field_errors
    opp.refresh_from_db()
    assert opp.status == "open" and StageChange.objects.filter(opportunity=opp).count() == 1
    reason = LostReason.objects.first()
    opp = svc.opportunity_move(alice, opp, stage("lost"), lost_reason=reason.pk, note="too dear")
    assert opp.status == "lost" and opp.lost_reason == reason and opp.lost_note == "too dear"
    event = BusinessEvent.objects.get(name="opportunity.lost", object_id=opp.pk)
    assert event.payload["lost_reason"] == reason.pk


def test_move_to_another_pipelines_stage_is_refused(alice, admin_user, acme):
    other = svc.pipeline_create(
        admin_user,
        {
            "name": "Renewals",
            "stages": [
                {"name": "Due", "kind": "open", "probability": 50},
                {"name": "Renewed", "kind": "won"},
                {"name": "Churned", "kind": "lost"},
            ],
        },
    )
    opp = svc.opportunity_create(alice, {"name": "Deal", "customer": acme.pk})
    with pytest.raises(ValidationFailed):
        svc.opportunity_move(alice, opp, other.stages.first())


def test_visibility_and_roles(alice, bob, charlie, manager, users_by_role, acme):
    opp = svc.opportunity_create(alice, {"name": "Deal", "customer": acme.pk})
    with pytest.raises(NotFound):
        svc.opportunity_move(charlie, opp, stage(1))
    with pytest.raises(NotFound):
        svc.opportunity_move(bob, opp, stage(1))  # a rep sees only own records
    svc.opportunity_move(manager, opp, stage(1))  # the manager sees the team's
    with pytest.raises(PermissionDenied):
        svc.opportunity_move(users_by_role["analyst"], opp, stage(2))
    with pytest.raises(PermissionDenied):
        svc.opportunity_create(users_by_role["analyst"], {"name": "x", "customer": acme.pk})
    with pytest.raises(ValidationFailed) as exc:
        svc.opportunity_create(alice, {"name": "x", "customer": acme.pk, "owner": bob.pk})
    assert "owner" in exc.value.field_errors
    given = svc.opportunity_create(manager, {"name": "x", "customer": acme.pk, "owner": bob.pk})
    assert given.owner == bob and given.team_id == bob.team_id


def test_pipeline_needs_open_won_and_lost(admin_user, manager):
    with pytest.raises(ValidationFailed) as exc:
        svc.pipeline_create(
            admin_user,
            {"name": "Bad", "stages": [{"name": "A"}, {"name": "B", "kind": "won"}]},
        )
    assert "stages" in exc.value.field_errors
    assert not Pipeline.objects.filter(name="Bad").exists()
    with pytest.raises(PermissionDenied):
        svc.pipeline_create(manager, {"name": "X", "stages": []})


def test_pipeline_reorder_and_edit_stages(admin_user, alice, acme):
    pipeline = svc.default_pipeline()
    ids = list(pipeline.stages.order_by("position").values_list("pk", flat=True))
    svc.stages_reorder(admin_user, pipeline, [ids[1], ids[0], *ids[2:]])
    assert list(pipeline.stages.order_by("position").values_list("pk", flat=True))[:2] == [
        ids[1],
        ids[0],
    ]
    with pytest.raises(ValidationFailed):
        svc.stages_reorder(admin_user, pipeline, ids[:3])
    svc.opportunity_create(alice, {"name": "Deal", "customer": acme.pk, "stage": ids[2]})
    stages = [
        {"id": s.pk, "name": s.name, "kind": s.kind, "probability": s.probability}
        for s in pipeline.stages.order_by("position")
    ]
    # Removing a stage that has an opportunity is refused.
    with pytest.raises(ValidationFailed):
        svc.pipeline_update(
            admin_user, pipeline, {"stages": [s for s in stages if s["id"] != ids[2]]}
        )
    stages[0]["probability"] = 15
    stages.insert(4, {"name": "Contract", "kind": "open", "probability": 90})
    svc.pipeline_update(admin_user, pipeline, {"stages": stages})
    assert pipeline.stages.count() == 7
    assert pipeline.stages.get(pk=stages[0]["id"]).probability == 15
    assert AuditEntry.objects.filter(model="sales.pipeline", object_id=pipeline.pk).count() == 2


def test_one_default_pipeline(admin_user):
    first = svc.default_pipeline()
    second = svc.pipeline_create(
        admin_user,
        {
            "name": "Projects",
            "is_default": True,
            "stages": [{"name": "A"}, {"name": "W", "kind": "won"}, {"name": "L", "kind": "lost"}],
        },
    )
    first.refresh_from_db()
    assert second.is_default and not first.is_default
    assert svc.default_pipeline() == second
