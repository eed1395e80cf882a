"""``guanxi refit_clv``: refit the CLV models on all orders and store every customer's
expected purchases, P(alive) and CLV (for cron; ``--queue`` hands it to the worker)."""

import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from guanxi.analytics import clv_service


class Command(BaseCommand):
    help = "Refit BG/NBD and Gamma-Gamma on the orders and store each customer's CLV."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", help="calibration end, YYYY-MM-DD (end of that day)")
        parser.add_argument("--margin", type=float, help="0-1; default: overall gross margin")
        parser.add_argument("--months", type=int, default=12, help="horizon in months")
        parser.add_argument("--discount", type=float, default=0.01, help="monthly rate")
        parser.add_argument("--queue", action="store_true", help="enqueue for the worker")

    def handle(self, *args, as_of=None, margin=None, months=12, discount=0.01, queue=False, **o):
        if queue:
            from guanxi.analytics.clv_tasks import refit_clv

            result = refit_clv.enqueue()
            self.stdout.write(f"Refit queued ({result.id}).")
            return
        end = None
        if as_of:
            try:
                day = datetime.date.fromisoformat(as_of)
            except ValueError as exc:
                raise CommandError(f"--as-of: {exc}") from exc
            end = timezone.make_aware(datetime.datetime.combine(day, datetime.time.max))
        try:
            fit = clv_service.refit(
                as_of=end, horizon_months=months, monthly_discount_rate=discount, margin=margin
            )
        except clv_service.ServiceError as exc:
            raise CommandError(str(exc.message)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"CLV refitted on {fit.customers} customers in {fit.seconds:.1f} s: "
                f"r={fit.r:.4f} alpha={fit.alpha:.4f} a={fit.a:.4f} b={fit.b:.4f} "
                f"(LL {fit.bgnbd_loglik:.1f}); p={fit.p:.4f} q={fit.q:.4f} "
                f"gamma={fit.gamma:.4f}"
            )
        )
