"""Keyset pagination: stable, index-friendly pages at any depth (no OFFSET)."""

import base64
import datetime
import json

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from guanxi.core.errors import ValidationFailed


def _encode(values: list) -> str:
    raw = json.dumps(values, default=str, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _invalid_cursor() -> ValidationFailed:
    return ValidationFailed({"cursor": [_("This page link is not valid.")]})


def _decode(cursor: str, parse=None) -> list:
    """[value, id] from a cursor; anything a client may have made up is refused."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != 2:
            raise ValueError
        value, last_id = values
        if type(last_id) is not int or not isinstance(value, str | int | float):
            raise ValueError
        if isinstance(value, str) and "\x00" in value:
            raise ValueError  # PostgreSQL refuses NUL in text
        if parse is not None:
            value = parse(value) if isinstance(value, str) else None
            if value is None:
                raise ValueError
        return [value, last_id]
    except (ValueError, TypeError) as exc:
        raise _invalid_cursor() from exc


def keyset_page(qs: QuerySet, *, order: str, cursor: str | None, size: int, parse=None):
    """One page of ``qs`` ordered by ``order`` (a field, "-" for descending) then id.

    Returns (rows, next_cursor). ``parse`` turns the stored cursor value back into the
    field's type (e.g. a datetime)."""
    desc = order.startswith("-")
    field = order.lstrip("-")
    ordering = [f"-{field}", "-id"] if desc else [field, "id"]
    qs = qs.order_by(*ordering)
    if cursor:
        value, last_id = _decode(cursor, parse)
        op = "lt" if desc else "gt"
        # "field <= value AND (...)": the first term is what lets the index on (field, id)
        # start at the cursor; with the OR alone, both databases read from the first row.
        qs = qs.filter(
            Q(**{f"{field}__{op}e": value})
            & (Q(**{f"{field}__{op}": value}) | Q(**{field: value, f"id__{op}": last_id}))
        )
    rows = list(qs[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        value = getattr(last, field)
        if isinstance(value, datetime.datetime):
            value = value.isoformat()
        next_cursor = _encode([value, last.pk])
    return rows, next_cursor
