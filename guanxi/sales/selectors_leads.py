"""Reads of leads: always through ``guanxi.core.visibility``."""

import datetime
import re

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.errors import ValidationFailed
from guanxi.core.normalize import phone_search_key
from guanxi.core.pagination import keyset_page
from guanxi.core.search import prefix_q
from guanxi.core.visibility import visible_to
from guanxi.sales.models import Activity, AssignmentRule, Lead, LeadForm, Task

SORTS = {"-created_at": "-created_at", "created_at": "created_at", "name": "name", "-name": "-name"}
FILTER_KEYS = ["q", "status", "source", "owner", "campaign", "form"]
FILTER_KEYS += ["created_after", "created_before"]


def leads_visible(user) -> QuerySet:
    return visible_to(user, Lead.objects.all())


def search_q(text: str) -> Q:
    """Name or company (anywhere in it), a whole phone number or its beginning, or an
    e-mail address's beginning."""
    text = (text or "").strip()
    if not text:
        return Q()
    if "@" in text:
        return prefix_q("email", text.lower())
    digits = re.sub(r"[\s\-()+]", "", text)
    if digits.isdigit() and len(digits) >= 5:
        phone = phone_search_key(text)
        if phone:
            return Q(phone=phone) | Q(external_id=text)
        return prefix_q("phone", "+86" + digits) | prefix_q("phone", "+" + digits)
    return Q(name__icontains=text) | Q(company__icontains=text)


def _date(params: dict, key: str, errors: dict) -> datetime.date | None:
    raw = params.get(key)
    if raw in (None, ""):
        return None
    if isinstance(raw, datetime.date):
        return raw
    try:
        return datetime.date.fromisoformat(str(raw))
    except ValueError:
        errors[key] = [_("Enter a date (YYYY-MM-DD).")]
        return None


def apply_filters(qs: QuerySet, params: dict) -> QuerySet:
    errors: dict = {}
    if params.get("q"):
        qs = qs.filter(search_q(params["q"]))
    if params.get("status"):
        values = [v for v in str(params["status"]).split(",") if v]
        bad = [v for v in values if v not in Lead.Status.values]
        if bad:
            errors["status"] = [_("“%(value)s” is not a valid choice.") % {"value": bad[0]}]
        qs = qs.filter(status__in=values)
    for key in ("source", "campaign"):
        if params.get(key):
            qs = qs.filter(**{key: params[key]})
    if params.get("form"):
        form = str(params["form"])
        qs = qs.filter(form_id=int(form)) if form.isdigit() else qs.filter(form__slug=form)
    if params.get("owner"):
        owner = str(params["owner"])
        if owner == "none":
            qs = qs.filter(owner__isnull=True)
        elif owner.isdigit():
            qs = qs.filter(owner_id=int(owner))
        else:
            qs = qs.filter(owner__username=owner)
    after = _date(params, "created_after", errors)
    before = _date(params, "created_before", errors)
    if after:
        qs = qs.filter(created_at__date__gte=after)
    if before:
        qs = qs.filter(created_at__date__lte=before)
    if errors:
        raise ValidationFailed(errors)
    return qs


def lead_list(*, user, params: dict, cursor: str | None = None, size: int = 50, sort="-created_at"):
    """(rows, next_cursor) of the leads the user may see, filtered, keyset-paginated."""
    if sort not in SORTS:
        raise ValidationFailed({"sort": [_("Unknown sort order.")]})
    size = max(1, min(int(size or 50), 200))
    qs = apply_filters(leads_visible(user), params).select_related("owner", "form")
    order = SORTS[sort]
    parse = parse_datetime if order.lstrip("-") == "created_at" else None
    return keyset_page(qs, order=order, cursor=cursor, size=size, parse=parse)


def campaigns(user) -> list[str]:
    return list(
        leads_visible(user)
        .exclude(campaign="")
        .values_list("campaign", flat=True)
        .order_by("campaign")
        .distinct()[:200]
    )


def activities_of(*, user, lead: Lead):
    return list(
        visible_to(user, Activity.objects.filter(lead=lead))
        .select_related("owner")
        .order_by("-occurred_at", "-id")[:100]
    )


def tasks_of(*, user, lead: Lead):
    return list(
        visible_to(user, Task.objects.filter(lead=lead))
        .select_related("owner")
        .order_by("status", "due_at", "id")[:100]
    )


def history_of(lead: Lead):
    return list(audit.history(model="sales.lead", object_id=lead.pk)[:100])


def forms_all():
    return LeadForm.objects.all().order_by("name", "id")


def rules_all():
    return (
        AssignmentRule.objects.select_related("team", "form", "last_assigned")
        .prefetch_related("members")
        .order_by("position", "id")
    )


def customer_timeline_items(customer, user, limit):
    """The 360° timeline of a customer: the leads converted into it (when each came in
    and when it was converted). Their activities and tasks are linked to the customer
    by the conversion, so the follow-up part's items show them."""
    from django.urls import reverse

    from guanxi.core.timeline import TimelineItem

    leads = (
        visible_to(user, Lead.objects.filter(customer=customer))
        .select_related("converted_by", "created_by", "form")
        .order_by("-converted_at", "-id")[:limit]
    )
    for lead in leads:
        url = reverse("sales:lead_detail", args=[lead.pk])
        body = " · ".join(p for p in [lead.source_label, lead.campaign, lead.message] if p)
        yield TimelineItem(
            at=lead.created_at,
            kind="lead.created",
            title=_("Lead “%(name)s” came in") % {"name": lead.name},
            body=body[:300],
            url=url,
            actor=str(lead.created_by) if lead.created_by else (str(lead.form or "") or ""),
        )
        if lead.converted_at:
            yield TimelineItem(
                at=lead.converted_at,
                kind="lead.converted",
                title=_("Converted from lead “%(name)s”") % {"name": lead.name},
                url=url,
                actor=str(lead.converted_by) if lead.converted_by else "",
            )
