"""``guanxi import orders FILE --store CODE``: the order history import from a shell.

Prints the report (row, column, reason for every bad row) and exits with status 1 when
rows are bad and not skipped (then nothing was written), 2 when the file cannot be read.
"""

import os

from django.core.management.base import BaseCommand, CommandError

from guanxi.accounts.models import User
from guanxi.commerce import importing
from guanxi.commerce.models import Store
from guanxi.core.errors import ServiceError


def add_order_arguments(parser) -> None:
    parser.add_argument(
        "--store", help="Code of the store the rows belong to (unless a column says)."
    )
    parser.add_argument(
        "--skip-bad-rows", action="store_true", help="Import good orders, report bad rows."
    )
    parser.add_argument("--dry-run", action="store_true", help="Check only; write nothing.")
    parser.add_argument(
        "--user", help="Username of the importing user (default: first active admin)."
    )


def run_order_import(command: BaseCommand, path: str, options: dict) -> None:
    user = _user(options.get("user"))
    store = None
    if options.get("store"):
        store = Store.objects.filter(code=options["store"].lower()).first()
        if store is None:
            raise CommandError(f"No store with code {options['store']!r}.")
    if not os.path.isfile(path):
        raise CommandError(f"No such file: {path}")
    try:
        with open(path, "rb") as handle:
            report = importing.order_import(
                actor=user,
                fileobj=handle,
                filename=os.path.basename(path),
                store=store,
                dry_run=options.get("dry_run", False),
                skip_bad_rows=options.get("skip_bad_rows", False),
            )
    except ServiceError as exc:
        details = [m for ms in exc.field_errors.values() for m in ms]
        raise CommandError(" ".join([str(exc.message), *details]), returncode=2) from exc
    write = command.stdout.write
    if report.errors:
        write("row\tcolumn\treason")
        for e in report.errors:
            write(f"{e['row']}\t{e['column']}\t{e['message']}")
    label = (
        "dry run" if options.get("dry_run") else ("import" if report.written else "import refused")
    )
    write(
        f"{label}: {report.total_rows} rows, {report.orders} orders, {report.events} events, "
        f"{report.applied} applied, {report.duplicates} already there, "
        f"{report.skipped_rows} rows skipped"
    )
    if report.errors and not options.get("skip_bad_rows"):
        raise CommandError("Some rows have errors; nothing was written.", returncode=1)


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
    help = "Import order history (one row per order line) from a CSV or XLSX file."

    def add_arguments(self, parser):
        parser.add_argument("file", help="A .csv (UTF-8 or GB18030) or .xlsx file.")
        add_order_arguments(parser)

    def handle(self, *args, **options):
        run_order_import(self, options["file"], options)
