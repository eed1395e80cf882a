"""Leads: the services — input rules, statuses, visibility, assignment rules with
round-robin, reassignment with notifications (in-app and by real SMTP), conversion."""

import pytest

from guanxi.core.errors import NotFound, PermissionDenied, ValidationFailed
from guanxi.core.models import AuditEntry, BusinessEvent, Notification
from guanxi.customers import services as customer_services
from guanxi.customers.models import Contact, Customer
from guanxi.sales import services_leads as svc
from guanxi.sales.models import Activity, AssignmentRule, Lead, LeadForm, Pipeline, Stage, Task
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def new_lead(actor, **data):
    return svc.lead_create(actor=actor, data={"name": "王小明", "phone": "13812345678", **data})


class TestInput:
    def test_phone_and_email_are_normalised_like_customers(self, alice):
        lead = new_lead(alice, phone="138 1234 5678", email=" Wang@Example.COM ")
        assert lead.phone == "+8613812345678"
        assert lead.email == "wang@example.com"
        assert lead.owner == alice and lead.team_id == alice.team_id
        assert lead.status == Lead.Status.NEW

    def test_bad_input_is_refused_with_field_errors_and_nothing_written(self, alice):
        with pytest.raises(ValidationFailed) as exc:
            svc.lead_create(
                actor=alice, data={"name": "", "phone": "12", "email": "x@", "source": "moon"}
            )
        assert set(exc.value.field_errors) == {"name", "phone", "email", "source"}
        assert Lead.objects.count() == 0
        assert AuditEntry.objects.count() == 0

    def test_a_phone_or_an_email_is_needed(self, alice):
        with pytest.raises(ValidationFailed) as exc:
            svc.lead_create(actor=alice, data={"name": "张三"})
        assert "phone" in exc.value.field_errors

    def test_source_accepts_labels_in_either_language(self, alice):
        assert new_lead(alice, source="官网").source == "website"
        assert new_lead(alice, source="Trade show", phone="13912345678").source == "exhibition"

    def test_create_is_audited_with_events(self, alice):
        lead = new_lead(alice, campaign="Expo")
        entry = AuditEntry.objects.get(model="sales.lead", object_id=lead.pk)
        assert entry.action == "create" and entry.changes["campaign"] == [None, "Expo"]
        names = list(
            BusinessEvent.objects.filter(object_id=lead.pk, model="sales.lead").values_list(
                "name", flat=True
            )
        )
        assert names == ["lead.created", "lead.assigned"]

    def test_analyst_cannot_create(self, users_by_role):
        with pytest.raises(PermissionDenied):
            new_lead(users_by_role["analyst"])

    def test_external_id_is_unique(self, alice):
        new_lead(alice, external_id="X1")
        with pytest.raises(ValidationFailed) as exc:
            new_lead(alice, external_id="X1", phone="13912345678")
        assert "external_id" in exc.value.field_errors


class TestStatus:
    def test_disqualifying_needs_a_reason(self, alice):
        lead = new_lead(alice)
        with pytest.raises(ValidationFailed) as exc:
            svc.lead_set_status(actor=alice, lead=lead, status="disqualified")
        assert "disqualify_reason" in exc.value.field_errors
        lead = svc.lead_set_status(actor=alice, lead=lead, status="disqualified", reason="spam")
        assert lead.status == "disqualified" and lead.disqualify_reason == "spam"
        lead = svc.lead_set_status(actor=alice, lead=lead, status="contacted")
        assert lead.disqualify_reason == ""
        changes = [
            e.changes.get("status")
            for e in AuditEntry.objects.filter(model="sales.lead", action="update").order_by("id")
        ]
        assert changes == [["new", "disqualified"], ["disqualified", "contacted"]]

    def test_converted_cannot_be_set_by_hand(self, alice):
        lead = new_lead(alice)
        with pytest.raises(ValidationFailed) as exc:
            svc.lead_set_status(actor=alice, lead=lead, status="converted")
        assert "status" in exc.value.field_errors


class TestVisibility:
    def test_reps_see_their_own_managers_their_team(self, alice, bob, charlie, manager):
        lead = new_lead(alice)
        assert svc.lead_get_for_user(user=manager, id=lead.pk) == lead
        for other in (bob, charlie):
            with pytest.raises(NotFound):
                svc.lead_get_for_user(user=other, id=lead.pk)
        with pytest.raises(NotFound):
            svc.lead_update(actor=bob, lead=lead, data={"name": "x"})


