"""``guanxi apply_churn_rules``: move customers past their store's thresholds to
dormant / lost (schedule it daily, e.g. from cron)."""

from django.core.management.base import BaseCommand

from guanxi.analytics import churn


class Command(BaseCommand):
    help = "Apply the churn rules: dormant / lost stages from the stores' thresholds."

    def handle(self, *args, **options):
        result = churn.apply_churn_rules()
        self.stdout.write(
            self.style.SUCCESS(
                f"{result['dormant']} dormant, {result['lost']} lost in {result['seconds']:.1f} s."
            )
        )
