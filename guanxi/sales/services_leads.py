"""Every write to leads, web-to-lead forms and assignment rules.

Pages, the API, the public web form and imports hand plain dicts to
``clean_lead_input`` and then to the services here, so a value is accepted or refused
the same way wherever it comes from. Phones and e-mails are normalised like customers'
(``guanxi.core.normalize``); the source takes the customers' choices (a converted lead
hands it on).

A lead is owned (``OwnedModel``): its owner comes from the data, from the assignment
rules (web forms, imports, or ``owner="auto"``), or is the user who creates it. A new or
reassigned owner is notified in the app and by e-mail. A converted lead is read-only.
"""

import datetime
import decimal
import re
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from guanxi.accounts.models import User
from guanxi.accounts.roles import Action, can, require
from guanxi.core import audit, events
from guanxi.core.errors import NotFound, PermissionDenied, ServiceError, ValidationFailed
from guanxi.core.normalize import InvalidValue, normalize_email, normalize_phone
from guanxi.core.notify import notify
from guanxi.core.visibility import can_see
from guanxi.customers import services as customer_services
from guanxi.customers.models import Customer
from guanxi.sales.models import (
    Activity,
    AssignmentRule,
    Lead,
    LeadForm,
    Pipeline,
    Stage,
    Task,
)

AUDITED_FIELDS = [
    "name",
    "company",
    "job_title",
    "phone",
    "email",
    "province",
    "city",
    "source",
    "campaign",
    "form",
    "message",
    "status",
    "disqualify_reason",
    "external_id",
    "owner",
    "team",
]
TEXT_LIMITS = {
    "company": 200,
    "job_title": 100,
    "province": 50,
    "city": 50,
    "campaign": 100,
    "message": 10000,
    "external_id": 100,
    "disqualify_reason": 200,
}
# Roles that may own leads when a rule names only a team.
OWNER_ROLES = ("sales", "manager")
Status = Lead.Status


class LeadReadOnly(ServiceError):
    """A converted lead is kept as it was: it points at what it became."""

    code = "read_only"
    status = 409

    def __init__(self, message=None):
        super().__init__(
            message or gettext_lazy("This lead has been converted and can no longer be changed.")
        )


def _required() -> str:
    return _("This field is required.")


def _limit(limit: int) -> str:
    return _("At most %(limit)d characters.") % {"limit": limit}


def source_choice(raw) -> str:
    """A lead's source: a customer source key or its label in either language."""
    text = str(raw or "").strip()
    if not text:
        return ""
    return customer_services._choice("source", text)  # the customers' rules and labels


class LeadInput:
    """Context for cleaning many rows at once (imports): caches users and forms."""

    def __init__(self, actor):
        self.actor = actor
        self._users: dict[str, User | None] = {}
        self._forms: dict[str, LeadForm | None] = {}

    def user(self, raw) -> User | None:
        key = str(raw).strip()
        if key not in self._users:
            qs = User.objects.filter(is_active=True).select_related("team")
            found = qs.filter(pk=int(key)).first() if key.isdigit() else None
            if found is None:
                found = qs.filter(username=key).first() or qs.filter(email__iexact=key).first()
            self._users[key] = found
        return self._users[key]

    def form(self, raw) -> LeadForm | None:
        key = str(raw).strip()
        if key not in self._forms:
            found = LeadForm.objects.filter(pk=int(key)).first() if key.isdigit() else None
            self._forms[key] = found or LeadForm.objects.filter(slug=key).first()
        return self._forms[key]


