"""Background work for follow-up: task reminders at their due time and the daily digest.

django-tasks has no periodic scheduler, so ``tick`` schedules itself: it sends what is
due, then enqueues the next ``tick`` for the next due time, at most a minute later.
``guanxi worker`` (and so ``guanxi run``) starts the chain with ``start_scheduler``, and
creating or moving a task enqueues a tick at its due time when none is waiting for it
(``schedule``). Extra ticks are harmless: a tick only enqueues a successor when no other
tick is already waiting for that time, so parallel chains collapse into one.

Both jobs are idempotent with more than one worker: a reminder is claimed by a
conditional UPDATE of ``Task.reminded_at`` (only one worker's UPDATE matches), a digest
by inserting the unique (user, day) ``DigestSent`` row.
"""

import datetime
import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django_tasks import task

from guanxi.accounts.roles import Action, can
from guanxi.core.notify import notify, send_notification_email
from guanxi.sales.models import DigestSent, Lead, Task
from guanxi.sales.services_followup import local_day_bounds, sync_follow_up_copies, user_tz

logger = logging.getLogger(__name__)

TICK_EVERY = datetime.timedelta(minutes=1)
# A task first seen more than this long after its due time (the worker was down, or it
# was created already overdue) is marked reminded without a message: it is on the
# overdue list and in the digest.
REMINDER_GRACE = datetime.timedelta(hours=24)
BATCH = 200


def digest_hour() -> int:
    """The local hour (0–23) from which each user's daily digest is sent."""
    return int(getattr(settings, "GUANXI_DIGEST_HOUR", 8))


# Reminders -------------------------------------------------------------------------------


def _due_tasks(now):
    return (
        Task.objects.filter(status=Task.Status.OPEN, reminded_at__isnull=True, due_at__lte=now)
        .order_by("due_at", "id")
        .values_list("id", flat=True)
    )


def process_due_reminders(now: datetime.datetime | None = None) -> int:
    """Remind the assignee of every open task that has come due; returns how many were
    sent. Each task is claimed by ``UPDATE … WHERE reminded_at IS NULL`` first."""
    now = now or timezone.now()
    sent = 0
    seen: set[int] = set()
    while True:
        ids = [pk for pk in _due_tasks(now)[:BATCH] if pk not in seen]
        if not ids:
            return sent
        for pk in ids:
            seen.add(pk)
            note = _remind(pk, now)
            if note is not None:
                sent += 1
                try:
                    send_notification_email(note)
                except Exception:  # the in-app reminder stands; the e-mail is not retried
                    logger.exception("task reminder e-mail for task %s failed", pk)


def _remind(task_id: int, now):
    with transaction.atomic():
        claimed = Task.objects.filter(
            pk=task_id, status=Task.Status.OPEN, reminded_at__isnull=True, due_at__lte=now
        ).update(reminded_at=now)
        if not claimed:
            return None  # another worker has it, or it was done / moved meanwhile
        task = Task.objects.select_related("owner", "customer").get(pk=task_id)
        if task.owner is None or not task.owner.is_active or task.due_at < now - REMINDER_GRACE:
            return None
        owner = task.owner
        with timezone.override(user_tz(owner)):
            due = timezone.localtime(task.due_at).strftime("%Y-%m-%d %H:%M")
        body = _("Due %(due)s") % {"due": due}
        if task.customer_id:
            body = _("Due %(due)s · %(customer)s") % {"due": due, "customer": task.customer}
        note = notify(
            owner,
            kind="task.reminder",
            title=_("Task due: %(title)s") % {"title": task.title},
            body=body,
            url=reverse("sales:task_detail", args=[task.pk]),
        )
    return note if owner.email else None


# Daily digest ----------------------------------------------------------------------------


def send_daily_digests(now: datetime.datetime | None = None) -> int:
    """Send each active user with an e-mail address their digest once per local day,
    from ``digest_hour()`` on; returns how many were sent."""
    now = now or timezone.now()
    User = get_user_model()
    users = User.objects.filter(is_active=True).exclude(email="")
    sent = 0
    for zone_name in users.values_list("time_zone", flat=True).distinct().order_by():
        local = now.astimezone(user_tz(User(time_zone=zone_name)))
        if local.hour < digest_hour():
            continue
        day = local.date()
        waiting = users.filter(time_zone=zone_name).exclude(
            pk__in=DigestSent.objects.filter(day=day).values("user_id")
        )
        for user in waiting:
            if can(user, Action.VIEW) and _send_digest(user, day, now):
                sent += 1
    return sent


