"""Two indexes of the KPI ledger led by the day, on PostgreSQL only, for the dashboard of
a team (``kpi._entry_rows_by_day``): the ledger's entries placed in a range of days,
with every column the dashboard sums (one range read instead of an index probe per
visible customer), and, partial, the entries paid more than two days after their
placing or before it (its predicate is ``kpi._PAID_APART_SQL``; the two must stay the
same, or the planner cannot use it).

Not in the model's ``Meta.indexes``: ``INCLUDE`` columns, a partial predicate that
compares two columns, and PostgreSQL only. SQLite keeps reading per customer (its
probes meet the target, and each index is paid for by every write of the ledger).
Built ``CONCURRENTLY``: the ledger has a row per order (5M in the bench) and takes
writes from the statistics consumer meanwhile."""

from django.db import migrations

TABLE = "analytics_kpiorderentry"
SUMMED = (
    "store_id, chained, sales, items, refunds, profit, "
    "prev_day, prev2_day, store_prev_day, store_prev2_day, new_day"
)
CREATE = [
    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS kpi_entry_day_cover_idx ON {TABLE} "
    f"(placed_day) INCLUDE (customer_id, paid_day, unpaid_amount, {SUMMED})",
    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS kpi_entry_paid_apart_idx ON {TABLE} "
    f"(paid_day) INCLUDE (customer_id, placed_day, {SUMMED}) "
    "WHERE (paid_day < placed_day OR paid_day > placed_day + 2)",
]
DROP = [
    "DROP INDEX CONCURRENTLY IF EXISTS kpi_entry_day_cover_idx",
    "DROP INDEX CONCURRENTLY IF EXISTS kpi_entry_paid_apart_idx",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("analytics", "0010_kpi_entry_scope_indexes"),
    ]

    operations = [
        migrations.RunPython(_run(CREATE), _run(DROP)),
    ]
