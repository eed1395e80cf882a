"""Order history import over /api/v1.

POST /orders/import (multipart: file, store, skip_bad_rows, dry_run) answers with the
report: 200 for a dry run, 201 when written, 202 when a large file was queued for the
worker (poll GET /orders/import/{job_id}), 422 when rows are bad and not skipped — then
nothing was written. A file that cannot be read, an unknown store or a missing permission
get the usual error body ({"code", "message", "errors"})."""

from ninja import File, Form, Router, Schema
from ninja.files import UploadedFile

from guanxi.api import import_jobs as flows
from guanxi.api.import_jobs import ERRORS, RowError
from guanxi.commerce import import_jobs

router = Router(tags=["orders"])

FLOW = flows.ImportFlow(
    check=lambda job: import_jobs.order_import_check(job=job, progress=False),
    commit=lambda job: import_jobs.order_import_commit(job=job, progress=False),
    request_commit=import_jobs.order_import_request_commit,
    runs_in_background=import_jobs.runs_in_background,
    report=import_jobs.report,
)


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
    return flows.run(FLOW, job, actor=request.user, dry_run=dry_run)


@router.get(
    "/orders/import/{job_id}",
    response={200: OrderImportReport, **ERRORS},
    summary="An order import: status, progress and report",
)
def get_order_import(request, job_id: int):
    return import_jobs.report(import_jobs.order_import_get_for_user(user=request.user, id=job_id))
