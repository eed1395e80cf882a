"""/api/v1/activities, /tasks, /follow-up, /notifications: the same services through the
API, the one error format, role and visibility (own, team-mate, other team)."""

import datetime

import pytest
from django.utils import timezone

from guanxi.core.models import Notification
from guanxi.sales.models import Activity, CustomerFollowUp, Task
from tests.sales.test_followup_support import make_customer, make_opportunity

pytestmark = pytest.mark.django_db


def test_activity_crud(api_as, alice, manager):
    customer = make_customer(alice)
    api = api_as(alice)
    r = api.post(
        "/activities",
        {
            "kind": "visit",
            "subject": "Site visit",
            "customer": customer.pk,
            "duration_minutes": 45,
            "next_follow_up": "2099-03-01",
        },
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["kind"] == "visit" and body["owner_id"] == alice.pk
    assert body["follow_up_task_id"] == Task.objects.get(activity_id=body["id"]).pk
    assert CustomerFollowUp.objects.filter(customer=customer).exists()
    r = api.get(f"/activities/{body['id']}")
    assert r.status_code == 200 and r.json()["subject"] == "Site visit"
    r = api.patch(f"/activities/{body['id']}", {"outcome": "Signed"})
    assert r.status_code == 200 and r.json()["outcome"] == "Signed"
    r = api.get("/activities", customer=customer.pk)
    assert [a["id"] for a in r.json()] == [body["id"]]
    # sales reps may not delete; the manager of the team may
    assert api.delete(f"/activities/{body['id']}").status_code == 403
    assert api_as(manager).delete(f"/activities/{body['id']}").status_code == 204
    assert not Activity.objects.exists()


def test_activity_errors_in_the_one_format(api_as, alice):
    api = api_as(alice)
    r = api.post("/activities", {"kind": "telegram", "duration_minutes": "long"})
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "validation_error" and "kind" in body["errors"]
    assert "customer" in body["errors"]
    r = api.post("/activities", ["not", "an", "object"])
    assert r.status_code == 422
    assert not Activity.objects.exists()


def test_activity_visibility_and_roles(api_as, alice, bob, charlie, manager, users_by_role):
    customer = make_customer(alice)
    activity = api_as(alice).post("/activities", {"kind": "call", "customer": customer.pk}).json()
    assert api_as(bob).get(f"/activities/{activity['id']}").status_code == 404
    assert api_as(charlie).get(f"/activities/{activity['id']}").status_code == 404
    assert api_as(manager).get(f"/activities/{activity['id']}").status_code == 200
    assert api_as(bob).get("/activities").json() == []
    analyst = api_as(users_by_role["analyst"])
    assert analyst.get(f"/activities/{activity['id']}").status_code == 200
    r = analyst.post("/activities", {"kind": "call", "customer": customer.pk})
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"
    assert analyst.patch(f"/activities/{activity['id']}", {"subject": "x"}).status_code == 403


def test_activity_on_opportunity_fills_customer(api_as, alice):
    customer = make_customer(alice)
    opp = make_opportunity(alice, customer)
    r = api_as(alice).post("/activities", {"kind": "meeting", "opportunity": opp.pk})
    assert r.status_code == 201 and r.json()["customer_id"] == customer.pk


def test_task_lifecycle(api_as, alice):
    api = api_as(alice)
    r = api.post("/tasks", {"title": "Send quote", "due_at": "2099-01-02T10:00:00+08:00"})
    assert r.status_code == 201, r.content
    task = r.json()
    assert task["owner_id"] == alice.pk and task["status"] == "open"
    assert datetime.datetime.fromisoformat(task["due_at"]) == datetime.datetime(
        2099, 1, 2, 2, 0, tzinfo=datetime.UTC
    )
    assert api.post(f"/tasks/{task['id']}/done").json()["status"] == "done"
    r = api.post(f"/tasks/{task['id']}/done")
    assert r.status_code == 422 and "status" in r.json()["errors"]
    assert api.post(f"/tasks/{task['id']}/reopen").json()["status"] == "open"
    assert api.post(f"/tasks/{task['id']}/cancel").json()["status"] == "cancelled"
    r = api.patch(f"/tasks/{task['id']}", {"priority": "urgent", "title": "Quote v2"})
    assert r.json()["priority"] == "urgent" and r.json()["title"] == "Quote v2"
    assert api.delete(f"/tasks/{task['id']}").status_code == 403  # sales rep: no delete


def test_task_assignment_rules(api_as, alice, bob, manager, charlie):
    r = api_as(alice).post("/tasks", {"title": "x", "due_at": "2099-01-01T09:00", "owner": bob.pk})
    assert r.status_code == 422 and "owner" in r.json()["errors"]
    r = api_as(manager).post(
        "/tasks", {"title": "x", "due_at": "2099-01-01T09:00", "owner": "alice"}
    )
    assert r.status_code == 201 and r.json()["owner_id"] == alice.pk
    r = api_as(manager).post(
        "/tasks", {"title": "x", "due_at": "2099-01-01T09:00", "owner": charlie.pk}
    )
    assert r.status_code == 422
    # alice sees the task given to her; bob does not; the manager lists the team's
    assert len(api_as(alice).get("/tasks").json()) == 1
    assert api_as(bob).get("/tasks").json() == []
    assert len(api_as(manager).get("/tasks", owner=alice.pk).json()) == 1


def test_my_tasks_buckets_by_the_users_time_zone(api_as, alice):
    alice.time_zone = "America/New_York"
    alice.save()
    now = timezone.now()
    Task.objects.create(title="late", due_at=now - datetime.timedelta(days=2), owner=alice)
    Task.objects.create(title="later", due_at=now + datetime.timedelta(days=3), owner=alice)
    r = api_as(alice).get("/tasks/mine")
    body = r.json()
    assert [t["title"] for t in body["overdue"]] == ["late"]
    assert [t["title"] for t in body["upcoming"]] == ["later"]
    ny_today = now.astimezone(datetime.timezone(datetime.timedelta(hours=-5))).date()
    assert body["today_date"] in {
        ny_today.isoformat(),
        (ny_today + datetime.timedelta(days=1)).isoformat(),
    }


def test_follow_up_list_and_rules(api_as, alice, manager, bob):
    old = timezone.now() - datetime.timedelta(days=100)
    due = make_customer(alice, name="Old A", grade="A", created_at=old)
    make_customer(alice, name="New A", grade="A")
    make_customer(bob, name="Bob's", grade="A", created_at=old)
    r = api_as(alice).get("/follow-up")
    assert r.status_code == 200
    assert [i["customer_id"] for i in r.json()["items"]] == [due.pk]
    assert r.json()["items"][0]["has_activity"] is False and r.json()["items"][0]["days"] == 7
    assert api_as(alice).get("/follow-up", grade="B").json()["items"] == []
    assert api_as(alice).get("/follow-up/rules").json()["none"] == 30
    r = api_as(alice).put("/follow-up/rules", {"A": 5})
    assert r.status_code == 403
    r = api_as(manager).put("/follow-up/rules", {"A": 5, "none": 10})
    assert r.status_code == 200 and r.json()["A"] == 5 and r.json()["none"] == 10
    r = api_as(manager).put("/follow-up/rules", {"A": -1})
    assert r.status_code == 422 and "A" in r.json()["errors"]
    r = api_as(alice).get("/follow-up", cursor="garbage!")
    assert r.status_code == 422 and "cursor" in r.json()["errors"]


def test_notifications_api(api_as, alice, bob):
    n1 = Notification.objects.create(user=alice, kind="x", title="One")
    Notification.objects.create(user=alice, kind="x", title="Two")
    other = Notification.objects.create(user=bob, kind="x", title="Bob's")
    api = api_as(alice)
    body = api.get("/notifications").json()
    assert body["unread"] == 2 and [n["title"] for n in body["items"]] == ["Two", "One"]
    assert api.post(f"/notifications/{n1.pk}/read").json() == {"marked": 1}
    assert api.get("/notifications").json()["unread"] == 1
    assert api.post(f"/notifications/{other.pk}/read").status_code == 404
    assert api.post("/notifications/read").json() == {"marked": 1}
    assert api.get("/notifications", unread=True).json()["items"] == []
    other.refresh_from_db()
    assert other.read_at is None


def test_activity_list_query_count_does_not_grow(api_as, alice, django_assert_max_num_queries):
    customer = make_customer(alice)
    api = api_as(alice)
    for _i in range(3):
        api.post(
            "/activities", {"kind": "call", "customer": customer.pk, "next_follow_up": "2099-01-01"}
        )
    with django_assert_max_num_queries(6) as captured:
        r = api.get("/activities")
    few = len(captured)
    for _i in range(10):
        api.post(
            "/activities", {"kind": "call", "customer": customer.pk, "next_follow_up": "2099-01-01"}
        )
    with django_assert_max_num_queries(few):
        r = api.get("/activities")
    assert len(r.json()) == 13 and all(a["follow_up_task_id"] for a in r.json())
