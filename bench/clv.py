"""The CLV refit at scale.

Two ways to time it:

- ``python -m bench.run_commerce --db sqlite|postgres --only clv`` on the shared bench
  data set (1M customers, 5M orders of ``bench.orders``) calls :func:`time_refits`: a
  refit as of the day before the data set's end, then one as of its end. Each moves
  every customer's ``T`` by a day, so every prediction changes and is written — what the
  daily refit of a live shop does (a refit with nothing new writes nothing and would look
  faster than it is). The data set is left with the predictions as of its end.
- ``python -m bench.clv --db sqlite|postgres --customers 1000000``: a synthetic shop in
  a database of its own (``bench/out/[BENCH_NAME/]clv.sqlite3`` or PostgreSQL
  ``guanxi_bench_clv[_BENCH_NAME]``, emptied first): ``n`` customers with about five
  orders each over two years drawn from the BG/NBD and Gamma-Gamma stories (several
  orders on some days), inserted directly, then the refit timed twice (the first
  creates the CustomerStats rows, the second updates them). Writes
  ``bench/out/[BENCH_NAME/]clv-<db>.json``.

Every figure comes with the load average at that moment. Nothing here asserts a time;
``meets_target`` says whether the 60 s target was met.
"""

import argparse
import datetime
import json
import os
import sys
import time
import zoneinfo
from pathlib import Path

CLV_TARGET_S = 60.0
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def time_refit(as_of: datetime.datetime, label: str) -> dict:
    """One refit, timed, with where the time went."""
    from guanxi.analytics import clv_service

    load = load_average()
    started = time.perf_counter()
    fit = clv_service.refit(as_of=as_of)
    seconds = time.perf_counter() - started
    return {
        "name": label,
        "as_of": as_of.isoformat(),
        "customers": fit.customers,
        "seconds": round(seconds, 1),
        "read_seconds": round(fit.timings["read"], 1),
        "fit_seconds": round(fit.timings["fit"], 1),
        "write_seconds": round(fit.timings["write"], 1),
        "rows_written": fit.timings.get("rows_written"),
        "params": {
            "r": round(fit.r, 4),
            "alpha": round(fit.alpha, 4),
            "a": round(fit.a, 4),
            "b": round(fit.b, 4),
            "p": fit.p and round(fit.p, 4),
            "q": fit.q and round(fit.q, 4),
            "gamma": fit.gamma and round(fit.gamma, 4),
        },
        "target_s": CLV_TARGET_S,
        "meets_target": seconds < CLV_TARGET_S,
        "load_average_before": load,
    }


def time_refits(end: datetime.datetime) -> list[dict]:
    """A refit as of the day before ``end``, then one as of ``end``: both write every
    customer's new predictions (see the module's docstring)."""
    return [
        time_refit(end - datetime.timedelta(days=1), "refit, as of the day before the end"),
        time_refit(end, "refit, as of the end (the next day's refit)"),
    ]


# A synthetic shop ---------------------------------------------------------------------------


def _insert(model, columns: list[str], rows, fixed: dict | None = None) -> None:
    """Insert many rows fast (executemany; COPY on PostgreSQL): ``columns`` vary per row
    (values already in the database's form), every other field gets ``fixed[name]`` or
    its default."""
    from django.db import connection

    fixed = fixed or {}
    fields = [
        f
        for f in model._meta.concrete_fields
        if f.column not in columns and not (f.primary_key and f.name not in fixed)
    ]
    constant = [f.get_db_prep_save(fixed.get(f.name, f.get_default()), connection) for f in fields]
    names = [f.column for f in fields] + columns
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            copy_sql = f"COPY {model._meta.db_table} ({', '.join(names)}) FROM STDIN"
            with cursor.cursor.copy(copy_sql) as copy:
                for row in rows:
                    copy.write_row((*constant, *row))
        else:
            sql = (
                f"INSERT INTO {model._meta.db_table} ({', '.join(names)}) "
                f"VALUES ({', '.join(['%s'] * len(names))})"
            )
            cursor.executemany(sql, [(*constant, *row) for row in rows])


def _db_times(days, minutes: int) -> list[str]:
    """Day offsets from 2023-01-01 04:00 UTC (noon in Shanghai) as the database stores
    them."""
    import numpy as np
    from django.db import connection

    stamps = np.datetime64("2023-01-01T04:00") + days.astype("timedelta64[D]")
    stamps = stamps + np.timedelta64(minutes, "m")
    text = np.char.replace(np.datetime_as_string(stamps, unit="s"), "T", " ")
    if connection.vendor == "postgresql":
        text = np.char.add(text, "+00:00")
    return text.tolist()


