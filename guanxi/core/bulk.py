"""Multi-row inserts without ``bulk_create``'s per-value overhead.

One piece of code for every bulk write of plain rows (imports, set-based services):
rows are dicts (attname → value); the stored form of each value is exactly what Django
would store (``field.get_db_prep_save``), computed once per field type rather than per
value where that is safe. SQLite: one prepared ``INSERT`` run with ``executemany``;
PostgreSQL: ``COPY``.

Large writers (the imports) split the work in two, so that Python and the database work
at the same time on the two halves of the machine: ``Table.convert`` turns dicts into
the driver's tuples and needs no database, so it may run in another thread
(``ahead``); ``Table.write`` sends them, in the thread that owns the transaction. New
ids are reserved first (``reserve_ids``), so rows that point at the new rows (audit
entries, events, tag links) can be built before the rows are written.
"""

import datetime
import json
import operator
import queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence

from django.db import connection, models

_PLAIN_FIELDS = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.BooleanField,
    models.ForeignKey,
)
# While ``ahead`` runs a producer thread: how soon a thread waiting for Python's lock
# gets it (the default 5 ms would idle the writer behind the busy producer after each
# round trip to the server).
SWITCH_INTERVAL = 0.00002


def adapter(field, memo: dict, db=connection):
    """How a value of ``field`` goes to the driver: None for as it is, else a function.

    The same result as ``field.get_db_prep_save`` (so the stored form is exactly
    Django's), without its per-value overhead for JSON, dates and the import's single
    timestamp. ``db`` is the connection the rows are for (bound here, so the function
    may run in another thread)."""
    ops = db.ops
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
                memo[key] = prep(value, db)
            return memo[key]

        return to_datetime
    if isinstance(field, models.DateField):
        adapt = ops.adapt_datefield_value

        def to_date(value):
            if value is None:
                return None
            if value.__class__ is datetime.date:
                return adapt(value)
            return field.get_db_prep_save(value, db)

        return to_date
    prep = field.get_db_prep_save
    return lambda value: prep(value, db)


class Table:
    """The rows of one model as the driver takes them.

    ``with_ids``: the rows carry their primary key (from ``reserve_ids``) under the
    pk's attname; otherwise the database numbers them."""

    def __init__(self, model, *, with_ids: bool = False, db=connection):
        self.model = model
        self.db = db
        memo: dict = {}
        fields = [f for f in model._meta.concrete_fields if with_ids or not f.primary_key]
        adapters = [(f.attname, adapter(f, memo, db)) for f in fields]
        plain = [name for name, adapt in adapters if adapt is None]
        converted = [(name, adapt) for name, adapt in adapters if adapt is not None]
        self.fields = [f for f in fields if f.attname in plain] + [
            f for f in fields if f.attname not in plain
        ]
        pick = operator.itemgetter(*plain) if plain else (lambda r: ())
        if len(plain) == 1:
            single = pick
            pick = lambda r: (single(r),)  # noqa: E731
        self._pick, self._converted = pick, converted

    def convert(self, rows: Iterable[dict]) -> list[tuple]:
        """Dicts (attname → value, every column given, other keys ignored) → tuples in
        ``self.fields`` order. Pure Python: safe in any thread."""
        pick, converted = self._pick, self._converted
        if not converted:
            return [pick(row) for row in rows]
        return [(*pick(row), *[adapt(row[name]) for name, adapt in converted]) for row in rows]

    def write(self, values: list[tuple]) -> None:
        """Insert converted rows, in the calling thread's transaction."""
        if not values:
            return
        ops = self.db.ops
        table = ops.quote_name(self.model._meta.db_table)
        columns = ", ".join(ops.quote_name(f.column) for f in self.fields)
        if self.db.vendor == "postgresql":
            with self.db.cursor() as cursor:
                copy_rows(cursor, table, [f.column for f in self.fields], values)
            return
        placeholders = ", ".join(["%s"] * len(self.fields))
        with self.db.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", values)


def copy_rows(cursor, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> None:
    """PostgreSQL: ``COPY`` these tuples (in ``columns`` order, driver values) into the
    (quoted) table, through a Django cursor."""
    quote = cursor.db.ops.quote_name
    copy_sql = f"COPY {table} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
    with cursor.cursor.copy(copy_sql) as copy:
        write = copy.write_row
        for row in rows:
            write(row)


def reserve_ids(model, count: int, db=connection) -> Sequence[int]:
    """``count`` new primary keys for ``model``, never handed out again, in order.

    PostgreSQL: drawn from the table's sequence. SQLite: Django's ids are AUTOINCREMENT,
    so the next id is one past the largest ever handed out, kept in ``sqlite_sequence``;
    moving that mark forward reserves the range (and takes the write lock)."""
    if count <= 0:
        return []
    table = model._meta.db_table
    with db.cursor() as cursor:
        if db.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [db.ops.quote_name(table), model._meta.pk.column, count],
            )
            return [r[0] for r in cursor.fetchall()]
        cursor.execute(
            "UPDATE sqlite_sequence SET seq = seq + %s WHERE name = %s RETURNING seq",
            [count, table],
        )
        found = cursor.fetchone()
        if found is None:  # nothing ever inserted: the largest id is 0
            pk = db.ops.quote_name(model._meta.pk.column)
            cursor.execute(f"SELECT COALESCE(MAX({pk}), 0) FROM {db.ops.quote_name(table)}")
            last = cursor.fetchone()[0] + count
            cursor.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, last])
        else:
            last = found[0]
    return range(last - count + 1, last + 1)


