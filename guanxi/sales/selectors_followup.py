"""Reading follow-up records: my tasks by day, lists for the API, the "needs follow-up"
list and notifications. Every list goes through ``guanxi.core.visibility``."""

import base64
import dataclasses
import datetime
import json

from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from guanxi.accounts.roles import Scope, role_of
from guanxi.core.errors import ValidationFailed
from guanxi.core.models import Notification
from guanxi.core.visibility import can_see, visible_to
from guanxi.customers.models import Customer
from guanxi.sales.models import Activity, CustomerFollowUp, Task
from guanxi.sales.services_followup import local_day_bounds, local_today, policy_days

# My tasks --------------------------------------------------------------------------------


def my_tasks(user, *, now: datetime.datetime | None = None, limit: int = 100) -> dict:
    """The user's tasks by their local day: overdue, today, upcoming (open) and recently
    done. Each list is one range of the (owner, status, due_at) index."""
    now = now or timezone.now()
    today = local_today(user, now)
    start, end = local_day_bounds(user, today)
    base = Task.objects.filter(owner=user).select_related("customer", "lead", "opportunity")
    open_ = base.filter(status=Task.Status.OPEN)
    return {
        "today_date": today,
        "overdue": list(open_.filter(due_at__lt=start).order_by("due_at", "id")[:limit]),
        "today": list(open_.filter(due_at__gte=start, due_at__lt=end).order_by("due_at", "id")),
        "upcoming": list(open_.filter(due_at__gte=end).order_by("due_at", "id")[:limit]),
        "done": list(base.filter(status=Task.Status.DONE).order_by("-done_at", "-id")[:20]),
    }


def task_list(user, *, params: dict, limit: int = 50, offset: int = 0):
    qs = visible_to(user, Task.objects.all()).select_related("customer", "owner")
    if params.get("owner"):
        qs = qs.filter(owner_id=params["owner"])
    if params.get("status"):
        qs = qs.filter(status=params["status"])
    for name in ("customer", "lead", "opportunity"):
        if params.get(name):
            qs = qs.filter(**{f"{name}_id": params[name]})
    if params.get("due_after"):
        qs = qs.filter(due_at__gte=params["due_after"])
    if params.get("due_before"):
        qs = qs.filter(due_at__lt=params["due_before"])
    return list(qs.order_by("due_at", "id")[offset : offset + limit])


def activity_list(user, *, params: dict, limit: int = 50, offset: int = 0):
    open_task = Task.objects.filter(activity=OuterRef("pk"), status=Task.Status.OPEN)
    qs = visible_to(user, Activity.objects.all()).annotate(
        open_task_id=Subquery(open_task.values("id")[:1])
    )
    for name in ("customer", "lead", "opportunity", "owner"):
        if params.get(name):
            qs = qs.filter(**{f"{name}_id": params[name]})
    if params.get("kind"):
        qs = qs.filter(kind=params["kind"])
    if params.get("after"):
        qs = qs.filter(occurred_at__gte=params["after"])
    if params.get("before"):
        qs = qs.filter(occurred_at__lt=params["before"])
    return list(qs.order_by("-occurred_at", "-id")[offset : offset + limit])


def activities_of(user, **link):
    """The activities of one customer / lead / opportunity, newest first (the record
    itself is visible to the user; its activities are its history)."""
    return list(
        Activity.objects.filter(**link).select_related("owner").order_by("-occurred_at", "-id")[:50]
    )


# Needs follow-up -------------------------------------------------------------------------


@dataclasses.dataclass
class FollowUpRow:
    customer: Customer
    last_touch: datetime.datetime  # the last activity, or the creation when none
    has_activity: bool
    due_since: datetime.datetime  # when it started to need a follow-up
    days: int  # the rule for its grade


def _encode(key: datetime.datetime, pk: int) -> str:
    raw = json.dumps([key.isoformat(), pk]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime.datetime, int]:
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode())
        text, pk = json.loads(raw)
        key = parse_datetime(text)
        if key is None or type(pk) is not int or timezone.is_naive(key):
            raise ValueError
        return key, pk
    except (ValueError, TypeError) as exc:
        raise ValidationFailed({"cursor": [_("This page link is not valid.")]}) from exc


