"""Lead import: a CSV (UTF-8 or GB18030) or XLSX file, the same steps and rules as the
customer import (``guanxi.customers.importing``), whose machinery it reuses: reading
files, the ``ImportJob`` (kind "leads") with its claim, progress and report, the bulk
mode and ``guanxi.core.bulk.insert``.

Every row is cleaned by ``services_leads.clean_lead_input``, the rules of the pages and
the API. The dry run lists every bad row (row, column, reason); the commit is all or
nothing unless the job skips bad rows. Rows find the lead already there by phone,
e-mail or external id (``match_by``), so importing the same file twice changes nothing;
a converted lead is left as it is.

New leads get the owner of their Owner column, else the assignment rules' choice, else
the importing user; each owner is told once per import how many leads they received.
"""

import dataclasses
import re
from collections import Counter
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django_tasks import task

from guanxi.accounts.roles import Action, can, require
from guanxi.core import bulk
from guanxi.core.errors import ServiceError
from guanxi.core.models import AuditEntry, BusinessEvent
from guanxi.core.notify import notify
from guanxi.customers import importing as customer_importing
from guanxi.customers.importing import FORMULA_STARTS
from guanxi.customers.models import ImportJob
from guanxi.sales import services_leads
from guanxi.sales.models import Lead

KIND = "leads"
CHUNK = 2000
WRITE_CHUNK = 10_000
MAX_REPORTED_ERRORS = 10_000
MATCH_KEYS = ("phone", "email", "external_id")
Status = ImportJob.Status

# field: (English header, Chinese header, other names people use)
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("Name", "姓名", "名字", "联系人", "full name", "contact"),
    "company": ("Company", "公司", "公司名称", "单位", "企业", "organisation", "organization"),
    "job_title": ("Job title", "职位", "职务", "title", "position"),
    "phone": ("Phone", "手机", "手机号", "手机号码", "电话", "联系电话", "mobile", "tel"),
    "email": ("E-mail", "邮箱", "电子邮件", "电子邮箱", "email", "mail"),
    "province": ("Province", "省份", "省", "state"),
    "city": ("City", "城市", "市"),
    "source": ("Source", "来源", "渠道", "线索来源", "channel"),
    "campaign": ("Campaign", "活动", "市场活动", "推广活动"),
    "message": ("Message", "留言", "备注", "说明", "notes", "note", "comment"),
    "status": ("Status", "状态", "线索状态"),
    "disqualify_reason": ("Reason for disqualifying", "无效原因", "reason"),
    "owner": ("Owner", "负责人", "归属人", "销售", "assignee"),
    "external_id": ("External ID", "外部ID", "外部编号", "external id", "ext id", "externalid"),
}


def _norm(header: str) -> str:
    return re.sub(r"[\s_*＊:：()（）\-.]+", "", str(header).strip().lower())


_ALIASES = {_norm(label): key for key, labels in COLUMNS.items() for label in (key, *labels)}


def detect_mapping(headers: list[str]) -> dict[str, str]:
    """{header: field or ""}: a second column for the same field is ignored."""
    return customer_importing.map_headers(headers, _ALIASES, _norm)


def _check_mapping(mapping: dict) -> dict:
    errors: dict[str, list[str]] = {}
    seen: dict[str, str] = {}
    for header, target in mapping.items():
        if target and target not in COLUMNS:
            errors.setdefault("mapping", []).append(
                _("Column “%(column)s”: there is no field “%(field)s”.")
                % {"column": header, "field": target}
            )
        elif target and target in seen:
            errors.setdefault("mapping", []).append(
                _("Columns “%(first)s” and “%(second)s” both go to the same field.")
                % {"first": seen[target], "second": header}
            )
        if target:
            seen.setdefault(target, header)
    if "name" not in seen and not errors:
        errors["mapping"] = [_("No column holds the name (姓名 / Name).")]
    return errors


def mapping_targets() -> list[tuple[str, str]]:
    return [(key, str(gettext_lazy(labels[0]))) for key, labels in COLUMNS.items()]


# Jobs ---------------------------------------------------------------------------------------