def digest_content(user, day: datetime.date, now) -> dict:
    start, end = local_day_bounds(user, day)
    open_tasks = Task.objects.filter(owner=user, status=Task.Status.OPEN).select_related("customer")
    previous = (
        DigestSent.objects.filter(user=user, day__lt=day).order_by("-day").values("sent_at").first()
    )
    since = previous["sent_at"] if previous else now - datetime.timedelta(days=1)
    leads = Lead.objects.filter(owner=user, created_at__gte=since).order_by("-created_at")
    return {
        "user": user,
        "day": day,
        "today": list(open_tasks.filter(due_at__gte=start, due_at__lt=end).order_by("due_at")[:50]),
        "overdue": list(open_tasks.filter(due_at__lt=start).order_by("due_at")[:50]),
        "overdue_count": open_tasks.filter(due_at__lt=start).count(),
        "leads": list(leads[:20]),
        "leads_count": leads.count(),
        "base_url": settings.GUANXI_BASE_URL.rstrip("/"),
    }


def _send_digest(user, day, now) -> bool:
    try:
        with transaction.atomic():
            DigestSent.objects.create(user=user, day=day, sent_at=now)
    except IntegrityError:
        return False  # another worker claimed it
    try:
        with translation.override(user.language or settings.LANGUAGE_CODE):
            with timezone.override(user_tz(user)):
                context = digest_content(user, day, now)
                if not (context["today"] or context["overdue"] or context["leads"]):
                    return False  # nothing to say today; the day is still claimed
                subject = str(
                    _("Your day: %(today)d tasks today, %(overdue)d overdue, %(leads)d new leads")
                    % {
                        "today": len(context["today"]),
                        "overdue": context["overdue_count"],
                        "leads": context["leads_count"],
                    }
                )
                body = render_to_string("sales/followup/digest_email.txt", context)
        from django.core.mail import send_mail

        send_mail(subject, body, None, [user.email], fail_silently=False)
        return True
    except Exception:
        # Not sent: release the claim so the next tick tries again.
        logger.exception("daily digest for user %s failed", user.pk)
        DigestSent.objects.filter(user=user, day=day).delete()
        return False


# The self-scheduling tick ----------------------------------------------------------------


# Customers changed since this time have their follow-up copies re-synced (None: all,
# the first tick of a worker process). Kept a few minutes behind, for transactions that
# were still open.
_synced_until: datetime.datetime | None = None
SYNC_MARGIN = datetime.timedelta(minutes=5)


def sync_copies(now: datetime.datetime | None = None) -> int:
    global _synced_until
    now = now or timezone.now()
    updated = sync_follow_up_copies(changed_since=_synced_until)
    _synced_until = now - SYNC_MARGIN
    return updated


@task()
def tick() -> dict:
    """Send due reminders and digests, re-sync the follow-up list's copies of customer
    owners and grades, then schedule the next tick."""
    try:
        reminded = process_due_reminders()
        digests = send_daily_digests()
        synced = sync_copies()
    finally:
        schedule_next()
    return {"reminded": reminded, "digests": digests, "synced": synced}


def prune_ticks(now) -> int:
    """Forget finished ticks older than a day (one is written every minute)."""
    backend = tick.get_backend()
    if not getattr(backend, "supports_defer", False):
        return 0
    try:
        from django_tasks_db.models import DBTaskResult
    except ImportError:
        return 0
    deleted, _n = DBTaskResult.objects.filter(
        task_path=tick.module_path,
        status="SUCCESSFUL",
        finished_at__lt=now - datetime.timedelta(days=1),
    ).delete()
    return deleted


def next_due(now) -> datetime.datetime | None:
    return (
        Task.objects.filter(status=Task.Status.OPEN, reminded_at__isnull=True, due_at__gt=now)
        .order_by("due_at")
        .values_list("due_at", flat=True)
        .first()
    )


def schedule_next(now: datetime.datetime | None = None):
    now = now or timezone.now()
    prune_ticks(now)
    due = next_due(now)
    return schedule(at=min(due, now + TICK_EVERY) if due else now + TICK_EVERY)


def schedule(at: datetime.datetime | None = None):
    """Make sure a tick runs at ``at`` (default: now) or earlier. Does nothing with a
    backend that cannot defer (tests run ``process_due_reminders`` themselves)."""
    backend = tick.get_backend()
    if not getattr(backend, "supports_defer", False):
        return None
    now = timezone.now()
    at = max(at or now, now)
    try:
        from django_tasks_db.models import DBTaskResult

        waiting = DBTaskResult.objects.filter(
            task_path=tick.module_path, status="READY", run_after__lte=at
        )
        if waiting.exists():
            return None
    except ImportError:  # another deferring backend: just enqueue
        pass
    return tick.using(run_after=at).enqueue()


def start_scheduler():
    """Called by ``guanxi worker``: a tick now, unless one is already waiting."""
    return schedule(at=timezone.now())
