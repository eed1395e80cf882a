"""Every write to customers, contacts, tags and custom fields.

Forms, the API and imports all hand plain dicts to ``clean_customer_input`` and then to
``customer_create`` / ``customer_update``, so a value is accepted or refused the same
way wherever it comes from.
"""

import datetime
import time
from collections.abc import Iterable, Mapping

from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from guanxi.accounts.models import User
from guanxi.accounts.roles import Action, can, require
from guanxi.core import audit, bulk, events
from guanxi.core.errors import NotFound, PermissionDenied, ValidationFailed
from guanxi.core.models import AuditEntry, BusinessEvent
from guanxi.core.normalize import InvalidValue, name_pinyin, normalize_email, normalize_phone
from guanxi.core.visibility import can_see
from guanxi.customers import customfields
from guanxi.customers.models import Consent, Contact, Customer, CustomField, Tag

# Fields compared for the audit log (tags and custom values included).
AUDITED_FIELDS = [
    "kind",
    "name",
    "phone",
    "phones_extra",
    "email",
    "emails_extra",
    "gender",
    "birthday",
    "province",
    "city",
    "district",
    "address",
    "source",
    "stage",
    "grade",
    "notes",
    "external_id",
    "custom",
    "owner",
    "team",
]
TEXT_LIMITS = {
    "name": 200,
    "province": 50,
    "city": 50,
    "district": 50,
    "address": 300,
    "external_id": 100,
    "notes": 10000,
}
CHOICE_FIELDS = {
    "kind": Customer.Kind,
    "gender": Customer.Gender,
    "source": Customer.Source,
    "stage": Customer.Stage,
    "grade": Customer.Grade,
}
# Labels users may type instead of keys (imports, forms): 男 → male, 重要客户 → ...
CHOICE_ALIASES = {
    "gender": {"男": "male", "女": "female", "m": "male", "f": "female", "未知": ""},
    "kind": {"个人": "person", "企业": "company", "公司": "company"},
}


_TEXT_LIMITS_BUT_NAME = [(k, v) for k, v in TEXT_LIMITS.items() if k != "name"]
# What an empty choice cell becomes.
_CHOICE_EMPTY = [
    (key, {"kind": Customer.Kind.PERSON, "stage": Customer.Stage.LEAD}.get(key, ""))
    for key in CHOICE_FIELDS
]


def _as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        parts = value.replace("；", ";").replace("，", ",").replace(",", ";").split(";")
        return [p.strip() for p in parts if p.strip()]
    return [str(v).strip() for v in value if str(v).strip()]


# What _choice compares against, computed once: the values of each choice field, and
# the list shown in its error message. Labels are translated, so their lower-case forms
# are collected on first use, in both languages, and kept (see _choice_labels).
_CHOICE_VALUES = {field: frozenset(choices.values) for field, choices in CHOICE_FIELDS.items()}
_CHOICE_LIST = {
    field: ", ".join(v for v in choices.values if v) for field, choices in CHOICE_FIELDS.items()
}
_CHOICE_LABELS: dict[str, dict[str, str]] = {}


def _choice_labels(field: str) -> dict[str, str]:
    """{lower-case label: value} in Chinese, then English (the first label wins)."""
    labels = _CHOICE_LABELS.get(field)
    if labels is None:
        labels = {}
        for language in ("zh-hans", "en"):
            with translation.override(language):
                for value, label in CHOICE_FIELDS[field].choices:
                    labels.setdefault(str(label).lower(), value)
        _CHOICE_LABELS[field] = labels
    return labels


def _choice(field: str, raw) -> str:
    values = _CHOICE_VALUES[field]
    text = str(raw or "").strip()
    if text in values:
        return text
    lowered = text.lower()
    if lowered in values:
        return lowered
    if field == "grade":
        upper = text.upper()
        if upper in values:
            return upper
    alias = CHOICE_ALIASES.get(field, {}).get(lowered)
    if alias is not None:
        return alias
    # Labels in either language are accepted too: "男", "VIP", "Prospect", "潜在客户".
    if text:
        value = _choice_labels(field).get(lowered)
        if value is not None:
            return value
    raise InvalidValue(
        _("“%(value)s” is not one of: %(choices)s.")
        % {"value": text, "choices": _CHOICE_LIST[field]}
    )


