"""``guanxi rebuild_stats``: recompute every customer's order statistics from the orders
(set-based SQL, one range of customer ids per transaction)."""

import time

from django.core.management.base import BaseCommand

from guanxi.analytics import stats


class Command(BaseCommand):
    help = "Recompute every customer's order statistics from the orders."

    def add_arguments(self, parser):
        parser.add_argument(
            "--chunk", type=int, default=stats.CHUNK, help="customer ids per transaction"
        )

    def handle(self, *args, chunk: int, verbosity: int = 1, **options):
        started = time.monotonic()

        def progress(done, total):
            if verbosity > 1:
                self.stdout.write(f"{done}/{total} customer ids")

        count = stats.rebuild(chunk=chunk, progress=progress)
        seconds = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(f"Statistics of {count} customers rebuilt in {seconds:.1f} s.")
        )
