"""Duplicate customers: finding candidate pairs, merging them, and "not duplicates".

Detection never compares all pairs: it groups the customers a user may see by the
indexed phone, e-mail and name-pinyin columns (``GROUP BY … HAVING COUNT(*) > 1``)
and only then builds pairs inside each small group. Other phones and e-mails
(``phones_extra`` / ``emails_extra``) are matched against the indexed main columns.

Merging moves every record that points at a customer to the survivor without knowing
which apps exist: it walks the reverse relations of ``Customer`` (foreign keys, one-to-
ones and the through tables of many-to-many fields), so orders, activities and tickets
added later follow the survivor with no change here.
"""

import dataclasses
import itertools
from collections import defaultdict
from collections.abc import Iterable

from django.db import models, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.accounts.roles import Action, require
from guanxi.core import audit, events
from guanxi.core.errors import NotFound, ValidationFailed
from guanxi.core.models import BusinessEvent
from guanxi.core.normalize import name_pinyin
from guanxi.core.visibility import can_see, visible_to
from guanxi.customers.models import Consent, Customer, CustomField, DuplicateDismissal
from guanxi.customers.services import AUDITED_FIELDS

REASONS = {
    "phone": gettext_lazy("Same phone"),
    "email": gettext_lazy("Same e-mail"),
    "name": gettext_lazy("Same name"),
    "pinyin": gettext_lazy("Similar name (same pinyin)"),
}
# How much each reason says about two records being one person; summed, at most 100.
WEIGHTS = {"phone": 60, "email": 50, "name": 30, "pinyin": 20}
# A name shared by more customers than this is a common name, not a duplicate signal.
MAX_NAME_GROUP = 8
# Larger phone / e-mail groups are cut to their first members (shared switchboards).
MAX_CONTACT_GROUP = 20
# How many records with other phones / e-mails are checked in one listing.
MAX_EXTRA_SCAN = 5000

# Fields a merge may take from another record (values chosen per field, or filled in).
MERGE_FIELDS = [
    "kind",
    "name",
    "phone",
    "email",
    "gender",
    "birthday",
    "province",
    "city",
    "district",
    "address",
    "source",
    "stage",
    "grade",
    "external_id",
    "notes",
    "owner",
]
# Fields filled from another record when the survivor's is empty and none was chosen.
FILL_FIELDS = [
    "name",
    "phone",
    "email",
    "gender",
    "birthday",
    "province",
    "city",
    "district",
    "address",
    "source",
    "grade",
    "external_id",
    "notes",
    "owner",
]


def _empty(value) -> bool:
    return value in (None, "", [], {})


