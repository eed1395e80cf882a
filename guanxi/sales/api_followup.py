"""Follow-up over /api/v1: activities, tasks, the "needs follow-up" list, follow-up
rules, notifications. Parse → service → schema; errors in the one API format."""

import datetime

from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status

from guanxi.accounts.roles import Action, require
from guanxi.customers.api import ERRORS, InputSchema
from guanxi.sales import selectors_followup as selectors
from guanxi.sales import services_followup as services

router = Router(tags=["follow-up"])


class ActivityOut(Schema):
    id: int
    kind: str
    subject: str
    body: str
    occurred_at: datetime.datetime
    duration_minutes: int | None
    outcome: str
    next_follow_up: datetime.date | None
    customer_id: int | None
    lead_id: int | None
    opportunity_id: int | None
    owner_id: int | None
    team_id: int | None
    follow_up_task_id: int | None = None
    created_at: datetime.datetime
    updated_at: datetime.datetime

    @staticmethod
    def resolve_follow_up_task_id(obj):
        if hasattr(obj, "open_task_id"):  # annotated by the list
            return obj.open_task_id
        return obj.follow_up_tasks.filter(status="open").values_list("id", flat=True).first()


class ActivityIn(InputSchema):
    kind: str | None = None
    subject: str | None = None
    body: str | None = None
    occurred_at: str | None = None
    duration_minutes: int | str | None = None
    outcome: str | None = None
    next_follow_up: str | None = None
    customer: int | None = None
    lead: int | None = None
    opportunity: int | None = None


class TaskOut(Schema):
    id: int
    title: str
    notes: str
    due_at: datetime.datetime
    priority: str
    status: str
    owner_id: int | None
    team_id: int | None
    customer_id: int | None
    lead_id: int | None
    opportunity_id: int | None
    activity_id: int | None
    done_at: datetime.datetime | None
    reminded_at: datetime.datetime | None
    created_at: datetime.datetime
    updated_at: datetime.datetime


class TaskIn(InputSchema):
    title: str | None = None
    notes: str | None = None
    due_at: str | None = None
    priority: str | None = None
    owner: int | str | None = None
    customer: int | None = None
    lead: int | None = None
    opportunity: int | None = None


class TaskFilters(Schema):
    owner: int | None = None
    status: str | None = None
    customer: int | None = None
    lead: int | None = None
    opportunity: int | None = None
    due_after: datetime.datetime | None = None
    due_before: datetime.datetime | None = None
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=100000)


class ActivityFilters(Schema):
    owner: int | None = None
    kind: str | None = None
    customer: int | None = None
    lead: int | None = None
    opportunity: int | None = None
    after: datetime.datetime | None = None
    before: datetime.datetime | None = None
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0, le=100000)


class MyTasksOut(Schema):
    today_date: datetime.date
    overdue: list[TaskOut]
    today: list[TaskOut]
    upcoming: list[TaskOut]
    done: list[TaskOut]


class RulesIn(InputSchema):
    A: int | str | None = None
    B: int | str | None = None
    C: int | str | None = None
    D: int | str | None = None
    none: int | str | None = None


class FollowUpFilters(Schema):
    grade: str | None = None
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


class FollowUpCustomerOut(Schema):
    customer_id: int
    name: str
    grade: str
    owner_id: int | None
    last_touch: datetime.datetime
    has_activity: bool
    due_since: datetime.datetime
    days: int


class FollowUpPage(Schema):
    items: list[FollowUpCustomerOut]
    next_cursor: str | None


class NotificationOut(Schema):
    id: int
    kind: str
    title: str
    body: str
    url: str
    created_at: datetime.datetime
    read_at: datetime.datetime | None


class NotificationPage(Schema):
    items: list[NotificationOut]
    unread: int


class ReadOut(Schema):
    marked: int


def _payload(data: Schema) -> dict:
    return data.dict(exclude_unset=True)


# Activities ------------------------------------------------------------------------------


@router.get("/activities", response={200: list[ActivityOut], **ERRORS})
def list_activities(request, filters: Query[ActivityFilters]):
    require(request.user, Action.VIEW)
    params = filters.dict(exclude_none=True)
    return selectors.activity_list(
        request.user, params=params, limit=filters.limit, offset=filters.offset
    )


@router.post("/activities", response={201: ActivityOut, **ERRORS})
def create_activity(request, data: ActivityIn):
    return Status(201, services.activity_create(actor=request.user, data=_payload(data)))


@router.get("/activities/{activity_id}", response={200: ActivityOut, **ERRORS})
def get_activity(request, activity_id: int):
    require(request.user, Action.VIEW)
    return services.activity_get_for_user(user=request.user, id=activity_id)


@router.patch("/activities/{activity_id}", response={200: ActivityOut, **ERRORS})
def update_activity(request, activity_id: int, data: ActivityIn):
    activity = services.activity_get_for_user(user=request.user, id=activity_id)
    return services.activity_update(actor=request.user, activity=activity, data=_payload(data))


@router.delete("/activities/{activity_id}", response={204: None, **ERRORS})
def delete_activity(request, activity_id: int):
    activity = services.activity_get_for_user(user=request.user, id=activity_id)
    services.activity_delete(actor=request.user, activity=activity)
    return Status(204, None)


