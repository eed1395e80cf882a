"""Import and export pages: thin views over ``importing`` and ``exporting``.

Import is three steps on two pages: upload (file, match key, skip bad rows) → the job
page (detected column mapping the user can change, dry-run report, Import button) →
progress and final report on the same page, polled with htmx while the worker runs."""

import json

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from guanxi.core.errors import ValidationFailed
from guanxi.customers import exporting, importing
from guanxi.customers.models import CustomField, ImportJob
from guanxi.web import import_jobs as pages
from guanxi.web.decorators import service_errors

IN_PROGRESS = {ImportJob.Status.VALIDATING, ImportJob.Status.RUNNING}


@require_http_methods(["GET", "POST"])
@service_errors
def import_upload(request):
    def start(upload) -> ImportJob:
        job = importing.import_start(
            actor=request.user,
            fileobj=upload,
            filename=upload.name,
            match_by=request.POST.get("match_by") or "external_id",
            skip_bad_rows=bool(request.POST.get("skip_bad_rows")),
        )
        return importing.import_request_check(job=job)

    return pages.upload_page(
        request,
        start=start,
        job_url="customers:import_job",
        template="customers/import.html",
        context=lambda: {
            "recent": ImportJob.objects.filter(created_by=request.user, kind="customers").order_by(
                "-created_at"
            )[:10],
            "match_choices": _match_choices(),
            "match_by": request.POST.get("match_by", "external_id"),
        },
    )


def _match_choices():
    return [
        ("external_id", _("External ID")),
        ("phone", _("Phone")),
        ("email", _("E-mail")),
    ]


@require_http_methods(["GET", "POST"])
@service_errors
def import_job(request, job_id: int):
    def act(job: ImportJob) -> None:
        action = request.POST.get("action")
        if action == "remap":
            mapping = {
                header: request.POST.get(f"map_{i}", "")
                for i, header in enumerate(importing.job_headers(job))
            }
            importing.import_remap(
                actor=request.user,
                job=job,
                mapping=mapping,
                match_by=request.POST.get("match_by") or None,
            )
            importing.import_request_check(job=job)
        elif action == "commit":
            importing.import_request_commit(
                actor=request.user,
                job=job,
                skip_bad_rows=bool(request.POST.get("skip_bad_rows")),
            )

    return pages.job_page(
        request,
        job_id,
        get=importing.import_get_for_user,
        act=act,
        job_url="customers:import_job",
        templates=("customers/import_job.html", "customers/import_progress.html"),
        context=_job_context,
    )


def _job_context(job: ImportJob) -> dict:
    fields = list(CustomField.objects.filter(active=True))
    headers = importing.job_headers(job)
    unknown = set(importing.unknown_columns(headers, job.mapping, fields))
    rows = [
        {"index": i, "header": h, "target": job.mapping[h], "unknown": h in unknown}
        for i, h in enumerate(headers)
    ]
    report = importing.report(job)
    return {
        "job": job,
        "report": report,
        "mapping_rows": rows,
        "targets": importing.mapping_targets(fields),
        "match_choices": _match_choices(),
        "in_progress": job.status in IN_PROGRESS
        or (job.status == ImportJob.Status.PENDING and importing.runs_in_background(job)),
        "has_bad_rows": bool(job.skipped_count),
        "more_errors": max(0, job.skipped_count - len({e["row"] for e in job.errors})),
    }


@service_errors
def import_template(request):
    data = exporting.template_csv(user=request.user)
    response = HttpResponse(data, content_type="text/csv; charset=utf-8")
    name = _("customers-import-template") + ".csv"
    response["Content-Disposition"] = _attachment(name)
    return response


@service_errors
def export(request):
    params = request.GET.dict()
    fmt = params.pop("format", "csv")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    try:
        if fmt == "xlsx":
            data = exporting.export_xlsx(user=request.user, params=params)
            response = HttpResponse(
                data,
                content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
        else:
            response = StreamingHttpResponse(
                exporting.export_csv(user=request.user, params=params),
                content_type="text/csv; charset=utf-8",
            )
            fmt = "csv"
    except ValidationFailed as exc:
        return HttpResponse(
            json.dumps({"errors": exc.field_errors}, ensure_ascii=False),
            status=422,
            content_type="application/json",
        )
    response["Content-Disposition"] = _attachment(f"customers-{stamp}.{fmt}")
    return response


def _attachment(name: str) -> str:
    return content_disposition_header(True, name)
