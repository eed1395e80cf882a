"""PostgreSQL only: text_pattern_ops indexes so LIKE 'x%' searches use an index
whatever the database collation. SQLite searches by range on the plain indexes."""

from django.db import migrations

INDEXES = {
    "cust_name_prefix": "name",
    "cust_pinyin_prefix": "name_pinyin",
    "cust_initials_prefix": "name_initials",
    "cust_phone_prefix": "phone",
    "cust_email_prefix": "email",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, column in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON customers_customer ({column} text_pattern_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("customers", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
