"""The order import pages: thin views over ``import_jobs``.

Upload (file, store, skip bad rows) → the job page with the dry-run report (row, column,
reason; orders, lines, new customers) and the Import button → the result on the same page.
Large files are checked and imported by the worker; the page polls the progress with htmx."""

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from guanxi.accounts.roles import Action, require
from guanxi.commerce import import_jobs
from guanxi.core.errors import ServiceError, ValidationFailed
from guanxi.customers.models import ImportJob
from guanxi.web.decorators import service_errors


def _messages(exc: ServiceError) -> list[str]:
    messages = [str(m) for ms in exc.field_errors.values() for m in ms]
    return messages or [str(exc.message)]


@require_http_methods(["GET", "POST"])
@service_errors
def import_upload(request):
    require(request.user, Action.IMPORT)
    errors: list[str] = []
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            errors.append(_("Choose a CSV or XLSX file."))
        else:
            try:
                job = import_jobs.order_import_start(
                    actor=request.user,
                    fileobj=upload,
                    filename=upload.name,
                    store=request.POST.get("store", ""),
                    skip_bad_rows=bool(request.POST.get("skip_bad_rows")),
                )
                import_jobs.order_import_request_check(job=job)
                return redirect("commerce:order_import_job", job_id=job.pk)
            except ServiceError as exc:  # ValidationFailed, UnreadableFile
                errors += _messages(exc)
    context = {
        "errors": errors,
        "stores": import_jobs.import_stores(),
        "store": request.POST.get("store", ""),
        "skip_bad_rows": bool(request.POST.get("skip_bad_rows")),
        "recent": [
            {"job": job, "store": import_jobs.job_store(job), **import_jobs.job_counts(job)}
            for job in import_jobs.order_import_recent(user=request.user)
        ],
    }
    return render(request, "commerce/import.html", context, status=422 if errors else 200)


@require_http_methods(["GET", "POST"])
@service_errors
def import_job(request, job_id: int):
    require(request.user, Action.IMPORT)
    job = import_jobs.order_import_get_for_user(user=request.user, id=job_id)
    errors: list[str] = []
    if request.method == "POST":
        try:
            import_jobs.order_import_request_commit(
                actor=request.user,
                job=job,
                skip_bad_rows=bool(request.POST.get("skip_bad_rows")),
            )
            return redirect("commerce:order_import_job", job_id=job.pk)
        except ValidationFailed as exc:
            errors += _messages(exc)
        job.refresh_from_db()
    context = _job_context(job)
    context["errors"] = errors
    if request.headers.get("HX-Request") and request.GET.get("partial"):
        if context["in_progress"]:
            return render(request, "commerce/import_progress.html", context)
        response = HttpResponse("")
        response["HX-Refresh"] = "true"
        return response
    return render(request, "commerce/import_job.html", context, status=422 if errors else 200)


def _job_context(job: ImportJob) -> dict:
    counts = import_jobs.job_counts(job)
    reported_rows = len({e["row"] for e in job.errors})
    return {
        "job": job,
        "store": import_jobs.job_store(job),
        "counts": counts,
        "known_orders": counts["orders"] - counts["new_orders"],
        "in_progress": job.status in import_jobs.IN_PROGRESS
        or (job.status == ImportJob.Status.PENDING and import_jobs.runs_in_background(job)),
        "has_bad_rows": bool(job.errors),
        "bad_rows": reported_rows,
        "more_errors": max(0, len(job.errors) - len(job.errors[:500])),
        "shown_errors": job.errors[:500],
    }