class TestAssignmentRules:
    def test_round_robin_within_a_team(self, east, alice, bob, manager, admin_user):
        rule = svc.rule_create(actor=manager, data={"name": "East", "team": east.pk})
        form = svc.leadform_create(actor=manager, data={"name": "Expo", "slug": "expo"})
        owners = []
        for i in range(5):
            lead = svc.lead_submit_from_form(
                form=form, data={"name": f"访客{i}", "phone": f"1381234567{i}"}, ip="10.0.0.1"
            )
            owners.append(lead.owner.username)
        # Team East's sales reps and managers in id order: alice, bob, mona (root is admin).
        assert owners == ["alice", "bob", "mona", "alice", "bob"]
        rule.refresh_from_db()
        assert rule.last_assigned.username == "bob"

    def test_first_matching_rule_by_province_source_or_form(self, alice, bob, charlie, manager):
        svc.rule_create(
            actor=manager, data={"name": "GD", "province": "广东", "members": [charlie.pk]}
        )
        form = svc.leadform_create(actor=manager, data={"name": "F", "source": "wechat"})
        svc.rule_create(
            actor=manager, data={"name": "WeChat", "source": "wechat", "members": ["bob"]}
        )
        svc.rule_create(actor=manager, data={"name": "Rest", "members": [alice.pk]})
        auto = {"owner": "auto"}
        assert new_lead(manager, province="广东省", **auto).owner == charlie
        assert new_lead(manager, phone="13900000001", source="wechat", **auto).owner == bob
        assert new_lead(manager, phone="13900000002", **auto).owner == alice
        lead = svc.lead_submit_from_form(
            form=form, data={"name": "x", "phone": "13900000003"}, ip=None
        )
        assert lead.owner == bob and lead.source == "wechat"

    def test_a_rule_needs_receivers(self, manager):
        with pytest.raises(ValidationFailed) as exc:
            svc.rule_create(actor=manager, data={"name": "Nobody"})
        assert "team" in exc.value.field_errors

    def test_sales_reps_cannot_manage_rules_or_forms(self, alice):
        with pytest.raises(PermissionDenied):
            svc.rule_create(actor=alice, data={"name": "x", "members": [alice.pk]})
        with pytest.raises(PermissionDenied):
            svc.leadform_create(actor=alice, data={"name": "x"})

    def test_no_rule_leaves_a_web_lead_unassigned(self, manager):
        form = svc.leadform_create(actor=manager, data={"name": "F"})
        lead = svc.lead_submit_from_form(
            form=form, data={"name": "x", "phone": "13900000003"}, ip=None
        )
        assert lead.owner is None
        assert not AssignmentRule.objects.exists()


class TestReassignment:
    def test_manager_reassigns_and_the_owner_is_told_by_email(
        self, alice, bob, manager, smtp_server, django_capture_on_commit_callbacks
    ):
        lead = new_lead(alice, name="李雷")
        with pytest.raises(PermissionDenied):
            svc.lead_assign(actor=alice, lead=lead, owner=bob.pk)
        with django_capture_on_commit_callbacks(execute=True):
            svc.lead_assign(actor=manager, lead=lead, owner=bob.pk)
        lead.refresh_from_db()
        assert lead.owner == bob and lead.team_id == bob.team_id
        note = Notification.objects.get(user=bob)
        assert note.kind == "lead.assigned" and "李雷" in note.title
        assert note.url == f"/sales/leads/{lead.pk}/"
        assert [e.rcpt_tos for e in smtp_server.envelopes] == [["bob@example.com"]]
        message = smtp_server.messages[0]
        assert "李雷" in message["Subject"]
        assert f"/sales/leads/{lead.pk}/" in message.get_content()
        assert BusinessEvent.objects.filter(name="lead.assigned", object_id=lead.pk).count() == 2

    def test_a_new_web_lead_notifies_its_owner_by_email(
        self, alice, manager, smtp_server, django_capture_on_commit_callbacks
    ):
        svc.rule_create(actor=manager, data={"name": "A", "members": [alice.pk]})
        form = svc.leadform_create(actor=manager, data={"name": "F"})
        with django_capture_on_commit_callbacks(execute=True):
            svc.lead_submit_from_form(
                form=form, data={"name": "韩梅梅", "phone": "13900000009"}, ip=None
            )
        assert Notification.objects.filter(user=alice, kind="lead.assigned").count() == 1
        assert len(smtp_server.envelopes) == 1
        assert "韩梅梅" in smtp_server.messages[0]["Subject"]

    def test_bulk_is_all_or_nothing(self, alice, bob, charlie, manager, admin_user):
        mine = [new_lead(alice, phone=f"1390000001{i}") for i in range(3)]
        other = new_lead(charlie, phone="13900000020")
        with pytest.raises(NotFound):
            svc.leads_assign_bulk(actor=manager, ids=[*(x.pk for x in mine), other.pk], owner=bob)
        assert set(Lead.objects.filter(owner=bob)) == set()
        svc.leads_assign_bulk(actor=manager, ids=[lead.pk for lead in mine], owner=bob)
        assert Lead.objects.filter(owner=bob).count() == 3
        # One notification for the batch.
        assert Notification.objects.filter(user=bob).count() == 1
        assert "3" in Notification.objects.get(user=bob).title


@pytest.fixture
def pipeline(db):
    """The default pipeline (the pipeline part's migration makes one) and its first
    open stage."""
    found = svc.default_pipeline_first_stage()
    if found is None:
        pipeline = Pipeline.objects.create(name="Sales", is_default=True)
        Stage.objects.create(pipeline=pipeline, name="Won", position=8, kind="won")
        found = (pipeline, Stage.objects.create(pipeline=pipeline, name="New", position=1))
    return found


