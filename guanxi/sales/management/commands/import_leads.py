"""``guanxi import leads FILE``: the lead import of the page and the API, from a shell.

Prints the report (row, column, reason for every bad row) and exits with status 1 when
rows are bad and not skipped (then nothing was written), 2 when the file cannot be read.
"""

import os

from django.core.management.base import BaseCommand, CommandError

from guanxi.accounts.models import User
from guanxi.core.errors import ServiceError
from guanxi.customers.models import ImportJob
from guanxi.sales import importing_leads


def add_lead_arguments(parser) -> None:
    parser.add_argument(
        "--lead-match-by",
        default="phone",
        choices=list(importing_leads.MATCH_KEYS),
        help="Leads: column that finds leads already there (default: phone).",
    )


def run_lead_import(command: BaseCommand, path: str, options: dict) -> None:
    user = _user(options.get("user"))
    if not os.path.isfile(path):
        raise CommandError(f"No such file: {path}")
    match_by = options.get("lead_match_by") or "phone"
    try:
        with open(path, "rb") as handle:
            job = importing_leads.import_start(
                actor=user,
                fileobj=handle,
                filename=os.path.basename(path),
                match_by=match_by,
                skip_bad_rows=options.get("skip_bad_rows", False),
            )
        if options.get("dry_run"):
            job = importing_leads.import_check(job=job)
        else:
            job = importing_leads.import_commit(job=job, progress=False)
    except ServiceError as exc:
        details = [m for ms in exc.field_errors.values() for m in ms]
        raise CommandError(" ".join([str(exc.message), *details]), returncode=2) from exc
    report = importing_leads.report(job)
    write = command.stdout.write
    if job.errors:
        write("row\tcolumn\treason")
        for e in job.errors:
            write(f"{e['row']}\t{e['column']}\t{e['message']}")
    label = "dry run" if options.get("dry_run") else "import"
    write(
        f"{label} {job.status}: {report['total_rows']} rows, {report['created']} created, "
        f"{report['updated']} updated, {report['unchanged']} unchanged, {report['skipped']} bad"
    )
    if job.message:
        write(job.message)
    if job.status == ImportJob.Status.FAILED or (job.skipped_count and not job.skip_bad_rows):
        raise CommandError(job.message or "Some rows have errors.", returncode=1)


def _user(username: str | None) -> User:
    users = User.objects.filter(is_active=True)
    if username:
        user = users.filter(username=username).first()
        if user is None:
            raise CommandError(f"No active user {username!r}.")
        return user
    user = users.filter(role="admin").order_by("pk").first()
    if user is None:
        raise CommandError("There is no active administrator; pass --user USERNAME.")
    return user


class Command(BaseCommand):
    help = "Import leads from a CSV or XLSX file."

    def add_arguments(self, parser):
        parser.add_argument("file", help="A .csv (UTF-8 or GB18030) or .xlsx file.")
        add_lead_arguments(parser)
        parser.add_argument("--skip-bad-rows", action="store_true")
        parser.add_argument("--dry-run", action="store_true")
        parser.add_argument("--user", help="Username of the importing user.")

    def handle(self, *args, **options):
        run_lead_import(self, options["file"], options)