def needs_follow_up(
    user,
    *,
    now: datetime.datetime | None = None,
    grade: str | None = None,
    cursor: str | None = None,
    size: int = 50,
) -> tuple[list[FollowUpRow], str | None]:
    """Customers visible to ``user`` whose last activity (or creation, if none) is older
    than the rule for their grade, the longest overdue first; keyset-paginated.

    The order key is ``last touch + rule days`` (when it became due). For each grade the
    rows come from two index ranges, each read only ``size + 1`` deep:

    * customers with an activity: ``CustomerFollowUp.last_activity_at < cutoff`` (its
      index), joined to the customer for grade and visibility;
    * customers never contacted: ``Customer (grade, created_at) < cutoff`` (or the
      owner's / team's created_at index) without a ``CustomerFollowUp`` row.

    The streams are merged in Python: at most 10 × (size + 1) small rows."""
    now = now or timezone.now()
    days = policy_days()
    grades = list(days) if grade is None else [grade]
    after = _decode(cursor) if cursor else None
    # The scope as ranges of the copies in CustomerFollowUp: one query per range, so
    # each is an index range read in order (own; a manager's team; everything).
    scope = role_of(user).scope if user is not None and user.is_authenticated else None
    if scope == Scope.ALL:
        ranges, customer_ranges = [Q()], [Q()]
    elif scope is None or not user.is_active:
        return [], None
    elif scope == Scope.TEAM and user.team_id:
        ranges = [Q(customer_owner_id=user.pk), Q(customer_team_id=user.team_id)]
        customer_ranges = [Q(owner_id=user.pk), Q(team_id=user.team_id)]
    else:
        ranges, customer_ranges = [Q(customer_owner_id=user.pk)], [Q(owner_id=user.pk)]
    candidates: dict[int, tuple] = {}
    for g in grades:
        if g not in days:
            continue
        span = datetime.timedelta(days=days[g])
        cutoff = now - span
        low = after[0] - span if after is not None else None
        for scope_q in ranges:
            touched = CustomerFollowUp.objects.filter(
                scope_q, customer_grade=g, last_activity_at__lt=cutoff
            )
            if low is not None:
                # ">= low AND (> low OR id > last)": a range start on the index.
                touched = touched.filter(last_activity_at__gte=low).filter(
                    Q(last_activity_at__gt=low) | Q(customer_id__gt=after[1])
                )
            for pk, at in touched.order_by("last_activity_at", "customer_id").values_list(
                "customer_id", "last_activity_at"
            )[: size + 1]:
                candidates[pk] = (at + span, pk, at, True, days[g], g)
        for scope_q in customer_ranges:
            fresh = Customer.objects.filter(
                scope_q, grade=g, created_at__lt=cutoff, follow_up__isnull=True
            )
            if low is not None:
                fresh = fresh.filter(created_at__gte=low).filter(
                    Q(created_at__gt=low) | Q(id__gt=after[1])
                )
            for pk, at in fresh.order_by("created_at", "id").values_list("id", "created_at")[
                : size + 1
            ]:
                candidates[pk] = (at + span, pk, at, False, days[g], g)
    ordered = sorted(candidates.values(), key=lambda c: (c[0], c[1]))
    page = ordered[:size]
    more = len(ordered) > size
    customers = Customer.objects.select_related("owner").in_bulk([c[1] for c in page])
    rows = []
    for key, pk, at, has, d, g in page:
        customer = customers.get(pk)
        # The copies may lag the customer by a minute: check the customer itself.
        if customer is None or customer.grade != g or not can_see(user, customer):
            continue
        rows.append(
            FollowUpRow(customer=customer, last_touch=at, has_activity=has, due_since=key, days=d)
        )
    next_cursor = _encode(page[-1][0], page[-1][1]) if more and page else None
    return rows, next_cursor


# Notifications ---------------------------------------------------------------------------


def notifications_of(user, *, unread_only: bool = False, limit: int = 50, before_id=None):
    qs = Notification.objects.filter(user=user)
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    if before_id:
        qs = qs.filter(id__lt=before_id)
    return list(qs.order_by("-id")[:limit])


def unread_count(user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()
