"""Validation of custom field values: the same rules for forms, the API and imports."""

import datetime
import decimal

from django.utils.translation import gettext as _

from guanxi.customers.models import CustomField

TRUE_WORDS = {"1", "true", "yes", "y", "on", "是", "对", "真"}
FALSE_WORDS = {"0", "false", "no", "n", "off", "否", "不", "假"}


def active_fields() -> list[CustomField]:
    return list(CustomField.objects.filter(active=True))


def clean_value(field: CustomField, raw):
    """The stored (JSON) form of ``raw`` for ``field``; None when empty.

    Raises ValueError with a translated message."""
    if raw is None or (isinstance(raw, str) and raw.strip() == "") or raw == []:
        if field.required:
            raise ValueError(_("This field is required."))
        return None
    t = CustomField.Type
    if field.type == t.TEXT:
        text = str(raw).strip()
        if len(text) > 1000:
            raise ValueError(_("At most 1000 characters."))
        return text
    if field.type == t.NUMBER:
        try:
            number = decimal.Decimal(str(raw).strip().replace(",", ""))
        except decimal.InvalidOperation as exc:
            raise ValueError(_("“%(value)s” is not a number.") % {"value": raw}) from exc
        if not number.is_finite():
            raise ValueError(_("“%(value)s” is not a number.") % {"value": raw})
        return int(number) if number == number.to_integral_value() else float(number)
    if field.type == t.DATE:
        if isinstance(raw, datetime.datetime):
            return raw.date().isoformat()
        if isinstance(raw, datetime.date):
            return raw.isoformat()
        text = str(raw).strip().replace("/", "-").replace(".", "-")
        try:
            return datetime.date.fromisoformat(text).isoformat()
        except ValueError as exc:
            raise ValueError(
                _("“%(value)s” is not a date (use YYYY-MM-DD).") % {"value": raw}
            ) from exc
    if field.type == t.BOOL:
        if isinstance(raw, bool):
            return raw
        word = str(raw).strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ValueError(_("“%(value)s” is not yes or no.") % {"value": raw})
    choices = [str(c) for c in field.choices]
    if field.type == t.CHOICE:
        value = str(raw).strip()
        if value not in choices:
            raise ValueError(
                _("“%(value)s” is not one of: %(choices)s.")
                % {"value": raw, "choices": ", ".join(choices)}
            )
        return value
    if field.type == t.MULTI:
        if isinstance(raw, str):
            values = [v.strip() for v in raw.replace("；", ";").replace("，", ",").split(";")]
            if len(values) == 1:
                values = [v.strip() for v in raw.replace("，", ",").split(",")]
        else:
            values = [str(v).strip() for v in raw]
        values = [v for v in values if v]
        bad = [v for v in values if v not in choices]
        if bad:
            raise ValueError(
                _("“%(value)s” is not one of: %(choices)s.")
                % {"value": ", ".join(bad), "choices": ", ".join(choices)}
            )
        if not values and field.required:
            raise ValueError(_("This field is required."))
        return [c for c in choices if c in values] or None
    raise ValueError(_("Unknown field type."))


def clean_custom(
    raw: dict, *, fields: list[CustomField] | None = None, partial: bool = False, current=None
):
    """Clean a dict of custom values; returns (values, errors keyed ``custom.<key>``)."""
    fields = active_fields() if fields is None else fields
    by_key = {f.key: f for f in fields}
    values = dict(current or {})
    errors: dict[str, list[str]] = {}
    for key in raw:
        if key not in by_key:
            errors[f"custom.{key}"] = [_("There is no custom field “%(key)s”.") % {"key": key}]
    for field in fields:
        if partial and field.key not in raw:
            continue
        try:
            value = clean_value(field, raw.get(field.key))
        except ValueError as exc:
            errors[f"custom.{field.key}"] = [str(exc)]
            continue
        if value is None:
            values.pop(field.key, None)
        else:
            values[field.key] = value
    return values, errors


def display_value(field: CustomField, value) -> str:
    if value is None:
        return ""
    if field.type == CustomField.Type.BOOL:
        return _("Yes") if value else _("No")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)
