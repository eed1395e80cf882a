"""What follow-up contributes to the 360° timeline: the customer's activities and tasks.

The customer is visible to the user (the 360 page checked it), so its activities and
tasks are shown whoever logged them: they are the customer's history."""

from django.urls import reverse
from django.utils.timezone import localtime
from django.utils.translation import gettext as _

from guanxi.core.timeline import TimelineItem
from guanxi.sales.models import Activity, Task


def activity_items(customer, user, limit):
    activities = (
        Activity.objects.filter(customer=customer)
        .select_related("owner")
        .order_by("-occurred_at", "-id")[:limit]
    )
    for a in activities:
        parts = [p for p in (a.outcome, a.body[:300]) if p]
        if a.duration_minutes:
            parts.append(_("%(n)d min") % {"n": a.duration_minutes})
        if a.next_follow_up:
            parts.append(_("next follow-up %(day)s") % {"day": a.next_follow_up.isoformat()})
        yield TimelineItem(
            at=a.occurred_at,
            kind=f"activity.{a.kind}",
            title=_("%(kind)s: %(subject)s") % {"kind": a.get_kind_display(), "subject": a.subject},
            body=" · ".join(parts),
            url=reverse("sales:activity_edit", args=[a.pk]),
            actor=str(a.owner) if a.owner else "",
        )


def task_items(customer, user, limit):
    tasks = (
        Task.objects.filter(customer=customer)
        .select_related("owner")
        .order_by("-created_at", "-id")[:limit]
    )
    for t in tasks:
        if t.status == Task.Status.DONE and t.done_at:
            at, title = t.done_at, _("Task done: %(title)s") % {"title": t.title}
        else:
            at, title = t.created_at, _("Task: %(title)s") % {"title": t.title}
        yield TimelineItem(
            at=at,
            kind=f"task.{t.status}",
            title=title,
            body=_("due %(due)s") % {"due": localtime(t.due_at).strftime("%Y-%m-%d %H:%M")}
            if t.status == Task.Status.OPEN
            else "",
            url=reverse("sales:task_detail", args=[t.pk]),
            actor=str(t.owner) if t.owner else "",
        )
