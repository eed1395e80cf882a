"""Customer import and export over /api/v1.

POST /customers/import (multipart) answers with the report: 200 for a dry run, 201 when
written, 202 when a large file was queued for the worker (poll GET /customers/import/{id}),
422 when rows are bad and not skipped — then nothing was written."""

import json

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from ninja import File, Form, Router, Schema
from ninja.files import UploadedFile

from guanxi.api import import_jobs as flows
from guanxi.api.import_jobs import ERRORS, RowError
from guanxi.core.errors import ValidationFailed
from guanxi.customers import exporting, importing

router = Router(tags=["import / export"])

FLOW = flows.ImportFlow(
    check=lambda job: importing.import_check(job=job),
    commit=lambda job: importing.import_commit(job=job, progress=False),
    request_commit=importing.import_request_commit,
    runs_in_background=importing.runs_in_background,
    report=importing.report,
)


class ImportReport(Schema):
    job_id: int
    status: str
    filename: str
    match_by: str
    skip_bad_rows: bool
    total_rows: int
    processed_rows: int
    created: int
    updated: int
    unchanged: int
    skipped: int
    errors: list[RowError]
    message: str
    mapping: dict[str, str]
    unknown_columns: list[str]


@router.post(
    "/customers/import",
    response={200: ImportReport, 201: ImportReport, 202: ImportReport, 422: dict, **ERRORS},
    summary="Import customers from CSV or XLSX",
)
def import_customers(
    request,
    file: File[UploadedFile],
    match_by: Form[str] = "external_id",
    skip_bad_rows: Form[bool] = False,
    dry_run: Form[bool] = False,
    mapping: Form[str] = "",
):
    """``mapping`` is optional JSON: {"column in the file": "field" or "custom.<key>" or ""}."""
    parsed = None
    if mapping:
        try:
            parsed = json.loads(mapping)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) or not all(
            isinstance(v, str | type(None)) for v in parsed.values()
        ):
            raise ValidationFailed(
                {"mapping": [_('Give the mapping as JSON: {"column": "field"}.')]}
            )
    job = importing.import_start(
        actor=request.user,
        fileobj=file,
        filename=file.name,
        match_by=match_by,
        skip_bad_rows=skip_bad_rows,
        mapping=parsed,
    )
    return flows.run(FLOW, job, actor=request.user, dry_run=dry_run)


@router.get("/customers/import/{job_id}", response={200: ImportReport, **ERRORS})
def get_import(request, job_id: int):
    return importing.report(importing.import_get_for_user(user=request.user, id=job_id))


@router.get(
    "/customers/export", summary="Export customers as CSV or XLSX", response={422: dict, **ERRORS}
)
def export_customers(request, format: str = "csv"):
    """Every customer you may see that matches the list filters (same query parameters
    as GET /customers), with tags, owner and one column per custom field."""
    params = request.GET.dict()
    params.pop("format", None)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    if format == "xlsx":
        response = HttpResponse(
            exporting.export_xlsx(user=request.user, params=params),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    elif format == "csv":
        response = StreamingHttpResponse(
            exporting.export_csv(user=request.user, params=params),
            content_type="text/csv; charset=utf-8",
        )
    else:
        raise ValidationFailed({"format": [_("Use csv or xlsx.")]})
    response["Content-Disposition"] = content_disposition_header(
        True, f"customers-{stamp}.{format}"
    )
    return response
