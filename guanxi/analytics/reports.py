"""Report tables and their export: the numbers behind every chart, as CSV or XLSX.

A report builds ``Table`` objects (headers in the reader's language, plain values);
pages render them and ``export_response`` turns them into a download.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from decimal import Decimal

from django.http import HttpResponse

from guanxi.accounts.roles import Action, require
from guanxi.core.errors import ValidationFailed

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMATS = ("csv", "xlsx")


@dataclass
class Table:
    name: str  # file name stem and the ``table`` parameter of the export link
    title: str
    headers: list[str]
    rows: list[list] = field(default_factory=list)


def _plain(value):
    if isinstance(value, Decimal):
        return value
    if value is None:
        return ""
    if isinstance(value, int | float):
        return value
    return str(value)


def _csv_safe(value):
    """Text a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value and value[0] in FORMULA_STARTS:
        if not (value[0] in "+-" and value[1:2].isdigit()):
            return "'" + value
    return value


def table_csv(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_csv_safe(str(h)) for h in table.headers])
    for row in table.rows:
        writer.writerow([_csv_safe(_plain(v)) for v in row])
    return (BOM + out.getvalue()).encode("utf-8")


def table_xlsx(table: Table) -> bytes:
    import openpyxl
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(title=table.name[:31])

    def cell(value):
        value = _plain(value)
        if isinstance(value, Decimal):
            return float(value)
        if isinstance(value, str):
            value = ILLEGAL_CHARACTERS_RE.sub("", value)
            if value.startswith("="):
                c = WriteOnlyCell(sheet, value=value)
                c.data_type = "s"
                return c
        return value

    sheet.append([cell(str(h)) for h in table.headers])
    for row in table.rows:
        sheet.append([cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def export_response(*, user, tables: list[Table], name: str | None, fmt: str) -> HttpResponse:
    """The table called ``name`` (the first if not given) as a download."""
    require(user, Action.EXPORT)
    if fmt not in FORMATS:
        raise ValidationFailed({"format": [f"{fmt}: csv, xlsx"]})
    chosen = next((t for t in tables if t.name == name), None) if name else tables[0]
    if chosen is None:
        raise ValidationFailed({"table": [", ".join(t.name for t in tables)]})
    if fmt == "csv":
        response = HttpResponse(table_csv(chosen), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(
            table_xlsx(chosen),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    response["Content-Disposition"] = f'attachment; filename="{chosen.name}.{fmt}"'
    return response
