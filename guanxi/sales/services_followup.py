"""Follow-up: activities logged against customers, leads and opportunities; tasks with a
due time and an assignee; the per-grade follow-up rules; notifications read.

Pages and the API hand plain dicts to these functions, so a value is accepted or refused
the same way wherever it comes from. Every write is audited, in one transaction; a
refused request writes nothing.

``CustomerFollowUp`` keeps the time of the latest activity of each customer: it is
recomputed from the activities (one indexed lookup) whenever an activity of that
customer is logged, edited or deleted, so it is right after any of them.
"""

import datetime
import zoneinfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.accounts.roles import Action, Scope, can, require, role_of
from guanxi.core import audit, events
from guanxi.core.errors import NotFound, PermissionDenied, ValidationFailed
from guanxi.core.models import Notification
from guanxi.core.notify import notify
from guanxi.core.visibility import can_see
from guanxi.customers.models import Customer
from guanxi.sales.models import (
    Activity,
    CalendarFeed,
    CustomerFollowUp,
    FollowUpPolicy,
    Lead,
    Opportunity,
    Task,
)

# A follow-up date becomes a task due at this local hour of the assignee's day.
FOLLOW_UP_HOUR = 9
MAX_DURATION_MINUTES = 24 * 60
# Follow-up rules when none is stored: days without activity, by customer grade.
DEFAULT_POLICY = {"A": 7, "B": 14, "C": 30, "D": 60, "": 30}
MAX_POLICY_DAYS = 3650

ACTIVITY_FIELDS = [
    "kind",
    "subject",
    "body",
    "occurred_at",
    "duration_minutes",
    "outcome",
    "next_follow_up",
    "customer",
    "lead",
    "opportunity",
]
TASK_FIELDS = [
    "title",
    "notes",
    "due_at",
    "priority",
    "status",
    "owner",
    "customer",
    "lead",
    "opportunity",
]


# Small helpers ---------------------------------------------------------------------------


class _Errors(dict):
    def add(self, field, message):
        self.setdefault(field, []).append(str(message))


def user_tz(user) -> datetime.tzinfo:
    name = getattr(user, "time_zone", "") or settings.TIME_ZONE
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def local_today(user, now: datetime.datetime | None = None) -> datetime.date:
    return (now or timezone.now()).astimezone(user_tz(user)).date()


def local_day_bounds(user, day: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """[start, end) of ``day`` in the user's zone, as aware datetimes."""
    tz = user_tz(user)
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=tz)
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min, tzinfo=tz)
    return start, end


def parse_when(raw, *, user, field: str, errors: _Errors) -> datetime.datetime | None:
    """An aware datetime from ISO text (``2026-05-01T09:30``, with or without an offset;
    without one it is the user's local time) or a datetime."""
    if raw in (None, ""):
        return None
    value = raw
    if isinstance(raw, str):
        text = raw.strip().replace(" ", "T", 1)
        try:
            value = parse_datetime(text)
        except ValueError:
            value = None
        if value is None:
            day = None
            try:
                day = parse_date(text)
            except ValueError:
                pass
            if day is not None:
                value = datetime.datetime.combine(day, datetime.time(FOLLOW_UP_HOUR))
    if not isinstance(value, datetime.datetime):
        errors.add(field, _("Enter a date and time, e.g. 2026-05-01 09:30."))
        return None
    if timezone.is_naive(value):
        value = value.replace(tzinfo=user_tz(user))
    return value


def parse_day(raw, *, field: str, errors: _Errors) -> datetime.date | None:
    if raw in (None, ""):
        return None
    if isinstance(raw, datetime.datetime):
        return raw.date()
    if isinstance(raw, datetime.date):
        return raw
    try:
        value = parse_date(str(raw).strip())
    except ValueError:
        value = None
    if value is None:
        errors.add(field, _("Enter a date as YYYY-MM-DD."))
    return value


def _text(data, name, limit, errors, *, required=False, label=None) -> str:
    value = data.get(name)
    value = "" if value is None else str(value).strip()
    if required and not value:
        errors.add(name, _("This field is required."))
    elif len(value) > limit:
        errors.add(name, _("At most %(n)d characters.") % {"n": limit})
    return value


def _choice(data, name, choices, errors, default=None) -> str | None:
    value = data.get(name)
    if value in (None, ""):
        if default is None:
            errors.add(name, _("This field is required."))
        return default
    value = str(value).strip().lower()
    if value not in choices.values:
        errors.add(
            name,
            _("“%(value)s” is not one of: %(choices)s.")
            % {"value": data.get(name), "choices": ", ".join(choices.values)},
        )
        return default
    return value


