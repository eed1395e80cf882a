"""Activities and tasks through their services: validation, links (a lead's or an
opportunity's customer filled in), the follow-up task of a "next follow-up" date, the
last activity per customer kept right on create / edit / delete, audit and events,
roles and visibility, assignment rules."""

import datetime

import pytest
from django.utils import timezone

from guanxi.core.errors import NotFound, PermissionDenied, ValidationFailed
from guanxi.core.models import AuditEntry, BusinessEvent, Notification
from guanxi.sales import services_followup as svc
from guanxi.sales.models import Activity, CustomerFollowUp, FollowUpPolicy, Task
from tests.sales.test_followup_support import make_customer, make_lead, make_opportunity

pytestmark = pytest.mark.django_db


def last_activity(customer):
    row = CustomerFollowUp.objects.filter(customer=customer).first()
    return row.last_activity_at if row else None


def test_log_activity_on_customer_audited_event_and_last_activity(alice):
    customer = make_customer(alice)
    when = timezone.now() - datetime.timedelta(hours=2)
    activity = svc.activity_create(
        actor=alice,
        data={
            "kind": "call",
            "subject": "Renewal call",
            "occurred_at": when.isoformat(),
            "duration_minutes": "15",
            "outcome": "Interested",
            "customer": customer.pk,
        },
    )
    assert activity.owner == alice and activity.team_id == alice.team_id
    assert activity.duration_minutes == 15 and activity.outcome == "Interested"
    assert last_activity(customer) == when
    entry = AuditEntry.objects.get(model="sales.activity", object_id=activity.pk)
    assert entry.action == "create" and entry.actor == alice
    event = BusinessEvent.objects.get(name="activity.logged", object_id=activity.pk)
    assert event.customer_id == customer.pk and event.payload["kind"] == "call"


def test_subject_defaults_to_the_kind(alice):
    customer = make_customer(alice)
    activity = svc.activity_create(actor=alice, data={"kind": "wechat", "customer": customer.pk})
    assert activity.subject == "WeChat"


def test_every_kind_is_accepted(alice):
    customer = make_customer(alice)
    for kind in ["call", "visit", "meeting", "email", "sms", "wechat", "note"]:
        svc.activity_create(actor=alice, data={"kind": kind, "customer": customer.pk})
    assert Activity.objects.filter(customer=customer).count() == 7


def test_bad_input_is_refused_with_field_messages_and_writes_nothing(alice):
    customer = make_customer(alice)
    with pytest.raises(ValidationFailed) as exc:
        svc.activity_create(
            actor=alice,
            data={
                "kind": "fax",
                "occurred_at": "yesterday-ish",
                "duration_minutes": "-5",
                "next_follow_up": "2026-13-40",
                "customer": customer.pk,
            },
        )
    errors = exc.value.field_errors
    assert set(errors) >= {"kind", "occurred_at", "duration_minutes", "next_follow_up"}
    assert (
        not Activity.objects.exists()
        and not AuditEntry.objects.filter(model="sales.activity").exists()
    )
    assert not CustomerFollowUp.objects.exists()


def test_an_activity_needs_a_customer_lead_or_opportunity(alice):
    with pytest.raises(ValidationFailed) as exc:
        svc.activity_create(actor=alice, data={"kind": "note", "subject": "x"})
    assert "customer" in exc.value.field_errors


def test_future_activity_and_follow_up_before_activity_refused(alice):
    customer = make_customer(alice)
    future = timezone.now() + datetime.timedelta(days=3)
    with pytest.raises(ValidationFailed) as exc:
        svc.activity_create(
            actor=alice,
            data={"kind": "call", "occurred_at": future.isoformat(), "customer": customer.pk},
        )
    assert "occurred_at" in exc.value.field_errors
    with pytest.raises(ValidationFailed) as exc:
        svc.activity_create(
            actor=alice,
            data={
                "kind": "call",
                "customer": customer.pk,
                "occurred_at": "2026-01-10T10:00",
                "next_follow_up": "2026-01-09",
            },
        )
    assert "next_follow_up" in exc.value.field_errors


def test_links_must_be_visible_hidden_looks_missing(alice, charlie):
    theirs = make_customer(charlie, name="West Co")
    with pytest.raises(ValidationFailed) as exc:
        svc.activity_create(actor=alice, data={"kind": "call", "customer": theirs.pk})
    assert exc.value.field_errors["customer"] == ["Customer not found."]
    with pytest.raises(ValidationFailed) as exc:
        svc.activity_create(actor=alice, data={"kind": "call", "customer": "abc"})
    assert "customer" in exc.value.field_errors