def clean_lead_input(
    data: dict,
    *,
    actor,
    instance: Lead | None = None,
    partial: bool = False,
    context: LeadInput | None = None,
) -> tuple[dict, dict]:
    """Validate and normalise ``data``: (cleaned values, field errors). Only keys in
    ``data`` are cleaned when ``partial``. ``owner`` comes back as a User, or "auto"
    (the assignment rules decide); ``form`` as a LeadForm."""
    context = context or LeadInput(actor)
    cleaned: dict = {}
    errors: dict[str, list[str]] = {}

    def present(key):
        return not partial or key in data

    def fail(key, message):
        errors.setdefault(key, []).append(str(message))

    if present("name"):
        name = str(data.get("name") or "").strip()
        if not name:
            fail("name", _required())
        elif len(name) > 200:
            fail("name", _limit(200))
        cleaned["name"] = name
    for key, limit in TEXT_LIMITS.items():
        if not present(key):
            continue
        value = data.get(key)
        value = "" if value is None else str(value).strip()
        if len(value) > limit:
            fail(key, _limit(limit))
        cleaned[key] = value
    if "external_id" in cleaned:
        cleaned["external_id"] = cleaned["external_id"] or None
    if present("source"):
        try:
            cleaned["source"] = source_choice(data.get("source"))
        except InvalidValue as exc:
            fail("source", exc)
    if present("phone"):
        try:
            cleaned["phone"] = normalize_phone(str(data.get("phone") or ""))
        except InvalidValue as exc:
            fail("phone", exc)
    if present("email"):
        try:
            cleaned["email"] = normalize_email(str(data.get("email") or ""))
        except InvalidValue as exc:
            fail("email", exc)
    if "phone" not in errors and "email" not in errors and (present("phone") or present("email")):
        phone = cleaned.get("phone", instance.phone if instance else "")
        email = cleaned.get("email", instance.email if instance else "")
        if not phone and not email:
            fail("phone", _("Give a phone number or an e-mail address."))
    if present("status"):
        status = str(data.get("status") or "").strip() or Status.NEW
        if status not in Status.values:
            fail("status", _("“%(value)s” is not a lead status.") % {"value": status})
        elif status == Status.CONVERTED:
            fail("status", _("A lead becomes converted only by converting it."))
        cleaned["status"] = status
    status = cleaned.get("status", instance.status if instance else Status.NEW)
    if status == Status.DISQUALIFIED:
        reason = cleaned.get("disqualify_reason", instance.disqualify_reason if instance else "")
        if not reason and "status" not in errors:
            fail("disqualify_reason", _("Say why the lead is disqualified."))
    elif "status" in cleaned:
        cleaned["disqualify_reason"] = ""
    if present("form") and data.get("form") not in (None, ""):
        form = context.form(data["form"])
        if form is None:
            fail("form", _("There is no web form “%(value)s”.") % {"value": data["form"]})
        cleaned["form"] = form
    elif present("form") and "form" in data:
        cleaned["form"] = None
    raw_owner = data.get("owner")
    if "owner" in data and raw_owner not in (None, ""):
        if str(raw_owner).strip().lower() == "auto":
            cleaned["owner"] = "auto"
        else:
            owner = context.user(raw_owner)
            if owner is None:
                fail("owner", _("There is no active user “%(value)s”.") % {"value": raw_owner})
            else:
                current = instance.owner_id if instance else None
                if owner.pk not in (actor.pk, current) and not can(actor, Action.ASSIGN):
                    fail("owner", _("You may not give leads to other users."))
                cleaned["owner"] = owner
    return cleaned, errors


def _check_external_id_free(external_id, instance) -> dict:
    if not external_id:
        return {}
    taken = Lead.objects.filter(external_id=external_id)
    if instance is not None:
        taken = taken.exclude(pk=instance.pk)
    if taken.exists():
        return {"external_id": [_("Another lead already has this external id.")]}
    return {}


def _save(lead: Lead) -> None:
    """Save; a concurrent writer taking the same external id becomes a field error."""
    try:
        with transaction.atomic():
            lead.save()
    except IntegrityError as exc:
        if lead.external_id and (
            Lead.objects.filter(external_id=lead.external_id).exclude(pk=lead.pk).exists()
        ):
            raise ValidationFailed(
                {"external_id": [_("Another lead already has this external id.")]}
            ) from exc
        raise


def _apply(lead: Lead, cleaned: dict) -> None:
    for key, value in cleaned.items():
        if key != "owner":
            setattr(lead, key, value)


def _state(lead: Lead) -> dict:
    return audit.snapshot(lead, AUDITED_FIELDS)


def lead_url(lead: Lead) -> str:
    return reverse("sales:lead_detail", args=[lead.pk])


# Assignment ---------------------------------------------------------------------------


def _region(text: str) -> str:
    return (text or "").strip().removesuffix("省").removesuffix("市")