def _record_id(raw):
    if raw in (None, ""):
        return None
    if isinstance(raw, bool):
        raise ValueError
    if hasattr(raw, "pk"):
        return raw.pk
    return int(str(raw).strip())


def _linked(data, actor, errors: _Errors, *, instance=None) -> dict:
    """The customer / lead / opportunity named in ``data`` (ids), each visible to the
    actor; absent keys keep the instance's. A lead's or opportunity's customer is filled
    in when known; a customer that contradicts the opportunity's is refused."""
    models = {"customer": Customer, "lead": Lead, "opportunity": Opportunity}
    labels = {
        "customer": _("Customer not found."),
        "lead": _("Lead not found."),
        "opportunity": _("Opportunity not found."),
    }
    found = {}
    for name, model in models.items():
        if name not in data:
            found[name] = getattr(instance, name) if instance is not None else None
            continue
        try:
            pk = _record_id(data.get(name))
        except (TypeError, ValueError):
            errors.add(name, labels[name])
            found[name] = None
            continue
        if pk is None:
            found[name] = None
            continue
        record = model.objects.filter(pk=pk).first()
        if record is None or not can_see(actor, record):
            errors.add(name, labels[name])
            found[name] = None
        else:
            found[name] = record
    opportunity, lead, customer = found["opportunity"], found["lead"], found["customer"]
    explicit_customer = "customer" in data and data.get("customer") not in (None, "")
    if opportunity is not None:
        if customer is not None and customer.pk != opportunity.customer_id and explicit_customer:
            errors.add("customer", _("This is not the customer of the opportunity."))
        else:
            found["customer"] = opportunity.customer
    if lead is not None and found["customer"] is None and lead.customer_id:
        found["customer"] = lead.customer
    return found


def _touch_customers(*customer_ids) -> None:
    """Recompute ``CustomerFollowUp`` for these customers from their activities (and
    refresh its copies of the customer's owner, team and grade)."""
    for customer_id in {c for c in customer_ids if c}:
        latest = Activity.objects.filter(customer_id=customer_id).aggregate(m=Max("occurred_at"))[
            "m"
        ]
        if latest is None:
            CustomerFollowUp.objects.filter(customer_id=customer_id).delete()
            continue
        owner_id, team_id, grade = Customer.objects.filter(pk=customer_id).values_list(
            "owner_id", "team_id", "grade"
        )[0]
        CustomerFollowUp.objects.bulk_create(
            [
                CustomerFollowUp(
                    customer_id=customer_id,
                    last_activity_at=latest,
                    customer_owner_id=owner_id,
                    customer_team_id=team_id,
                    customer_grade=grade,
                )
            ],
            update_conflicts=True,
            unique_fields=["customer"],
            update_fields=[
                "last_activity_at",
                "customer_owner_id",
                "customer_team_id",
                "customer_grade",
            ],
        )


