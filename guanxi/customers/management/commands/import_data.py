"""``guanxi import customers FILE``: the same import as the page and the API, from a shell.

Prints the report (row, column, reason for every bad row) and exits with status 1 when
rows are bad and not skipped (then nothing was written), 2 when the file cannot be read.
"""

import os

from django.core.management.base import BaseCommand, CommandError

from guanxi.accounts.models import User
from guanxi.core.errors import ServiceError
from guanxi.customers import importing
from guanxi.customers.models import ImportJob


class Command(BaseCommand):
    help = "Import customers from a CSV or XLSX file."

    def add_arguments(self, parser):
        parser.add_argument(
            "kind", choices=["customers", "orders", "leads"], help="What the file holds."
        )
        parser.add_argument("file", help="A .csv (UTF-8 or GB18030) or .xlsx file.")
        parser.add_argument(
            "--match-by",
            default="external_id",
            choices=list(importing.MATCH_KEYS),
            help="Column that finds existing customers to update (default: external_id).",
        )
        parser.add_argument(
            "--skip-bad-rows", action="store_true", help="Import good rows, report bad ones."
        )
        parser.add_argument("--dry-run", action="store_true", help="Check only; write nothing.")
        parser.add_argument(
            "--user",
            help="Username of the importing user (default: the first active administrator).",
        )
        parser.add_argument("--store", help="Orders: code of the store the rows belong to.")
        from guanxi.sales.management.commands.import_leads import add_lead_arguments

        add_lead_arguments(parser)  # leads (sales)

    def handle(self, *args, **options):
        if options["kind"] == "leads":  # leads (sales)
            from guanxi.sales.management.commands.import_leads import run_lead_import

            return run_lead_import(self, options["file"], options)
        if options["kind"] == "orders":
            from guanxi.commerce.management.commands.import_orders import run_order_import

            return run_order_import(self, options["file"], options)
        user = self._user(options.get("user"))
        path = options["file"]
        if not os.path.isfile(path):
            raise CommandError(f"No such file: {path}")
        try:
            with open(path, "rb") as handle:
                job = importing.import_start(
                    actor=user,
                    fileobj=handle,
                    filename=os.path.basename(path),
                    match_by=options["match_by"],
                    skip_bad_rows=options["skip_bad_rows"],
                )
            if options["dry_run"]:
                job = importing.import_check(job=job)
            else:
                job = importing.import_commit(job=job, progress=False)
        except ServiceError as exc:
            details = [m for ms in exc.field_errors.values() for m in ms]
            raise CommandError(" ".join([str(exc.message), *details]), returncode=2) from exc
        self._print(job, dry_run=options["dry_run"])
        if job.status == ImportJob.Status.FAILED or (job.skipped_count and not job.skip_bad_rows):
            raise CommandError(job.message or "Some rows have errors.", returncode=1)

    def _user(self, username: str | None) -> User:
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

    def _print(self, job: ImportJob, *, dry_run: bool) -> None:
        report = importing.report(job)
        write = self.stdout.write
        if job.errors:
            write("row\tcolumn\treason")
            for e in job.errors:
                write(f"{e['row']}\t{e['column']}\t{e['message']}")
        label = "dry run" if dry_run else "import"
        write(
            f"{label} {job.status}: {report['total_rows']} rows, {report['created']} created, "
            f"{report['updated']} updated, {report['unchanged']} unchanged, "
            f"{report['skipped']} bad"
        )
        if job.message:
            write(job.message)