def test_opportunity_and_lead_fill_in_their_customer(alice):
    customer = make_customer(alice)
    opp = make_opportunity(alice, customer)
    a1 = svc.activity_create(actor=alice, data={"kind": "meeting", "opportunity": opp.pk})
    assert a1.customer_id == customer.pk and a1.opportunity_id == opp.pk
    converted = make_lead(alice, customer=customer)
    a2 = svc.activity_create(actor=alice, data={"kind": "call", "lead": converted.pk})
    assert a2.customer_id == customer.pk
    fresh = make_lead(alice, name="New lead")
    a3 = svc.activity_create(actor=alice, data={"kind": "call", "lead": fresh.pk})
    assert a3.customer_id is None and a3.lead_id == fresh.pk
    assert last_activity(customer) == max(a1.occurred_at, a2.occurred_at)


def test_customer_contradicting_the_opportunity_is_refused(alice):
    c1, c2 = make_customer(alice, name="One"), make_customer(alice, name="Two")
    opp = make_opportunity(alice, c1)
    with pytest.raises(ValidationFailed) as exc:
        svc.activity_create(
            actor=alice, data={"kind": "call", "opportunity": opp.pk, "customer": c2.pk}
        )
    assert "customer" in exc.value.field_errors


def test_last_activity_is_right_after_edit_and_delete(alice):
    customer = make_customer(alice)
    other = make_customer(alice, name="Other")
    t1 = timezone.now() - datetime.timedelta(days=10)
    t2 = timezone.now() - datetime.timedelta(days=2)
    old = svc.activity_create(
        actor=alice, data={"kind": "call", "occurred_at": t1.isoformat(), "customer": customer.pk}
    )
    new = svc.activity_create(
        actor=alice, data={"kind": "visit", "occurred_at": t2.isoformat(), "customer": customer.pk}
    )
    assert last_activity(customer) == t2
    # Moving the newest one back in time: the latest is now the other one.
    t0 = timezone.now() - datetime.timedelta(days=20)
    svc.activity_update(actor=alice, activity=new, data={"occurred_at": t0.isoformat()})
    assert last_activity(customer) == t1
    # Moving an activity to another customer updates both.
    svc.activity_update(actor=alice, activity=old, data={"customer": other.pk})
    assert last_activity(customer) == t0 and last_activity(other) == t1
    # Deleting the last one of a customer removes its row (back to "never contacted").
    admin_like = alice
    admin_like.role = "manager"
    admin_like.save()
    svc.activity_delete(actor=admin_like, activity=Activity.objects.get(pk=new.pk))
    assert last_activity(customer) is None
    assert AuditEntry.objects.filter(
        model="sales.activity", object_id=new.pk, action="delete"
    ).exists()


def test_next_follow_up_creates_moves_and_cancels_a_task_for_the_owner(alice):
    alice.time_zone = "Asia/Shanghai"
    alice.save()
    customer = make_customer(alice)
    activity = svc.activity_create(
        actor=alice,
        data={
            "kind": "call",
            "subject": "Quote",
            "customer": customer.pk,
            "next_follow_up": "2099-05-04",
        },
    )
    task = Task.objects.get(activity=activity)
    assert task.owner == alice and task.status == "open" and task.customer == customer
    assert task.title == "Follow up: Quote"
    # 09:00 in Shanghai = 01:00 UTC
    assert task.due_at == datetime.datetime(2099, 5, 4, 1, 0, tzinfo=datetime.UTC)
    svc.activity_update(actor=alice, activity=activity, data={"next_follow_up": "2099-05-06"})
    task.refresh_from_db()
    assert task.due_at.date() == datetime.date(2099, 5, 6)
    assert Task.objects.filter(activity=activity).count() == 1
    svc.activity_update(actor=alice, activity=activity, data={"next_follow_up": ""})
    task.refresh_from_db()
    assert task.status == "cancelled"


def test_roles_and_visibility_for_activities(alice, bob, manager, users_by_role):
    customer = make_customer(alice)
    activity = svc.activity_create(actor=alice, data={"kind": "call", "customer": customer.pk})
    # bob (same team, sales = own scope) cannot see it: 404, not 403
    with pytest.raises(NotFound):
        svc.activity_get_for_user(user=bob, id=activity.pk)
    with pytest.raises(NotFound):
        svc.activity_update(actor=bob, activity=activity, data={"subject": "x"})
    # the team's manager sees and may delete it
    assert svc.activity_get_for_user(user=manager, id=activity.pk) == activity
    # a sales rep may not delete (role), an analyst may not write at all
    with pytest.raises(PermissionDenied):
        svc.activity_delete(actor=alice, activity=activity)
    with pytest.raises(PermissionDenied):
        svc.activity_create(
            actor=users_by_role["analyst"], data={"kind": "call", "customer": customer.pk}
        )
    svc.activity_delete(actor=manager, activity=activity)
    assert not Activity.objects.exists()