def sync_follow_up_copies(*, changed_since: datetime.datetime | None = None) -> int:
    """Bring the owner / team / grade copies in ``CustomerFollowUp`` up to date with the
    customers (those changed since ``changed_since``, or all); returns rows updated.
    Run by the worker's tick, so a reassigned or regraded customer moves in the
    "needs follow-up" list within a minute."""
    from django.db import connection

    f = CustomerFollowUp._meta.db_table
    c = Customer._meta.db_table
    where, params = "", []
    if changed_since is not None:
        where = " AND c.updated_at >= %s"
        params = [connection.ops.adapt_datetimefield_value(changed_since)]
    sql = (
        f"UPDATE {f} SET customer_owner_id = c.owner_id, customer_team_id = c.team_id, "
        f"customer_grade = c.grade FROM {c} c WHERE c.id = {f}.customer_id{where} AND ("
        f"{f}.customer_owner_id IS DISTINCT FROM c.owner_id OR "
        f"{f}.customer_team_id IS DISTINCT FROM c.team_id OR {f}.customer_grade <> c.grade)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _schedule_reminder(task: Task) -> None:
    from guanxi.sales import tasks as background

    due = task.due_at
    transaction.on_commit(lambda: background.schedule(at=due))


# Activities ------------------------------------------------------------------------------


def activity_get_for_user(*, user, id: int) -> Activity:
    activity = (
        Activity.objects.select_related("customer", "lead", "opportunity", "owner")
        .filter(pk=id)
        .first()
    )
    if activity is None or not can_see(user, activity):
        raise NotFound(_("Activity not found."))
    return activity


def clean_activity_input(data: dict, *, actor, instance: Activity | None = None) -> dict:
    errors = _Errors()
    partial = instance is not None
    cleaned: dict = {}

    def present(name):
        return name in data or not partial

    if present("kind"):
        cleaned["kind"] = _choice(data, "kind", Activity.Kind, errors)
    if present("subject"):
        cleaned["subject"] = _text(data, "subject", 200, errors)
    if present("body"):
        cleaned["body"] = _text(data, "body", 10000, errors)
    if present("outcome"):
        cleaned["outcome"] = _text(data, "outcome", 200, errors)
    if present("occurred_at"):
        when = parse_when(data.get("occurred_at"), user=actor, field="occurred_at", errors=errors)
        if when is None and "occurred_at" not in errors:
            if partial:
                errors.add("occurred_at", _("This field is required."))
            when = timezone.now()
        if when is not None and when > timezone.now() + datetime.timedelta(days=1):
            errors.add("occurred_at", _("An activity cannot be logged in the future."))
        cleaned["occurred_at"] = when
    if present("duration_minutes"):
        raw = data.get("duration_minutes")
        value = None
        if raw not in (None, ""):
            try:
                if isinstance(raw, bool):
                    raise ValueError
                value = int(str(raw).strip())
                if not 0 <= value <= MAX_DURATION_MINUTES:
                    raise ValueError
            except (TypeError, ValueError):
                errors.add(
                    "duration_minutes",
                    _("Enter whole minutes from 0 to %(max)d.") % {"max": MAX_DURATION_MINUTES},
                )
                value = None
        cleaned["duration_minutes"] = value
    if present("next_follow_up"):
        cleaned["next_follow_up"] = parse_day(
            data.get("next_follow_up"), field="next_follow_up", errors=errors
        )
    links = _linked(data, actor, errors, instance=instance)
    cleaned.update(links)
    if not any(links.values()) and not any(k in errors for k in links):
        errors.add("customer", _("Link the activity to a customer, a lead or an opportunity."))
    # The follow-up date may not be before the activity (the day it happened).
    when = cleaned.get("occurred_at") or (instance.occurred_at if instance else None)
    follow = cleaned.get("next_follow_up")
    if follow and when and follow < when.astimezone(user_tz(actor)).date():
        errors.add("next_follow_up", _("The next follow-up cannot be before the activity."))
    kind = cleaned.get("kind") or (instance.kind if instance else None)
    if "subject" in cleaned and not cleaned["subject"] and kind in Activity.Kind.values:
        cleaned["subject"] = str(Activity.Kind(kind).label)
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def _follow_up_due(owner, day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(FOLLOW_UP_HOUR), tzinfo=user_tz(owner))


def _follow_up_task(*, actor, activity: Activity) -> Task | None:
    """Create, move or cancel the open task made from the activity's follow-up date."""
    task = activity.follow_up_tasks.filter(status=Task.Status.OPEN).first()
    owner = activity.owner or actor
    if activity.next_follow_up is None:
        if task is not None:
            task.status = Task.Status.CANCELLED
            task.updated_at = timezone.now()
            task.save(update_fields=["status", "updated_at"])
            audit.record(
                actor=actor,
                action="update",
                instance=task,
                changes={"status": ["open", "cancelled"]},
                note=_("follow-up date removed from the activity"),
            )
        return None
    due = _follow_up_due(owner, activity.next_follow_up)
    if task is not None:
        if task.due_at != due:
            before = task.due_at
            task.due_at, task.reminded_at, task.updated_at = due, None, timezone.now()
            task.save(update_fields=["due_at", "reminded_at", "updated_at"])
            audit.record(
                actor=actor,
                action="update",
                instance=task,
                changes={"due_at": [before.isoformat(), due.isoformat()]},
            )
            _schedule_reminder(task)
        return task
    task = Task.objects.create(
        title=(_("Follow up: %(subject)s") % {"subject": activity.subject})[:200],
        due_at=due,
        owner=owner,
        team_id=owner.team_id,
        customer=activity.customer,
        lead=activity.lead,
        opportunity=activity.opportunity,
        activity=activity,
        created_by=actor,
    )
    audit.record(
        actor=actor,
        action="create",
        instance=task,
        changes={"due_at": [None, due.isoformat()], "owner": [None, str(owner)]},
        note=_("from the next follow-up date of an activity"),
    )
    _schedule_reminder(task)
    return task


@transaction.atomic
def activity_create(*, actor, data: dict) -> Activity:
    require(actor, Action.CREATE)
    cleaned = clean_activity_input(data, actor=actor)
    activity = Activity(owner=actor, team_id=actor.team_id, created_by=actor, **cleaned)
    activity.save()
    audit.record(
        actor=actor,
        action="create",
        instance=activity,
        changes={
            k: [None, v]
            for k, v in audit.snapshot(activity, ACTIVITY_FIELDS).items()
            if v not in (None, "")
        },
    )
    events.emit(
        "activity.logged",
        instance=activity,
        actor=actor,
        customer_id=activity.customer_id,
        payload={
            "kind": activity.kind,
            "lead_id": activity.lead_id,
            "opportunity_id": activity.opportunity_id,
        },
    )
    _touch_customers(activity.customer_id)
    _follow_up_task(actor=actor, activity=activity)
    return activity


@transaction.atomic
def activity_update(*, actor, activity: Activity, data: dict) -> Activity:
    require(actor, Action.CHANGE)
    activity = Activity.objects.select_for_update().filter(pk=activity.pk).first()
    if activity is None or not can_see(actor, activity):
        raise NotFound(_("Activity not found."))
    cleaned = clean_activity_input(data, actor=actor, instance=activity)
    before = audit.snapshot(activity, ACTIVITY_FIELDS)
    old_customer = activity.customer_id
    for name, value in cleaned.items():
        setattr(activity, name, value)
    activity.updated_at = timezone.now()
    activity.save()
    changes = audit.diff(before, audit.snapshot(activity, ACTIVITY_FIELDS))
    if changes:
        audit.record(actor=actor, action="update", instance=activity, changes=changes)
    _touch_customers(old_customer, activity.customer_id)
    _follow_up_task(actor=actor, activity=activity)
    return activity


@transaction.atomic
def activity_delete(*, actor, activity: Activity) -> None:
    require(actor, Action.DELETE)
    if not can_see(actor, activity):
        raise NotFound(_("Activity not found."))
    customer_id = activity.customer_id
    state = audit.snapshot(activity, ACTIVITY_FIELDS)
    pk, text = activity.pk, str(activity)
    activity.delete()
    audit.record(
        actor=actor,
        action="delete",
        model="sales.activity",
        object_id=pk,
        object_repr=text,
        changes={k: [v, None] for k, v in state.items() if v not in (None, "")},
    )
    _touch_customers(customer_id)


# Tasks -----------------------------------------------------------------------------------


def task_get_for_user(*, user, id: int) -> Task:
    task = (
        Task.objects.select_related("customer", "lead", "opportunity", "owner")
        .filter(pk=id)
        .first()
    )
    if task is None or not can_see(user, task):
        raise NotFound(_("Task not found."))
    return task


def assignable_users(actor):
    """Who ``actor`` may give a task to: a sales rep only themself; a manager their
    team; a role that sees everything, anyone active."""
    qs = get_user_model().objects.filter(is_active=True).order_by("username")
    scope = role_of(actor).scope
    if not can(actor, Action.ASSIGN):
        return qs.filter(pk=actor.pk)
    if scope == Scope.ALL:
        return qs
    if scope == Scope.TEAM and actor.team_id:
        return qs.filter(team_id=actor.team_id)
    return qs.filter(pk=actor.pk)


def _assignee(raw, actor, errors: _Errors, *, current=None):
    User = get_user_model()
    key = str(raw.pk if hasattr(raw, "pk") else raw).strip()
    qs = User.objects.filter(is_active=True)
    user = qs.filter(pk=int(key)).first() if key.isdigit() else None
    if user is None:
        user = qs.filter(username=key).first()
    if user is None:
        errors.add("owner", _("There is no active user “%(value)s”.") % {"value": key})
        return None
    if user.pk in (actor.pk, current):
        return user
    if not assignable_users(actor).filter(pk=user.pk).exists():
        errors.add("owner", _("You may not give tasks to %(user)s.") % {"user": user})
        return None
    return user


def clean_task_input(data: dict, *, actor, instance: Task | None = None) -> dict:
    errors = _Errors()
    partial = instance is not None
    cleaned: dict = {}

    def present(name):
        return name in data or not partial

    if present("title"):
        cleaned["title"] = _text(data, "title", 200, errors, required=True)
    if present("notes"):
        cleaned["notes"] = _text(data, "notes", 10000, errors)
    if present("due_at"):
        due = parse_when(data.get("due_at"), user=actor, field="due_at", errors=errors)
        if due is None and "due_at" not in errors:
            errors.add("due_at", _("This field is required."))
        cleaned["due_at"] = due
    if present("priority"):
        cleaned["priority"] = _choice(
            data, "priority", Task.Priority, errors, default=Task.Priority.NORMAL
        )
    if "owner" in data and data.get("owner") not in (None, ""):
        owner = _assignee(
            data["owner"], actor, errors, current=instance.owner_id if instance else None
        )
        if owner is not None:
            cleaned["owner"] = owner
    elif not partial:
        cleaned["owner"] = actor
    cleaned.update(_linked(data, actor, errors, instance=instance))
    if errors:
        raise ValidationFailed(errors)
    return cleaned


@transaction.atomic
def task_create(*, actor, data: dict) -> Task:
    require(actor, Action.CREATE)
    cleaned = clean_task_input(data, actor=actor)
    owner = cleaned["owner"]
    task = Task(team_id=owner.team_id, created_by=actor, **cleaned)
    task.save()
    audit.record(
        actor=actor,
        action="create",
        instance=task,
        changes={
            k: [None, v]
            for k, v in audit.snapshot(task, TASK_FIELDS).items()
            if v not in (None, "")
        },
    )
    events.emit("task.created", instance=task, actor=actor, customer_id=task.customer_id)
    if owner.pk != actor.pk:
        _notify_assigned(task, actor)
    _schedule_reminder(task)
    return task


def _notify_assigned(task: Task, actor) -> None:
    notify(
        task.owner,
        kind="task.assigned",
        title=gettext_lazy("New task from %(user)s: %(title)s")
        % {"user": str(actor), "title": task.title},
        body=task.notes,
        url=f"/sales/tasks/{task.pk}/",
    )


@transaction.atomic
def task_update(*, actor, task: Task, data: dict) -> Task:
    require(actor, Action.CHANGE)
    task = Task.objects.select_for_update().filter(pk=task.pk).first()
    if task is None or not can_see(actor, task):
        raise NotFound(_("Task not found."))
    data = {k: v for k, v in data.items() if k != "status"}
    cleaned = clean_task_input(data, actor=actor, instance=task)
    before = audit.snapshot(task, TASK_FIELDS)
    old_owner, old_due = task.owner_id, task.due_at
    for name, value in cleaned.items():
        setattr(task, name, value)
    if task.owner_id != old_owner:
        task.team_id = task.owner.team_id
    if task.due_at != old_due or task.owner_id != old_owner:
        task.reminded_at = None  # a new due time (or assignee) is reminded again
    task.updated_at = timezone.now()
    task.save()
    changes = audit.diff(before, audit.snapshot(task, TASK_FIELDS))
    if changes:
        audit.record(actor=actor, action="update", instance=task, changes=changes)
    if task.owner_id != old_owner and task.owner_id != actor.pk:
        _notify_assigned(task, actor)
    if task.due_at != old_due:
        _schedule_reminder(task)
    return task


TRANSITIONS = {
    "done": ({Task.Status.OPEN}, Task.Status.DONE),
    "cancel": ({Task.Status.OPEN}, Task.Status.CANCELLED),
    "reopen": ({Task.Status.DONE, Task.Status.CANCELLED}, Task.Status.OPEN),
}


@transaction.atomic
def task_set_status(*, actor, task: Task, action: str) -> Task:
    """done / cancel / reopen. Done again or reopened twice is refused with a message."""
    require(actor, Action.CHANGE)
    if action not in TRANSITIONS:
        raise ValidationFailed({"status": [_("Unknown action.")]})
    task = Task.objects.select_for_update().filter(pk=task.pk).first()
    if task is None or not can_see(actor, task):
        raise NotFound(_("Task not found."))
    allowed, target = TRANSITIONS[action]
    if task.status not in allowed:
        raise ValidationFailed(
            {"status": [_("The task is %(status)s.") % {"status": task.get_status_display()}]}
        )
    before = task.status
    task.status = target
    task.done_at = timezone.now() if target == Task.Status.DONE else None
    task.updated_at = timezone.now()
    task.save(update_fields=["status", "done_at", "updated_at"])
    audit.record(actor=actor, action="update", instance=task, changes={"status": [before, target]})
    if target == Task.Status.DONE:
        events.emit("task.done", instance=task, actor=actor, customer_id=task.customer_id)
    return task


@transaction.atomic
def task_delete(*, actor, task: Task) -> None:
    require(actor, Action.DELETE)
    if not can_see(actor, task):
        raise NotFound(_("Task not found."))
    state = audit.snapshot(task, TASK_FIELDS)
    pk, text = task.pk, str(task)
    task.delete()
    audit.record(
        actor=actor,
        action="delete",
        model="sales.task",
        object_id=pk,
        object_repr=text,
        changes={k: [v, None] for k, v in state.items() if v not in (None, "")},
    )


# Follow-up rules ---------------------------------------------------------------------------


def can_edit_policy(user) -> bool:
    return role_of(user).key in ("admin", "manager")


def policy_days() -> dict[str, int]:
    """{grade: days}, every grade present ("" = no grade), stored rules over defaults."""
    days = dict(DEFAULT_POLICY)
    days.update(dict(FollowUpPolicy.objects.values_list("grade", "days")))
    return days


@transaction.atomic
def policy_set(*, actor, data: dict) -> dict[str, int]:
    """``data`` maps grade ("A" … "D", "" or "none" for no grade) to days (1–3650)."""
    if not can_edit_policy(actor):
        raise PermissionDenied()
    errors = _Errors()
    grades = {g for g in DEFAULT_POLICY}
    wanted: dict[str, int] = {}
    for raw_grade, raw_days in data.items():
        grade = "" if str(raw_grade).lower() in ("", "none", "-") else str(raw_grade).upper()
        key = grade or "none"
        if grade not in grades:
            errors.add(key, _("Unknown grade."))
            continue
        try:
            if isinstance(raw_days, bool):
                raise ValueError
            days = int(str(raw_days).strip())
            if not 1 <= days <= MAX_POLICY_DAYS:
                raise ValueError
        except (TypeError, ValueError):
            errors.add(key, _("Enter whole days from 1 to %(max)d.") % {"max": MAX_POLICY_DAYS})
            continue
        wanted[grade] = days
    if errors:
        raise ValidationFailed(errors)
    before = policy_days()
    for grade, days in wanted.items():
        FollowUpPolicy.objects.update_or_create(grade=grade, defaults={"days": days})
    after = policy_days()
    changes = {(g or "none"): [before[g], after[g]] for g in after if before[g] != after[g]}
    if changes:
        audit.record(
            actor=actor,
            action="update",
            model="sales.followuppolicy",
            object_id=0,
            object_repr=str(_("Follow-up rules")),
            changes=changes,
        )
    return after


# Calendar feed ---------------------------------------------------------------------------


@transaction.atomic
def calendar_feed_regenerate(*, user) -> str:
    """A new private feed token for ``user`` (the old address stops working); only its
    digest is stored, so the token is returned once."""
    require(user, Action.VIEW)
    token, digest = CalendarFeed.new_token()
    existed = CalendarFeed.objects.filter(user=user).exists()
    CalendarFeed.objects.update_or_create(
        user=user, defaults={"digest": digest, "created_at": timezone.now()}
    )
    audit.record(
        actor=user,
        action="update" if existed else "create",
        model="sales.calendarfeed",
        object_id=user.pk,
        object_repr=str(user),
        note=_("calendar feed address regenerated") if existed else "",
    )
    return token


@transaction.atomic
def calendar_feed_revoke(*, user) -> None:
    deleted, _n = CalendarFeed.objects.filter(user=user).delete()
    if deleted:
        audit.record(
            actor=user,
            action="delete",
            model="sales.calendarfeed",
            object_id=user.pk,
            object_repr=str(user),
        )


def calendar_feed_user(token: str):
    """The active user whose feed this token opens, or None."""
    if not token or len(token) > 100:
        return None
    feed = (
        CalendarFeed.objects.select_related("user")
        .filter(digest=CalendarFeed.digest_of(token))
        .first()
    )
    if feed is None or not feed.user.is_active:
        return None
    return feed.user


# Notifications ---------------------------------------------------------------------------


def notification_mark_read(*, user, id: int | None = None) -> int:
    """Mark one of the user's notifications (or all of them) read; returns how many."""
    qs = Notification.objects.filter(user=user, read_at__isnull=True)
    if id is not None:
        if not Notification.objects.filter(user=user, pk=id).exists():
            raise NotFound(_("Notification not found."))
        qs = qs.filter(pk=id)
    return qs.update(read_at=timezone.now())