def generate_synthetic(n: int, *, seed: int = 1) -> dict:
    """``n`` customers with about 5 orders each over 2023–2024 (BG/NBD r, α, a, b =
    0.3, 4.0, 0.7, 2.5, a bit busier than CDNOW; Gamma spend; 0.4 extra orders on a
    purchase day on average), inserted directly into an empty, migrated database."""
    import numpy as np
    from django.db import connection

    from guanxi.analytics import clv
    from guanxi.commerce.models import Order, Store
    from guanxi.customers.models import Customer

    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    first = rng.integers(0, 365, n)
    T = (729 - first) / 7
    x, t_x = clv.simulate_bgnbd(T, (0.3, 4.0, 0.7, 2.5), seed=seed)
    x = x.astype(int)
    per_customer = x + 1
    owner_of = np.repeat(np.arange(n), per_customer)
    starts = np.r_[0, np.cumsum(per_customer)[:-1]]
    day = first[owner_of] + np.floor(rng.random(len(owner_of)) * t_x[owner_of] * 7).astype(int)
    day[starts] = first
    day[starts + x] = first + np.floor(t_x * 7).astype(int)
    orders_that_day = 1 + rng.poisson(0.4, len(day))
    customer_of = np.repeat(owner_of, orders_that_day)
    day = np.repeat(day, orders_that_day)
    amounts = np.char.mod("%.2f", np.round(rng.gamma(6.25, 20, len(day)), 2) + 1).tolist()

    store = Store.objects.create(code="clvbench", name="CLV bench", channel="web")
    offset = 1
    chunk = 250_000
    for s in range(0, n, chunk):
        ids = range(offset + s, offset + min(n, s + chunk))
        _insert(Customer, ["id", "name"], ((i, f"B{i}") for i in ids))
    placed = _db_times(day, 0)
    paid = _db_times(day, 5)
    for s in range(0, len(day), chunk):
        part = range(s, min(len(day), s + chunk))
        _insert(
            Order,
            ["external_id", "customer_id", "paid_amount", "placed_at", "paid_at"],
            ((f"B{k}", offset + int(customer_of[k]), amounts[k], placed[k], paid[k]) for k in part),
            fixed={"store": store.pk, "status": "paid"},
        )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{Customer._meta.db_table}', "
                f"'id'), {offset + n})"
            )
            cursor.execute(f"ANALYZE {Order._meta.db_table}")
    return {
        "customers": n,
        "orders": len(day),
        "purchase_days": len(owner_of),
        "generate_seconds": round(time.perf_counter() - started, 1),
    }


def _fresh_database(db: str) -> None:
    """This benchmark's own database, empty (it never touches the shared data set)."""
    import bench.run

    name = "clv"
    if db == "sqlite":
        path = bench.run.OUT / f"{name}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        bench.run.database_url = lambda _db: f"sqlite:///{path}"
        return
    import psycopg

    pg_db = f"{bench.run.PG_DB}_{name}"
    with psycopg.connect(bench.run.PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{pg_db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{pg_db}"')
    bench.run.database_url = lambda _db: f"postgres://postgres@127.0.0.1:5432/{pg_db}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="CLV refit on a synthetic shop")
    parser.add_argument("--db", choices=["sqlite", "postgres"], required=True)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    import bench.run

    bench.run.OUT.mkdir(parents=True, exist_ok=True)
    _fresh_database(args.db)
    bench.run.configure_django(args.db)
    from django.core.management import call_command
    from django.utils import timezone

    call_command("migrate", interactive=False, verbosity=0)
    print(f"generating {args.customers:,} customers; load average {load_average()}", flush=True)
    dataset = generate_synthetic(args.customers, seed=args.seed)
    print(f"  {json.dumps(dataset)}", flush=True)
    as_of = datetime.datetime(2024, 12, 30, 23, 59, tzinfo=SHANGHAI)
    results = []
    for label in ("first refit (creates CustomerStats rows)", "second refit (updates)"):
        result = time_refit(as_of + datetime.timedelta(days=len(results)), label)
        results.append(result)
        print(f"  {json.dumps(result, ensure_ascii=False)}", flush=True)
    report = {
        "date": timezone.now().isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "-m", "bench.clv", *sys.argv[1:]]),
        "machine": bench.run.machine(),
        "database": bench.run.database_version(),
        "dataset": dataset,
        "results": results,
    }
    path = bench.run.OUT / f"clv-{args.db}.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("GUANXI_LOG_LEVEL", "ERROR")
    sys.exit(main())