def import_start(
    *,
    actor,
    fileobj,
    filename: str,
    match_by: str = "phone",
    skip_bad_rows: bool = False,
    mapping: dict | None = None,
) -> ImportJob:
    """Store the file and its column mapping as a new (pending) lead import."""
    return customer_importing.start_job(
        actor=actor,
        kind=KIND,
        fileobj=fileobj,
        filename=filename,
        default_filename="leads.csv",
        match_by=match_by,
        match_keys=MATCH_KEYS,
        match_error=_("Match by phone, e-mail or external id."),
        detect=detect_mapping,
        check_mapping=_check_mapping,
        skip_bad_rows=skip_bad_rows,
        mapping=mapping,
    )


def import_remap(*, actor, job: ImportJob, mapping: dict, match_by: str | None = None):
    return customer_importing.remap_job(
        actor=actor,
        job=job,
        mapping=mapping,
        match_by=match_by,
        match_keys=MATCH_KEYS,
        match_error=_("Match by phone, e-mail or external id."),
        check_mapping=_check_mapping,
    )


def import_get_for_user(*, user, id: int) -> ImportJob:
    return customer_importing.get_job_for_user(user=user, id=id, kind=KIND)


def import_recent(*, user, limit: int = 10):
    return ImportJob.objects.filter(kind=KIND, created_by=user).order_by("-created_at")[:limit]


# Checking -----------------------------------------------------------------------------------


@dataclasses.dataclass
class Plan:
    creates: list = dataclasses.field(default_factory=list)  # (row, cleaned)
    updates: list = dataclasses.field(default_factory=list)  # (row, lead, data)
    unchanged: int = 0
    errors: list = dataclasses.field(default_factory=list)
    bad_rows: int = 0
    total: int = 0


class _Checker(customer_importing.RowChecker):
    many_message = gettext_lazy("%(count)d leads have this value; match by another column.")
    hidden_message = gettext_lazy("This lead exists but is not yours.")
    taken_message = gettext_lazy("Another lead already has this external id.")

    def __init__(self, job: ImportJob, actor):
        self.actor = actor
        self.key = job.match_by
        self.context = services_leads.LeadInput(actor)
        self.columns = {h: t for h, t in job.mapping.items() if t}
        labels = {k: str(gettext_lazy(v[0])) for k, v in COLUMNS.items()}
        self.header_of = {**labels, **{t: h for h, t in self.columns.items()}}
        self.position = {t: i for i, t in enumerate(self.columns.values())}
        self.seen_keys: dict[str, int] = {}
        self.seen_external: dict[str, int] = {}
        self.can_create = can(actor, Action.CREATE)
        self.can_change = can(actor, Action.CHANGE)

    def use_index(self, index: dict) -> None:
        self.spec = [(index[h], t) for h, t in self.columns.items()]

    def row_data(self, cells: list) -> dict:
        data = {}
        size = len(cells)
        for i, target in self.spec:
            value = cells[i] if i < size else ""
            if isinstance(value, str):
                value = value.strip()
                if value[:1] == "'" and value[1:2] in FORMULA_STARTS:
                    value = value[1:]
            data[target] = value
        return data

    def check_chunk(self, rows: list, plan: Plan) -> None:
        clean = services_leads.clean_lead_input
        cleaned_rows = []
        for number, cells in rows:
            data = self.row_data(cells)
            data.setdefault("status", "")
            cleaned, errors = clean(data, actor=self.actor, context=self.context)
            cleaned_rows.append((number, data, cleaned, errors))
        key = self.key
        keys = {c[key] for _n, _d, c, _e in cleaned_rows if c.get(key)}
        matches: dict[str, list[Lead]] = {}
        if keys:
            for lead in Lead.objects.filter(**{f"{key}__in": keys}).select_related("owner"):
                matches.setdefault(getattr(lead, key), []).append(lead)
        externals = {c["external_id"] for _n, _d, c, _e in cleaned_rows if c.get("external_id")}
        taken = dict(
            Lead.objects.filter(external_id__in=externals).values_list("external_id", "pk")
        )
        for number, data, cleaned, errors in cleaned_rows:
            self.check_row(plan, number, data, cleaned, errors, matches, taken)

    def check_row(self, plan, number, data, cleaned, errors, matches, taken) -> None:
        problems: list[tuple[str, str]] = []
        value = cleaned.get(self.key)
        lead = None
        if value and self.key not in errors:
            lead, problems = self.match(number, value, matches)
        problem = self.external_id_problem(number, cleaned, errors, taken, lead)
        if problem:
            problems.append(problem)
        if lead is not None and not problems:
            if lead.status == Lead.Status.CONVERTED:
                plan.unchanged += 1  # converted leads are kept as they were
                return
            data = {k: v for k, v in data.items() if not (k == "status" and v == "")}
            cleaned, errors = services_leads.clean_lead_input(
                data, actor=self.actor, instance=lead, partial=True, context=self.context
            )
            if not self.can_change:
                problems.append((self.key, _("You may not change leads.")))
        elif lead is None and not problems and not self.can_create:
            problems.append((self.key, _("You may not create leads.")))
        for field, messages in errors.items():
            problems += [(field, m) for m in messages]
        self.settle(plan, number, problems, lead, cleaned, data, _changes_anything)


