"""Customer import: read a CSV or XLSX file, map its columns, check every row with the
same rules as forms and the API, then write all rows in one transaction.

An import is an ``ImportJob``. ``import_start`` stores the uploaded file and the column
mapping; ``import_check`` is the dry run (a report of every bad row, nothing written);
``import_commit`` checks again and writes — all or nothing unless the job says to skip
bad rows. Large files run both steps on the worker (``tasks.py``); the job row carries
progress and the report either way.

Speed: rows are checked in chunks. Each chunk looks up the existing customers it matches
with one query; new customers, their tags, audit entries and ``customer.created`` events
are written with ``guanxi.core.bulk.insert``. Rows that change an existing customer go through
``customer_update``, the same service the forms use.
"""

import contextlib
import csv
import dataclasses
import datetime
import functools
import gc
import hashlib
import io
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.accounts.roles import Action, can, require
from guanxi.core import audit, bulk
from guanxi.core.errors import NotFound, ServiceError, ValidationFailed
from guanxi.core.models import AuditEntry, BusinessEvent
from guanxi.core.normalize import name_pinyin
from guanxi.core.visibility import can_see
from guanxi.customers import services
from guanxi.customers.models import Customer, CustomField, ImportJob, Tag

CHUNK = 2000  # rows checked together (one lookup query per chunk)
WRITE_CHUNK = 10_000  # new customers written together
KEEP_SECONDS = 15 * 60  # how long a dry run's cleaned rows wait for the commit
KEEP_MAX_ROWS = 500_000  # larger files are cleaned again (memory)
SQLITE_IMPORT_CACHE_KIB = 256 * 1024  # SQLite page cache while importing
MAX_REPORTED_ERRORS = 10_000
MATCH_KEYS = ("external_id", "phone", "email")
FORMULA_STARTS = ("=", "+", "-", "@")

# Built-in fields an import may fill, with the labels used in file headers (export and
# template write these; import recognises them and the aliases below).
COLUMNS: dict[str, tuple[str, str]] = {
    "name": ("Name", "姓名"),
    "kind": ("Type", "类型"),
    "phone": ("Phone", "手机"),
    "phones_extra": ("Other phones", "其他电话"),
    "email": ("E-mail", "邮箱"),
    "emails_extra": ("Other e-mails", "其他邮箱"),
    "gender": ("Gender", "性别"),
    "birthday": ("Birthday", "生日"),
    "province": ("Province", "省份"),
    "city": ("City", "城市"),
    "district": ("District", "区县"),
    "address": ("Address", "地址"),
    "source": ("Source", "来源"),
    "stage": ("Lifecycle stage", "生命周期"),
    "grade": ("Grade", "客户等级"),
    "tags": ("Tags", "标签"),
    "owner": ("Owner", "负责人"),
    "notes": ("Notes", "备注"),
    "external_id": ("External ID", "外部ID"),
}
ALIASES: dict[str, list[str]] = {
    "name": ["姓名", "名称", "客户名称", "客户姓名", "客户", "full name", "customer", "名字"],
    "kind": ["类型", "客户类型", "kind", "type"],
    "phone": ["手机", "手机号", "手机号码", "电话", "联系电话", "mobile", "phone number", "tel"],
    "phones_extra": ["其他电话", "备用电话", "other phones"],
    "email": ["邮箱", "电子邮件", "电子邮箱", "email", "mail", "e-mail address"],
    "emails_extra": ["其他邮箱", "other emails"],
    "gender": ["性别", "sex"],
    "birthday": ["生日", "出生日期", "date of birth", "birth date"],
    "province": ["省", "省份", "state"],
    "city": ["市", "城市"],
    "district": ["区", "区县", "县", "county"],
    "address": ["地址", "详细地址", "street"],
    "source": ["来源", "渠道", "客户来源", "channel"],
    "stage": ["阶段", "生命周期", "生命周期阶段", "客户阶段", "stage", "lifecycle"],
    "grade": ["等级", "客户等级", "level"],
    "tags": ["标签", "tag"],
    "owner": ["负责人", "归属人", "销售", "assignee"],
    "notes": ["备注", "说明", "note", "remarks", "comment"],
    "external_id": ["外部id", "外部编号", "外部ID", "external id", "ext id", "externalid"],
}
# Columns the export writes that an import does not read (ignored without a warning).
EXPORT_ONLY = {
    "id": ("ID", "编号"),
    "team": ("Team", "团队"),
    "created_at": ("Created at", "创建时间"),
}


class UnreadableFile(ServiceError):
    """The file cannot be read at all (not CSV/XLSX, no header, ...)."""

    code = "import_error"
    status = 422


# Reading files ----------------------------------------------------------------------


def decode_csv(data: bytes) -> str:
    """UTF-8 (with or without BOM) or, failing that, GB18030 (what Excel writes in China)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(_("The file is neither UTF-8 nor GB18030 text.")) from exc


def _cell(value):
    """A spreadsheet cell as the services expect it: text, or a date for date cells."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time(0):
            return value.date()
        return value
    if isinstance(value, datetime.date):
        return value
    return str(value)


@dataclasses.dataclass
class Table:
    headers: list[str]
    rows: Iterator[tuple[int, list]]  # (row number as the user sees it, cells)


def _is_xlsx(filename: str, head: bytes) -> bool:
    return filename.lower().endswith((".xlsx", ".xlsm")) or head[:2] == b"PK"


