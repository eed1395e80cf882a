"""The follow-up pages: my tasks by day, task and activity forms (errors shown, nothing
written), the quick "log activity" card of the customer 360 page and the timeline,
the needs-follow-up list and its rules page, notifications and the header bell, nav."""

import datetime

import pytest
from django.utils import timezone

from guanxi.core.models import Notification
from guanxi.sales.models import Activity, Task
from tests.sales.test_followup_support import make_customer

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def test_nav_has_tasks_and_follow_up(web_as, alice):
    r = web_as(alice).get("/sales/tasks/")
    assert r.status_code == 200
    html = r.content.decode()
    assert 'href="/sales/tasks/"' in html and 'href="/sales/follow-up/"' in html
    assert 'hx-get="/sales/notifications/bell/"' in html  # the bell in the header


def test_my_tasks_page_buckets(web_as, alice, bob):
    now = timezone.now()
    Task.objects.create(title="Overdue one", due_at=now - datetime.timedelta(days=3), owner=alice)
    Task.objects.create(title="Upcoming one", due_at=now + datetime.timedelta(days=3), owner=alice)
    Task.objects.create(title="Bob task", due_at=now, owner=bob)
    html = web_as(alice).get("/sales/tasks/").content.decode()
    overdue = html.index('id="overdue"')
    upcoming = html.index('id="upcoming"')
    assert overdue < html.index("Overdue one") < html.index('id="today"')
    assert upcoming < html.index("Upcoming one") < html.index('id="done"')
    assert "Bob task" not in html


def test_task_form_create_errors_and_done_with_htmx(web_as, alice):
    client = web_as(alice)
    r = client.post("/sales/tasks/new/", {"title": "", "due_at": "", "priority": "normal"})
    assert r.status_code == 422 and b"This field is required." in r.content
    assert not Task.objects.exists()
    customer = make_customer(alice)
    r = client.get(f"/sales/tasks/new/?customer={customer.pk}")
    assert customer.name.encode() in r.content
    r = client.post(
        "/sales/tasks/new/",
        {
            "title": "Visit",
            "due_at": "2099-02-03T10:00",
            "priority": "high",
            "customer": customer.pk,
        },
    )
    assert r.status_code == 302
    task = Task.objects.get()
    assert task.customer == customer and task.priority == "high"
    r = client.post(f"/sales/tasks/{task.pk}/done/", headers=HTMX)
    assert r.status_code == 200 and b"Reopen" in r.content
    task.refresh_from_db()
    assert task.status == "done"
    r = client.post(f"/sales/tasks/{task.pk}/done/", headers=HTMX)
    assert b"The task is Done." in r.content
    r = client.post(f"/sales/tasks/{task.pk}/", {"title": "Visit 2", "due_at": "2099-02-04T10:00"})
    assert r.status_code == 302
    task.refresh_from_db()
    assert task.title == "Visit 2"


def test_other_users_task_is_404(web_as, alice, charlie):
    task = Task.objects.create(title="x", due_at=timezone.now(), owner=charlie)
    assert web_as(alice).get(f"/sales/tasks/{task.pk}/").status_code == 404
    assert web_as(alice).post(f"/sales/tasks/{task.pk}/done/").status_code == 404


def test_quick_log_on_the_360_page(web_as, alice):
    client = web_as(alice)
    customer = make_customer(alice, name="王芳")
    page = client.get(f"/customers/{customer.pk}/").content.decode()
    assert f'hx-get="/sales/activities/quick/{customer.pk}/"' in page
    card = client.get(f"/sales/activities/quick/{customer.pk}/", headers=HTMX)
    assert card.status_code == 200 and b'name="next_follow_up"' in card.content
    assert b"adds a follow-up task" in card.content
    r = client.post(
        f"/sales/activities/quick/{customer.pk}/",
        {
            "kind": "wechat",
            "subject": "Sent the catalogue",
            "outcome": "Read",
            "next_follow_up": "2099-01-05",
        },
        headers=HTMX,
    )
    assert r.status_code == 200
    html = r.content.decode()
    assert "A follow-up task for 2099-01-05 was added to the tasks of alice." in html
    assert "Sent the catalogue" in html  # in the recent activities of the card
    activity = Activity.objects.get()
    assert activity.customer == customer and activity.kind == "wechat"
    assert Task.objects.get(activity=activity).owner == alice
    # The 360 timeline shows the activity and the task.
    page = client.get(f"/customers/{customer.pk}/").content.decode()
    assert "WeChat: Sent the catalogue" in page
    assert "Task: Follow up: Sent the catalogue" in page
    # Bad input: the card again with the message, nothing written.
    r = client.post(f"/sales/activities/quick/{customer.pk}/", {"kind": "pigeon"}, headers=HTMX)
    assert r.status_code == 422 and b"is not one of" in r.content
    assert Activity.objects.count() == 1