class Assigner:
    """Picks owners by the assignment rules, round-robin within each rule's members.

    Rules are tried by position; blank conditions match anything. The turn of each rule
    is kept in memory while a batch (an import) is assigned, and written back by
    ``save`` (the rules are locked until the transaction ends, so two writers never
    hand out the same turn)."""

    def __init__(self):
        self.rules = list(
            AssignmentRule.objects.select_for_update()
            .filter(active=True)
            .order_by("position", "id")
        )
        self._members: dict[int, list[User]] = {}
        self._turn = {rule.pk: rule.last_assigned_id for rule in self.rules}
        self._changed: set[int] = set()

    def members(self, rule: AssignmentRule) -> list[User]:
        if rule.pk not in self._members:
            listed = list(rule.members.filter(is_active=True).select_related("team").order_by("pk"))
            if not listed and rule.team_id:
                listed = list(
                    User.objects.filter(is_active=True, team_id=rule.team_id, role__in=OWNER_ROLES)
                    .select_related("team")
                    .order_by("pk")
                )
            self._members[rule.pk] = listed
        return self._members[rule.pk]

    def matches(self, rule: AssignmentRule, *, province: str, source: str, form_id) -> bool:
        if rule.province and _region(rule.province) != _region(province):
            return False
        if rule.source and rule.source != source:
            return False
        return not (rule.form_id and rule.form_id != form_id)

    def pick(self, *, province: str = "", source: str = "", form_id=None) -> User | None:
        for rule in self.rules:
            if not self.matches(rule, province=province, source=source, form_id=form_id):
                continue
            members = self.members(rule)
            if not members:
                continue
            last = self._turn[rule.pk]
            chosen = next((m for m in members if last is not None and m.pk > last), members[0])
            self._turn[rule.pk] = chosen.pk
            self._changed.add(rule.pk)
            return chosen
        return None

    def save(self) -> None:
        for pk in self._changed:
            AssignmentRule.objects.filter(pk=pk).update(last_assigned_id=self._turn[pk])
        self._changed.clear()


def _notify_assigned(owner: User, lead: Lead, *, actor, reassigned: bool) -> None:
    if owner is None or (actor is not None and owner.pk == getattr(actor, "pk", None)):
        return
    title = (
        gettext_lazy("A lead was reassigned to you: %(name)s")
        if reassigned
        else gettext_lazy("New lead for you: %(name)s")
    )
    with translation.override(owner.language or settings.LANGUAGE_CODE):
        text = str(title) % {"name": lead.name}
        parts = [lead.company, lead.phone, lead.email]
        body = " · ".join(p for p in parts if p)
        if lead.campaign:
            body += ("\n" if body else "") + _("Campaign: %(campaign)s") % {
                "campaign": lead.campaign
            }
    notify(owner, kind="lead.assigned", title=text, body=body, url=lead_url(lead), email=True)


def _emit_assigned(lead: Lead, *, actor, previous_owner_id, how: str) -> None:
    events.emit(
        "lead.assigned",
        instance=lead,
        actor=actor,
        payload={"owner": lead.owner_id, "previous_owner": previous_owner_id, "how": how},
    )


# Leads ----------------------------------------------------------------------------------


def lead_get_for_user(*, user, id: int, for_update: bool = False) -> Lead:
    """One lead the user may see, or NotFound (never a hint that it exists)."""
    qs = Lead.objects.select_related("owner", "team", "form", "customer", "opportunity")
    if for_update:
        qs = qs.select_for_update(of=("self",))
    lead = qs.filter(pk=id).first()
    if lead is None or not can_see(user, lead):
        raise NotFound(_("Lead not found."))
    return lead


def require_view(actor) -> None:
    if not can(actor, Action.VIEW):
        raise PermissionDenied()


def _new_lead(cleaned: dict, *, actor, created_by=None, submitted_ip=None) -> tuple[Lead, str]:
    """An unsaved lead with its owner decided: (lead, how the owner was chosen)."""
    lead = Lead(created_by=created_by, submitted_ip=submitted_ip)
    _apply(lead, cleaned)
    owner = cleaned.get("owner")
    how = "manual"
    if owner is None and actor is None:
        owner = "auto"
    if owner == "auto":
        assigner = Assigner()
        owner = assigner.pick(province=lead.province, source=lead.source, form_id=lead.form_id)
        assigner.save()
        how = "rule"
        if owner is None and actor is not None and actor.pk:
            owner, how = actor, "creator"
    if owner is not None:
        lead.owner = owner
        lead.team_id = owner.team_id
    return lead, how


def _created(lead: Lead, *, actor, how: str, note: str = "") -> None:
    state = _state(lead)
    audit.record(
        actor=actor,
        action="create",
        instance=lead,
        changes={k: [None, v] for k, v in state.items() if v not in (None, "", [], {})},
        note=note,
    )
    events.emit(
        "lead.created",
        instance=lead,
        actor=actor,
        payload={"source": lead.source, "campaign": lead.campaign, "form": lead.form_id},
    )
    if lead.owner_id:
        _emit_assigned(lead, actor=actor, previous_owner_id=None, how=how)
        _notify_assigned(lead.owner, lead, actor=actor, reassigned=False)


