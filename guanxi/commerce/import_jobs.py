"""Order imports as jobs, for the import page and the API: the file is stored on an
``ImportJob`` (kind "orders"), checked (dry run), then written by ``importing.order_import``
— now, or on the worker when it has more than ``settings.IMPORT_BACKGROUND_ROWS`` rows,
with progress on the job.

The job keeps what is particular to orders in ``job.mapping`` under reserved keys (the
customers app owns the model): ``"__store__"`` (the chosen store's id, or None when the
file has a Store column) and ``"__report__"`` (the counts of the last check or import).
The other keys are the file's columns, as for customers: {header: field or ""}.
"""

import io
import os

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.accounts.roles import Action, can, require
from guanxi.commerce import importing
from guanxi.commerce.models import Store
from guanxi.core import audit
from guanxi.core.errors import NotFound, ServiceError, ValidationFailed
from guanxi.customers.importing import open_table
from guanxi.customers.models import ImportJob

KIND = "orders"
STORE_KEY = "__store__"
REPORT_KEY = "__report__"
COUNTS = (
    "orders",
    "new_orders",
    "lines",
    "new_customers",
    "events",
    "applied",
    "duplicates",
    "skipped_rows",
)
Status = ImportJob.Status
IN_PROGRESS = (Status.VALIDATING, Status.RUNNING)


# Stores ---------------------------------------------------------------------------------


def import_stores():
    """The stores an import may go to."""
    return Store.objects.filter(active=True).order_by("name", "id")


def store_for_import(value) -> Store | None:
    """A store given by code or id ("" or None: the file names the store per row)."""
    if value is None or isinstance(value, Store):
        store = value
    else:
        text = str(value).strip()
        if not text:
            return None
        store = Store.objects.filter(code=text.lower()).first()
        if store is None and text.isdigit():
            store = Store.objects.filter(pk=int(text)).first()
        if store is None:
            raise ValidationFailed(
                {"store": [_("There is no store “%(value)s”.") % {"value": text}]}
            )
    if store is not None and not store.active:
        raise ValidationFailed({"store": [_("This store is not active.")]})
    return store


def job_store(job: ImportJob) -> Store | None:
    store_id = job.mapping.get(STORE_KEY)
    return Store.objects.filter(pk=store_id).first() if store_id else None


def job_columns(job: ImportJob) -> dict[str, str]:
    return {h: f for h, f in job.mapping.items() if not h.startswith("__")}


def job_counts(job: ImportJob) -> dict[str, int]:
    saved = job.mapping.get(REPORT_KEY) or {}
    return {key: int(saved.get(key, 0)) for key in COUNTS}


# Starting and reading jobs -------------------------------------------------------------


def order_import_start(
    *, actor, fileobj, filename: str, store=None, skip_bad_rows: bool = False
) -> ImportJob:
    """Store the file as a new (pending) order import job. ``store``: a Store, its code
    or id, or empty when the file has a Store column. Refuses files it cannot read."""
    require(actor, Action.IMPORT)
    store = store_for_import(store)
    data = fileobj.read()
    if not data:
        raise ValidationFailed({"file": [_("The file is empty.")]})
    filename = os.path.basename(filename or "orders.csv")[:255]
    table = open_table(io.BytesIO(data), filename)
    columns = importing.detect_mapping(table.headers)
    importing.check_columns(columns)
    if store is None and "store" not in columns.values():
        raise ValidationFailed(
            {"store": [_("Choose the store the orders belong to, or add a Store column.")]}
        )
    total = sum(1 for _row in table.rows)
    job = ImportJob(
        kind=KIND,
        created_by=actor,
        filename=filename,
        mapping={STORE_KEY: store.pk if store else None, **columns},
        skip_bad_rows=skip_bad_rows,
        total_rows=total,
    )
    job.file.save(filename, ContentFile(data), save=False)
    job.save()
    return job


def order_import_get_for_user(*, user, id: int) -> ImportJob:
    """An order import of the user's own (an administrator sees everyone's)."""
    job = ImportJob.objects.filter(pk=id, kind=KIND).first()
    if job is None or not (job.created_by_id == user.pk or can(user, Action.MANAGE_USERS)):
        raise NotFound(_("Import not found."))
    return job


def order_import_recent(*, user, limit: int = 10):
    return ImportJob.objects.filter(kind=KIND, created_by=user).order_by("-created_at")[:limit]


# Running --------------------------------------------------------------------------------


def _claim(job: ImportJob, from_statuses, to_status) -> bool:
    """pending/checked → checking/running with a conditional update: one runner only."""
    claimed = ImportJob.objects.filter(pk=job.pk, kind=KIND, status__in=list(from_statuses)).update(
        status=to_status, processed_rows=0
    )
    if claimed:
        job.status = to_status
        job.processed_rows = 0
    return bool(claimed)


def _progress_writer(job: ImportJob):
    def write(done: int) -> None:
        ImportJob.objects.filter(pk=job.pk).update(processed_rows=done)
        job.processed_rows = done

    return write


def _run(job: ImportJob, *, dry_run: bool, progress: bool) -> importing.Report:
    with job.file.open("rb") as handle:
        return importing.order_import(
            actor=job.created_by,
            fileobj=io.BytesIO(handle.read()),
            filename=job.filename,
            store=job_store(job),
            dry_run=dry_run,
            skip_bad_rows=job.skip_bad_rows,
            progress=_progress_writer(job) if progress else None,
        )


