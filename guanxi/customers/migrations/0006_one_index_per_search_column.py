"""One index per search column, and a GIN index for custom-field filters (PostgreSQL).

Before: phone and e-mail had three indexes each on PostgreSQL (``db_index`` made a plain
one and a ``varchar_pattern_ops`` one, migration 0002 a ``text_pattern_ops`` one), the
pinyin and the initials two each; every insert paid for all of them. Now each of these
columns has one index, ``cust_<column>_prefix``: ``text_pattern_ops`` on PostgreSQL
(it serves "=" and LIKE 'x%'), a plain index on SQLite (it serves "=" and the range a
prefix search becomes there). The state change is the model's; the database work is
done by hand so that SQLite does not rebuild the whole table for an index change.

PostgreSQL only, outside the model state (like 0002): ``cust_custom_gin``, a GIN index
(``jsonb_path_ops``) on ``custom`` for ``custom @> {"key": value}`` — the form the list
filter by a custom field takes on PostgreSQL (``selectors._custom_equals``).
"""

from django.db import migrations, models

TABLE = "customers_customer"
PREFIX = {
    "name_pinyin": "cust_pinyin_prefix",
    "name_initials": "cust_initials_prefix",
    "phone": "cust_phone_prefix",
    "email": "cust_email_prefix",
}
OLD_NAMED = {"name_pinyin": "cust_pinyin_idx", "name_initials": "cust_initials_idx"}
GIN = "cust_custom_gin"


def _single_column_indexes(schema_editor, column: str) -> list[str]:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, TABLE)
    return sorted(
        name
        for name, info in constraints.items()
        if info["index"]
        and not info["unique"]
        and not info["primary_key"]
        and info["columns"] == [column]
        and name != PREFIX[column]
    )


def forward(apps, schema_editor):
    postgres = schema_editor.connection.vendor == "postgresql"
    opclass = " text_pattern_ops" if postgres else ""
    for column, name in PREFIX.items():
        for old in _single_column_indexes(schema_editor, column):
            schema_editor.execute(f'DROP INDEX IF EXISTS "{old}"')
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON "{TABLE}" ("{column}"{opclass})'
        )
    if postgres:
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{GIN}" ON "{TABLE}" USING gin (custom jsonb_path_ops)'
        )


def backward(apps, schema_editor):
    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{GIN}"')
    model = apps.get_model("customers", "Customer")
    for column, name in PREFIX.items():
        if column in OLD_NAMED:
            schema_editor.execute(f'CREATE INDEX "{OLD_NAMED[column]}" ON "{TABLE}" ("{column}")')
        else:  # what db_index=True made
            field = model._meta.get_field(column)
            for sql in schema_editor._field_indexes_sql(model, field):  # with "_like"
                schema_editor.execute(sql)
        if not postgres:  # on PostgreSQL migration 0002 owns the prefix indexes
            schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("customers", "0005_drop_redundant_customer_indexes")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="customer", name="cust_pinyin_idx"),
                migrations.RemoveIndex(model_name="customer", name="cust_initials_idx"),
                migrations.AlterField(
                    model_name="customer",
                    name="email",
                    field=models.CharField(blank=True, max_length=254, verbose_name="e-mail"),
                ),
                migrations.AlterField(
                    model_name="customer",
                    name="phone",
                    field=models.CharField(blank=True, max_length=32, verbose_name="phone"),
                ),
                *[
                    migrations.AddIndex(
                        model_name="customer",
                        index=models.Index(
                            fields=[column], name=name, opclasses=["text_pattern_ops"]
                        ),
                    )
                    for column, name in PREFIX.items()
                ],
            ],
            database_operations=[migrations.RunPython(forward, backward)],
        )
    ]