@transaction.atomic
def lead_create(*, actor, data: dict, context: LeadInput | None = None) -> Lead:
    """A lead entered by hand or through the API. Without an owner it is the creator's;
    ``owner="auto"`` lets the assignment rules choose."""
    require(actor, Action.CREATE)
    data = dict(data)
    data.setdefault("status", Status.NEW)
    cleaned, errors = clean_lead_input(data, actor=actor, context=context)
    errors.update(_check_external_id_free(cleaned.get("external_id"), None))
    if errors:
        raise ValidationFailed(errors)
    cleaned.setdefault("owner", actor)
    lead, how = _new_lead(cleaned, actor=actor, created_by=actor)
    _save(lead)
    _created(lead, actor=actor, how=how)
    return lead


def _refuse_if_converted(lead: Lead) -> None:
    if lead.status == Status.CONVERTED:
        raise LeadReadOnly()


@transaction.atomic
def lead_update(*, actor, lead: Lead, data: dict, context: LeadInput | None = None) -> Lead:
    require(actor, Action.CHANGE)
    if not can_see(actor, lead):
        raise NotFound(_("Lead not found."))
    lead = Lead.objects.select_for_update(of=("self",)).select_related("owner").get(pk=lead.pk)
    _refuse_if_converted(lead)
    cleaned, errors = clean_lead_input(
        data, actor=actor, instance=lead, partial=True, context=context
    )
    if "external_id" in cleaned:
        errors.update(_check_external_id_free(cleaned["external_id"], lead))
    if errors:
        raise ValidationFailed(errors)
    before = _state(lead)
    previous_owner = lead.owner_id
    owner = cleaned.pop("owner", None)
    if owner == "auto":
        assigner = Assigner()
        owner = assigner.pick(province=lead.province, source=lead.source, form_id=lead.form_id)
        assigner.save()
    _apply(lead, cleaned)
    if owner is not None and owner.pk != previous_owner:
        if not can(actor, Action.ASSIGN) and owner.pk != actor.pk:
            raise PermissionDenied(_("You may not give leads to other users."))
        lead.owner, lead.team_id = owner, owner.team_id
    lead.updated_at = timezone.now()
    _save(lead)
    changes = audit.diff(before, _state(lead))
    if changes:
        audit.record(actor=actor, action="update", instance=lead, changes=changes)
        events.emit("lead.updated", instance=lead, actor=actor, payload={"fields": sorted(changes)})
    if lead.owner_id != previous_owner and lead.owner_id:
        _emit_assigned(lead, actor=actor, previous_owner_id=previous_owner, how="manual")
        _notify_assigned(lead.owner, lead, actor=actor, reassigned=True)
    return lead


def lead_set_status(*, actor, lead: Lead, status: str, reason: str = "") -> Lead:
    data = {"status": status}
    if status == Status.DISQUALIFIED:
        data["disqualify_reason"] = reason
    return lead_update(actor=actor, lead=lead, data=data)


def _assignee(actor, raw) -> User:
    if isinstance(raw, User):
        owner = raw
    else:
        owner = LeadInput(actor).user(raw) if raw not in (None, "") else None
    if owner is None or not owner.is_active:
        raise ValidationFailed({"owner": [_("Choose an active user.")]})
    if not can(owner, Action.VIEW):
        raise ValidationFailed({"owner": [_("This user cannot see leads.")]})
    return owner


@transaction.atomic
def lead_assign(*, actor, lead: Lead, owner) -> Lead:
    """A manager (or administrator) gives a lead to someone else."""
    require(actor, Action.ASSIGN)
    return leads_assign_bulk(actor=actor, ids=[lead.pk], owner=owner)[0]


@transaction.atomic
def leads_assign_bulk(*, actor, ids: list[int], owner) -> list[Lead]:
    """Give many leads to one user: all or nothing. The owner is told once."""
    require(actor, Action.ASSIGN)
    owner = _assignee(actor, owner)
    ids = list(dict.fromkeys(int(i) for i in ids))
    if not ids:
        raise ValidationFailed({"ids": [_("Choose at least one lead.")]})
    if len(ids) > 1000:
        raise ValidationFailed({"ids": [_("At most 1000 leads at a time.")]})
    leads = {
        lead.pk: lead
        for lead in Lead.objects.select_for_update(of=("self",))
        .select_related("owner", "team")
        .filter(pk__in=ids)
    }
    missing = [pk for pk in ids if pk not in leads or not can_see(actor, leads[pk])]
    if missing:
        raise NotFound(_("Lead not found."))
    converted = [leads[pk].name for pk in ids if leads[pk].status == Status.CONVERTED]
    if converted:
        raise LeadReadOnly(
            _("“%(name)s” has been converted and can no longer be changed.")
            % {"name": converted[0]}
        )
    changed = []
    for pk in ids:
        lead = leads[pk]
        if lead.owner_id == owner.pk:
            continue
        before = _state(lead)
        previous = lead.owner_id
        lead.owner, lead.team_id = owner, owner.team_id
        lead.updated_at = timezone.now()
        lead.save(update_fields=["owner", "team", "updated_at"])
        audit.record(
            actor=actor, action="update", instance=lead, changes=audit.diff(before, _state(lead))
        )
        _emit_assigned(lead, actor=actor, previous_owner_id=previous, how="manual")
        changed.append(lead)
    if len(changed) == 1:
        _notify_assigned(owner, changed[0], actor=actor, reassigned=True)
    elif changed and owner.pk != actor.pk:
        _notify_many(owner, len(changed))
    return [leads[pk] for pk in ids]


