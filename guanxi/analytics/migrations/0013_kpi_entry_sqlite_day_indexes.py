"""Two indexes of the KPI ledger on SQLite only, for the dashboard of a team or a sales rep
(``kpi._entry_figures``, which on SQLite reads the day range of the visible customers):

* led by the customer and the placing day, covering every column the dashboard sums, so
  each visible customer is looked up once for the entries placed in the periods (it was
  twice, once per paid and once per placed day: a manager of 105k customers went from
  380–430 to 230–300 ms);
* partial, the entries paid more than two days after their placing or before it, led by
  the payment day, so those are read by day (its predicate is ``kpi._PAID_APART_SQL``;
  the two must stay the same, or SQLite cannot use it). PostgreSQL has its own pair
  (``0011_kpi_entry_day_indexes``).

Not in the model's ``Meta.indexes``: SQLite only, and a partial predicate that compares
two columns."""

from django.db import migrations

TABLE = "analytics_kpiorderentry"
SUMMED = (
    "store_id, chained, sales, items, refunds, profit, "
    "prev_day, prev2_day, store_prev_day, store_prev2_day, new_day"
)
CREATE = [
    f"CREATE INDEX IF NOT EXISTS kpi_entry_placed_wide_idx ON {TABLE} "
    f"(customer_id, placed_day, paid_day, {SUMMED}, unpaid_amount)",
    f"CREATE INDEX IF NOT EXISTS kpi_entry_paid_apart_idx ON {TABLE} "
    f"(paid_day, customer_id, placed_day, {SUMMED}) "
    "WHERE (paid_day < placed_day OR paid_day > date(placed_day, '+2 days'))",
]
DROP = [
    "DROP INDEX IF EXISTS kpi_entry_placed_wide_idx",
    "DROP INDEX IF EXISTS kpi_entry_paid_apart_idx",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "sqlite":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0012_customer_rfm"),
    ]

    operations = [
        migrations.RunPython(_run(CREATE), _run(DROP)),
    ]
