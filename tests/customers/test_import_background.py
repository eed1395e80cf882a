"""Large imports run on the real database task backend, claimed once, with progress."""

import csv
import io

import pytest
from django.core.management import call_command

from guanxi.core.models import AuditEntry
from guanxi.customers import importing, tasks
from guanxi.customers.models import Customer, ImportJob


def big_file(n: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["姓名", "手机", "外部ID"])
    for i in range(n):
        writer.writerow([f"客户{i}", f"1390000{i:04d}", f"B{i}"])
    return out.getvalue().encode("utf-8")


@pytest.fixture
def db_tasks(settings):
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }
    settings.IMPORT_BACKGROUND_ROWS = 10


@pytest.mark.django_db(transaction=True)
def test_a_large_file_is_checked_and_imported_by_the_db_worker(db_tasks, manager):
    from django_tasks_db.models import DBTaskResult

    job = importing.import_start(
        actor=manager, fileobj=io.BytesIO(big_file(50)), filename="big.csv"
    )
    importing.import_request_check(job=job)  # queued after commit (autocommit here)
    assert DBTaskResult.objects.count() == 1
    call_command("db_worker", "--batch", "--no-startup-delay")
    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.created_count) == ("validated", 50, 50)

    importing.import_request_commit(actor=manager, job=job)
    assert Customer.objects.count() == 0  # nothing happens until a worker runs
    call_command("db_worker", "--batch", "--no-startup-delay")

    job.refresh_from_db()
    assert (job.status, job.total_rows, job.processed_rows) == ("done", 50, 50)
    assert (job.created_count, job.skipped_count) == (50, 0)
    assert Customer.objects.count() == 50
    assert AuditEntry.objects.filter(action="import", object_id=job.pk).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_job_already_claimed_is_not_run_twice(db_tasks, manager):
    job = importing.import_start(
        actor=manager, fileobj=io.BytesIO(big_file(20)), filename="big.csv"
    )
    importing.import_request_commit(actor=manager, job=job)
    importing.import_request_commit(actor=manager, job=job)  # a double click
    call_command("db_worker", "--batch", "--no-startup-delay")

    assert Customer.objects.count() == 20
    assert AuditEntry.objects.filter(action="import").count() == 1
    assert tasks.run_import.call(job.pk) == "done"  # a late duplicate finds it done
    assert Customer.objects.count() == 20


@pytest.mark.django_db(transaction=True)
def test_progress_is_visible_outside_the_task_while_rows_are_checked(
    db_tasks, manager, monkeypatch
):
    seen = []
    real = importing._Checker.check_chunk

    def spy(self, chunk, plan):
        seen.append(ImportJob.objects.get(pk=self.job.pk).processed_rows)
        return real(self, chunk, plan)

    monkeypatch.setattr(importing, "CHUNK", 10)
    monkeypatch.setattr(importing._Checker, "check_chunk", spy)
    job = importing.import_start(
        actor=manager, fileobj=io.BytesIO(big_file(30)), filename="big.csv"
    )
    importing.import_commit(job=job)

    assert seen == [0, 10, 20]
    job.refresh_from_db()
    assert (job.status, job.processed_rows) == ("done", 30)