def _notify_many(owner: User, count: int) -> None:
    with translation.override(owner.language or settings.LANGUAGE_CODE):
        title = ngettext(
            "%(count)d lead was assigned to you", "%(count)d leads were assigned to you", count
        ) % {"count": count}
    notify(
        owner,
        kind="lead.assigned",
        title=title,
        url=reverse("sales:leads") + f"?owner={owner.pk}",
        email=True,
    )


@transaction.atomic
def lead_delete(*, actor, lead: Lead) -> None:
    require(actor, Action.DELETE)
    if not can_see(actor, lead):
        raise NotFound(_("Lead not found."))
    lead = Lead.objects.select_for_update(of=("self",)).select_related("owner").get(pk=lead.pk)
    _refuse_if_converted(lead)
    state = _state(lead)
    audit.record(
        actor=actor,
        action="delete",
        instance=lead,
        changes={k: [v, None] for k, v in state.items() if v not in (None, "", [], {})},
    )
    events.emit("lead.deleted", actor=actor, payload={"id": lead.pk})
    lead.delete()


# Web-to-lead ----------------------------------------------------------------------------


@transaction.atomic
def lead_submit_from_form(*, form: LeadForm, data: dict, ip: str | None) -> Lead:
    """A lead sent through a public web form (no user): the form's source and campaign,
    the owner by the assignment rules (nobody when no rule fits)."""
    if not form.active:
        raise NotFound(_("This form is not available."))
    wanted = ["name", "phone"]
    if form.ask_email:
        wanted.append("email")
    if form.ask_company:
        wanted.append("company")
    if form.ask_message:
        wanted.append("message")
    values = {key: data.get(key, "") for key in wanted}
    values.update(source=form.source, campaign=form.campaign, status=Status.NEW)
    cleaned, errors = clean_lead_input(values, actor=None, context=LeadInput(None))
    if errors:
        raise ValidationFailed(errors)
    cleaned["form"] = form
    lead, how = _new_lead(cleaned, actor=None, submitted_ip=ip)
    _save(lead)
    _created(lead, actor=None, how=how, note=_("Web form “%(name)s”") % {"name": form.name})
    return lead


def form_recent_submissions(ip: str | None, *, minutes: int) -> int:
    """How many leads this address sent through any web form in the last ``minutes``
    (kept in the database, so every server process sees the same count)."""
    if not ip:
        return 0
    since = timezone.now() - datetime.timedelta(minutes=minutes)
    return Lead.objects.filter(created_at__gte=since, submitted_ip=ip).count()


def _form_slug(raw: str) -> str:
    return str(raw or "").strip().lower()


def clean_form_input(data: dict, *, instance: LeadForm | None = None) -> tuple[dict, dict]:
    partial = instance is not None
    cleaned, errors = {}, {}
    if not partial or "slug" in data:
        slug = _form_slug(data.get("slug")) or (instance.slug if instance else "")
        if not slug:
            slug = secrets.token_hex(4)
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,49}", slug):
            errors["slug"] = [_("Use lower-case letters, digits and hyphens.")]
        elif LeadForm.objects.filter(slug=slug).exclude(pk=getattr(instance, "pk", None)).exists():
            errors["slug"] = [_("Another form already uses this address.")]
        cleaned["slug"] = slug
    if not partial or "name" in data:
        name = str(data.get("name") or "").strip()
        if not name:
            errors["name"] = [_required()]
        elif len(name) > 100:
            errors["name"] = [_limit(100)]
        cleaned["name"] = name
    for key, limit in (("title", 200), ("thank_you", 300), ("campaign", 100), ("intro", 5000)):
        if not partial or key in data:
            value = str(data.get(key) or "").strip()
            if len(value) > limit:
                errors[key] = [_limit(limit)]
            cleaned[key] = value
    if not partial or "source" in data:
        try:
            cleaned["source"] = source_choice(data.get("source"))
        except InvalidValue as exc:
            errors["source"] = [str(exc)]
    for flag in ("ask_company", "ask_email", "ask_message", "active"):
        if flag in data and data[flag] is not None:
            cleaned[flag] = bool(data[flag])
    return cleaned, errors