def _changes_anything(lead: Lead, cleaned: dict) -> bool:
    for key, value in cleaned.items():
        if key == "owner":
            if value != "auto" and value is not None and value.pk != lead.owner_id:
                return True
        elif key == "form":
            if (value.pk if value else None) != lead.form_id:
                return True
        elif getattr(lead, key) != value:
            return True
    return False


def _plan(job: ImportJob, actor, progress: Callable[[int], None] | None = None) -> Plan:
    checker = _Checker(job, actor)
    plan = Plan()
    with job.file.open("rb") as handle:
        content = handle.read()
    table, index = customer_importing.open_mapped(content, job.filename, checker.columns)
    checker.use_index(index)
    for rows in customer_importing._batched(table.rows, CHUNK):
        checker.check_chunk(rows, plan)
        plan.total += len(rows)
        if progress:
            progress(plan.total)
    return plan


def import_check(*, job: ImportJob) -> ImportJob:
    """The dry run: check every row, keep the report on the job; nothing else is written."""
    actor = job.created_by
    require(actor, Action.IMPORT)
    if not customer_importing._claim(job, [Status.PENDING], Status.VALIDATING):
        job.refresh_from_db()
        return job
    try:
        with customer_importing._bulk_mode():
            plan = _plan(job, actor, customer_importing._progress_writer(job))
    except ServiceError as exc:
        return customer_importing._fail(job, exc)
    return customer_importing.save_check(job, plan)


def import_commit(*, job: ImportJob, progress: bool = True) -> ImportJob:
    """Check every row again and write them in one transaction (all or nothing unless
    the job skips bad rows)."""
    actor = job.created_by
    if not customer_importing._claim(job, [Status.PENDING, Status.VALIDATED], Status.RUNNING):
        job.refresh_from_db()
        return job
    try:
        require(actor, Action.IMPORT)
        with customer_importing._bulk_mode():
            writer = customer_importing._progress_writer(job) if progress else None
            plan = _plan(job, actor, writer)
    except ServiceError as exc:
        return customer_importing._fail(job, exc)
    if customer_importing.refuse_bad_rows(job, plan):
        return job
    try:
        with customer_importing._bulk_mode(), transaction.atomic():
            _write(job, actor, plan)
    except ServiceError as exc:
        return customer_importing._fail(job, exc)
    return job


# Writing ------------------------------------------------------------------------------------


def _write(job: ImportJob, actor, plan: Plan) -> None:
    created = _bulk_create(actor, plan.creates, timezone.now())
    context = services_leads.LeadInput(actor)
    updated = customer_importing.save_updates(
        plan.updates,
        lambda lead, data: services_leads.lead_update(
            actor=actor, lead=lead, data=data, context=context
        ),
    )
    customer_importing.finish_job(job, actor, plan, created, updated, audit_kind=KIND)


