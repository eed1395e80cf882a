"""Reminders at the due time and the daily digest, driven as the worker drives them
(the task functions, with a fixed clock: no sleeping), sent through a real SMTP server.
Both are idempotent: a second run, or a second worker, sends nothing more. The
self-scheduling tick is checked with the database task backend."""

import datetime

import pytest
from django.core import mail
from django.utils import timezone

from guanxi.core.models import Notification
from guanxi.sales import services_followup as svc
from guanxi.sales import tasks as background
from guanxi.sales.models import DigestSent, Lead, Task
from tests.sales.test_followup_support import (  # noqa: F401 (fixtures)
    START,
    fixed_clock_fixture,
    make_customer,
    smtp_fixture,
)

pytestmark = pytest.mark.django_db(transaction=False)


def test_reminder_at_due_time_in_app_and_by_email_once(alice, smtp, fixed_clock):
    customer = make_customer(alice, name="ACME")
    task = svc.task_create(
        actor=alice,
        data={
            "title": "Call ACME",
            "due_at": (START + datetime.timedelta(minutes=30)).isoformat(),
            "customer": customer.pk,
        },
    )
    # Not due yet: nothing.
    assert background.process_due_reminders() == 0
    assert smtp.messages == []
    fixed_clock.advance(minutes=31)
    assert background.process_due_reminders() == 1
    note = Notification.objects.get(user=alice, kind="task.reminder")
    assert note.title == "Task due: Call ACME" and note.url == f"/sales/tasks/{task.pk}/"
    assert "ACME" in note.body
    [message] = smtp.messages
    assert message["To"] == "alice@example.com"
    assert message["Subject"] == "Task due: Call ACME"
    assert f"/sales/tasks/{task.pk}/" in message.get_content()
    # A second run (or another worker) sends nothing more.
    assert background.process_due_reminders() == 0
    fixed_clock.advance(minutes=5)
    assert background.process_due_reminders() == 0
    assert len(smtp.messages) == 1
    task.refresh_from_db()
    assert task.reminded_at == START + datetime.timedelta(minutes=31)


def test_claim_is_a_conditional_update(alice, fixed_clock):
    """Two workers racing on the same task: only the first UPDATE matches."""
    task = Task.objects.create(title="x", due_at=START - datetime.timedelta(minutes=1), owner=alice)
    assert background._remind(task.pk, timezone.now()) is not None
    assert background._remind(task.pk, timezone.now()) is None
    assert Notification.objects.filter(kind="task.reminder").count() == 1


def test_done_cancelled_and_long_overdue_tasks_are_not_reminded(alice, smtp, fixed_clock):
    done = Task.objects.create(
        title="done", due_at=START - datetime.timedelta(minutes=5), owner=alice, status="done"
    )
    cancelled = Task.objects.create(
        title="cancelled",
        due_at=START - datetime.timedelta(minutes=5),
        owner=alice,
        status="cancelled",
    )
    stale = Task.objects.create(
        title="stale", due_at=START - datetime.timedelta(days=3), owner=alice
    )
    assert background.process_due_reminders() == 0
    assert smtp.messages == [] and not Notification.objects.exists()
    stale.refresh_from_db()
    assert stale.reminded_at is not None  # marked, so it is not looked at again
    for t in (done, cancelled):
        t.refresh_from_db()
        assert t.reminded_at is None


def test_moving_the_due_time_reminds_again(alice, smtp, fixed_clock):
    task = svc.task_create(actor=alice, data={"title": "x", "due_at": START.isoformat()})
    assert background.process_due_reminders() == 1
    svc.task_update(
        actor=alice, task=task, data={"due_at": (START + datetime.timedelta(hours=1)).isoformat()}
    )
    fixed_clock.advance(hours=1)
    assert background.process_due_reminders() == 1
    assert len(smtp.messages) == 2


# Daily digest ------------------------------------------------------------------------------


