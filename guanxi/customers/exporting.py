"""Customer export (CSV streamed, XLSX) and the import template.

Headers are written in the reader's language (Chinese for zh-hans, English otherwise) and
are the same words an import recognises, so an exported file can be imported back."""

import csv
import io
from collections.abc import Iterator

from django.utils import translation

from guanxi.accounts.roles import Action, require
from guanxi.customers import customfields, selectors
from guanxi.customers.importing import COLUMNS, EXPORT_ONLY
from guanxi.customers.models import Customer, CustomField

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Built-in columns in file order; "id" and "created_at" are export-only.
EXPORT_FIELDS = ["id", *COLUMNS.keys(), "team", "created_at"]
TEMPLATE_FIELDS = list(COLUMNS.keys())


def _chinese() -> bool:
    return (translation.get_language() or "").lower().startswith("zh")


def header_label(field: str) -> str:
    en, zh = COLUMNS.get(field) or EXPORT_ONLY[field]
    return zh if _chinese() else en


def headers(fields: list[CustomField], names: list[str] = EXPORT_FIELDS) -> list[str]:
    return [header_label(n) for n in names] + [f.label for f in fields]


def _row(customer: Customer, fields: list[CustomField]) -> list:
    values = {
        "id": customer.pk,
        "name": customer.name,
        "kind": customer.get_kind_display(),
        "phone": customer.phone,
        "phones_extra": "; ".join(customer.phones_extra or []),
        "email": customer.email,
        "emails_extra": "; ".join(customer.emails_extra or []),
        "gender": customer.get_gender_display() if customer.gender else "",
        "birthday": customer.birthday.isoformat() if customer.birthday else "",
        "province": customer.province,
        "city": customer.city,
        "district": customer.district,
        "address": customer.address,
        "source": customer.get_source_display() if customer.source else "",
        "stage": customer.get_stage_display(),
        "grade": customer.grade,
        "tags": "; ".join(t.name for t in customer.tags.all()),
        "owner": customer.owner.username if customer.owner_id else "",
        "notes": customer.notes,
        "external_id": customer.external_id or "",
        "team": customer.team.name if customer.team_id else "",
        "created_at": customer.created_at.isoformat(timespec="seconds"),
    }
    custom = customer.custom or {}
    return [values[n] for n in EXPORT_FIELDS] + [
        customfields.display_value(f, custom.get(f.key)) for f in fields
    ]


def export_rows(*, user, params: dict) -> tuple[list[str], Iterator[list]]:
    """Header and rows of every customer the user may see that matches the filters."""
    require(user, Action.EXPORT)
    fields = list(CustomField.objects.filter(active=True))
    qs = selectors.customer_export_rows(user=user, params=params)
    rows = (_row(c, fields) for c in qs.iterator(chunk_size=2000))
    return headers(fields), rows


def _csv_safe(value):
    """Text a spreadsheet would run as a formula gets a leading apostrophe (the import
    removes it again). Phone numbers like +86... and negative numbers stay as they are."""
    if isinstance(value, str) and value and value[0] in FORMULA_STARTS:
        if not (value[0] in "+-" and value[1:2].isdigit()):
            return "'" + value
    return value


def _xlsx_cell(sheet, value):
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
        if value.startswith("="):
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"  # text, never a formula
            return cell
    return value


class _Echo:
    def write(self, value):
        return value


def export_csv(*, user, params: dict) -> Iterator[bytes]:
    """CSV lines in UTF-8 with a BOM (so Excel reads the Chinese), for streaming."""
    head, rows = export_rows(user=user, params=params)
    writer = csv.writer(_Echo())

    def lines():
        yield (BOM + writer.writerow(head)).encode("utf-8")
        batch = []
        for row in rows:
            batch.append(writer.writerow([_csv_safe(v) for v in row]))
            if len(batch) >= 500:
                yield "".join(batch).encode("utf-8")
                batch = []
        if batch:
            yield "".join(batch).encode("utf-8")

    return lines()


def export_xlsx(*, user, params: dict) -> bytes:
    import openpyxl

    head, rows = export_rows(user=user, params=params)
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(title="customers")
    sheet.append(head)
    for row in rows:
        sheet.append([_xlsx_cell(sheet, v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def template_csv(*, user) -> bytes:
    """An empty import file: just the headers, built-in fields then custom fields."""
    require(user, Action.IMPORT)
    fields = list(CustomField.objects.filter(active=True))
    out = io.StringIO()
    csv.writer(out).writerow(headers(fields, TEMPLATE_FIELDS))
    return (BOM + out.getvalue()).encode("utf-8")