def _bulk_create(actor, rows: list, now) -> int:
    """What ``lead_create`` writes for one lead — the row, its audit entry, the events
    ``lead.created`` and ``lead.assigned`` — for thousands at once; then one notification
    per owner."""
    if not rows:
        return 0
    require(actor, Action.CREATE)
    actor_pk = actor.pk
    model = Lead._meta.label_lower
    defaults = {f.attname: f.get_default() for f in Lead._meta.concrete_fields if not f.primary_key}
    defaults.update(created_by_id=actor_pk, created_at=now, updated_at=now)
    assigner = services_leads.Assigner()
    received: Counter = Counter()
    owners: dict = {}
    audited = [f for f in services_leads.AUDITED_FIELDS if f not in ("owner", "team", "form")]
    entry = {"at": now, "actor_id": actor_pk, "action": "create", "model": model, "note": ""}
    event = {"occurred_at": now, "actor_id": actor_pk, "model": model, "customer_id": None}
    total = 0
    for start in range(0, len(rows), WRITE_CHUNK):
        chunk = rows[start : start + WRITE_CHUNK]
        leads, facts = [], []
        for _number, cleaned in chunk:
            row = defaults.copy()
            owner = cleaned.get("owner")
            how = "manual"
            if owner is None or owner == "auto":
                form = cleaned.get("form")
                owner = assigner.pick(
                    province=cleaned.get("province", ""),
                    source=cleaned.get("source", ""),
                    form_id=form.pk if form else None,
                )
                how = "rule"
                if owner is None:
                    owner, how = actor, "creator"
            for key, value in cleaned.items():
                if key not in ("owner", "form"):
                    row[key] = value
            row["form_id"] = cleaned["form"].pk if cleaned.get("form") else None
            row["status"] = cleaned.get("status") or Lead.Status.NEW
            row["owner_id"], row["team_id"] = owner.pk, owner.team_id
            owners[owner.pk] = owner
            leads.append(row)
            facts.append((owner, how, cleaned.get("form")))
        ids = bulk.insert(Lead, leads, returning=True)
        entries, emitted = [], []
        for pk, row, (owner, how, form) in zip(ids, leads, facts, strict=True):
            changes = {}
            for field in audited:
                value = row.get(field)
                if value not in (None, ""):
                    changes[field] = [None, value]
            if form is not None:
                changes["form"] = [None, str(form)]
            changes["owner"] = [None, str(owner)]
            if owner.team_id:
                changes["team"] = [None, str(owner.team)]
            entries.append(
                {**entry, "object_id": pk, "object_repr": row["name"][:200], "changes": changes}
            )
            payload = {"source": row["source"], "campaign": row["campaign"], "form": row["form_id"]}
            emitted.append({**event, "name": "lead.created", "object_id": pk, "payload": payload})
            emitted.append(
                {
                    **event,
                    "name": "lead.assigned",
                    "object_id": pk,
                    "payload": {"owner": owner.pk, "previous_owner": None, "how": how},
                }
            )
            if owner.pk != actor_pk:
                received[owner.pk] += 1
        bulk.insert(AuditEntry, entries)
        bulk.insert(BusinessEvent, emitted)
        total += len(leads)
    assigner.save()
    for owner_pk, count in received.items():
        owner = owners[owner_pk]
        with translation.override(owner.language or settings.LANGUAGE_CODE):
            title = ngettext(
                "%(count)d new lead was imported for you",
                "%(count)d new leads were imported for you",
                count,
            ) % {"count": count}
        notify(
            owner,
            kind="lead.assigned",
            title=title,
            url=reverse("sales:leads") + f"?owner={owner.pk}",
            email=True,
        )
    return total


# Reports and background work ---------------------------------------------------------------


def report(job: ImportJob) -> dict:
    return customer_importing.job_report(job)


def runs_in_background(job: ImportJob) -> bool:
    return job.total_rows > settings.IMPORT_BACKGROUND_ROWS


def _language_of(job: ImportJob) -> str:
    return job.created_by.language or translation.get_language() or settings.LANGUAGE_CODE


def _job(job_id: int) -> ImportJob | None:
    return ImportJob.objects.select_related("created_by").filter(pk=job_id, kind=KIND).first()


@task()
def check_lead_import(job_id: int) -> str:
    job = _job(job_id)
    if job is None:
        return "missing"
    with translation.override(_language_of(job)):
        return import_check(job=job).status


@task()
def run_lead_import(job_id: int) -> str:
    job = _job(job_id)
    if job is None:
        return "missing"
    with translation.override(_language_of(job)):
        return import_commit(job=job).status


def import_request_check(*, job: ImportJob) -> ImportJob:
    """The dry run now, or on the worker when the file is large."""
    if runs_in_background(job):
        transaction.on_commit(lambda: check_lead_import.enqueue(job.pk))
        return job
    return import_check(job=job)


def import_request_commit(*, actor, job: ImportJob, skip_bad_rows: bool | None = None):
    """Import now, or on the worker when the file is large. Refuses when the dry run
    found bad rows and they are not to be skipped."""
    return customer_importing.request_commit(
        actor=actor,
        job=job,
        skip_bad_rows=skip_bad_rows,
        commit=lambda job: import_commit(job=job),
        enqueue=lambda job: transaction.on_commit(lambda: run_lead_import.enqueue(job.pk)),
    )