def test_digest_at_8_local_once_per_day(alice, bob, smtp, fixed_clock, settings):
    settings.GUANXI_DIGEST_HOUR = 8
    alice.time_zone = "Asia/Shanghai"  # START = 08:30 there
    alice.save()
    bob.time_zone = "Europe/Berlin"  # START = 01:30 there
    bob.save()
    customer = make_customer(alice, name="ACME")
    today_start = datetime.datetime(
        2026, 3, 2, 10, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=8))
    )
    Task.objects.create(title="Today call", due_at=today_start, owner=alice, customer=customer)
    Task.objects.create(title="Old call", due_at=START - datetime.timedelta(days=2), owner=alice)
    Task.objects.create(title="Next week", due_at=START + datetime.timedelta(days=7), owner=alice)
    Task.objects.create(title="Bob's", due_at=START, owner=bob)
    Lead.objects.create(name="新线索 王", owner=alice, team=alice.team)

    assert background.send_daily_digests() == 1  # alice only: it is 01:30 in Berlin
    [message] = smtp.messages
    assert message["To"] == "alice@example.com"
    assert message["Subject"] == "Your day: 1 tasks today, 1 overdue, 1 new leads"
    text = message.get_content()
    assert "Today call" in text and "ACME" in text and "Old call" in text
    assert "Next week" not in text and "Bob's" not in text
    assert "新线索 王" in text
    assert "10:00" in text  # in alice's time zone
    # Later the same day, and a second worker: nothing more.
    fixed_clock.advance(hours=3)
    assert background.send_daily_digests() == 0
    assert len(smtp.messages) == 1
    # 08:00 in Berlin is 07:00 UTC: bob gets his.
    fixed_clock.set(datetime.datetime(2026, 3, 2, 7, 5, tzinfo=datetime.UTC))
    assert background.send_daily_digests() == 1
    assert smtp.messages[-1]["To"] == "bob@example.com"
    # The next day alice gets a new one (the old task is still overdue).
    fixed_clock.set(START + datetime.timedelta(days=1))
    assert background.send_daily_digests() == 1
    assert DigestSent.objects.filter(user=alice).count() == 2


def test_a_failed_digest_is_retried(alice, fixed_clock, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 1  # nothing listens there
    settings.EMAIL_TIMEOUT = 2
    Task.objects.create(title="Today", due_at=START + datetime.timedelta(hours=1), owner=alice)
    assert background.send_daily_digests() == 0
    assert not DigestSent.objects.exists()  # the claim was released
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert background.send_daily_digests() == 1
    assert len(mail.outbox) == 1


def test_no_digest_when_there_is_nothing_to_say(alice, smtp, fixed_clock):
    assert background.send_daily_digests() == 0
    assert smtp.messages == []
    assert DigestSent.objects.filter(user=alice).exists()


# The self-scheduling tick ------------------------------------------------------------------


@pytest.fixture
def db_backend(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult


def test_tick_schedules_itself_once(alice, db_backend, fixed_clock):
    DBTaskResult = db_backend
    background.start_scheduler()
    background.start_scheduler()  # a second worker starting: still one waiting tick
    waiting = DBTaskResult.objects.filter(task_path="guanxi.sales.tasks.tick", status="READY")
    assert waiting.count() == 1
    # Creating a task due in 20 s adds a tick for then (after the commit)...
    svc_task = svc.task_create(
        actor=alice,
        data={"title": "x", "due_at": (START + datetime.timedelta(seconds=20)).isoformat()},
    )
    assert svc_task.pk
    # ...(the test transaction never commits; schedule it as on_commit would)
    background.schedule(at=svc_task.due_at)
    assert waiting.count() == 1  # the waiting tick (now) is earlier: nothing added
    waiting.delete()
    background.schedule(at=svc_task.due_at)
    assert list(waiting.values_list("run_after", flat=True)) == [svc_task.due_at]
    # A tick runs: it reminds, then schedules the next tick at most a minute later.
    waiting.delete()
    fixed_clock.advance(seconds=30)
    result = background.tick.call()
    assert result["reminded"] == 1
    [next_run] = waiting.values_list("run_after", flat=True)
    assert next_run == fixed_clock.now + datetime.timedelta(minutes=1)
    # The next due task is sooner than a minute: the next tick is at its due time.
    waiting.delete()
    soon = Task.objects.create(
        title="y", due_at=fixed_clock.now + datetime.timedelta(seconds=10), owner=alice
    )
    background.schedule_next()
    assert list(waiting.values_list("run_after", flat=True)) == [soon.due_at]


def test_immediate_backend_never_recurses(alice):
    """With the test backend (runs at once, cannot defer) scheduling does nothing."""
    assert background.schedule() is None
    assert background.start_scheduler() is None


def test_old_finished_ticks_are_pruned(db_backend, fixed_clock):
    DBTaskResult = db_backend
    background.start_scheduler()
    DBTaskResult.objects.update(status="SUCCESSFUL", finished_at=START - datetime.timedelta(days=2))
    background.start_scheduler()
    assert DBTaskResult.objects.filter(status="SUCCESSFUL").count() == 1
    assert background.prune_ticks(START) == 1
    assert DBTaskResult.objects.filter(status="SUCCESSFUL").count() == 0