FORM_FIELDS = ["slug", "name", "title", "intro", "thank_you", "source", "campaign"]
FORM_FIELDS += ["ask_company", "ask_email", "ask_message", "active"]


@transaction.atomic
def leadform_create(*, actor, data: dict) -> LeadForm:
    require(actor, Action.ASSIGN)
    cleaned, errors = clean_form_input(data)
    if errors:
        raise ValidationFailed(errors)
    form = LeadForm.objects.create(**cleaned)
    audit.record(
        actor=actor,
        action="create",
        instance=form,
        changes={k: [None, v] for k, v in audit.snapshot(form, FORM_FIELDS).items()},
    )
    return form


@transaction.atomic
def leadform_update(*, actor, form: LeadForm, data: dict) -> LeadForm:
    require(actor, Action.ASSIGN)
    cleaned, errors = clean_form_input(data, instance=form)
    if errors:
        raise ValidationFailed(errors)
    audit.update_and_record(actor=actor, instance=form, cleaned=cleaned, fields=FORM_FIELDS)
    return form


@transaction.atomic
def leadform_delete(*, actor, form: LeadForm) -> None:
    """Deletes the form; its leads stay (they keep source and campaign)."""
    require(actor, Action.ASSIGN)
    audit.record(
        actor=actor,
        action="delete",
        instance=form,
        changes={k: [v, None] for k, v in audit.snapshot(form, FORM_FIELDS).items()},
    )
    form.delete()


def leadform_get(*, actor, id: int) -> LeadForm:
    require(actor, Action.ASSIGN)
    form = LeadForm.objects.filter(pk=id).first()
    if form is None:
        raise NotFound(_("Web form not found."))
    return form


# Assignment rules -----------------------------------------------------------------------

RULE_FIELDS = ["name", "position", "active", "team", "province", "source", "form", "members"]


def clean_rule_input(data: dict, *, instance: AssignmentRule | None = None):
    from guanxi.accounts.models import Team

    partial = instance is not None
    cleaned, errors = {}, {}
    if not partial or "name" in data:
        name = str(data.get("name") or "").strip()
        if not name:
            errors["name"] = [_required()]
        elif len(name) > 100:
            errors["name"] = [_limit(100)]
        cleaned["name"] = name
    if "position" in data and data["position"] not in (None, ""):
        try:
            cleaned["position"] = max(0, int(data["position"]))
        except (TypeError, ValueError):
            errors["position"] = [_("Enter a whole number.")]
    if "active" in data and data["active"] is not None:
        cleaned["active"] = bool(data["active"])
    if not partial or "province" in data:
        province = str(data.get("province") or "").strip()
        if len(province) > 50:
            errors["province"] = [_limit(50)]
        cleaned["province"] = province
    if not partial or "source" in data:
        try:
            cleaned["source"] = source_choice(data.get("source"))
        except InvalidValue as exc:
            errors["source"] = [str(exc)]
    if not partial or "team" in data:
        raw = data.get("team")
        team = None
        if raw not in (None, ""):
            team = Team.objects.filter(pk=int(raw)).first() if str(raw).isdigit() else None
            team = team or Team.objects.filter(name=str(raw)).first()
            if team is None:
                errors["team"] = [_("There is no team “%(value)s”.") % {"value": raw}]
        cleaned["team"] = team
    if not partial or "form" in data:
        raw = data.get("form")
        form = None
        if raw not in (None, ""):
            form = LeadInput(None).form(raw)
            if form is None:
                errors["form"] = [_("There is no web form “%(value)s”.") % {"value": raw}]
        cleaned["form"] = form
    if not partial or "members" in data:
        raw = data.get("members") or []
        if isinstance(raw, str):
            raw = [p for p in raw.replace(";", ",").split(",") if p.strip()]
        context = LeadInput(None)
        members = []
        for item in raw:
            user = context.user(item)
            if user is None:
                errors.setdefault("members", []).append(
                    _("There is no active user “%(value)s”.") % {"value": item}
                )
            elif not can(user, Action.VIEW):
                errors.setdefault("members", []).append(
                    _("%(user)s cannot see leads.") % {"user": user}
                )
            else:
                members.append(user)
        cleaned["members"] = list(dict.fromkeys(members))
    team = cleaned.get("team", instance.team if instance else None)
    members = cleaned.get("members")
    if members is None and instance is not None:
        members = list(instance.members.all())
    if not team and not members and "team" not in errors and "members" not in errors:
        errors["team"] = [_("Choose a team or list the members who receive the leads.")]
    return cleaned, errors


