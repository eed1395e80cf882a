"""Order history import over /api/v1.

POST /orders/import (multipart: file, store, skip_bad_rows, dry_run) answers with the
report: 200 for a dry run, 201 when written, 202 when a large file was queued for the
worker (poll GET /orders/import/{job_id}), 422 when rows are bad and not skipped — then
nothing was written. A file that cannot be read, an unknown store or a missing permission
get the usual error body ({"code", "message", "errors"})."""

from ninja import File, Form, Router, Schema, Status
from ninja.files import UploadedFile

from guanxi.commerce import import_jobs
from guanxi.customers.models import ImportJob

router = Router(tags=["orders"])


class RowError(Schema):
    row: int
    column: str
    message: str


class OrderImportReport(Schema):
    job_id: int
    status: str
    filename: str
    store: str | None
    skip_bad_rows: bool
    total_rows: int
    processed_rows: int
    orders: int
    new_orders: int
    lines: int
    created_customers: int
    events: int
    applied: int
    duplicates: int
    skipped_rows: int
    errors: list[RowError]
    message: str
    columns: dict[str, str]


class ErrorOut(Schema):
    code: str
    message: str
    errors: dict[str, list[str]] = {}


ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut}


@router.post(
    "/orders/import",
    response={
        200: OrderImportReport,
        201: OrderImportReport,
        202: OrderImportReport,
        422: dict,
        **ERRORS,
    },
    summary="Import order history from CSV or XLSX",
)
def import_orders(
    request,
    file: File[UploadedFile],
    store: Form[str] = "",
    skip_bad_rows: Form[bool] = False,
    dry_run: Form[bool] = False,
):
    """One row per order line; rows with the same order number are one order. ``store``
    is a store code or id, or empty when the file has a Store column. In a dry run,
    ``created_customers`` counts the customers the import would create."""
    job = import_jobs.order_import_start(
        actor=request.user,
        fileobj=file,
        filename=file.name,
        store=store,
        skip_bad_rows=skip_bad_rows,
    )
    if dry_run:
        job = import_jobs.order_import_check(job=job, progress=False)
        return _answer(job, ok=200)
    if import_jobs.runs_in_background(job):
        job = import_jobs.order_import_request_commit(actor=request.user, job=job)
        return Status(202, import_jobs.report(job))
    job = import_jobs.order_import_commit(job=job, progress=False)
    return _answer(job, ok=201)


def _answer(job: ImportJob, *, ok: int):
    report = import_jobs.report(job)
    if job.status == ImportJob.Status.FAILED:
        # The report, plus the "code" every API error carries; nothing was written.
        return Status(422, {"code": "validation_error", **report})
    return Status(ok, report)


@router.get(
    "/orders/import/{job_id}",
    response={200: OrderImportReport, **ERRORS},
    summary="An order import: status, progress and report",
)
def get_order_import(request, job_id: int):
    return import_jobs.report(import_jobs.order_import_get_for_user(user=request.user, id=job_id))