def insert(model, rows: list[dict], *, returning: bool = False) -> list[int]:
    """``bulk_create`` without its per-value overhead: rows are dicts (attname → value,
    every column given, other keys ignored); returns the new ids, in order, if asked."""
    if not rows:
        return []
    if not returning:
        table = Table(model)
        table.write(table.convert(rows))
        return []
    ids = reserve_ids(model, len(rows))
    pk = model._meta.pk.attname
    table = Table(model, with_ids=True)
    table.write(table.convert({**row, pk: i} for row, i in zip(rows, ids, strict=True)))
    return list(ids)


def ahead(produce: Callable, items: Iterable, *, db=connection) -> Iterator:
    """``produce(item)`` for each item, computed in a second thread one item ahead of the
    caller on PostgreSQL, so that pure-Python preparation of the next batch runs while
    the server writes this one (the 200k-row import: 8,600 → 11,300 rows/s).

    On SQLite, in the caller's thread: SQLite does its work inside this process and its
    executemany takes Python's lock back for every row, so a second thread only made
    the two wait for each other (the same 11,300–11,600 rows/s with 15 % more CPU,
    docs/benchmarks.md "Import speed").

    ``produce`` must not use the database (a thread has its own connection, outside the
    caller's transaction). An exception in it is raised in the caller."""
    if db.vendor != "postgresql":
        yield from map(produce, items)
        return
    results: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    done = object()

    def run():
        try:
            for item in items:
                if stop.is_set():
                    return
                results.put((produce(item), None))
            results.put((done, None))
        except BaseException as exc:  # handed to the caller, raised there
            results.put((None, exc))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, SWITCH_INTERVAL))
    worker = threading.Thread(target=run, name="bulk-ahead", daemon=True)
    worker.start()
    try:
        while True:
            value, exc = results.get()
            if exc is not None:
                raise exc
            if value is done:
                return
            yield value
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting to put
            try:
                results.get(timeout=0.05)
            except queue.Empty:
                pass
        worker.join()
        sys.setswitchinterval(interval)


# Long lists as parameters ------------------------------------------------------------------
# Django's psycopg backend binds parameters on the client: psycopg splits every statement
# at its placeholders in Python, and caches that only for short statements. A statement
# with a placeholder per value (an IN list of 1,000 ids, a multi-row VALUES of 5,000
# values) paid ~10 ms for it each time: a third of a statistics consumer batch. On
# PostgreSQL these helpers pass a list as one array parameter instead.


def list_table(values, *, alias: str = "m", column: str = "id", db=connection):
    """A list of integers as a one-column table ``alias(column)`` to select from or join,
    and its one parameter: an array on PostgreSQL, JSON text on SQLite (however long the
    list: SQLite's limit on placeholders is 32,766). ``values``: a list or numpy array."""
    values = values.tolist() if hasattr(values, "tolist") else list(values)
    if db.vendor == "postgresql":
        return f"unnest(%s::bigint[]) AS {alias}({column})", values
    return f"(SELECT value AS {column} FROM json_each(%s)) AS {alias}", json.dumps(values)


def in_list(column: str, values: Sequence, db=connection) -> tuple[str, list]:
    """``column IN (values)`` as SQL and its parameters (``column`` may be a template such
    as ``{col}``, filled in later)."""
    if db.vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(values)]
    return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)


def rows_source(model, columns: Sequence[str], rows: Sequence[tuple], db=connection):
    """What an ``INSERT INTO table (columns)`` takes its ``rows`` from, as SQL and its
    parameters: ``VALUES (…), (…)`` on SQLite; on PostgreSQL ``SELECT * FROM unnest(…)``
    of one array per column, typed as the model's fields (``columns`` are their column
    names)."""
    by_column = {f.column: f for f in model._meta.concrete_fields}
    fields = [by_column[c] for c in columns]
    if db.vendor == "postgresql":
        # The base type (varchar, numeric) as Django's own bulk insert does: the values
        # are cast to the columns' types on insert. JSON goes as text and is cast per
        # value (an array of jsonb was 1.5–2.5× slower to insert than VALUES).
        types, names, values = [], [], []
        for i, (field, column) in enumerate(zip(fields, zip(*rows, strict=True), strict=True)):
            if isinstance(field, models.JSONField):
                types.append("text")
                names.append(f"c{i}::jsonb")
                column = [None if v is None else _json_text(v) for v in column]
            else:
                types.append(field.db_type(db).split("(")[0])
                names.append(f"c{i}")
                if isinstance(field, models.DecimalField | models.FloatField):
                    # An array holds one type: 0 among Decimals becomes Decimal("0").
                    column = [field.to_python(v) for v in column]
            values.append(list(column))
        arrays = ", ".join(f"%s::{t}[]" for t in types)
        aliases = ", ".join(f"c{i}" for i in range(len(fields)))
        return f"SELECT {', '.join(names)} FROM unnest({arrays}) AS u({aliases})", values
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    return "VALUES " + ", ".join([row] * len(rows)), [v for r in rows for v in r]


def _json_text(value) -> str:
    """A JSON value as prepared for PostgreSQL (psycopg's ``Jsonb`` wrapper, as Django's
    ``get_db_prep_save`` gives it, or already text) → its text."""
    if isinstance(value, str):
        return value
    dumps = getattr(value, "dumps", None) or json.dumps
    return dumps(value.obj)
