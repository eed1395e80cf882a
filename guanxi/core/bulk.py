"""Multi-row inserts without ``bulk_create``'s per-value overhead.

One piece of code for every bulk write of plain rows (imports, set-based services):
rows are dicts (attname → value); the stored form of each value is exactly what Django
would store (``field.get_db_prep_save``), computed once per field type rather than per
value where that is safe. SQLite: one prepared ``INSERT`` run with ``executemany``;
PostgreSQL: ``COPY``.
"""

import datetime
import json
import operator

from django.db import connection, models

_PLAIN_FIELDS = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.BooleanField,
    models.ForeignKey,
)


def adapter(field, memo: dict):
    """How a value of ``field`` goes to the driver: None for as it is, else a function.

    The same result as ``field.get_db_prep_save`` (so the stored form is exactly
    Django's), without its per-value overhead for JSON, dates and the import's single
    timestamp."""
    ops = connection.ops
    if isinstance(field, _PLAIN_FIELDS):
        return None
    if isinstance(field, models.JSONField) and field.encoder is None:
        # JSONField: None is SQL NULL; anything else json.dumps(value), which is what
        # ops.adapt_json_value does (PostgreSQL wraps it in Jsonb; COPY takes the text).
        empty = {"[]": json.dumps([]), "{}": json.dumps({})}

        def to_json(value):
            if value is None:
                return None
            if not value and (value.__class__ is list or value.__class__ is dict):
                return empty["[]" if value.__class__ is list else "{}"]
            return json.dumps(value)

        return to_json
    if isinstance(field, models.DateTimeField):
        prep = field.get_db_prep_save

        def to_datetime(value):
            key = (field.attname, value)
            if key not in memo:
                memo[key] = prep(value, connection)
            return memo[key]

        return to_datetime
    if isinstance(field, models.DateField):
        adapt = ops.adapt_datefield_value

        def to_date(value):
            if value is None:
                return None
            if value.__class__ is datetime.date:
                return adapt(value)
            return field.get_db_prep_save(value, connection)

        return to_date
    prep = field.get_db_prep_save
    return lambda value: prep(value, connection)


def insert(model, rows: list[dict], *, returning: bool = False) -> list[int]:
    """``bulk_create`` without its per-value overhead: rows are dicts (attname → value,
    every column given, other keys ignored); returns the new ids, in order, if asked.

    SQLite: one prepared INSERT run with ``executemany``; the ids are consecutive (the
    import holds SQLite's only write lock, and a new rowid is always the largest + 1),
    which is checked. PostgreSQL: COPY, with ids drawn from the sequence first."""
    if not rows:
        return []
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    memo: dict = {}
    adapters = [(f.attname, adapter(f, memo)) for f in fields]
    plain = [name for name, adapt in adapters if adapt is None]
    converted = [(name, adapt) for name, adapt in adapters if adapt is not None]
    fields = [f for f in fields if f.attname in plain] + [
        f for f in fields if f.attname not in plain
    ]
    pick = operator.itemgetter(*plain) if plain else (lambda r: ())
    if len(plain) == 1:
        single = pick
        pick = lambda r: (single(r),)  # noqa: E731

    def values(row):
        return (*pick(row), *[adapt(row[name]) for name, adapt in converted])

    if connection.vendor == "postgresql":
        return _copy(model, fields, rows, values, returning)
    ops = connection.ops
    table = ops.quote_name(model._meta.db_table)
    columns = ", ".join(ops.quote_name(f.column) for f in fields)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
    with connection.cursor() as cursor:
        cursor.executemany(sql, [values(row) for row in rows])
        if not returning:
            return []
        pk = ops.quote_name(model._meta.pk.column)
        cursor.execute("SELECT last_insert_rowid()")
        last = cursor.fetchone()[0]
        first = last - len(rows) + 1
        cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE {pk} BETWEEN %s AND %s", [first, last])
        if cursor.fetchone()[0] != len(rows):  # never seen; would mean ids are not ours
            raise RuntimeError(f"{model.__name__}: the new ids are not consecutive.")
    return list(range(first, last + 1))


def _copy(model, fields, rows, values, returning) -> list[int]:
    """PostgreSQL: ids drawn from the table's sequence in one query, rows sent with COPY."""
    ops = connection.ops
    table = model._meta.db_table
    ids: list[int] = []
    with connection.cursor() as cursor:
        if returning:
            pk = model._meta.pk.column
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [ops.quote_name(table), pk, len(rows)],
            )
            ids = [r[0] for r in cursor.fetchall()]
            fields = [model._meta.pk, *fields]
        columns = ", ".join(ops.quote_name(f.column) for f in fields)
        with cursor.cursor.copy(f"COPY {ops.quote_name(table)} ({columns}) FROM STDIN") as copy:
            write = copy.write_row
            if returning:
                for pk_value, row in zip(ids, rows, strict=True):
                    write((pk_value, *values(row)))
            else:
                for row in rows:
                    write(values(row))
    return ids
