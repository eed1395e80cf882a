"""Follow-up pages: my tasks, logging activities (also from the customer 360 page),
the "needs follow-up" list and its rules, the calendar feed, notifications.

Thin: parse the request, call a service or selector, render. Service errors become
pages (NotFound → 404, PermissionDenied → 403); ValidationFailed redisplays the form
with its messages (status 422, which htmx swaps in). htmx requests get the fragment.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from guanxi.accounts.roles import Action, can, require
from guanxi.core.errors import PermissionDenied, ValidationFailed
from guanxi.core.models import Notification
from guanxi.customers.models import Customer
from guanxi.customers.services import customer_get_for_user
from guanxi.sales import forms_followup as forms
from guanxi.sales import ical
from guanxi.sales import selectors_followup as selectors
from guanxi.sales import services_followup as services
from guanxi.sales.models import Activity, CalendarFeed, Lead, Opportunity
from guanxi.web.decorators import service_errors


def _is_htmx(request) -> bool:
    return bool(request.headers.get("HX-Request")) and not request.headers.get(
        "HX-History-Restore-Request"
    )


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def _linked_records(user, links: dict) -> dict:
    """The customer / lead / opportunity named by ids, only those the user may see."""
    from guanxi.core.visibility import can_see

    found = {}
    for name, model in (("customer", Customer), ("lead", Lead), ("opportunity", Opportunity)):
        pk = links.get(name)
        if pk:
            record = model.objects.filter(pk=pk).first()
            if record is not None and can_see(user, record):
                found[name] = record
    return found


def _form_context(request, **extra) -> dict:
    return {
        "kinds": forms.ACTIVITY_KINDS,
        "priorities": forms.TASK_PRIORITIES,
        "assignees": list(services.assignable_users(request.user)),
        "now_local": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        **extra,
    }


# My tasks --------------------------------------------------------------------------------


@service_errors
def tasks_page(request):
    require(request.user, Action.VIEW)
    context = _form_context(
        request,
        buckets=selectors.my_tasks(request.user),
        errors={},
        data={},
        can_create=can(request.user, Action.CREATE),
    )
    return render(request, "sales/followup/tasks.html", context)


@service_errors
def task_new(request):
    links = forms.link_params(request.GET)
    if request.method == "POST":
        links = forms.link_params(request.POST)
        data = forms.task_data(request.POST)
        try:
            task = services.task_create(actor=request.user, data=data)
        except ValidationFailed as exc:
            context = _form_context(
                request,
                task=None,
                data=data,
                errors=exc.field_errors,
                linked=_linked_records(request.user, links),
                next=_safe_next(request, ""),
            )
            return render(request, "sales/followup/task_form.html", context, status=422)
        messages.success(request, _("Task “%(title)s” added.") % {"title": task.title})
        return redirect(_safe_next(request, reverse("sales:tasks")))
    require(request.user, Action.CREATE)
    context = _form_context(
        request,
        task=None,
        data={},
        errors={},
        linked=_linked_records(request.user, links),
        next=_safe_next(request, ""),
    )
    return render(request, "sales/followup/task_form.html", context)


@service_errors
def task_detail(request, task_id: int):
    task = services.task_get_for_user(user=request.user, id=task_id)
    status = 200
    errors, data = {}, {}
    if request.method == "POST":
        data = forms.task_data(request.POST)
        try:
            services.task_update(actor=request.user, task=task, data=data)
        except ValidationFailed as exc:
            errors, status = exc.field_errors, 422
        else:
            messages.success(request, _("Task saved."))
            return redirect(_safe_next(request, reverse("sales:tasks")))
    linked = {k: getattr(task, k) for k in ("customer", "lead", "opportunity") if getattr(task, k)}
    context = _form_context(
        request,
        task=task,
        data=data,
        errors=errors,
        linked=linked,
        can_change=can(request.user, Action.CHANGE),
        can_delete=can(request.user, Action.DELETE),
        next=_safe_next(request, ""),
    )
    return render(request, "sales/followup/task_form.html", context, status=status)


@require_POST
@service_errors
def task_action(request, task_id: int, action: str):
    task = services.task_get_for_user(user=request.user, id=task_id)
    error = ""
    try:
        task = services.task_set_status(actor=request.user, task=task, action=action)
    except ValidationFailed as exc:
        error = " ".join(m for ms in exc.field_errors.values() for m in ms)
    if _is_htmx(request):
        context = {"t": task, "error": error, "today_date": services.local_today(request.user)}
        return render(request, "sales/followup/_task_row.html", context)
    if error:
        messages.error(request, error)
    return redirect(_safe_next(request, reverse("sales:tasks")))


@require_POST
@service_errors
def task_delete(request, task_id: int):
    task = services.task_get_for_user(user=request.user, id=task_id)
    services.task_delete(actor=request.user, task=task)
    messages.success(request, _("Task deleted."))
    return redirect(_safe_next(request, reverse("sales:tasks")))


# Activities ------------------------------------------------------------------------------


@service_errors
def activity_new(request):
    """The full "log activity" page, for a customer, lead or opportunity (?customer=…)."""
    source = request.POST if request.method == "POST" else request.GET
    links = forms.link_params(source)
    linked = _linked_records(request.user, links)
    if request.method == "POST":
        data = forms.activity_data(request.POST)
        try:
            activity = services.activity_create(actor=request.user, data=data)
        except ValidationFailed as exc:
            context = _form_context(
                request,
                activity=None,
                data=data,
                errors=exc.field_errors,
                linked=linked,
                next=_safe_next(request, ""),
            )
            return render(request, "sales/followup/activity_form.html", context, status=422)
        messages.success(request, _logged_message(activity))
        fallback = (
            reverse("customers:detail", args=[activity.customer_id])
            if activity.customer_id
            else reverse("sales:tasks")
        )
        return redirect(_safe_next(request, fallback))
    require(request.user, Action.CREATE)
    context = _form_context(
        request,
        activity=None,
        data={},
        errors={},
        linked=linked,
        next=_safe_next(request, ""),
    )
    return render(request, "sales/followup/activity_form.html", context)


def _logged_message(activity: Activity) -> str:
    if activity.next_follow_up:
        return _(
            "Activity logged. A follow-up task for %(date)s was added to the tasks of %(user)s."
        ) % {"date": activity.next_follow_up.isoformat(), "user": activity.owner}
    return _("Activity logged.")


def quick_context(request, customer: Customer, **extra) -> dict:
    return _form_context(
        request,
        customer=customer,
        recent_activities=selectors.activities_of(request.user, customer=customer)[:5],
        can_log=can(request.user, Action.CREATE),
        **extra,
    )


@service_errors
def activity_quick(request, customer_id: int):
    """The quick "log activity" card of the customer 360 page: GET renders it (the page
    loads it with htmx), POST logs the activity and renders it again."""
    customer = customer_get_for_user(user=request.user, id=customer_id)
    if request.method != "POST":
        require(request.user, Action.VIEW)
        context = quick_context(request, customer, data={}, errors={})
        return render(request, "sales/followup/_customer_activity.html", context)
    data = forms.activity_data(request.POST, links={"customer": customer.pk})
    try:
        activity = services.activity_create(actor=request.user, data=data)
    except ValidationFailed as exc:
        if not _is_htmx(request):
            messages.error(request, " ".join(m for ms in exc.field_errors.values() for m in ms))
            return redirect("customers:detail", pk=customer.pk)
        context = quick_context(request, customer, data=data, errors=exc.field_errors)
        return render(request, "sales/followup/_customer_activity.html", context, status=422)
    if not _is_htmx(request):
        messages.success(request, _logged_message(activity))
        return redirect("customers:detail", pk=customer.pk)
    context = quick_context(request, customer, data={}, errors={}, logged=_logged_message(activity))
    response = render(request, "sales/followup/_customer_activity.html", context)
    response["HX-Trigger"] = "activity-logged"
    return response


@service_errors
def activity_edit(request, activity_id: int):
    activity = services.activity_get_for_user(user=request.user, id=activity_id)
    status, errors, data = 200, {}, {}
    if request.method == "POST":
        data = forms.activity_data(request.POST)
        try:
            activity = services.activity_update(actor=request.user, activity=activity, data=data)
        except ValidationFailed as exc:
            status, errors = 422, exc.field_errors
        else:
            messages.success(request, _("Activity saved."))
            fallback = (
                reverse("customers:detail", args=[activity.customer_id])
                if activity.customer_id
                else reverse("sales:tasks")
            )
            return redirect(_safe_next(request, fallback))
    linked = {
        k: getattr(activity, k) for k in ("customer", "lead", "opportunity") if getattr(activity, k)
    }
    context = _form_context(
        request,
        activity=activity,
        data=data,
        errors=errors,
        linked=linked,
        can_change=can(request.user, Action.CHANGE),
        can_delete=can(request.user, Action.DELETE),
        next=_safe_next(request, ""),
    )
    return render(request, "sales/followup/activity_form.html", context, status=status)


@require_POST
@service_errors
def activity_delete(request, activity_id: int):
    activity = services.activity_get_for_user(user=request.user, id=activity_id)
    customer_id = activity.customer_id
    services.activity_delete(actor=request.user, activity=activity)
    messages.success(request, _("Activity deleted."))
    fallback = (
        reverse("customers:detail", args=[customer_id]) if customer_id else reverse("sales:tasks")
    )
    return redirect(_safe_next(request, fallback))


# Needs follow-up -------------------------------------------------------------------------


@service_errors
def follow_up_page(request):
    require(request.user, Action.VIEW)
    grade = request.GET.get("grade")
    if grade is not None:
        grade = "" if grade == "none" else grade.upper()
        if grade not in services.DEFAULT_POLICY:
            grade = None
    cursor = request.GET.get("cursor") or None
    error = ""
    try:
        rows, next_cursor = selectors.needs_follow_up(
            request.user, now=timezone.now(), grade=grade, cursor=cursor
        )
    except ValidationFailed as exc:
        rows, next_cursor = [], None
        error = " ".join(m for ms in exc.field_errors.values() for m in ms)
    now = timezone.now()
    for row in rows:
        row.idle_days = (now - row.last_touch).days
    query = {"grade": request.GET["grade"]} if grade is not None else {}
    days = services.policy_days()
    context = {
        "rows": rows,
        "error": error,
        "grade": grade,
        "grade_param": request.GET.get("grade", ""),
        "rules": [(g or "none", g, d) for g, d in days.items()],
        "next_query": urlencode(dict(query, cursor=next_cursor)) if next_cursor else "",
        "first_query": urlencode(query),
        "is_next_page": bool(cursor),
        "can_edit_rules": services.can_edit_policy(request.user),
        "can_log": can(request.user, Action.CREATE),
    }
    return render(request, "sales/followup/follow_up.html", context)


@service_errors
def follow_up_settings(request):
    if not services.can_edit_policy(request.user):
        raise PermissionDenied()
    errors, posted, status = {}, {}, 200
    if request.method == "POST":
        posted = {g: request.POST.get(f"days_{g or 'none'}", "") for g in services.DEFAULT_POLICY}
        try:
            services.policy_set(actor=request.user, data=posted)
        except ValidationFailed as exc:
            errors, status = exc.field_errors, 422
        else:
            messages.success(request, _("Follow-up rules saved."))
            return redirect("sales:follow_up_settings")
    days = services.policy_days()
    rules = [
        {
            "key": g or "none",
            "grade": g,
            "days": posted.get(g, days[g]) if posted else days[g],
            "default": services.DEFAULT_POLICY[g],
            "errors": errors.get(g or "none", []),
        }
        for g in days
    ]
    return render(
        request, "sales/followup/follow_up_settings.html", {"rules": rules}, status=status
    )


# Calendar feed ---------------------------------------------------------------------------


@service_errors
def calendar_page(request):
    require(request.user, Action.VIEW)
    token = None
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            services.calendar_feed_revoke(user=request.user)
            messages.success(request, _("The calendar address no longer works."))
            return redirect("sales:calendar")
        token = services.calendar_feed_regenerate(user=request.user)
    feed = CalendarFeed.objects.filter(user=request.user).first()
    url = None
    if token:
        url = request.build_absolute_uri(reverse("sales:calendar_feed", args=[token]))
    response = render(request, "sales/followup/calendar.html", {"feed": feed, "feed_url": url})
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@never_cache
def calendar_feed(request, token: str):
    """The iCalendar feed: no login, the token in the address is the key."""
    user = services.calendar_feed_user(token)
    if user is None:
        raise Http404()
    name = _("Guanxi tasks · %(user)s") % {"user": user}
    response = HttpResponse(
        ical.feed_for(user, name=name), content_type="text/calendar; charset=utf-8"
    )
    response["Content-Disposition"] = 'inline; filename="guanxi-tasks.ics"'
    response["X-Robots-Tag"] = "noindex"
    return response


# Notifications ---------------------------------------------------------------------------


@service_errors
def notifications_page(request):
    before = request.GET.get("before", "")
    before_id = int(before) if before.isdigit() else None
    items = selectors.notifications_of(request.user, limit=51, before_id=before_id)
    more = len(items) > 50
    items = items[:50]
    context = {
        "items": items,
        "unread": selectors.unread_count(request.user),
        "next_before": items[-1].pk if more and items else None,
    }
    return render(request, "sales/followup/notifications.html", context)


@require_POST
@service_errors
def notifications_read(request):
    services.notification_mark_read(user=request.user)
    if _is_htmx(request):
        return bell(request)
    return redirect(_safe_next(request, reverse("sales:notifications")))


@require_POST
@service_errors
def notification_read(request, notification_id: int):
    services.notification_mark_read(user=request.user, id=notification_id)
    return redirect(_safe_next(request, reverse("sales:notifications")))


@service_errors
def notification_open(request, notification_id: int):
    """Mark read and go to what the notification is about."""
    note = Notification.objects.filter(user=request.user, pk=notification_id).first()
    if note is None:
        raise Http404()
    if note.read_at is None:
        services.notification_mark_read(user=request.user, id=note.pk)
    target = note.url if note.url.startswith("/") and not note.url.startswith("//") else ""
    return redirect(target or reverse("sales:notifications"))


@require_GET
@service_errors
def bell(request):
    """The header bell: unread count and the newest few (htmx, refreshed every minute)."""
    context = {
        "unread": selectors.unread_count(request.user),
        "latest": selectors.notifications_of(request.user, unread_only=True, limit=5),
    }
    response = render(request, "sales/followup/_bell_menu.html", context)
    response["Cache-Control"] = "no-store"
    return response