class TestConversion:
    def test_into_a_new_customer_with_an_opportunity_and_its_history(self, alice, pipeline):
        lead = new_lead(alice, email="wxm@example.com", campaign="Expo", source="website")
        activity = Activity.objects.create(
            kind="call", subject="First call", lead=lead, owner=alice
        )
        task = Task.objects.create(
            title="Send offer", due_at=lead.created_at, lead=lead, owner=alice
        )
        svc.lead_convert(
            actor=alice, lead=lead, create_opportunity=True, opportunity_name="Deal", amount="1200"
        )
        lead.refresh_from_db()
        assert lead.status == "converted" and lead.converted_by == alice
        customer = lead.customer
        assert (customer.name, customer.phone, customer.email) == (
            "王小明",
            "+8613812345678",
            "wxm@example.com",
        )
        assert customer.owner == alice and customer.source == "website"
        opportunity = lead.opportunity
        assert opportunity.customer == customer and opportunity.stage == pipeline[1]
        assert str(opportunity.amount) == "1200.00" and opportunity.lead_id == lead.pk
        activity.refresh_from_db()
        task.refresh_from_db()
        assert activity.customer == customer and task.customer == customer
        event = BusinessEvent.objects.get(name="lead.converted")
        assert event.customer_id == customer.pk and event.payload["new_customer"] is True
        assert event.payload["opportunity"] == opportunity.pk

    def test_onto_an_existing_customer_found_by_phone(self, alice, charlie):
        customer = customer_services.customer_create(
            actor=alice, data={"name": "王先生", "phone": "13812345678"}
        )
        hidden = customer_services.customer_create(
            actor=charlie, data={"name": "别人的", "phone": "13812345678"}
        )
        lead = new_lead(alice)
        assert svc.matching_customers(user=alice, lead=lead) == [customer]
        with pytest.raises(NotFound):
            svc.lead_convert(actor=alice, lead=lead, customer_id=hidden.pk)
        svc.lead_convert(actor=alice, lead=lead, customer_id=customer.pk)
        lead.refresh_from_db()
        assert lead.customer == customer and lead.opportunity is None
        assert Customer.objects.count() == 2

    def test_as_a_company_with_the_lead_as_contact(self, alice):
        lead = new_lead(alice, company="杭州华信贸易有限公司", job_title="采购经理")
        svc.lead_convert(actor=alice, lead=lead, kind="company")
        lead.refresh_from_db()
        assert lead.customer.kind == "company" and lead.customer.name == "杭州华信贸易有限公司"
        contact = Contact.objects.get(customer=lead.customer)
        assert (contact.name, contact.title, contact.is_primary) == ("王小明", "采购经理", True)

    def test_a_converted_lead_is_read_only(self, alice, manager, bob):
        lead = new_lead(alice)
        svc.lead_convert(actor=alice, lead=lead)
        for attempt in (
            lambda: svc.lead_update(actor=alice, lead=lead, data={"name": "x"}),
            lambda: svc.lead_set_status(actor=alice, lead=lead, status="new"),
            lambda: svc.lead_assign(actor=manager, lead=lead, owner=bob),
            lambda: svc.lead_convert(actor=alice, lead=lead),
        ):
            with pytest.raises(svc.LeadReadOnly) as exc:
                attempt()
            assert exc.value.status == 409
        with pytest.raises(svc.LeadReadOnly):
            svc.lead_delete(actor=manager, lead=lead)
        lead.refresh_from_db()
        assert lead.name == "王小明" and lead.owner == alice

    def test_a_failed_conversion_writes_nothing(self, alice, pipeline):
        lead = new_lead(alice)
        with pytest.raises(ValidationFailed) as exc:
            svc.lead_convert(actor=alice, lead=lead, create_opportunity=True, amount="lots")
        assert "amount" in exc.value.field_errors
        lead.refresh_from_db()
        assert lead.status == "new" and lead.customer is None
        assert Customer.objects.count() == 0

    def test_the_customer_timeline_shows_the_lead(self, alice):
        from guanxi.core.timeline import timeline_for

        lead = new_lead(alice, campaign="Expo")
        svc.lead_convert(actor=alice, lead=lead)
        lead.refresh_from_db()
        items = timeline_for(lead.customer, alice)
        assert any(item.kind == "lead.converted" and "王小明" in item.title for item in items)


def test_web_form_slug_rules(manager):
    form = svc.leadform_create(actor=manager, data={"name": "Expo"})
    assert len(form.slug) == 8
    with pytest.raises(ValidationFailed) as exc:
        svc.leadform_create(actor=manager, data={"name": "Again", "slug": form.slug})
    assert "slug" in exc.value.field_errors
    with pytest.raises(ValidationFailed):
        svc.leadform_create(actor=manager, data={"name": "Bad", "slug": "Hello World"})
    assert LeadForm.objects.count() == 1


def test_inactive_users_get_no_leads(east, manager):
    gone = make_user("gone", "sales", east, is_active=False)
    svc.rule_create(actor=manager, data={"name": "East", "team": east.pk})
    lead = new_lead(manager, owner="auto")
    assert lead.owner != gone