# Tasks -------------------------------------------------------------------------------------


def test_task_create_defaults_to_self_and_is_audited(alice):
    task = svc.task_create(
        actor=alice, data={"title": "Send quote", "due_at": "2099-01-02T10:00", "priority": "high"}
    )
    assert task.owner == alice and task.team_id == alice.team_id and task.priority == "high"
    assert task.due_at.tzinfo is not None
    assert AuditEntry.objects.filter(model="sales.task", object_id=task.pk, action="create")


def test_task_validation(alice):
    with pytest.raises(ValidationFailed) as exc:
        svc.task_create(actor=alice, data={"title": "", "due_at": "soon", "priority": "asap"})
    assert set(exc.value.field_errors) == {"title", "due_at", "priority"}
    assert not Task.objects.exists()


def test_sales_rep_assigns_only_to_self(alice, bob):
    with pytest.raises(ValidationFailed) as exc:
        svc.task_create(
            actor=alice, data={"title": "x", "due_at": "2099-01-01T09:00", "owner": bob.pk}
        )
    assert "owner" in exc.value.field_errors


def test_manager_assigns_within_team_and_the_assignee_is_notified(manager, alice, charlie):
    task = svc.task_create(
        actor=manager, data={"title": "Call back", "due_at": "2099-01-01T09:00", "owner": alice.pk}
    )
    assert task.owner == alice and task.team_id == alice.team_id
    note = Notification.objects.get(user=alice, kind="task.assigned")
    assert "Call back" in note.title and note.url == f"/sales/tasks/{task.pk}/"
    with pytest.raises(ValidationFailed):
        svc.task_create(
            actor=manager, data={"title": "x", "due_at": "2099-01-01T09:00", "owner": charlie.pk}
        )


def test_done_cancel_reopen_and_refusals(alice):
    task = svc.task_create(actor=alice, data={"title": "x", "due_at": "2099-01-01T09:00"})
    task = svc.task_set_status(actor=alice, task=task, action="done")
    assert task.status == "done" and task.done_at is not None
    assert BusinessEvent.objects.filter(name="task.done", object_id=task.pk).exists()
    with pytest.raises(ValidationFailed):
        svc.task_set_status(actor=alice, task=task, action="done")
    task = svc.task_set_status(actor=alice, task=task, action="reopen")
    assert task.status == "open" and task.done_at is None
    task = svc.task_set_status(actor=alice, task=task, action="cancel")
    assert task.status == "cancelled"
    statuses = [
        e.changes["status"]
        for e in AuditEntry.objects.filter(model="sales.task", object_id=task.pk, action="update")
    ]
    assert ["open", "cancelled"] in statuses and ["done", "open"] in statuses


def test_moving_the_due_time_resets_the_reminder(alice):
    task = svc.task_create(actor=alice, data={"title": "x", "due_at": "2099-01-01T09:00"})
    Task.objects.filter(pk=task.pk).update(reminded_at=timezone.now())
    task = svc.task_update(actor=alice, task=task, data={"due_at": "2099-01-02T09:00"})
    task.refresh_from_db()
    assert task.reminded_at is None
    task = svc.task_update(actor=alice, task=task, data={"title": "y"})
    assert task.title == "y"


def test_task_visibility(alice, bob, manager, charlie):
    task = svc.task_create(actor=alice, data={"title": "x", "due_at": "2099-01-01T09:00"})
    with pytest.raises(NotFound):
        svc.task_get_for_user(user=bob, id=task.pk)
    with pytest.raises(NotFound):
        svc.task_set_status(actor=charlie, task=task, action="done")
    assert svc.task_get_for_user(user=manager, id=task.pk) == task


# Follow-up rules ---------------------------------------------------------------------------


def test_policy_defaults_and_setting_by_manager_only(manager, alice):
    assert svc.policy_days() == {"A": 7, "B": 14, "C": 30, "D": 60, "": 30}
    days = svc.policy_set(actor=manager, data={"A": 3, "none": "45"})
    assert days["A"] == 3 and days[""] == 45 and days["B"] == 14
    assert FollowUpPolicy.objects.count() == 2
    assert AuditEntry.objects.filter(model="sales.followuppolicy").exists()
    with pytest.raises(PermissionDenied):
        svc.policy_set(actor=alice, data={"A": 1})
    with pytest.raises(ValidationFailed) as exc:
        svc.policy_set(actor=manager, data={"A": 0, "Z": 5, "B": "x"})
    assert set(exc.value.field_errors) == {"A", "Z", "B"}
    assert svc.policy_days()["A"] == 3