def _rule_state(rule: AssignmentRule) -> dict:
    state = audit.snapshot(rule, [f for f in RULE_FIELDS if f != "members"])
    state["members"] = sorted(str(u) for u in rule.members.all()) if rule.pk else []
    return state


@transaction.atomic
def rule_create(*, actor, data: dict) -> AssignmentRule:
    require(actor, Action.ASSIGN)
    cleaned, errors = clean_rule_input(data)
    if errors:
        raise ValidationFailed(errors)
    members = cleaned.pop("members", [])
    if "position" not in cleaned:
        last = AssignmentRule.objects.order_by("-position").values_list("position", flat=True)
        cleaned["position"] = (last.first() or 0) + 10
    rule = AssignmentRule.objects.create(**cleaned)
    rule.members.set(members)
    audit.record(
        actor=actor,
        action="create",
        instance=rule,
        changes={k: [None, v] for k, v in _rule_state(rule).items() if v not in (None, "", [])},
    )
    return rule


@transaction.atomic
def rule_update(*, actor, rule: AssignmentRule, data: dict) -> AssignmentRule:
    require(actor, Action.ASSIGN)
    cleaned, errors = clean_rule_input(data, instance=rule)
    if errors:
        raise ValidationFailed(errors)
    before = _rule_state(rule)
    members = cleaned.pop("members", None)
    for key, value in cleaned.items():
        setattr(rule, key, value)
    rule.save()
    if members is not None:
        rule.members.set(members)
    changes = audit.diff(before, _rule_state(rule))
    if changes:
        audit.record(actor=actor, action="update", instance=rule, changes=changes)
    return rule


@transaction.atomic
def rule_delete(*, actor, rule: AssignmentRule) -> None:
    require(actor, Action.ASSIGN)
    audit.record(
        actor=actor,
        action="delete",
        instance=rule,
        changes={k: [v, None] for k, v in _rule_state(rule).items() if v not in (None, "", [])},
    )
    rule.delete()


def rule_get(*, actor, id: int) -> AssignmentRule:
    require(actor, Action.ASSIGN)
    rule = AssignmentRule.objects.filter(pk=id).first()
    if rule is None:
        raise NotFound(_("Assignment rule not found."))
    return rule


# Conversion -----------------------------------------------------------------------------


def matching_customers(*, user, lead: Lead, limit: int = 10) -> list[Customer]:
    """Customers the user may see with the lead's phone or e-mail: the ones a
    conversion may attach the lead to."""
    q = Q()
    if lead.phone:
        q |= Q(phone=lead.phone)
    if lead.email:
        q |= Q(email=lead.email)
    if not q:
        return []
    from guanxi.customers.selectors import customers_visible

    return list(customers_visible(user).filter(q).select_related("owner").order_by("pk")[:limit])


def default_pipeline_first_stage() -> tuple[Pipeline, Stage] | None:
    pipeline = (
        Pipeline.objects.filter(active=True).order_by("-is_default", "position", "id").first()
    )
    if pipeline is None:
        return None
    stage = pipeline.stages.filter(kind=Stage.Kind.OPEN).order_by("position", "id").first()
    return (pipeline, stage) if stage else None


def _opportunity_for(*, actor, lead: Lead, customer: Customer, name: str, amount, expected):
    """The opportunity a conversion opens, through the pipeline part's service: the
    default pipeline's first open stage."""
    from guanxi.sales import services_pipeline

    if default_pipeline_first_stage() is None:
        raise ValidationFailed(
            {"create_opportunity": [_("There is no pipeline with an open stage yet.")]}
        )
    data = {
        "name": name,
        "customer": customer,
        "lead": lead,
        "owner": (lead.owner or actor).pk,
        "amount": str(amount) if amount is not None else "",
        "expected_close": expected.isoformat() if expected else "",
    }
    return services_pipeline.opportunity_create(actor, data)


def _amount(raw):
    if raw in (None, ""):
        return None
    try:
        value = decimal.Decimal(str(raw).replace(",", "").strip())
    except decimal.InvalidOperation as exc:
        raise ValidationFailed({"amount": [_("Enter an amount.")]}) from exc
    if value < 0 or value >= 10**12:
        raise ValidationFailed({"amount": [_("Enter an amount.")]})
    return value.quantize(decimal.Decimal("0.01"))