def _date(raw) -> datetime.date | None:
    if raw in (None, ""):
        return None
    if isinstance(raw, datetime.datetime):
        return raw.date()
    if isinstance(raw, datetime.date):
        return raw
    text = str(raw).strip().replace("/", "-").replace(".", "-")
    for suffix in ("日",):
        text = text.replace(suffix, "")
    text = text.replace("年", "-").replace("月", "-")
    try:
        value = datetime.date.fromisoformat(text)
    except ValueError:
        parts = text.split("-")
        try:
            value = datetime.date(int(parts[0]), int(parts[1]), int(parts[2]))
        except (ValueError, IndexError) as exc:
            raise InvalidValue(
                _("“%(value)s” is not a date (use YYYY-MM-DD).") % {"value": raw}
            ) from exc
    if value.year < 1900 or (_maybe_future(value) and value > timezone.localdate()):
        raise InvalidValue(_("“%(value)s” is not a plausible birthday.") % {"value": raw})
    return value


_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()


def _maybe_future(value: datetime.date) -> bool:
    """False for a date at least two days before today in UTC, which is before today in
    every time zone (so the time zone lookup of ``localdate`` is not needed)."""
    return value.toordinal() > _EPOCH_ORDINAL + int(time.time() // 86400) - 2


class CustomerInput:
    """Context for cleaning many rows at once (imports): caches lookups."""

    def __init__(self, actor):
        self.actor = actor
        self.fields = customfields.active_fields()
        self._users: dict[str, User | None] = {}

    def user(self, raw) -> User | None:
        key = str(raw).strip()
        if key not in self._users:
            qs = User.objects.filter(is_active=True)
            found = None
            if key.isdigit():
                found = qs.filter(pk=int(key)).first()
            if found is None:
                found = qs.filter(username=key).first() or qs.filter(email__iexact=key).first()
            self._users[key] = found
        return self._users[key]


def clean_customer_input(
    data: dict,
    *,
    actor,
    instance: Customer | None = None,
    partial: bool = False,
    context: CustomerInput | None = None,
) -> tuple[dict, dict]:
    """Validate and normalise ``data``; returns (cleaned values, field errors).

    Only keys present in ``data`` are cleaned when ``partial``. Tags come back as a
    list of names under ``tags``; owner as a User under ``owner``."""
    context = context or CustomerInput(actor)
    cleaned: dict = {}
    errors: dict[str, list[str]] = {}
    get = data.get

    def present(key):
        return not partial or key in data

    def fail(key, message):
        errors.setdefault(key, []).append(str(message))

    if present("name"):
        name = str(get("name") or "").strip()
        if not name:
            fail("name", _("This field is required."))
        elif len(name) > TEXT_LIMITS["name"]:
            fail("name", _("At most %(limit)d characters.") % {"limit": TEXT_LIMITS["name"]})
        cleaned["name"] = name
    for key, limit in _TEXT_LIMITS_BUT_NAME:
        if partial and key not in data:
            continue
        value = get(key)
        if value is None:
            value = ""
        elif value.__class__ is str:
            value = value.strip()
        else:
            value = str(value).strip()
        if len(value) > limit:
            fail(key, _("At most %(limit)d characters.") % {"limit": limit})
        cleaned[key] = value
    if "external_id" in cleaned:
        cleaned["external_id"] = cleaned["external_id"] or None
    for key, empty in _CHOICE_EMPTY:
        if partial and key not in data:
            continue
        raw = get(key)
        if raw is None or raw == "":
            cleaned[key] = empty
            continue
        try:
            cleaned[key] = _choice(key, raw)
        except InvalidValue as exc:
            fail(key, exc)
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
    if present("phones_extra"):
        phones = []
        for raw in _as_list(data.get("phones_extra")):
            try:
                phones.append(normalize_phone(raw))
            except InvalidValue as exc:
                fail("phones_extra", exc)
        cleaned["phones_extra"] = list(dict.fromkeys(phones))
    if present("emails_extra"):
        emails = []
        for raw in _as_list(data.get("emails_extra")):
            try:
                emails.append(normalize_email(raw))
            except InvalidValue as exc:
                fail("emails_extra", exc)
        cleaned["emails_extra"] = list(dict.fromkeys(emails))
    if present("birthday"):
        try:
            cleaned["birthday"] = _date(data.get("birthday"))
        except InvalidValue as exc:
            fail("birthday", exc)
    if present("tags"):
        names = _as_list(data.get("tags"))
        too_long = [n for n in names if len(n) > 50]
        if too_long:
            fail("tags", _("A tag has at most 50 characters."))
        cleaned["tags"] = list(dict.fromkeys(names))
    if "owner" in data and data.get("owner") not in (None, ""):
        owner = context.user(data["owner"])
        if owner is None:
            fail("owner", _("There is no active user “%(value)s”.") % {"value": data["owner"]})
        else:
            current_owner = instance.owner_id if instance else None
            if owner.pk not in (actor.pk, current_owner) and not can(actor, Action.ASSIGN):
                fail("owner", _("You may not give customers to other users."))
            cleaned["owner"] = owner
    elif instance is None:
        cleaned["owner"] = actor
    if "custom" in data or not partial:
        raw_custom = data.get("custom") or {}
        if not isinstance(raw_custom, dict):
            fail("custom", _("Custom fields must be an object of key: value."))
        else:
            values, custom_errors = customfields.clean_custom(
                raw_custom,
                fields=context.fields,
                partial=partial,
                current=instance.custom if instance else None,
            )
            for key, messages in custom_errors.items():
                for message in messages:
                    fail(key, message)
            cleaned["custom"] = values
    return cleaned, errors


def _check_external_id_free(external_id, instance) -> dict:
    if not external_id:
        return {}
    taken = Customer.objects.filter(external_id=external_id)
    if instance is not None:
        taken = taken.exclude(pk=instance.pk)
    if taken.exists():
        return {"external_id": [_("Another customer already has this external id.")]}
    return {}


def _apply(customer: Customer, cleaned: dict) -> None:
    for key, value in cleaned.items():
        if key in {"tags"}:
            continue
        setattr(customer, key, value)
    if "owner" in cleaned and cleaned["owner"] is not None:
        customer.team_id = cleaned["owner"].team_id
    if "name" in cleaned:
        customer.name_pinyin, customer.name_initials = name_pinyin(customer.name)


def _save_unique(customer: Customer) -> None:
    """Save; a concurrent writer taking the same external id becomes a field error."""
    try:
        with transaction.atomic():
            customer.save()
    except IntegrityError as exc:
        if (
            customer.external_id
            and Customer.objects.filter(external_id=customer.external_id)
            .exclude(pk=customer.pk)
            .exists()
        ):
            raise ValidationFailed(
                {"external_id": [_("Another customer already has this external id.")]}
            ) from exc
        raise


def _set_tags(customer: Customer, names: list[str]) -> None:
    existing = {t.name: t for t in Tag.objects.filter(name__in=names)}
    for name in names:
        if name not in existing:
            existing[name] = Tag.objects.create(name=name)
    customer.tags.set([existing[n] for n in names])


def _audit_state(customer: Customer) -> dict:
    state = audit.snapshot(customer, AUDITED_FIELDS)
    state["tags"] = sorted(customer.tags.values_list("name", flat=True)) if customer.pk else []
    return state


@transaction.atomic
def customer_create(*, actor, data: dict, context: CustomerInput | None = None) -> Customer:
    require(actor, Action.CREATE)
    cleaned, errors = clean_customer_input(data, actor=actor, context=context)
    errors.update(_check_external_id_free(cleaned.get("external_id"), None))
    if errors:
        raise ValidationFailed(errors)
    customer = Customer(created_by=actor if actor.pk else None)
    _apply(customer, cleaned)
    _save_unique(customer)
    if cleaned.get("tags"):
        _set_tags(customer, cleaned["tags"])
    state = _audit_state(customer)
    audit.record(
        actor=actor,
        action="create",
        instance=customer,
        changes={k: [None, v] for k, v in state.items() if v not in (None, "", [], {})},
    )
    events.emit("customer.created", instance=customer, actor=actor, customer_id=customer.pk)
    return customer


def customer_get_for_user(*, user, id: int, for_update: bool = False) -> Customer:
    """One customer the user may see, or NotFound (never a hint that it exists)."""
    qs = Customer.objects.select_related("owner", "team")
    if for_update:
        qs = qs.select_for_update()
    customer = qs.filter(pk=id).first()
    if customer is None or not can_see(user, customer):
        raise NotFound(_("Customer not found."))
    return customer


@transaction.atomic
def customer_update(
    *, actor, customer: Customer, data: dict, context: CustomerInput | None = None
) -> Customer:
    require(actor, Action.CHANGE)
    if not can_see(actor, customer):
        raise NotFound(_("Customer not found."))
    cleaned, errors = clean_customer_input(
        data, actor=actor, instance=customer, partial=True, context=context
    )
    if "external_id" in cleaned:
        errors.update(_check_external_id_free(cleaned["external_id"], customer))
    if errors:
        raise ValidationFailed(errors)
    before = _audit_state(customer)
    _apply(customer, cleaned)
    customer.updated_at = timezone.now()
    _save_unique(customer)
    if "tags" in cleaned:
        _set_tags(customer, cleaned["tags"])
    changes = audit.diff(before, _audit_state(customer))
    if changes:
        audit.record(actor=actor, action="update", instance=customer, changes=changes)
        events.emit(
            "customer.updated",
            instance=customer,
            actor=actor,
            customer_id=customer.pk,
            payload={"fields": sorted(changes)},
        )
        if "stage" in changes:
            events.emit(
                "customer.stage_changed",
                instance=customer,
                actor=actor,
                customer_id=customer.pk,
                payload={"from": changes["stage"][0], "to": changes["stage"][1]},
            )
    return customer


@transaction.atomic
def customer_stage_set_by_system(*, customer: Customer, stage: str, note: str) -> bool:
    """A stage change made by the system (e.g. the churn rules), not by a user: audited
    with no actor and ``note`` saying why, and emits ``customer.stage_changed``.
    Returns False (and writes nothing) when the customer already has that stage."""
    if stage not in Customer.Stage.values:
        raise ValidationFailed({"stage": [_("Unknown stage.")]})
    old = customer.stage
    if old == stage:
        return False
    customer.stage = stage
    customer.updated_at = timezone.now()
    customer.save(update_fields=["stage", "updated_at"])
    audit.record(
        actor=None, action="update", instance=customer, changes={"stage": [old, stage]}, note=note
    )
    events.emit(
        "customer.updated",
        instance=customer,
        customer_id=customer.pk,
        payload={"fields": ["stage"]},
    )
    events.emit(
        "customer.stage_changed",
        instance=customer,
        customer_id=customer.pk,
        payload={"from": old, "to": stage, "reason": note},
    )
    return True


@transaction.atomic
def customers_stage_set_by_system_bulk(
    *,
    ids_by_stage: Mapping[str, Iterable[int]],
    allowed_from: Mapping[str, Iterable[str]],
    notes: Mapping[int, str],
) -> dict[str, int]:
    """``customer_stage_set_by_system`` for many customers in one transaction, with the
    same outcome (stage and updated_at; one audit entry with no actor, the stage change
    and the customer's note; ``customer.updated`` and ``customer.stage_changed`` per
    customer, in that order) in a handful of queries: lock the rows, one UPDATE per new
    stage, one multi-row insert (executemany / COPY) of the audit entries and one of
    the events.

    ``ids_by_stage`` maps a new stage to the customers to move there; a customer moves
    only if its stage now is one of ``allowed_from[new stage]`` (checked on the locked
    rows and again in the UPDATE, so a change made since the caller chose them is not
    overwritten). ``notes`` gives each customer's note. Returns how many moved per stage.
    Callers keep batches to a few thousand ids."""
    wanted: dict[int, str] = {}
    allowed: dict[str, set[str]] = {}
    for stage, ids in ids_by_stage.items():
        if stage not in Customer.Stage.values:
            raise ValidationFailed({"stage": [_("Unknown stage.")]})
        allowed[stage] = set(allowed_from.get(stage, ())) - {stage}
        for pk in ids:
            wanted[pk] = stage
    moved = dict.fromkeys(ids_by_stage, 0)
    if not wanted:
        return moved
    # The rows are locked until commit (PostgreSQL; SQLite's IMMEDIATE transaction holds
    # the write lock), so the stages read here are the ones the UPDATE replaces.
    current = list(
        Customer.objects.select_for_update()
        .filter(pk__in=list(wanted))
        .order_by("pk")
        .values_list("pk", "stage", "name")
    )
    now = timezone.now()
    for stage in ids_by_stage:
        ids = [pk for pk, old, _name in current if wanted[pk] == stage and old in allowed[stage]]
        if not ids:
            continue
        count = Customer.objects.filter(pk__in=ids, stage__in=allowed[stage]).update(
            stage=stage, updated_at=now
        )
        if count != len(ids):  # cannot happen while the rows are locked
            raise RuntimeError("customer stages changed under a lock")
        moved[stage] = count
    # The rows audit.record and events.emit would write (actor None: the system), as
    # plain dicts inserted without bulk_create's per-value overhead.
    model = Customer._meta.label_lower
    entries, rows = [], []
    for pk, old, name in current:
        stage = wanted[pk]
        if old not in allowed[stage]:
            continue
        note = notes.get(pk, "")
        entries.append(
            {
                "at": now,
                "actor_id": None,
                "action": "update",
                "model": model,
                "object_id": pk,
                "object_repr": str(name)[:200],
                "changes": {"stage": [old, stage]},
                "note": note[:500],
            }
        )
        common = {"occurred_at": now, "actor_id": None, "model": model, "object_id": pk}
        rows.append(
            {"name": "customer.updated", "customer_id": pk, "payload": {"fields": ["stage"]}}
            | common
        )
        rows.append(
            {
                "name": "customer.stage_changed",
                "customer_id": pk,
                "payload": {"from": old, "to": stage, "reason": note},
            }
            | common
        )
    bulk.insert(AuditEntry, entries)
    bulk.insert(BusinessEvent, rows)
    return moved


@transaction.atomic
def customer_delete(*, actor, customer: Customer) -> None:
    require(actor, Action.DELETE)
    if not can_see(actor, customer):
        raise NotFound(_("Customer not found."))
    state = _audit_state(customer)
    pk = customer.pk
    audit.record(
        actor=actor,
        action="delete",
        instance=customer,
        changes={k: [v, None] for k, v in state.items() if v not in (None, "", [], {})},
    )
    events.emit("customer.deleted", actor=actor, customer_id=pk, payload={"id": pk})
    customer.delete()


@transaction.atomic
def consent_set(*, actor, customer: Customer, channel: str, granted: bool, source: str = ""):
    require(actor, Action.CHANGE)
    if not can_see(actor, customer):
        raise NotFound(_("Customer not found."))
    if channel not in Consent.Channel.values:
        raise ValidationFailed({"channel": [_("Unknown channel.")]})
    previous = Consent.objects.filter(customer=customer, channel=channel).first()
    consent, _created = Consent.objects.update_or_create(
        customer=customer,
        channel=channel,
        defaults={"granted": granted, "at": timezone.now(), "source": source[:100]},
    )
    audit.record(
        actor=actor,
        action="update",
        instance=customer,
        changes={f"consent.{channel}": [previous.granted if previous else None, granted]},
        note=source,
    )
    events.emit(
        "customer.consent_changed",
        instance=customer,
        actor=actor,
        customer_id=customer.pk,
        payload={"channel": channel, "granted": granted},
    )
    return consent


# Contacts ---------------------------------------------------------------------------


def clean_contact_input(data: dict, *, partial: bool = False) -> tuple[dict, dict]:
    cleaned, errors = {}, {}
    if "name" in data or not partial:
        name = str(data.get("name") or "").strip()
        if not name:
            errors["name"] = [_("This field is required.")]
        elif len(name) > 100:
            errors["name"] = [_("At most %(limit)d characters.") % {"limit": 100}]
        cleaned["name"] = name
    for key in ("title", "notes"):
        if key in data or not partial:
            cleaned[key] = str(data.get(key) or "").strip()
    if len(cleaned.get("title", "")) > 100:
        errors["title"] = [_("At most %(limit)d characters.") % {"limit": 100}]
    if "phone" in data or not partial:
        try:
            cleaned["phone"] = normalize_phone(str(data.get("phone") or ""))
        except InvalidValue as exc:
            errors["phone"] = [str(exc)]
    if "email" in data or not partial:
        try:
            cleaned["email"] = normalize_email(str(data.get("email") or ""))
        except InvalidValue as exc:
            errors["email"] = [str(exc)]
    if "is_primary" in data or not partial:
        cleaned["is_primary"] = bool(data.get("is_primary"))
    return cleaned, errors


@transaction.atomic
def contact_create(*, actor, customer: Customer, data: dict) -> Contact:
    require(actor, Action.CHANGE)
    if not can_see(actor, customer):
        raise NotFound(_("Customer not found."))
    if customer.kind != Customer.Kind.COMPANY:
        raise ValidationFailed({"customer": [_("Only company customers have contacts.")]})
    cleaned, errors = clean_contact_input(data)
    if errors:
        raise ValidationFailed(errors)
    contact = Contact.objects.create(customer=customer, **cleaned)
    audit.record(
        actor=actor,
        action="create",
        instance=contact,
        changes={k: [None, v] for k, v in cleaned.items() if v not in ("", False)},
        note=_("Contact of %(customer)s") % {"customer": customer.name},
    )
    events.emit("contact.created", instance=contact, actor=actor, customer_id=customer.pk)
    return contact


@transaction.atomic
def contact_update(*, actor, contact: Contact, data: dict) -> Contact:
    require(actor, Action.CHANGE)
    if not can_see(actor, contact.customer):
        raise NotFound(_("Contact not found."))
    cleaned, errors = clean_contact_input(data, partial=True)
    if errors:
        raise ValidationFailed(errors)
    audit.update_and_record(
        actor=actor, instance=contact, cleaned=cleaned, fields=list(cleaned), touch=True
    )
    return contact


@transaction.atomic
def contact_delete(*, actor, contact: Contact) -> None:
    require(actor, Action.CHANGE)
    if not can_see(actor, contact.customer):
        raise NotFound(_("Contact not found."))
    state = audit.snapshot(contact, ["name", "title", "phone", "email", "is_primary", "notes"])
    audit.record(
        actor=actor,
        action="delete",
        instance=contact,
        changes={k: [v, None] for k, v in state.items() if v not in ("", False)},
        note=_("Contact of %(customer)s") % {"customer": contact.customer.name},
    )
    contact.delete()


def contact_get_for_user(*, user, id: int) -> Contact:
    contact = Contact.objects.select_related("customer").filter(pk=id).first()
    if contact is None or not can_see(user, contact.customer):
        raise NotFound(_("Contact not found."))
    return contact


# Tags and custom fields (settings) -------------------------------------------------


@transaction.atomic
def tag_create(*, actor, name: str, color: str = "#3b82f6") -> Tag:
    require(actor, Action.MANAGE_SETTINGS)
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = [_("This field is required.")]
    elif len(name) > 50:
        errors["name"] = [_("At most %(limit)d characters.") % {"limit": 50}]
    elif Tag.objects.filter(name=name).exists():
        errors["name"] = [_("A tag with this name already exists.")]
    if not _is_color(color):
        errors["color"] = [_("Use a colour like #3b82f6.")]
    if errors:
        raise ValidationFailed(errors)
    tag = Tag.objects.create(name=name, color=color)
    audit.record(actor=actor, action="create", instance=tag, changes={"name": [None, name]})
    return tag


@transaction.atomic
def tag_update(*, actor, tag: Tag, data: dict) -> Tag:
    require(actor, Action.MANAGE_SETTINGS)
    errors = {}
    before = audit.snapshot(tag, ["name", "color"])
    if "name" in data:
        name = (data.get("name") or "").strip()
        if not name:
            errors["name"] = [_("This field is required.")]
        elif Tag.objects.filter(name=name).exclude(pk=tag.pk).exists():
            errors["name"] = [_("A tag with this name already exists.")]
        tag.name = name
    if "color" in data:
        if not _is_color(data.get("color") or ""):
            errors["color"] = [_("Use a colour like #3b82f6.")]
        tag.color = data.get("color")
    if errors:
        raise ValidationFailed(errors)
    tag.save()
    changes = audit.diff(before, audit.snapshot(tag, ["name", "color"]))
    if changes:
        audit.record(actor=actor, action="update", instance=tag, changes=changes)
    return tag


@transaction.atomic
def tag_delete(*, actor, tag: Tag) -> None:
    require(actor, Action.MANAGE_SETTINGS)
    audit.record(actor=actor, action="delete", instance=tag, changes={"name": [tag.name, None]})
    tag.delete()


def _is_color(value: str) -> bool:
    import re

    return bool(re.fullmatch(r"#[0-9a-fA-F]{6}", value or ""))


def clean_custom_field_input(data: dict, *, instance: CustomField | None = None):
    import re

    cleaned, errors = {}, {}
    partial = instance is not None
    if not partial or "key" in data:
        key = str(data.get("key") or "").strip()
        if partial and key != instance.key:
            errors["key"] = [_("The key of a field cannot change.")]
        elif not re.fullmatch(r"[a-z][a-z0-9_]{0,49}", key):
            errors["key"] = [
                _("Use lower-case letters, digits and _, starting with a letter (e.g. wechat_id).")
            ]
        elif not partial and CustomField.objects.filter(key=key).exists():
            errors["key"] = [_("A field with this key already exists.")]
        cleaned["key"] = key
    if not partial or "label" in data:
        label = str(data.get("label") or "").strip()
        if not label:
            errors["label"] = [_("This field is required.")]
        cleaned["label"] = label[:100]
    if not partial or "type" in data:
        ftype = data.get("type")
        if ftype not in CustomField.Type.values:
            errors["type"] = [_("Choose a type.")]
        elif partial and ftype != instance.type:
            errors["type"] = [_("The type of a field cannot change.")]
        cleaned["type"] = ftype
    ftype = cleaned.get("type", instance.type if instance else None)
    if not partial or "choices" in data:
        choices = _as_list(data.get("choices"))
        if ftype in (CustomField.Type.CHOICE, CustomField.Type.MULTI) and not choices:
            errors["choices"] = [_("List the choices, separated by ; or ,.")]
        cleaned["choices"] = list(dict.fromkeys(choices))
    for flag in ("required", "active"):
        if flag in data:
            cleaned[flag] = bool(data.get(flag))
    if "position" in data:
        try:
            cleaned["position"] = max(0, int(data.get("position") or 0))
        except (TypeError, ValueError):
            errors["position"] = [_("Enter a whole number.")]
    return cleaned, errors


@transaction.atomic
def custom_field_create(*, actor, data: dict) -> CustomField:
    require(actor, Action.MANAGE_SETTINGS)
    cleaned, errors = clean_custom_field_input(data)
    if errors:
        raise ValidationFailed(errors)
    field = CustomField.objects.create(**cleaned)
    audit.record(
        actor=actor,
        action="create",
        instance=field,
        changes={k: [None, v] for k, v in cleaned.items()},
    )
    return field


@transaction.atomic
def custom_field_update(*, actor, field: CustomField, data: dict) -> CustomField:
    require(actor, Action.MANAGE_SETTINGS)
    cleaned, errors = clean_custom_field_input(data, instance=field)
    if errors:
        raise ValidationFailed(errors)
    audit.update_and_record(actor=actor, instance=field, cleaned=cleaned, fields=list(cleaned))
    return field


@transaction.atomic
def custom_field_delete(*, actor, field: CustomField) -> None:
    """Deactivates the field: values stay on customers so nothing is lost."""
    require(actor, Action.MANAGE_SETTINGS)
    if not field.active:
        return
    field.active = False
    field.save(update_fields=["active"])
    audit.record(actor=actor, action="delete", instance=field, changes={"active": [True, False]})


def require_view(actor) -> None:
    if not can(actor, Action.VIEW):
        raise PermissionDenied()
