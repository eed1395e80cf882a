"""Background work for commerce: large order imports run here, with progress on the job."""

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django_tasks import task

from guanxi.commerce import import_jobs
from guanxi.customers.models import ImportJob


def _job(job_id: int) -> ImportJob | None:
    return (
        ImportJob.objects.select_related("created_by")
        .filter(pk=job_id, kind=import_jobs.KIND)
        .first()
    )


@task()
def check_order_import(job_id: int) -> str:
    """The dry run of a large order file. Claims the job (pending → checking); a second
    worker finds it claimed and does nothing."""
    job = _job(job_id)
    if job is None:
        return "missing"
    # The report is stored as text: write it in the importer's language.
    with translation.override(_language_of(job)):
        return import_jobs.order_import_check(job=job).status


@task()
def run_order_import(job_id: int) -> str:
    """Check and write a large order file. Claims the job (checked → running) with a
    conditional update, so two workers never import it twice."""
    job = _job(job_id)
    if job is None:
        return "missing"
    with translation.override(_language_of(job)):
        return import_jobs.order_import_commit(job=job).status


def _language_of(job: ImportJob) -> str:
    return job.created_by.language or translation.get_language() or settings.LANGUAGE_CODE


def enqueue_check(job: ImportJob) -> None:
    transaction.on_commit(lambda: check_order_import.enqueue(job.pk))


def enqueue_import(job: ImportJob) -> None:
    transaction.on_commit(lambda: run_order_import.enqueue(job.pk))