def _date_or_none(raw, field: str):
    if raw in (None, ""):
        return None
    if isinstance(raw, datetime.date):
        return raw
    try:
        return datetime.date.fromisoformat(str(raw).strip())
    except ValueError as exc:
        raise ValidationFailed({field: [_("Enter a date (YYYY-MM-DD).")]}) from exc


@transaction.atomic
def lead_convert(
    *,
    actor,
    lead: Lead,
    customer_id: int | None = None,
    kind: str = Customer.Kind.PERSON,
    create_opportunity: bool = False,
    opportunity_name: str = "",
    amount=None,
    expected_close=None,
) -> Lead:
    """Turn a lead into a customer — a new one, or ``customer_id``, an existing one the
    user may see (found by phone or e-mail: ``matching_customers``) — and optionally an
    opportunity in the default pipeline's first stage. The lead's activities and tasks
    are linked to the customer too, so its 360° timeline shows them. The lead becomes
    read-only and points at the customer and the opportunity."""
    require(actor, Action.CHANGE)
    if not can_see(actor, lead):
        raise NotFound(_("Lead not found."))
    lead = Lead.objects.select_for_update(of=("self",)).select_related("owner").get(pk=lead.pk)
    _refuse_if_converted(lead)
    if lead.status == Status.DISQUALIFIED:
        raise ValidationFailed({"status": [_("A disqualified lead cannot be converted.")]})
    amount = _amount(amount)
    expected_close = _date_or_none(expected_close, "expected_close")
    new_customer = customer_id in (None, "")
    if not new_customer:
        customer = customer_services.customer_get_for_user(user=actor, id=int(customer_id))
    else:
        if kind not in Customer.Kind.values:
            raise ValidationFailed({"kind": [_("Choose person or company.")]})
        if kind == Customer.Kind.COMPANY and not lead.company:
            raise ValidationFailed({"kind": [_("The lead has no company name.")]})
        owner = lead.owner or actor
        notes = "\n".join(p for p in [lead.job_title and f"{lead.job_title}", lead.message] if p)
        data = {
            "kind": kind,
            "name": lead.company if kind == Customer.Kind.COMPANY else lead.name,
            "phone": lead.phone,
            "email": lead.email,
            "province": lead.province,
            "city": lead.city,
            "source": lead.source,
            "stage": Customer.Stage.PROSPECT,
            "notes": notes,
            "owner": owner.pk,
        }
        customer = customer_services.customer_create(actor=actor, data=data)
        if kind == Customer.Kind.COMPANY:
            customer_services.contact_create(
                actor=actor,
                customer=customer,
                data={
                    "name": lead.name,
                    "title": lead.job_title,
                    "phone": lead.phone,
                    "email": lead.email,
                    "is_primary": True,
                },
            )
    opportunity = None
    if create_opportunity:
        name = (opportunity_name or "").strip() or lead.company or lead.name
        if len(name) > 200:
            raise ValidationFailed({"opportunity_name": [_limit(200)]})
        opportunity = _opportunity_for(
            actor=actor,
            lead=lead,
            customer=customer,
            name=name,
            amount=amount,
            expected=expected_close,
        )
    moved_activities = Activity.objects.filter(lead=lead, customer__isnull=True).update(
        customer=customer
    )
    moved_tasks = Task.objects.filter(lead=lead, customer__isnull=True).update(customer=customer)
    before = _state(lead)
    lead.status = Status.CONVERTED
    lead.customer = customer
    lead.opportunity = opportunity
    lead.converted_at = timezone.now()
    lead.converted_by = actor
    lead.updated_at = lead.converted_at
    lead.save()
    changes = audit.diff(before, _state(lead))
    changes["customer"] = [None, str(customer)]
    if opportunity is not None:
        changes["opportunity"] = [None, str(opportunity)]
    audit.record(
        actor=actor,
        action="update",
        instance=lead,
        changes=changes,
        note=(
            _("Converted into a new customer.")
            if new_customer
            else _("Converted onto an existing customer.")
        ),
    )
    events.emit(
        "lead.converted",
        instance=lead,
        actor=actor,
        customer_id=customer.pk,
        payload={
            "customer": customer.pk,
            "new_customer": new_customer,
            "opportunity": opportunity.pk if opportunity else None,
            "activities": moved_activities,
            "tasks": moved_tasks,
        },
    )
    return lead
