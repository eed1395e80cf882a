"""Writing the audit log. Services call these inside their transaction."""

import datetime
import decimal

from django.db import models
from django.utils import timezone

from guanxi.core.models import AuditEntry


def _plain(value):
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, set | tuple):
        return sorted(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def snapshot(instance: models.Model, fields: list[str]) -> dict:
    """The values of ``fields`` now, in a form that can be compared and stored as JSON."""
    return {name: _plain(getattr(instance, name)) for name in fields}


def diff(before: dict, after: dict) -> dict:
    return {
        name: [before.get(name), after.get(name)]
        for name in after
        if before.get(name) != after.get(name)
    }


def record(
    *,
    actor,
    action: str,
    instance: models.Model | None = None,
    model: str | None = None,
    object_id: int | None = None,
    object_repr: str = "",
    changes: dict | None = None,
    note: str = "",
) -> AuditEntry:
    if instance is not None:
        model = model or instance._meta.label_lower
        object_id = instance.pk
        object_repr = object_repr or str(instance)[:200]
    return AuditEntry.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        model=model,
        object_id=object_id,
        object_repr=object_repr[:200],
        changes=changes or {},
        note=note[:500],
    )


def history(*, model: str, object_id: int):
    return AuditEntry.objects.filter(model=model, object_id=object_id).select_related("actor")


def update_and_record(
    *, actor, instance: models.Model, cleaned: dict, fields: list[str], touch: bool = False
) -> dict:
    """Set the ``cleaned`` values on ``instance`` (and ``updated_at`` if ``touch``), save
    it, and record an "update" entry with what changed among ``fields`` (none when
    nothing changed). Returns the changes."""
    before = snapshot(instance, fields)
    for name, value in cleaned.items():
        setattr(instance, name, value)
    if touch:
        instance.updated_at = timezone.now()
    instance.save()
    changes = diff(before, snapshot(instance, fields))
    if changes:
        record(actor=actor, action="update", instance=instance, changes=changes)
    return changes