def open_table(fileobj, filename: str) -> Table:
    """Headers and an iterator of non-empty rows; the header is row 1."""
    head = fileobj.read(4)
    fileobj.seek(0)
    if _is_xlsx(filename, head):
        return _open_xlsx(fileobj)
    text = decode_csv(fileobj.read())
    sample = text[:4096]
    delimiter = ","
    first_line = sample.split("\n", 1)[0]
    if first_line.count("\t") > first_line.count(","):
        delimiter = "\t"
    elif first_line.count(";") > first_line.count(","):
        delimiter = ";"
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    headers = next(reader, None)
    if not headers or not any(h.strip() for h in headers):
        raise UnreadableFile(_("The file has no header row."))

    def rows():
        for number, cells in enumerate(reader, start=2):
            if any(c.strip() for c in cells):
                yield number, cells

    return Table([h.strip() for h in headers], rows())


def _open_xlsx(fileobj) -> Table:
    import openpyxl

    try:
        book = openpyxl.load_workbook(fileobj, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException ...
        raise UnreadableFile(_("The file is not a readable XLSX workbook.")) from exc
    sheet = book.worksheets[0]
    it = sheet.iter_rows(values_only=True)
    first = next(it, None)
    if not first or not any(v not in (None, "") for v in first):
        book.close()
        raise UnreadableFile(_("The file has no header row."))
    headers = [str(v).strip() if v is not None else "" for v in first]
    while headers and not headers[-1]:
        headers.pop()

    def rows():
        try:
            for number, values in enumerate(it, start=2):
                cells = [_cell(v) for v in values]
                if any(c != "" for c in cells):
                    yield number, cells
        finally:
            book.close()

    return Table(headers, rows())


def job_headers(job: ImportJob) -> list[str]:
    """The mapped headers in the order of the file (the JSON mapping may be reordered)."""
    try:
        with job.file.open("rb") as handle:
            headers = open_table(io.BytesIO(handle.read()), job.filename).headers
    except (OSError, UnreadableFile):
        headers = []
    ordered = [h for h in headers if h in job.mapping]
    return ordered + [h for h in job.mapping if h not in ordered]


def count_rows(fileobj, filename: str) -> tuple[list[str], int]:
    table = open_table(fileobj, filename)
    return table.headers, sum(1 for _ in table.rows)


# Mapping headers to fields ------------------------------------------------------------


def _norm(header: str) -> str:
    text = str(header).strip().lower()
    text = re.sub(r"[\s_*＊:：()（）\-]+", "", text)
    return text


def _alias_table(fields: list[CustomField]) -> dict[str, str]:
    table: dict[str, str] = {}
    for labels in EXPORT_ONLY.values():
        for label in labels:
            table[_norm(label)] = ""
    for key, labels in ALIASES.items():
        for label in labels:
            table[_norm(label)] = key
    for key, labels in COLUMNS.items():
        table[_norm(key)] = key
        for label in labels:
            table[_norm(label)] = key
    for field in fields:
        table[_norm(field.label)] = f"custom.{field.key}"
        table[_norm(field.key)] = f"custom.{field.key}"
        table[_norm(f"custom.{field.key}")] = f"custom.{field.key}"
    return table


def detect_mapping(headers: list[str], fields: list[CustomField] | None = None) -> dict:
    """{header: field, "custom.<key>" or ""} for every header, by name or alias."""
    fields = CustomField.objects.filter(active=True) if fields is None else fields
    return map_headers(headers, _alias_table(list(fields)), _norm)


def map_headers(headers: list[str], table: dict[str, str], norm: Callable[[str], str]) -> dict:
    """{header: the field ``table`` gives its ``norm``al form, or ""}: a second column for
    the same field is ignored, an empty header left out."""
    mapping, used = {}, set()
    for header in headers:
        if not header:
            continue
        target = table.get(norm(header), "")
        if target and target in used:
            target = ""  # a second column for the same field is ignored
        mapping[header] = target
        if target:
            used.add(target)
    return mapping


def unknown_columns(headers: list[str], mapping: dict, fields=None) -> list[str]:
    """Headers that were not recognised and are not mapped: their values are ignored."""
    fields = CustomField.objects.filter(active=True) if fields is None else fields
    table = _alias_table(list(fields))
    return [h for h in headers if h and not mapping.get(h) and _norm(h) not in table]


def mapping_targets(fields: list[CustomField]) -> list[tuple[str, str]]:
    """(value, label) choices for the mapping selects."""
    return [
        *[(key, str(gettext_lazy(en))) for key, (en, _zh) in COLUMNS.items()],
        *[(f"custom.{f.key}", f.label) for f in fields],
    ]


def _check_mapping(mapping: dict, fields: list[CustomField]) -> dict:
    allowed = set(COLUMNS) | {f"custom.{f.key}" for f in fields} | {""}
    errors: dict[str, list[str]] = {}
    seen: dict[str, str] = {}
    for header, target in mapping.items():
        target = target or ""
        if target not in allowed:
            errors.setdefault("mapping", []).append(
                _("Column “%(column)s”: there is no field “%(field)s”.")
                % {"column": header, "field": target}
            )
        elif target and target in seen:
            errors.setdefault("mapping", []).append(
                _("Columns “%(first)s” and “%(second)s” both go to the same field.")
                % {"first": seen[target], "second": header}
            )
        seen.setdefault(target, header)
    return errors


# Starting a job -----------------------------------------------------------------------


def start_job(
    *,
    actor,
    kind: str,
    fileobj,
    filename: str,
    default_filename: str,
    match_by: str,
    match_keys: tuple[str, ...],
    match_error: str,
    detect: Callable[[list[str]], dict],
    check_mapping: Callable[[dict], dict],
    skip_bad_rows: bool = False,
    mapping: dict | None = None,
) -> ImportJob:
    """Store the file and its column mapping as a new (pending) job of ``kind``: what the
    customer and lead imports share. ``detect`` maps the file's headers, ``check_mapping``
    answers the mapping's errors."""
    require(actor, Action.IMPORT)
    if match_by not in match_keys:
        raise ValidationFailed({"match_by": [match_error]})
    data = fileobj.read()
    if not data:
        raise ValidationFailed({"file": [_("The file is empty.")]})
    filename = os.path.basename(filename or default_filename)[:255]
    headers, total = count_rows(io.BytesIO(data), filename)
    detected = detect(headers)
    if mapping:
        extra = [h for h in mapping if h not in detected]
        if extra:
            raise ValidationFailed(
                {"mapping": [_("The file has no column “%(column)s”.") % {"column": extra[0]}]}
            )
        detected.update({h: (t or "") for h, t in mapping.items()})
    errors = check_mapping(detected)
    if errors:
        raise ValidationFailed(errors)
    job = ImportJob(
        kind=kind,
        created_by=actor,
        filename=filename,
        mapping=detected,
        match_by=match_by,
        skip_bad_rows=skip_bad_rows,
        total_rows=total,
    )
    job.file.save(filename, ContentFile(data), save=False)
    job.save()
    return job


def remap_job(
    *,
    actor,
    job: ImportJob,
    mapping: dict,
    match_by: str | None,
    match_keys: tuple[str, ...],
    match_error: str,
    check_mapping: Callable[[dict], dict],
) -> ImportJob:
    """Change the mapping (or match key) of a job that has not run yet."""
    require(actor, Action.IMPORT)
    if job.status not in (ImportJob.Status.PENDING, ImportJob.Status.VALIDATED):
        raise ValidationFailed({"mapping": [_("This import has already started.")]})
    merged = {h: (mapping.get(h, t) or "") for h, t in job.mapping.items()}
    errors = check_mapping(merged)
    if match_by is not None and match_by not in match_keys:
        errors["match_by"] = [match_error]
    if errors:
        raise ValidationFailed(errors)
    job.mapping = merged
    if match_by:
        job.match_by = match_by
    job.status = ImportJob.Status.PENDING
    job.errors = []
    job.processed_rows = job.created_count = job.updated_count = job.skipped_count = 0
    job.save()
    return job


def get_job_for_user(*, user, id: int, kind: str) -> ImportJob:
    job = ImportJob.objects.filter(pk=id, kind=kind).first()
    if job is None or not (job.created_by_id == user.pk or can(user, Action.MANAGE_USERS)):
        raise NotFound(_("Import not found."))
    return job


def _active_fields() -> Callable[[], list[CustomField]]:
    """The active custom fields, read once and only when needed."""
    return functools.cache(lambda: list(CustomField.objects.filter(active=True)))


def import_start(
    *,
    actor,
    fileobj,
    filename: str,
    match_by: str = "external_id",
    skip_bad_rows: bool = False,
    mapping: dict | None = None,
) -> ImportJob:
    """Store the file and its column mapping as a new (pending) job."""
    fields = _active_fields()
    return start_job(
        actor=actor,
        kind="customers",
        fileobj=fileobj,
        filename=filename,
        default_filename="import.csv",
        match_by=match_by,
        match_keys=MATCH_KEYS,
        match_error=_("Match by external id, phone or e-mail."),
        detect=lambda headers: detect_mapping(headers, fields()),
        check_mapping=lambda mapping: _check_mapping(mapping, fields()),
        skip_bad_rows=skip_bad_rows,
        mapping=mapping,
    )


def import_remap(*, actor, job: ImportJob, mapping: dict, match_by: str | None = None):
    """Change the mapping (or match key) of a job that has not run yet."""
    fields = _active_fields()
    return remap_job(
        actor=actor,
        job=job,
        mapping=mapping,
        match_by=match_by,
        match_keys=MATCH_KEYS,
        match_error=_("Match by external id, phone or e-mail."),
        check_mapping=lambda mapping: _check_mapping(mapping, fields()),
    )


def import_get_for_user(*, user, id: int) -> ImportJob:
    return get_job_for_user(user=user, id=id, kind="customers")


# Checking rows ------------------------------------------------------------------------


@dataclasses.dataclass
class Plan:
    """What a check found: rows to create, rows to update, and bad rows."""

    creates: list = dataclasses.field(default_factory=list)  # (row, cleaned)
    updates: list = dataclasses.field(default_factory=list)  # (row, customer, data)
    unchanged: int = 0
    errors: list = dataclasses.field(default_factory=list)  # {"row", "column", "message"}
    bad_rows: int = 0
    total: int = 0


class RowChecker:
    """What the customer and lead checkers share: the match key and external id of a row,
    the report of a bad row, where a row goes in the plan. A subclass sets ``actor``,
    ``key``, ``seen_keys``, ``seen_external``, ``position`` and ``header_of``, and its own
    ``many_message``, ``hidden_message`` and ``taken_message``."""

    many_message = gettext_lazy("%(count)d customers have this value; match by another column.")
    hidden_message = gettext_lazy("This customer exists but is not yours.")
    taken_message = gettext_lazy("Another customer already has this external id.")

    def match(self, number, value, matches) -> tuple:
        """(the record the row's match key ``value`` finds or None, the problems): the
        value repeated in the file, found more than once, or found but not visible."""
        problems = []
        found = None
        first = self.seen_keys.setdefault(value, number)
        if first != number:
            problems.append(
                (self.key, _("The same value as row %(row)d in this file.") % {"row": first})
            )
        records = matches.get(value, [])
        if len(records) > 1:
            problems.append((self.key, str(self.many_message) % {"count": len(records)}))
        elif records:
            found = records[0]
            if not can_see(self.actor, found):
                problems.append((self.key, str(self.hidden_message)))
        return found, problems

    def external_id_problem(self, number, cleaned, errors, taken, found) -> tuple | None:
        """The problem with the row's external id (repeated in the file, or another
        record's than ``found``, the record the row matches), if any."""
        external = cleaned.get("external_id")
        if not external or "external_id" in errors:
            return None
        first = self.seen_external.setdefault(external, number)
        owner_pk = taken.get(external)
        if first != number and self.key != "external_id":
            return (
                "external_id",
                _("The same value as row %(row)d in this file.") % {"row": first},
            )
        if owner_pk is not None and (found is None or found.pk != owner_pk):
            return ("external_id", str(self.taken_message))
        return None

    def report_bad_row(self, plan: "Plan", number: int, problems: list) -> None:
        plan.bad_rows += 1
        problems.sort(key=lambda p: self.position.get(p[0], len(self.position)))
        for field, message in problems:
            if len(plan.errors) < MAX_REPORTED_ERRORS:
                plan.errors.append(
                    {"row": number, "column": self.column(field), "message": str(message)}
                )

    def column(self, field: str) -> str:
        return self.header_of.get(field, field)

    def settle(self, plan, number, problems, found, cleaned, data, changes_anything) -> None:
        """Put a checked row in the plan: bad (with its ``problems``), a record to create,
        ``found`` to update (when ``changes_anything(found, cleaned)``) or unchanged."""
        if problems:
            self.report_bad_row(plan, number, problems)
        elif found is None:
            plan.creates.append((number, cleaned))
        elif changes_anything(found, cleaned):
            plan.updates.append((number, found, data))
        else:
            plan.unchanged += 1


class _Checker(RowChecker):
    def __init__(self, job: ImportJob, actor):
        self.job = job
        self.actor = actor
        self.context = services.CustomerInput(actor)
        self.columns = {h: t for h, t in job.mapping.items() if t}
        self.key = job.match_by
        labels = {k: str(gettext_lazy(en)) for k, (en, _zh) in COLUMNS.items()}
        labels.update({f"custom.{f.key}": f.label for f in self.context.fields})
        self.header_of = {**labels, **{t: h for h, t in self.columns.items()}}
        self.position = {t: i for i, t in enumerate(self.columns.values())}
        self.seen_keys: dict[str, int] = {}
        self.seen_external: dict[str, int] = {}
        self.can_create = can(actor, Action.CREATE)
        self.can_change = can(actor, Action.CHANGE)

    def use_index(self, index: dict) -> None:
        """Where each mapped column is in the file's rows: (position, field, custom key)."""
        self.spec = [
            (index[h], t, t[7:] if t.startswith("custom.") else None)
            for h, t in self.columns.items()
        ]

    def row_data(self, cells: list) -> dict:
        data: dict = {}
        size = len(cells)
        for i, target, custom_key in self.spec:
            value = cells[i] if i < size else ""
            if value.__class__ is str:
                value = value.strip()
                if value[:1] == "'" and value[1:2] in FORMULA_STARTS:
                    value = value[1:]  # the export's guard against spreadsheet formulas
            elif isinstance(value, str):
                value = value.strip()
                if value[:1] == "'" and value[1:2] in FORMULA_STARTS:
                    value = value[1:]
            if custom_key is None:
                data[target] = value
            else:
                data.setdefault("custom", {})[custom_key] = value
        return data

    def clean_chunk(self, rows: list) -> list:
        """(number, cells) → (number, cells, cleaned, errors): the rules of forms and API,
        for a new customer. Reads no customers, so a commit can reuse what a check found."""
        clean, actor, context, row_data = (
            services.clean_customer_input,
            self.actor,
            self.context,
            self.row_data,
        )
        out = []
        for number, cells in rows:
            cleaned, errors = clean(row_data(cells), actor=actor, context=context)
            out.append((number, cells, cleaned, errors))
        return out

    def check_chunk(self, cleaned_rows: list, plan: Plan) -> None:
        """Look up the customers a chunk of cleaned rows matches, in one query, then
        decide for each row: create, update, unchanged or bad."""
        key = self.key
        keys = {c[key] for _n, _d, c, _e in cleaned_rows if c.get(key)}
        matches: dict[str, list[Customer]] = {}
        if keys:
            found = Customer.objects.filter(**{f"{key}__in": keys}).prefetch_related("tags")
            for customer in found:
                matches.setdefault(getattr(customer, key), []).append(customer)
        if key == "external_id":  # the same query: external ids are unique
            taken = {k: found[0].pk for k, found in matches.items()}
        else:
            externals = {c["external_id"] for _n, _d, c, _e in cleaned_rows if c.get("external_id")}
            taken = dict(
                Customer.objects.filter(external_id__in=externals).values_list("external_id", "pk")
            )
        for number, cells, cleaned, errors in cleaned_rows:
            self.check_row(plan, number, cells, cleaned, errors, matches, taken)

    def check_row(self, plan, number, cells, cleaned, errors, matches, taken) -> None:
        problems: list[tuple[str, str]] = []
        key_value = cleaned.get(self.key)
        customer = None
        if self.key in errors:
            problems += [(self.key, m) for m in errors[self.key]]
        elif key_value:
            customer, problems = self.match(number, key_value, matches)
        data = None
        if customer is not None and not problems:
            # An existing customer: only the columns present in the file change.
            data = self.row_data(cells)
            cleaned, errors = services.clean_customer_input(
                data, actor=self.actor, instance=customer, partial=True, context=self.context
            )
            if not self.can_change:
                problems.append((self.key, _("You may not change customers.")))
        elif customer is None and not problems and not self.can_create:
            problems.append((self.key, _("You may not create customers.")))
        for field, messages in errors.items():
            if field == self.key and any(f == field for f, _m in problems):
                continue
            problems += [(field, m) for m in messages]
        problem = self.external_id_problem(number, cleaned, errors, taken, customer)
        if problem:
            problems.append(problem)
        self.settle(plan, number, problems, customer, cleaned, data, _changes_anything)


def _changes_anything(customer: Customer, cleaned: dict) -> bool:
    for key, value in cleaned.items():
        if key == "tags":
            if sorted(value) != sorted(t.name for t in customer.tags.all()):
                return True
        elif key == "owner":
            if value is not None and value.pk != customer.owner_id:
                return True
        elif getattr(customer, key) != value:
            return True
    return False


def _plan(
    job: ImportJob,
    actor,
    progress: Callable[[int], None] | None = None,
    *,
    keep: bool = False,
) -> Plan:
    """Check every row of the job's file against the rules and the database.

    The cleaning of rows (most of the time) depends only on the file, the mapping, the
    custom fields, the users and the actor, not on the customers: with ``keep`` (the dry
    run) the cleaned rows are kept in this process, and the commit that follows reuses
    them if none of those changed (``_Kept``). Customers are always looked up again."""
    checker = _Checker(job, actor)
    plan = Plan()
    with job.file.open("rb") as handle:
        content = handle.read()
    signature = _signature(job, actor, content, checker)
    chunks = _Kept.take(job, signature, checker)
    if chunks is None:
        table, index = open_mapped(content, job.filename, checker.columns)
        checker.use_index(index)
        chunks = (checker.clean_chunk(rows) for rows in _batched(table.rows, CHUNK))
    kept = [] if keep else None
    for chunk in chunks:
        checker.check_chunk(chunk, plan)
        plan.total += len(chunk)
        if kept is not None:
            kept.append(chunk)
        if progress:
            progress(plan.total)
    if kept is not None and plan.total <= KEEP_MAX_ROWS:
        _Kept.put(job, signature, checker, kept)
    return plan


def open_mapped(content: bytes, filename: str, columns) -> tuple[Table, dict[str, int]]:
    """The file's table and where each header is; refuses a file without one of the
    mapped ``columns``."""
    table = open_table(io.BytesIO(content), filename)
    index = {h: i for i, h in enumerate(table.headers) if h}
    missing = [h for h in columns if h not in index]
    if missing:
        raise ValidationFailed(
            {"mapping": [_("The file has no column “%(column)s”.") % {"column": missing[0]}]}
        )
    return table, index


def _batched(rows: Iterator, size: int) -> Iterator[list]:
    chunk: list = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _signature(job: ImportJob, actor, content: bytes, checker: "_Checker") -> tuple:
    """Everything the cleaning of a row depends on, except the users it names (those
    are compared one by one in ``_Kept.take``)."""
    team = actor.team if getattr(actor, "team_id", None) else None
    return (
        job.pk,
        job.created_at,  # a job id SQLite hands out again after a rollback is another job
        hashlib.sha256(content).hexdigest(),
        job.filename,
        tuple(job.mapping.items()),
        job.match_by,
        (actor.pk, getattr(actor, "role", None), str(actor), str(team) if team else None),
        can(actor, Action.ASSIGN),
        tuple(
            (f.pk, f.key, f.label, f.type, f.required, json.dumps(f.choices), f.active)
            for f in checker.context.fields
        ),
        translation.get_language(),
        timezone.localdate(),
        settings.PHONE_DEFAULT_REGION,
    )


def _user_facts(user) -> tuple | None:
    if user is None:
        return None
    team = user.team if user.team_id else None
    return (user.pk, user.is_active, user.team_id, str(user), str(team) if team else None)


class _Kept:
    """The cleaned rows of the last dry run in this process (one job at a time, for
    KEEP_SECONDS), so that ``import_commit`` right after ``import_check`` does not clean
    every row a second time."""

    _entry: dict = {}
    _lock = threading.Lock()

    @classmethod
    def put(cls, job, signature, checker, chunks) -> None:
        users = {key: _user_facts(user) for key, user in checker.context._users.items()}
        with cls._lock:
            cls._entry = {
                "job": job.pk,
                "signature": signature,
                "users": users,
                "index": checker.spec,
                "chunks": chunks,
                "until": time.monotonic() + KEEP_SECONDS,
            }

    @classmethod
    def take(cls, job, signature, checker) -> list | None:
        """The kept chunks if they are this job's and still valid; forgets them either way
        when they are this job's (or stale)."""
        with cls._lock:
            entry = cls._entry
            if not entry:
                return None
            if entry["job"] != job.pk and entry["until"] > time.monotonic():
                return None
            cls._entry = {}
        if entry["job"] != job.pk or entry["signature"] != signature:
            return None
        if entry["until"] <= time.monotonic():
            return None
        for key, facts in entry["users"].items():
            if _user_facts(checker.context.user(key)) != facts:
                return None
        checker.spec = entry["index"]
        return entry["chunks"]

    @classmethod
    def forget(cls) -> None:
        with cls._lock:
            cls._entry = {}


@contextlib.contextmanager
def _bulk_mode():
    """How an import runs its long loops.

    No cyclic garbage collection: each full collection walks every row held so far,
    which made a large import spend a third of its time in the collector (reference
    counting still frees everything; the collector's state is restored after).
    On SQLite, a larger page cache for this connection: the customers table has many
    indexes, and with 64 MB each insert re-reads index pages it had to let go (the
    previous size is restored after)."""
    was_enabled = gc.isenabled()
    gc.disable()
    cache_before = None
    try:
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA cache_size")
                cache_before = cursor.fetchone()[0]
                if _cache_kib(cache_before) < SQLITE_IMPORT_CACHE_KIB:
                    cursor.execute(f"PRAGMA cache_size = -{SQLITE_IMPORT_CACHE_KIB}")
                else:
                    cache_before = None
        yield
    finally:
        if cache_before is not None and connection.connection is not None:
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA cache_size = {int(cache_before)}")
        if was_enabled:
            gc.enable()


def _cache_kib(pragma_value: int) -> int:
    """PRAGMA cache_size is in KiB when negative, in pages (of 4 KiB here) otherwise."""
    return -pragma_value if pragma_value < 0 else pragma_value * 4


def _progress_writer(job: ImportJob) -> Callable[[int], None]:
    def write(done: int) -> None:
        ImportJob.objects.filter(pk=job.pk).update(processed_rows=done)
        job.processed_rows = done

    return write


def _claim(job: ImportJob, from_statuses, to_status) -> bool:
    claimed = ImportJob.objects.filter(pk=job.pk, status__in=list(from_statuses)).update(
        status=to_status, processed_rows=0
    )
    if claimed:
        job.status = to_status
        job.processed_rows = 0
    return bool(claimed)


def import_check(*, job: ImportJob) -> ImportJob:
    """The dry run: check every row, store the report; nothing else is written."""
    actor = job.created_by
    require(actor, Action.IMPORT)
    if not _claim(job, [ImportJob.Status.PENDING], ImportJob.Status.VALIDATING):
        job.refresh_from_db()
        return job
    try:
        with _bulk_mode():
            plan = _plan(job, actor, _progress_writer(job), keep=True)
    except ServiceError as exc:
        return _fail(job, exc)
    return save_check(job, plan)


def save_check(job: ImportJob, plan: Plan) -> ImportJob:
    """Keep a dry run's counts and report on its job (now validated)."""
    job.status = ImportJob.Status.VALIDATED
    job.total_rows = plan.total
    job.processed_rows = plan.total
    job.created_count = len(plan.creates)
    job.updated_count = len(plan.updates)
    job.skipped_count = plan.bad_rows
    job.errors = plan.errors
    job.message = ""
    job.save()
    return job


def _fail(job: ImportJob, exc: ServiceError) -> ImportJob:
    messages = [str(exc.message)]
    for field_messages in exc.field_errors.values():
        messages += field_messages
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.FAILED, message=" ".join(messages), finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job


def import_commit(*, job: ImportJob, progress: bool = True) -> ImportJob:
    """Check every row again and write them in one transaction.

    Claims the job (pending or checked → running) so two workers never run it twice.
    With bad rows and ``skip_bad_rows`` off, nothing is written and the job fails with
    the report."""
    actor = job.created_by
    if not _claim(
        job, [ImportJob.Status.PENDING, ImportJob.Status.VALIDATED], ImportJob.Status.RUNNING
    ):
        job.refresh_from_db()
        return job
    try:
        require(actor, Action.IMPORT)
        with _bulk_mode():
            plan = _plan(job, actor, _progress_writer(job) if progress else None)
    except ServiceError as exc:
        return _fail(job, exc)
    if refuse_bad_rows(job, plan):
        return job
    try:
        with _bulk_mode(), transaction.atomic():
            _write(job, actor, plan)
    except ServiceError as exc:
        return _fail(job, exc)
    return job


def refuse_bad_rows(job: ImportJob, plan: Plan) -> bool:
    """Keep the commit's report on the job; with bad rows not to be skipped, fail the job
    (nothing written) and say so."""
    job.total_rows = plan.total
    job.errors = plan.errors
    job.skipped_count = plan.bad_rows
    if not plan.bad_rows or job.skip_bad_rows:
        return False
    job.status = ImportJob.Status.FAILED
    job.created_count = job.updated_count = 0
    job.message = _(
        "%(count)d rows have errors; nothing was imported. Correct them or skip bad rows."
    ) % {"count": plan.bad_rows}
    job.finished_at = timezone.now()
    job.save()
    return True


# Writing ------------------------------------------------------------------------------


def _write(job: ImportJob, actor, plan: Plan) -> None:
    now = timezone.now()
    created = _bulk_create(actor, plan.creates, now)
    context = services.CustomerInput(actor)
    updated = save_updates(
        plan.updates,
        lambda customer, data: services.customer_update(
            actor=actor, customer=customer, data=data, context=context
        ),
    )
    finish_job(job, actor, plan, created, updated)


def save_updates(updates: list, update: Callable[[object, dict], object]) -> int:
    """``update(record, data)`` for each (row, record, data) of a plan; how many."""
    updated = 0
    for number, record, data in updates:
        try:
            update(record, data)
        except ValidationFailed as exc:
            # Something changed since the check (another user, another import).
            raise ValidationFailed(
                exc.field_errors,
                message=_("Row %(row)d could not be saved.") % {"row": number},
            ) from exc
        updated += 1
    return updated


def finish_job(
    job: ImportJob, actor, plan: Plan, created: int, updated: int, *, audit_kind: str = ""
) -> None:
    """Mark a written job done with its counts and summary, and audit the import (with
    ``audit_kind`` first in its changes when given)."""
    unchanged = plan.total - created - updated - plan.bad_rows
    job.status = ImportJob.Status.DONE
    job.processed_rows = plan.total
    job.created_count = created
    job.updated_count = updated
    job.finished_at = timezone.now()
    job.message = _summary(created, updated, unchanged, plan.bad_rows)
    job.save()
    audit.record(
        actor=actor,
        action="import",
        instance=job,
        object_repr=job.filename,
        changes={
            **({"kind": audit_kind} if audit_kind else {}),
            "created": created,
            "updated": updated,
            "unchanged": unchanged,
            "skipped": plan.bad_rows,
            "total": plan.total,
        },
        note=job.message,
    )


def _summary(created: int, updated: int, unchanged: int, skipped: int) -> str:
    text = _(
        "%(created)d created, %(updated)d updated, %(unchanged)d unchanged, %(skipped)d skipped."
    )
    return text % {
        "created": created,
        "updated": updated,
        "unchanged": unchanged,
        "skipped": skipped,
    }


def _bulk_create(actor, rows: list, now) -> int:
    """Create customers in chunks with their tags, audit entries and events — what
    ``customer_create`` writes for one, for thousands at once (rows are built as plain
    dicts, the way ``services._apply`` fills a Customer).

    The ids are reserved first, so each chunk's customers, tag links, audit entries and
    events are built together in plain Python; that runs in a second thread one chunk
    ahead (``bulk.ahead``) while this one writes the previous chunk."""
    if not rows:
        return 0
    require(actor, Action.CREATE)
    # Everything the builder needs from the database is read here, before it starts.
    tag_ids = _tag_ids({name for _n, cleaned in rows for name in cleaned.get("tags", [])})
    owners = _owner_facts(cleaned.get("owner") for _n, cleaned in rows)
    ids = bulk.reserve_ids(Customer, len(rows))
    tables = _CreateTables(actor, now, tag_ids, owners)
    chunks = range(0, len(rows), WRITE_CHUNK)

    def build(start: int) -> tuple:
        end = start + WRITE_CHUNK
        return tables.build(rows[start:end], ids[start:end])

    for batch in bulk.ahead(build, chunks):
        tables.write(batch)
    return len(rows)


def _owner_facts(owners) -> dict:
    """id(owner) → (owner id, team id, str(owner), str(team)) for each owner named."""
    facts: dict = {}
    for owner in owners:
        if id(owner) in facts:
            continue
        if owner is None:
            facts[id(owner)] = (None, None, None, None)
        else:
            team = str(owner.team) if owner.team_id else None
            facts[id(owner)] = (owner.pk, owner.team_id, str(owner), team)
    return facts


class _CreateTables:
    """The four tables a created customer writes to, and how one chunk is built for
    them without touching the database (``build``: any thread) and written
    (``write``: the importing thread)."""

    def __init__(self, actor, now, tag_ids: dict[str, int], owners: dict):
        self.tag_ids, self.owners = tag_ids, owners
        self.customers = bulk.Table(Customer, with_ids=True)
        self.links = bulk.Table(Customer.tags.through)
        self.entries = bulk.Table(AuditEntry)
        self.events = bulk.Table(BusinessEvent)
        actor_pk = actor.pk if actor.pk else None
        self.defaults = {
            f.attname: f.get_default() for f in Customer._meta.concrete_fields if not f.primary_key
        }
        self.defaults["created_by_id"] = actor_pk
        self.defaults["created_at"] = self.defaults["updated_at"] = now
        self.pinyin = functools.lru_cache(maxsize=100_000)(name_pinyin)  # names repeat a lot
        audited = [f for f in services.AUDITED_FIELDS if f not in ("owner", "team")]
        owner_position = services.AUDITED_FIELDS.index("owner")
        # The audit entry's fields in the order of AUDITED_FIELDS, as customer_create
        # writes them: those before "owner", then owner and team, then the rest.
        self.before_owner = [
            f for f in audited if services.AUDITED_FIELDS.index(f) < owner_position
        ]
        self.after_owner = [f for f in audited if services.AUDITED_FIELDS.index(f) > owner_position]
        model = Customer._meta.label_lower
        self.entry = {
            "at": now,
            "actor_id": actor_pk,
            "action": "create",
            "model": model,
            "note": "",
        }
        self.event = {
            "name": "customer.created",
            "occurred_at": now,
            "actor_id": actor_pk,
            "model": model,
            "payload": {},
        }

    def build(self, chunk: list, ids) -> tuple:
        customers, links, entries, events = [], [], [], []
        owners, tag_ids, pinyin, plain = self.owners, self.tag_ids, self.pinyin, audit._plain
        for (_number, cleaned), pk in zip(chunk, ids, strict=True):
            row = self.defaults.copy()
            row.update(cleaned)  # "tags" and "owner" too: only columns are written
            row["id"] = pk
            owner_pk, team_pk, owner_text, team_text = owners[id(cleaned.get("owner"))]
            row["owner_id"], row["team_id"] = owner_pk, team_pk
            row["name_pinyin"], row["name_initials"] = pinyin(row["name"])
            customers.append(row)
            names = row.get("tags") or []
            for n in names:
                links.append({"customer_id": pk, "tag_id": tag_ids[n]})
            changes = {}
            for field in self.before_owner:
                value = row[field]
                if value.__class__ is not str:
                    value = plain(value)
                if value not in (None, "", [], {}):
                    changes[field] = [None, value]
            if owner_text not in (None, ""):
                changes["owner"] = [None, owner_text]
            if team_text not in (None, ""):
                changes["team"] = [None, team_text]
            for field in self.after_owner:
                value = row[field]
                if value.__class__ is not str:
                    value = plain(value)
                if value not in (None, "", [], {}):
                    changes[field] = [None, value]
            if names:
                changes["tags"] = [None, sorted(names)]
            entries.append(
                {
                    **self.entry,
                    "object_id": pk,
                    "object_repr": row["name"][:200],
                    "changes": changes,
                }
            )
            events.append({**self.event, "object_id": pk, "customer_id": pk})
        return (
            self.customers.convert(customers),
            self.links.convert(links),
            self.entries.convert(entries),
            self.events.convert(events),
        )

    def write(self, batch: tuple) -> None:
        customers, links, entries, events = batch
        self.customers.write(customers)
        self.links.write(links)
        self.entries.write(entries)
        self.events.write(events)


def _tag_ids(names: set[str]) -> dict[str, int]:
    if not names:
        return {}
    existing = dict(Tag.objects.filter(name__in=names).values_list("name", "pk"))
    missing = [Tag(name=n) for n in sorted(names - set(existing))]
    if missing:
        Tag.objects.bulk_create(missing)
        existing.update(Tag.objects.filter(name__in=names).values_list("name", "pk"))
    return existing


# Reports ------------------------------------------------------------------------------


def job_report(job: ImportJob) -> dict:
    """What the customer and lead imports report of a job."""
    unchanged = max(0, job.total_rows - job.created_count - job.updated_count - job.skipped_count)
    return {
        "job_id": job.pk,
        "status": job.status,
        "filename": job.filename,
        "match_by": job.match_by,
        "skip_bad_rows": job.skip_bad_rows,
        "total_rows": job.total_rows,
        "processed_rows": job.processed_rows,
        "created": job.created_count,
        "updated": job.updated_count,
        "unchanged": unchanged if job.status in ("validated", "done") else 0,
        "skipped": job.skipped_count,
        "errors": job.errors,
        "message": job.message,
        "mapping": job.mapping,
    }


def report(job: ImportJob) -> dict:
    return {
        **job_report(job),
        "unknown_columns": unknown_columns(list(job.mapping), job.mapping),
    }


def runs_in_background(job: ImportJob) -> bool:
    return job.total_rows > settings.IMPORT_BACKGROUND_ROWS


def import_request_check(*, job: ImportJob) -> ImportJob:
    """Run the dry run now, or on the worker when the file is large."""
    if runs_in_background(job):
        from guanxi.customers import tasks

        tasks.enqueue_check(job)
        return job
    return import_check(job=job)


def import_request_commit(*, actor, job: ImportJob, skip_bad_rows: bool | None = None):
    """Import now, or on the worker when the file is large. Refuses (writing nothing) when
    the dry run found bad rows and they are not to be skipped."""

    def enqueue(job):
        from guanxi.customers import tasks

        tasks.enqueue_import(job)

    return request_commit(
        actor=actor,
        job=job,
        skip_bad_rows=skip_bad_rows,
        commit=lambda job: import_commit(job=job),
        enqueue=enqueue,
    )


def request_commit(
    *,
    actor,
    job: ImportJob,
    skip_bad_rows: bool | None,
    commit: Callable[[ImportJob], ImportJob],
    enqueue: Callable[[ImportJob], None],
) -> ImportJob:
    """What the customer and lead imports share: ``commit`` now, or ``enqueue`` the job for
    the worker when the file is large; refuse when the dry run found bad rows and they
    are not to be skipped."""
    require(actor, Action.IMPORT)
    if job.status not in (ImportJob.Status.PENDING, ImportJob.Status.VALIDATED):
        raise ValidationFailed({"status": [_("This import has already started.")]})
    if skip_bad_rows is not None and skip_bad_rows != job.skip_bad_rows:
        job.skip_bad_rows = skip_bad_rows
        job.save(update_fields=["skip_bad_rows"])
    if job.status == ImportJob.Status.VALIDATED and job.skipped_count and not job.skip_bad_rows:
        raise ValidationFailed(
            {"skip_bad_rows": [_("Some rows have errors: correct the file or skip bad rows.")]}
        )
    if runs_in_background(job):
        enqueue(job)
        return job
    return commit(job)
