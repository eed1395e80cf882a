"""What the file imports of the API (customers, order history) have in common.

POST answers with the job's report: 200 for a dry run, 201 when written, 202 when a
large file was queued for the worker (the caller polls GET …/import/{job_id}), 422 when
rows are bad and not skipped — then nothing was written. Each import says how its jobs
are checked, written and reported with an :class:`ImportFlow`."""

from collections.abc import Callable
from dataclasses import dataclass

from ninja import Schema, Status

from guanxi.api.errors import ERRORS
from guanxi.customers.models import ImportJob


class RowError(Schema):
    row: int
    column: str
    message: str


# An import answers 422 with its report (see ``answer``), not with the bare error body.
ERRORS = {status: schema for status, schema in ERRORS.items() if status != 422}


@dataclass(frozen=True)
class ImportFlow:
    check: Callable[[ImportJob], ImportJob]  # the dry run, now
    commit: Callable[[ImportJob], ImportJob]  # the import, now
    request_commit: Callable[..., ImportJob]  # (actor=, job=): now or on the worker
    runs_in_background: Callable[[ImportJob], bool]
    report: Callable[[ImportJob], dict]


def run(flow: ImportFlow, job: ImportJob, *, actor, dry_run: bool):
    """Check or import a new job and answer with its report."""
    if dry_run:
        return answer(flow, flow.check(job), ok=200)
    if flow.runs_in_background(job):
        return Status(202, flow.report(flow.request_commit(actor=actor, job=job)))
    return answer(flow, flow.commit(job), ok=201)


def answer(flow: ImportFlow, job: ImportJob, *, ok: int):
    report = flow.report(job)
    if job.status == ImportJob.Status.FAILED:
        # The report, plus the "code" every API error carries; nothing was written.
        return Status(422, {"code": "validation_error", **report})
    return Status(ok, report)
