"""``guanxi rfm_recompute``: score every customer with orders and assign RFM segments."""

from django.core.management.base import BaseCommand

from guanxi.analytics import rfm


class Command(BaseCommand):
    help = "Recompute the RFM scores and segments of every customer with orders."

    def handle(self, *args, **options):
        import time

        started = time.monotonic()
        summary = rfm.rfm_recompute()
        seconds = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(f"RFM of {summary['customers']} customers in {seconds:.2f} s.")
        )