# Tasks -----------------------------------------------------------------------------------


@router.get("/tasks", response={200: list[TaskOut], **ERRORS})
def list_tasks(request, filters: Query[TaskFilters]):
    """Tasks visible to the caller (own; a manager's team's), soonest due first."""
    require(request.user, Action.VIEW)
    params = filters.dict(exclude_none=True)
    return selectors.task_list(
        request.user, params=params, limit=filters.limit, offset=filters.offset
    )


@router.get("/tasks/mine", response={200: MyTasksOut, **ERRORS})
def my_tasks(request):
    """The caller's tasks by their local day: overdue, today, upcoming, recently done."""
    require(request.user, Action.VIEW)
    return selectors.my_tasks(request.user)


@router.post("/tasks", response={201: TaskOut, **ERRORS})
def create_task(request, data: TaskIn):
    return Status(201, services.task_create(actor=request.user, data=_payload(data)))


@router.get("/tasks/{task_id}", response={200: TaskOut, **ERRORS})
def get_task(request, task_id: int):
    require(request.user, Action.VIEW)
    return services.task_get_for_user(user=request.user, id=task_id)


@router.patch("/tasks/{task_id}", response={200: TaskOut, **ERRORS})
def update_task(request, task_id: int, data: TaskIn):
    task = services.task_get_for_user(user=request.user, id=task_id)
    return services.task_update(actor=request.user, task=task, data=_payload(data))


@router.post("/tasks/{task_id}/done", response={200: TaskOut, **ERRORS})
def task_done(request, task_id: int):
    task = services.task_get_for_user(user=request.user, id=task_id)
    return services.task_set_status(actor=request.user, task=task, action="done")


@router.post("/tasks/{task_id}/cancel", response={200: TaskOut, **ERRORS})
def task_cancel(request, task_id: int):
    task = services.task_get_for_user(user=request.user, id=task_id)
    return services.task_set_status(actor=request.user, task=task, action="cancel")


@router.post("/tasks/{task_id}/reopen", response={200: TaskOut, **ERRORS})
def task_reopen(request, task_id: int):
    task = services.task_get_for_user(user=request.user, id=task_id)
    return services.task_set_status(actor=request.user, task=task, action="reopen")


@router.delete("/tasks/{task_id}", response={204: None, **ERRORS})
def delete_task(request, task_id: int):
    task = services.task_get_for_user(user=request.user, id=task_id)
    services.task_delete(actor=request.user, task=task)
    return Status(204, None)


# Needs follow-up and its rules -------------------------------------------------------------


@router.get("/follow-up", response={200: FollowUpPage, **ERRORS})
def follow_up_list(request, filters: Query[FollowUpFilters]):
    """Customers with no activity for longer than the rule of their grade (``grade=none``
    for customers without a grade), the longest overdue first. Keyset-paginated: pass
    ``next_cursor`` back as ``cursor``."""
    grade, cursor, limit = filters.grade, filters.cursor, filters.limit
    require(request.user, Action.VIEW)
    if grade is not None:
        grade = "" if grade.lower() in ("none", "-", "") else grade.upper()
    rows, next_cursor = selectors.needs_follow_up(
        request.user, now=timezone.now(), grade=grade, cursor=cursor, size=limit
    )
    items = [
        {
            "customer_id": r.customer.pk,
            "name": r.customer.name,
            "grade": r.customer.grade,
            "owner_id": r.customer.owner_id,
            "last_touch": r.last_touch,
            "has_activity": r.has_activity,
            "due_since": r.due_since,
            "days": r.days,
        }
        for r in rows
    ]
    return {"items": items, "next_cursor": next_cursor}


@router.get("/follow-up/rules", response={200: dict[str, int], **ERRORS})
def follow_up_rules(request):
    """Days without activity by grade; the key ``none`` is for customers without one."""
    require(request.user, Action.VIEW)
    return {(g or "none"): d for g, d in services.policy_days().items()}


@router.put("/follow-up/rules", response={200: dict[str, int], **ERRORS})
def set_follow_up_rules(request, data: RulesIn):
    """Admins and managers: ``{"A": 7, "none": 30}`` (grades left out keep their rule)."""
    days = services.policy_set(actor=request.user, data=_payload(data))
    return {(g or "none"): d for g, d in days.items()}


# Notifications ---------------------------------------------------------------------------


@router.get("/notifications", response={200: NotificationPage, **ERRORS})
def list_notifications(request, unread: bool = False, before: int | None = None):
    return {
        "items": selectors.notifications_of(request.user, unread_only=unread, before_id=before),
        "unread": selectors.unread_count(request.user),
    }


@router.post("/notifications/read", response={200: ReadOut, **ERRORS})
def read_all_notifications(request):
    return {"marked": services.notification_mark_read(user=request.user)}


@router.post("/notifications/{notification_id}/read", response={200: ReadOut, **ERRORS})
def read_notification(request, notification_id: int):
    return {"marked": services.notification_mark_read(user=request.user, id=notification_id)}
