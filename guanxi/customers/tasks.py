"""Background work for customers: large imports run here, with progress on the job."""

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django_tasks import task

from guanxi.customers import importing
from guanxi.customers.models import ImportJob


@task()
def check_import(job_id: int) -> str:
    """The dry run of a large file. Claims the job (pending → checking); a second worker
    finds it claimed and does nothing."""
    job = ImportJob.objects.select_related("created_by").filter(pk=job_id).first()
    if job is None:
        return "missing"
    # The report is stored as text: write it in the importer's language.
    with translation.override(_language_of(job)):
        return importing.import_check(job=job).status


@task()
def run_import(job_id: int) -> str:
    """Check and write a large file. Claims the job (checked → running) with a
    conditional update, so two workers never import it twice."""
    job = ImportJob.objects.select_related("created_by").filter(pk=job_id).first()
    if job is None:
        return "missing"
    with translation.override(_language_of(job)):
        return importing.import_commit(job=job).status


def _language_of(job: ImportJob) -> str:
    return job.created_by.language or translation.get_language() or settings.LANGUAGE_CODE


def enqueue_check(job: ImportJob) -> None:
    transaction.on_commit(lambda: check_import.enqueue(job.pk))


def enqueue_import(job: ImportJob) -> None:
    transaction.on_commit(lambda: run_import.enqueue(job.pk))