def _fail(job: ImportJob, message: str) -> ImportJob:
    ImportJob.objects.filter(pk=job.pk).update(
        status=Status.FAILED, message=message, finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job


def _service_message(exc: ServiceError) -> str:
    messages = [str(exc.message)]
    for field_messages in exc.field_errors.values():
        messages += [str(m) for m in field_messages]
    return " ".join(messages)


def _keep(job: ImportJob, report: importing.Report) -> None:
    job.total_rows = report.total_rows
    job.processed_rows = report.total_rows
    job.created_count = report.orders
    job.updated_count = 0
    job.skipped_count = report.skipped_rows
    job.errors = report.errors
    job.mapping = {
        **job.mapping,
        REPORT_KEY: {
            "orders": report.orders,
            "new_orders": report.new_orders,
            "lines": report.lines,
            "new_customers": report.new_customers,
            "events": report.events,
            "applied": report.applied,
            "duplicates": report.duplicates,
            "skipped_rows": report.skipped_rows,
        },
    }


def order_import_check(*, job: ImportJob, progress: bool = True) -> ImportJob:
    """The dry run: check every row and keep the report on the job; nothing else is
    written. A job already claimed by another runner is left alone."""
    require(job.created_by, Action.IMPORT)
    if not _claim(job, [Status.PENDING], Status.VALIDATING):
        job.refresh_from_db()
        return job
    try:
        report = _run(job, dry_run=True, progress=progress)
    except ServiceError as exc:
        return _fail(job, _service_message(exc))
    _keep(job, report)
    job.status = Status.VALIDATED
    job.message = ""
    job.save()
    return job


def order_import_commit(*, job: ImportJob, progress: bool = True) -> ImportJob:
    """Check every row again and write the orders (all or nothing, unless the job skips
    bad rows). With bad rows not skipped the job fails with the report, nothing written."""
    if not _claim(job, [Status.PENDING, Status.VALIDATED], Status.RUNNING):
        job.refresh_from_db()
        return job
    try:
        require(job.created_by, Action.IMPORT)
        report = _run(job, dry_run=False, progress=progress)
    except ServiceError as exc:
        return _fail(job, _service_message(exc))
    _keep(job, report)
    job.finished_at = timezone.now()
    if not report.written:
        bad_rows = len({e["row"] for e in report.errors if e["row"]})
        job.status = Status.FAILED
        if bad_rows:
            job.message = _(
                "%(count)d rows have errors; nothing was imported. Correct them or skip bad rows."
            ) % {"count": bad_rows}
        else:
            job.message = " ".join(e["message"] for e in report.errors) or _(
                "Nothing was imported."
            )
        job.save()
        return job
    job.status = Status.DONE
    job.message = _summary(report)
    with transaction.atomic():
        job.save()
        audit.record(
            actor=job.created_by,
            action="import",
            instance=job,
            object_repr=job.filename,
            changes={"kind": KIND, "total": report.total_rows, **job_counts(job)},
            note=job.message,
        )
    return job


def _summary(report: importing.Report) -> str:
    return _(
        "%(orders)d orders (%(new)d new, %(known)d already known), %(lines)d lines, "
        "%(customers)d new customers, %(skipped)d rows skipped."
    ) % {
        "orders": report.orders,
        "new": report.new_orders,
        "known": report.orders - report.new_orders,
        "lines": report.lines,
        "customers": report.new_customers,
        "skipped": report.skipped_rows,
    }


def runs_in_background(job: ImportJob) -> bool:
    return job.total_rows > settings.IMPORT_BACKGROUND_ROWS


def order_import_request_check(*, job: ImportJob) -> ImportJob:
    """The dry run now, or on the worker when the file is large."""
    if runs_in_background(job):
        from guanxi.commerce import tasks

        tasks.enqueue_check(job)
        return job
    return order_import_check(job=job)


def order_import_request_commit(
    *, actor, job: ImportJob, skip_bad_rows: bool | None = None
) -> ImportJob:
    """Import now, or on the worker when the file is large. Refuses (writing nothing)
    when the dry run found bad rows and they are not to be skipped."""
    require(actor, Action.IMPORT)
    if job.status not in (Status.PENDING, Status.VALIDATED):
        raise ValidationFailed({"status": [_("This import has already started.")]})
    if skip_bad_rows is not None and skip_bad_rows != job.skip_bad_rows:
        job.skip_bad_rows = skip_bad_rows
        job.save(update_fields=["skip_bad_rows"])
    if job.status == Status.VALIDATED and job.errors and not job.skip_bad_rows:
        raise ValidationFailed(
            {"skip_bad_rows": [_("Some rows have errors: correct the file or skip bad rows.")]}
        )
    if runs_in_background(job):
        from guanxi.commerce import tasks

        tasks.enqueue_import(job)
        return job
    return order_import_commit(job=job)


# Reports --------------------------------------------------------------------------------


def report(job: ImportJob) -> dict:
    """The job as the API shows it."""
    counts = job_counts(job)
    store = job_store(job)
    return {
        "job_id": job.pk,
        "status": job.status,
        "filename": job.filename,
        "store": store.code if store else None,
        "skip_bad_rows": job.skip_bad_rows,
        "total_rows": job.total_rows,
        "processed_rows": job.processed_rows,
        "orders": counts["orders"],
        "new_orders": counts["new_orders"],
        "lines": counts["lines"],
        "created_customers": counts["new_customers"],
        "events": counts["events"],
        "applied": counts["applied"],
        "duplicates": counts["duplicates"],
        "skipped_rows": counts["skipped_rows"],
        "errors": job.errors,
        "message": job.message,
        "columns": job_columns(job),
    }