def test_quick_log_on_a_hidden_customer_is_404(web_as, alice, charlie):
    customer = make_customer(charlie)
    r = web_as(alice).post(f"/sales/activities/quick/{customer.pk}/", {"kind": "call"})
    assert r.status_code == 404
    assert not Activity.objects.exists()


def test_analyst_sees_the_card_without_the_form(web_as, users_by_role):
    analyst = users_by_role["analyst"]
    customer = make_customer(users_by_role["sales"])
    card = web_as(analyst).get(f"/sales/activities/quick/{customer.pk}/")
    assert card.status_code == 200 and b'name="kind"' not in card.content
    r = web_as(analyst).post(f"/sales/activities/quick/{customer.pk}/", {"kind": "call"})
    assert r.status_code == 403


def test_activity_page_edit_and_delete(web_as, alice, manager):
    customer = make_customer(alice)
    client = web_as(alice)
    r = client.post(
        "/sales/activities/new/", {"kind": "visit", "subject": "Visit", "customer": customer.pk}
    )
    assert r.status_code == 302 and r["Location"] == f"/customers/{customer.pk}/"
    activity = Activity.objects.get()
    r = client.post(
        f"/sales/activities/{activity.pk}/",
        {"kind": "visit", "subject": "Visit 2", "duration_minutes": "x"},
    )
    assert r.status_code == 422 and b"whole minutes" in r.content
    r = client.post(f"/sales/activities/{activity.pk}/", {"kind": "visit", "subject": "Visit 2"})
    assert r.status_code == 302
    activity.refresh_from_db()
    assert activity.subject == "Visit 2"
    assert client.post(f"/sales/activities/{activity.pk}/delete/").status_code == 403
    assert web_as(manager).post(f"/sales/activities/{activity.pk}/delete/").status_code == 302
    assert not Activity.objects.exists()


def test_follow_up_page_and_rules_page(web_as, alice, manager):
    make_customer(
        alice, name="Long idle", grade="A", created_at=timezone.now() - datetime.timedelta(days=30)
    )
    html = web_as(alice).get("/sales/follow-up/").content.decode()
    assert "Long idle" in html and "/sales/follow-up/settings/" not in html
    assert web_as(alice).get("/sales/follow-up/?grade=B").content.decode().count("Long idle") == 0
    assert web_as(alice).get("/sales/follow-up/settings/").status_code == 403
    client = web_as(manager)
    assert client.get("/sales/follow-up/settings/").status_code == 200
    data = {"days_A": "60", "days_B": "14", "days_C": "30", "days_D": "60", "days_none": "30"}
    assert client.post("/sales/follow-up/settings/", data).status_code == 302
    assert "Long idle" not in web_as(alice).get("/sales/follow-up/").content.decode()
    r = web_as(manager).post("/sales/follow-up/settings/", dict(data, days_A="0"))
    assert r.status_code == 422 and b"Enter whole days" in r.content


def test_notifications_page_and_bell(web_as, alice):
    Notification.objects.create(
        user=alice, kind="task.reminder", title="Task due: X", url="/sales/tasks/"
    )
    n2 = Notification.objects.create(
        user=alice, kind="lead.assigned", title="New lead", url="https://evil.example/"
    )
    client = web_as(alice)
    bell = client.get("/sales/notifications/bell/", headers=HTMX)
    assert b'data-unread="2"' in bell.content
    page = client.get("/sales/notifications/").content.decode()
    assert "Task due: X" in page and "New lead" in page
    # Opening one marks it read and never leaves the site.
    r = client.get(f"/sales/notifications/{n2.pk}/open/")
    assert r.status_code == 302 and r["Location"] == "/sales/notifications/"
    assert b'data-unread="1"' in client.get("/sales/notifications/bell/").content
    assert client.post("/sales/notifications/read/").status_code == 302
    assert b"data-unread" not in client.get("/sales/notifications/bell/").content
