"""The order import pages: thin views over ``import_jobs``.

Upload (file, store, skip bad rows) → the job page with the dry-run report (row, column,
reason; orders, lines, new customers) and the Import button → the result on the same page.
Large files are checked and imported by the worker; the page polls the progress with htmx."""

from django.views.decorators.http import require_http_methods

from guanxi.commerce import import_jobs
from guanxi.customers.models import ImportJob
from guanxi.web import import_jobs as pages
from guanxi.web.decorators import service_errors


@require_http_methods(["GET", "POST"])
@service_errors
def import_upload(request):
    def start(upload) -> ImportJob:
        job = import_jobs.order_import_start(
            actor=request.user,
            fileobj=upload,
            filename=upload.name,
            store=request.POST.get("store", ""),
            skip_bad_rows=bool(request.POST.get("skip_bad_rows")),
        )
        return import_jobs.order_import_request_check(job=job)

    return pages.upload_page(
        request,
        start=start,
        job_url="commerce:order_import_job",
        template="commerce/import.html",
        context=lambda: {
            "stores": import_jobs.import_stores(),
            "store": request.POST.get("store", ""),
            "skip_bad_rows": bool(request.POST.get("skip_bad_rows")),
            "recent": [
                {"job": job, "store": import_jobs.job_store(job), **import_jobs.job_counts(job)}
                for job in import_jobs.order_import_recent(user=request.user)
            ],
        },
    )


@require_http_methods(["GET", "POST"])
@service_errors
def import_job(request, job_id: int):
    def commit(job: ImportJob) -> None:
        import_jobs.order_import_request_commit(
            actor=request.user, job=job, skip_bad_rows=bool(request.POST.get("skip_bad_rows"))
        )

    return pages.job_page(
        request,
        job_id,
        get=import_jobs.order_import_get_for_user,
        act=commit,
        job_url="commerce:order_import_job",
        templates=("commerce/import_job.html", "commerce/import_progress.html"),
        context=_job_context,
    )


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
