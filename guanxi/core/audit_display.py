"""Audit entries as people read them on a record's "change history": each changed field
under its model field's verbose name (translated), choices under their labels, empty values
as "—". One piece of code for every page that shows a history (customers, leads, …).

The audit log stores attribute names and plain values (``guanxi.core.audit``); the labels
are looked up when the page is shown, in the reader's language."""

from django.core.exceptions import FieldDoesNotExist
from django.utils.text import capfirst
from django.utils.translation import gettext as _

EMPTY = "—"


def _field(model, name: str):
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        return None


def field_label(model, name: str) -> str:
    """The field's verbose name, capitalised; the stored name itself for a name that is
    not a field (any more): an old entry may name a field that is gone."""
    field = _field(model, name)
    label = getattr(field, "verbose_name", None) if field is not None else None
    return capfirst(str(label)) if label else name


def field_value(model, name: str, value, *, choices=None) -> str:
    """A stored value as text: a choice's label (the field's own choices, or ``choices``
    for a field that borrows another's, e.g. ``{"source": Customer.Source.choices}``),
    yes/no, lists joined, "—" for nothing."""
    if value is None or value == "" or value == [] or value == {}:
        return EMPTY
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    options = (choices or {}).get(name)
    if options is None:
        field = _field(model, name)
        options = getattr(field, "flatchoices", None) if field is not None else None
    if options:
        return str(dict(options).get(value, value))
    return str(value)


def change_rows(entries, model, *, choices=None, order=None) -> list[dict]:
    """Audit entries of one ``model`` as ``{"entry", "created", "changes"}`` with one
    ``(label, old, new)`` per changed field, in ``order`` (field names; the others after
    them, by name) or else as recorded."""
    position = {name: i for i, name in enumerate(order or [])}
    rows = []
    for entry in entries:
        changes = []
        for name, pair in (entry.changes or {}).items():
            old, new = (list(pair) + [None, None])[:2] if isinstance(pair, list) else (None, pair)
            changes.append(
                (
                    name,
                    field_label(model, name),
                    field_value(model, name, old, choices=choices),
                    field_value(model, name, new, choices=choices),
                )
            )
        if order:
            changes.sort(key=lambda c: (position.get(c[0], len(position)), c[0]))
        rows.append(
            {
                "entry": entry,
                "created": entry.action == "create",
                "changes": [c[1:] for c in changes],
            }
        )
    return rows