def _ordered(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


@dataclasses.dataclass
class DuplicatePair:
    """Two customers that may be one, with why (reason keys) and how likely (0–100)."""

    first: Customer
    second: Customer
    reasons: list[str]
    score: int

    @property
    def reason_labels(self) -> list[str]:
        return [str(REASONS[r]) for r in self.reasons]

    @property
    def customers(self) -> list[Customer]:
        return [self.first, self.second]


@dataclasses.dataclass
class DuplicateMatch:
    """Another customer that may be the same as a given one."""

    customer: Customer
    reasons: list[str]
    score: int

    @property
    def reason_labels(self) -> list[str]:
        return [str(REASONS[r]) for r in self.reasons]


def _score(reasons: Iterable[str]) -> int:
    return min(100, sum(WEIGHTS[r] for r in set(reasons)))


def _sorted_reasons(reasons: Iterable[str]) -> list[str]:
    return sorted(set(reasons), key=list(WEIGHTS).index)


def _groups(qs, column: str, limit: int, max_size: int | None = None) -> list[list[int]]:
    """Ids of the customers sharing a value of ``column``, group by group."""
    values = (
        qs.exclude(**{column: ""})
        .values(column)
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .order_by(column)
    )
    if max_size is not None:
        values = values.filter(n__lte=max_size)
    keys = [row[column] for row in values[:limit]]
    if not keys:
        return []
    members = defaultdict(list)
    for pk, key in qs.filter(**{f"{column}__in": keys}).order_by("id").values_list("id", column):
        members[key].append(pk)
    return [members[k][:MAX_CONTACT_GROUP] for k in keys if len(members[k]) > 1]


def _extra_matches(qs, extra: str, main: str) -> list[tuple[int, int]]:
    """Pairs where one record's other phone (e-mail) is another's main one or other one."""
    owners: dict[str, set[int]] = defaultdict(set)
    rows = qs.exclude(**{extra: []}).order_by("id").values_list("id", extra)[:MAX_EXTRA_SCAN]
    for pk, values in rows:
        for value in values or []:
            owners[value].add(pk)
    if not owners:
        return []
    pairs = set()
    for ids in owners.values():
        for a, b in itertools.combinations(sorted(ids), 2):
            pairs.add((a, b))
    keys = list(owners)
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        for pk, value in qs.filter(**{f"{main}__in": chunk}).values_list("id", main):
            for other in owners[value]:
                if other != pk:
                    pairs.add(_ordered(pk, other))
    return sorted(pairs)


def _dismissed(pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    pairs = list(pairs)
    if not pairs:
        return set()
    ids = {pk for pair in pairs for pk in pair}
    rows = DuplicateDismissal.objects.filter(first_id__in=ids, second_id__in=ids)
    return set(rows.values_list("first_id", "second_id"))


def duplicate_pairs(*, user, limit: int = 100) -> list[DuplicatePair]:
    """Candidate duplicate pairs among the customers ``user`` may see, likeliest first.

    Pairs marked "not duplicates" are left out."""
    limit = max(1, min(int(limit), 500))
    qs = visible_to(user, Customer.objects.all())
    found: dict[tuple[int, int], set[str]] = defaultdict(set)
    group_limit = limit * 3

    for column, reason, max_size in (
        ("phone", "phone", None),
        ("email", "email", None),
        ("name_pinyin", "pinyin", MAX_NAME_GROUP),
    ):
        for ids in _groups(qs, column, group_limit, max_size):
            for pair in itertools.combinations(ids, 2):
                found[pair].add(reason)
    for extra, main, reason in (
        ("phones_extra", "phone", "phone"),
        ("emails_extra", "email", "email"),
    ):
        for pair in _extra_matches(qs, extra, main):
            found[pair].add(reason)

    for pair in _dismissed(found):
        found.pop(pair, None)
    if not found:
        return []
    ranked = sorted(found.items(), key=lambda item: (-_score(item[1]), item[0]))[: limit * 2]
    ids = {pk for pair, _reasons in ranked for pk in pair}
    records = Customer.objects.select_related("owner", "team").in_bulk(ids)
    pairs = []
    for (a, b), reasons in ranked:
        first, second = records.get(a), records.get(b)
        if first is None or second is None:
            continue
        if "pinyin" in reasons and first.name == second.name:
            reasons = (reasons - {"pinyin"}) | {"name"}
        pairs.append(DuplicatePair(first, second, _sorted_reasons(reasons), _score(reasons)))
    pairs.sort(key=lambda p: (-p.score, p.first.pk, p.second.pk))
    return pairs[:limit]


def duplicates_of(customer: Customer, *, user, limit: int = 10) -> list[DuplicateMatch]:
    """Visible customers that may be the same as ``customer`` (saved or not yet saved):
    used to warn while creating or editing one."""
    phones = [p for p in [customer.phone, *(customer.phones_extra or [])] if p]
    emails = [e for e in [customer.email, *(customer.emails_extra or [])] if e]
    pinyin = customer.name_pinyin or (name_pinyin(customer.name)[0] if customer.name else "")
    q = Q(pk__in=[])
    if phones:
        q |= Q(phone__in=phones)
        for phone in phones:
            q |= Q(phones_extra__icontains=f'"{phone}"')
    if emails:
        q |= Q(email__in=emails)
        for email in emails:
            q |= Q(emails_extra__icontains=f'"{email}"')
    if pinyin:
        q |= Q(name_pinyin=pinyin)
    qs = visible_to(user, Customer.objects.filter(q)).select_related("owner", "team")
    if customer.pk:
        qs = qs.exclude(pk=customer.pk)
    candidates = list(qs.order_by("id")[: limit * 5])
    dismissed = set()
    if customer.pk and candidates:
        dismissed = _dismissed(_ordered(customer.pk, c.pk) for c in candidates)
    matches = []
    for other in candidates:
        if customer.pk and _ordered(customer.pk, other.pk) in dismissed:
            continue
        reasons = set()
        if set(phones) & {other.phone, *(other.phones_extra or [])} - {""}:
            reasons.add("phone")
        if set(emails) & {other.email, *(other.emails_extra or [])} - {""}:
            reasons.add("email")
        if other.name == customer.name:
            reasons.add("name")
        elif pinyin and other.name_pinyin == pinyin:
            reasons.add("pinyin")
        if reasons:
            matches.append(DuplicateMatch(other, _sorted_reasons(reasons), _score(reasons)))
    matches.sort(key=lambda m: (-m.score, m.customer.pk))
    return matches[:limit]


# "Not duplicates" -------------------------------------------------------------------


@transaction.atomic
def duplicate_dismiss(*, actor, first: Customer, second: Customer) -> DuplicateDismissal:
    """Mark two customers as different people, so they are not proposed again."""
    require(actor, Action.CHANGE)
    for customer in (first, second):
        if not can_see(actor, customer):
            raise NotFound(_("Customer not found."))
    if first.pk == second.pk:
        raise ValidationFailed({"second_id": [_("Choose two different customers.")]})
    a, b = _ordered(first.pk, second.pk)
    dismissal, created = DuplicateDismissal.objects.get_or_create(
        first_id=a, second_id=b, defaults={"by": actor}
    )
    if created:
        audit.record(
            actor=actor,
            action="update",
            instance=first,
            changes={"not_duplicate_of": [None, second.pk]},
            note=_("Not a duplicate of #%(id)s") % {"id": second.pk},
        )
    return dismissal


# Merge --------------------------------------------------------------------------------


def merge_candidates(*, user, ids: Iterable[int]) -> list[Customer]:
    """The customers to compare on the merge page, all visible to ``user``, in id order."""
    ids = list(dict.fromkeys(int(i) for i in ids))
    records = Customer.objects.select_related("owner", "team").prefetch_related("tags").in_bulk(ids)
    result = []
    for pk in sorted(ids):
        customer = records.get(pk)
        if customer is None or not can_see(user, customer):
            raise NotFound(_("Customer not found."))
        result.append(customer)
    return result


def _state(customer: Customer) -> dict:
    state = audit.snapshot(customer, AUDITED_FIELDS)
    state["tags"] = sorted(customer.tags.values_list("name", flat=True))
    return state


def _reverse_foreign_keys() -> list[models.ForeignKey]:
    """Every foreign key (or one-to-one) in any installed model that points at Customer,
    including the through tables of many-to-many fields in either direction."""
    keys = []
    for rel in Customer._meta.get_fields(include_hidden=True):
        if rel.auto_created and not rel.concrete and (rel.one_to_many or rel.one_to_one):
            keys.append(rel.field)
    return keys


def _unique_sets(model: type[models.Model], field: models.Field) -> list[list[str]]:
    """The unique column sets of ``model`` that contain ``field``, as attnames."""
    names = []
    if field.unique:
        names.append([field.name])
    for together in model._meta.unique_together:
        names.append(list(together))
    for constraint in model._meta.total_unique_constraints:
        names.append(list(constraint.fields))
    result = []
    for fields in names:
        if field.name in fields:
            result.append([model._meta.get_field(n).attname for n in fields])
    return result


def _move_related(survivor: Customer, loser_ids: list[int]) -> dict[str, int]:
    """Point every related row of the losers at the survivor. A row that would break a
    unique constraint (the survivor already has its twin) is dropped. Returns counts."""
    moved: dict[str, int] = {}
    for fk in _reverse_foreign_keys():
        model = fk.model
        manager = model._base_manager
        losers_rows = manager.filter(**{f"{fk.attname}__in": loser_ids})
        for columns in _unique_sets(model, fk):
            others = [c for c in columns if c != fk.attname]
            survivor_rows = manager.filter(**{fk.attname: survivor.pk})
            taken = {tuple(row[1:]) for row in survivor_rows.values_list("pk", *others)}
            drop = []
            for row in losers_rows.order_by("pk").values_list("pk", *others):
                key = tuple(row[1:])
                if key in taken:
                    drop.append(row[0])
                else:
                    taken.add(key)
            if drop:
                manager.filter(pk__in=drop).delete()
        count = losers_rows.update(**{fk.attname: survivor.pk})
        if count:
            moved[model._meta.label_lower] = moved.get(model._meta.label_lower, 0) + count
    return moved


def _resolve_consents(survivor: Customer, loser_ids: list[int]) -> dict:
    """Keep, per channel, the most recent consent of all records; returns audit changes."""
    changes = {}
    by_channel = defaultdict(list)
    for consent in Consent.objects.filter(customer_id__in=[survivor.pk, *loser_ids]):
        by_channel[consent.channel].append(consent)
    for channel, consents in by_channel.items():
        newest = max(consents, key=lambda c: (c.at, c.customer_id == survivor.pk, c.pk))
        current = next((c for c in consents if c.customer_id == survivor.pk), None)
        stale = [c.pk for c in consents if c.pk != newest.pk]
        if stale:
            Consent.objects.filter(pk__in=stale).delete()
        if newest.customer_id != survivor.pk:
            Consent.objects.filter(pk=newest.pk).update(customer_id=survivor.pk)
            old = current.granted if current else None
            if old != newest.granted:
                changes[f"consent.{channel}"] = [old, newest.granted]
    return changes


def _choose(field: str, survivor: Customer, records: dict[int, Customer], choices: dict):
    """The value of ``field`` after the merge (and whether it was chosen)."""
    if field in choices:
        return getattr(records[choices[field]], field), True
    return getattr(survivor, field), False


def _clean_choices(field_choices: dict | None, ids: set[int]) -> dict:
    choices, errors = {}, {}
    custom_keys = set(CustomField.objects.values_list("key", flat=True))
    for field, source in (field_choices or {}).items():
        field = str(field)
        known = field in MERGE_FIELDS or (
            field.startswith("custom.") and field.removeprefix("custom.") in custom_keys
        )
        if not known:
            errors.setdefault(field, []).append(_("This field cannot be chosen in a merge."))
            continue
        try:
            source = int(source)
        except (TypeError, ValueError):
            source = None
        if source not in ids:
            errors.setdefault(field, []).append(
                _("Choose the value of one of the records being merged.")
            )
            continue
        choices[field] = source
    if errors:
        raise ValidationFailed(errors)
    return choices


@transaction.atomic
def customer_merge(
    *, actor, survivor: Customer, others: list[Customer], field_choices: dict | None = None
) -> Customer:
    """Merge ``others`` into ``survivor`` and delete them.

    ``field_choices`` maps a field (``"phone"``, ``"custom.wechat_id"`` …) to the id of
    the record whose value to keep. Other empty fields of the survivor are filled from
    the others; tags are united; their phones and e-mails become other phones / e-mails;
    custom values are merged; per channel the most recent consent wins. Every record
    pointing at the others (contacts, orders, tickets …) is moved to the survivor."""
    require(actor, Action.MERGE)
    other_ids = list(dict.fromkeys(o.pk for o in others))
    if not other_ids:
        raise ValidationFailed({"other_ids": [_("Choose at least one record to merge.")]})
    if survivor.pk in other_ids:
        raise ValidationFailed({"other_ids": [_("The record to keep cannot also be merged away.")]})
    all_ids = sorted([survivor.pk, *other_ids])
    # Lock every record in id order (no deadlocks), then re-read them under the lock.
    locked = Customer.objects.select_for_update().filter(pk__in=all_ids).order_by("pk")
    records = {c.pk: c for c in locked}
    for pk in all_ids:
        if pk not in records or not can_see(actor, records[pk]):
            raise NotFound(_("Customer not found."))
    choices = _clean_choices(field_choices, set(all_ids))
    survivor = records[survivor.pk]
    losers = [records[pk] for pk in other_ids]
    before = _state(survivor)

    # Field values: chosen ones first, then fill what is still empty.
    for field in MERGE_FIELDS:
        value, chosen = _choose(field, survivor, records, choices)
        if not chosen and field in FILL_FIELDS and _empty(value):
            value = next(
                (getattr(c, field) for c in losers if not _empty(getattr(c, field))), value
            )
        setattr(survivor, field, value)
    survivor.team_id = survivor.owner.team_id if survivor.owner_id else survivor.team_id
    survivor.name_pinyin, survivor.name_initials = name_pinyin(survivor.name)

    # Every phone and e-mail is kept: the ones not chosen become "other" ones.
    everyone = [records[survivor.pk]] + losers
    for main, extra in (("phone", "phones_extra"), ("email", "emails_extra")):
        pool = []
        for record in everyone:
            pool.append(before[main] if record.pk == survivor.pk else getattr(record, main))
            pool += (before[extra] if record.pk == survivor.pk else getattr(record, extra)) or []
        kept = getattr(survivor, main)
        setattr(survivor, extra, [v for v in dict.fromkeys(pool) if v and v != kept])

    # Custom values: chosen, else the survivor's, else the first other's.
    custom = dict(before["custom"] or {})
    for record in losers:
        for key, value in (record.custom or {}).items():
            if _empty(custom.get(key)) and not _empty(value):
                custom[key] = value
    for field, source in choices.items():
        if field.startswith("custom."):
            key = field.removeprefix("custom.")
            value = (
                (records[source].custom or {}).get(key)
                if source != survivor.pk
                else (before["custom"] or {}).get(key)
            )
            if _empty(value):
                custom.pop(key, None)
            else:
                custom[key] = value
    survivor.custom = custom

    # Related records: consents (one per channel) and dismissals first, then the rest.
    consent_changes = _resolve_consents(survivor, other_ids)
    DuplicateDismissal.objects.filter(
        Q(first_id__in=other_ids) | Q(second_id__in=other_ids)
    ).delete()
    moved = _move_related(survivor, other_ids)
    BusinessEvent.objects.filter(customer_id__in=other_ids).update(customer_id=survivor.pk)

    # The others go (their related rows are already the survivor's), then it is saved:
    # in this order a unique external id can pass from one to the other.
    merged = [{"id": c.pk, "name": c.name} for c in losers]
    for record in losers:
        state = _state(record)
        audit.record(
            actor=actor,
            action="delete",
            instance=record,
            changes={k: [v, None] for k, v in state.items() if not _empty(v)},
            note=_("merged into #%(id)s") % {"id": survivor.pk},
        )
    Customer.objects.filter(pk__in=other_ids).delete()
    survivor.updated_at = timezone.now()
    survivor.save()

    changes = audit.diff(before, _state(survivor))
    changes.update(consent_changes)
    changes["merged"] = merged
    audit.record(
        actor=actor,
        action="merge",
        instance=survivor,
        changes=changes,
        note=_("Merged %(names)s")
        % {"names": ", ".join(f"#{m['id']} {m['name']}" for m in merged)},
    )
    events.emit(
        "customer.merged",
        instance=survivor,
        actor=actor,
        customer_id=survivor.pk,
        payload={"survivor": survivor.pk, "merged": other_ids, "moved": moved},
    )
    return survivor


def merge_rows(records: list[Customer]) -> list[dict]:
    """The rows of the side-by-side comparison: one per field, the value of each record,
    and whether they differ (only differing fields need a choice)."""
    rows = []
    for field in MERGE_FIELDS:
        model_field = Customer._meta.get_field(field)
        values = []
        for record in records:
            raw = getattr(record, field)
            if field == "owner":
                raw_key = record.owner_id
                shown = str(record.owner) if record.owner_id else ""
            elif getattr(model_field, "choices", None):
                raw_key = raw
                shown = getattr(record, f"get_{field}_display")() if raw else ""
            else:
                raw_key = raw
                shown = "" if raw is None else str(raw)
            values.append({"id": record.pk, "value": shown, "key": raw_key})
        keys = {v["key"] if not _empty(v["key"]) else None for v in values}
        rows.append(
            {
                "field": field,
                "label": model_field.verbose_name,
                "values": values,
                "differs": len(keys) > 1,
            }
        )
    for custom_field in CustomField.objects.filter(active=True):
        values = []
        for record in records:
            raw = (record.custom or {}).get(custom_field.key)
            shown = "" if raw is None else (", ".join(raw) if isinstance(raw, list) else str(raw))
            values.append({"id": record.pk, "value": shown, "key": shown})
        keys = {v["key"] or None for v in values}
        if keys == {None}:
            continue
        rows.append(
            {
                "field": f"custom.{custom_field.key}",
                "label": custom_field.label,
                "values": values,
                "differs": len(keys) > 1,
            }
        )
    return rows


def default_choice(row: dict, survivor_id: int) -> int:
    """Which record's value a row starts with: the survivor's, unless it is empty."""
    for value in row["values"]:
        if value["id"] == survivor_id and not _empty(value["key"]):
            return survivor_id
    for value in row["values"]:
        if not _empty(value["key"]):
            return value["id"]
    return survivor_id
