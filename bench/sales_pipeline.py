"""Kanban board and funnel at scale: ``python -m bench.sales_pipeline --db sqlite|postgres``.

Uses the bench database of ``bench.run`` (``BENCH_NAME=pipe`` for a data set of its own:
``bench/out/pipe/bench.sqlite3`` or PostgreSQL ``guanxi_bench_pipe``; make its customers
first with ``BENCH_NAME=pipe python -m bench.run --db … --customers 100000 --generate-only``).
Adds, once, 200,000 open opportunities in the default pipeline (plus 60,000 won or lost in
the last year) with their stage history, and 1,000,000 activities, written directly with
executemany / COPY. Then times, through the Django test client (URL routing, middleware,
session, view, selectors, template), the board page and the funnel page as an admin (all
opportunities), a manager (the team's) and a sales rep (own), with and without filters.
Prints a table and the query plans; writes ``bench/out/[BENCH_NAME/]sales-pipeline-<db>.json``
and ``…/sales-pipeline-explain-<db>.txt``.
"""

import argparse
import datetime
import json
import os
import platform
import random
import statistics
import sys
import time
from decimal import Decimal

from bench.run import OUT, configure_django, ensure_database, percentile

TARGET_P95_MS = 150.0
OPEN = 200_000
CLOSED = 60_000
ACTIVITIES = 1_000_000
BATCH = 20_000


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# Generation ------------------------------------------------------------------------------


def _row_builder(model, generated: list[str]):
    """(columns, function(values) → row): generated columns first, then the defaults of
    every other concrete column."""
    from django.db import connection

    extra_cols, extra_vals = [], []
    for f in model._meta.concrete_fields:
        if f.column in generated or f.primary_key:
            continue
        extra_cols.append(f.column)
        extra_vals.append(f.get_db_prep_save(f.get_default(), connection))
    return generated + extra_cols, lambda values: (*values, *extra_vals)


def generate(*, n_open: int, n_closed: int, n_activities: int, seed: int, log=print) -> dict:
    from django.db import connection, transaction

    from bench.generate import _dt, _secondary_indexes, _Writer
    from guanxi.sales.models import Activity, Opportunity, Stage, StageChange
    from guanxi.sales.services_pipeline import default_pipeline

    rng = random.Random(seed)
    pg = connection.vendor == "postgresql"
    dt = _dt(connection)
    pipeline = default_pipeline()
    stages = list(pipeline.stages.order_by("position"))
    open_stages = [s for s in stages if s.kind == Stage.Kind.OPEN]
    won = next(s for s in stages if s.kind == Stage.Kind.WON)
    lost = next(s for s in stages if s.kind == Stage.Kind.LOST)
    from guanxi.sales.models import LostReason

    reasons = list(LostReason.objects.values_list("pk", flat=True))
    with connection.cursor() as cur:
        cur.execute(
            "SELECT id, owner_id, team_id FROM customers_customer WHERE owner_id IS NOT NULL"
        )
        customers = cur.fetchall()
    if not customers:
        raise SystemExit("no customers with an owner: generate the bench customers first")
    log(f"  {len(customers):,} owned customers; pipeline {pipeline} with {len(stages)} stages")
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    opp_table = Opportunity._meta.db_table
    sc_table = StageChange._meta.db_table
    act_table = Activity._meta.db_table
    opp_cols, opp_row = _row_builder(
        Opportunity,
        [
            "id", "name", "customer_id", "pipeline_id", "stage_id", "amount", "currency",
            "expected_close", "next_step", "owner_id", "team_id", "status", "stage_entered_at",
            "closed_at", "lost_reason_id", "created_at", "updated_at", "created_by_id",
            "reached_stage_id",
        ],
    )  # fmt: skip
    sc_cols, sc_row = _row_builder(
        StageChange,
        ["opportunity_id", "from_stage_id", "to_stage_id", "at", "actor_id", "seconds_in_previous"],
    )
    act_cols, act_row = _row_builder(
        Activity,
        [
            "kind", "subject", "occurred_at", "duration_minutes", "outcome", "customer_id",
            "opportunity_id", "owner_id", "team_id", "created_at", "updated_at", "created_by_id",
        ],
    )  # fmt: skip
    with connection.cursor() as cur:
        cur.execute(f"SELECT COALESCE(MAX(id), 0) FROM {opp_table}")
        next_id = cur.fetchone()[0] + 1
    tables = [opp_table, sc_table, act_table]
    dropped = []
    for table in tables:
        for name, sql in _secondary_indexes(connection, table):
            with connection.cursor() as cur:
                cur.execute(f'DROP INDEX "{name}"')
            dropped.append((name, sql))
    with connection.cursor() as cur:
        if pg:
            try:
                cur.execute("SET session_replication_role = replica")
            except Exception:
                pass
        else:
            cur.execute("PRAGMA synchronous = OFF")
    writer = _Writer(connection)
    products = ["企业版授权", "标准版授权", "实施服务", "年度维保", "培训课程", "硬件套装"]
    started = time.perf_counter()
    opp_ids: list[tuple[int, int, int, int]] = []  # (id, customer, owner, team)
    total = n_open + n_closed
    sc_rows_total = 0
    for start in range(0, total, BATCH):
        opp_rows, sc_rows = [], []
        for k in range(start, min(total, start + BATCH)):
            cid, owner, team = customers[rng.randrange(len(customers))]
            oid = next_id + k
            created = now - datetime.timedelta(seconds=rng.randrange(365 * 86400))
            closed = k >= n_open
            if closed:
                reach = rng.choices(range(len(open_stages)), weights=[35, 25, 22, 18])[0]
            else:
                reach = rng.choices(range(len(open_stages)), weights=[40, 27, 20, 13])[0]
            at = created
            path = [(None, open_stages[0], at, None)]
            for i in range(1, reach + 1):
                stay = rng.randrange(3600, 30 * 86400)
                if at + datetime.timedelta(seconds=stay) >= now:
                    break
                at = at + datetime.timedelta(seconds=stay)
                path.append((path[-1][1], open_stages[i], at, stay))
            reached = path[-1][1].pk
            status, closed_at, reason = "open", None, None
            stage = path[-1][1]
            if closed:
                stay = rng.randrange(3600, 20 * 86400)
                if at + datetime.timedelta(seconds=stay) < now:
                    at = at + datetime.timedelta(seconds=stay)
                    final = won if rng.random() < 0.4 + 0.1 * reach else lost
                    path.append((stage, final, at, stay))
                    stage, status, closed_at = final, final.kind, at
                    reason = rng.choice(reasons) if final is lost and reasons else None
            amount = Decimal(rng.randrange(5, 2000) * 500)
            expected = (created + datetime.timedelta(days=rng.randrange(14, 180))).date()
            opp_rows.append(
                opp_row(
                    (
                        oid, f"{rng.choice(products)} · {cid}", cid, pipeline.pk, stage.pk,
                        str(amount), "CNY", expected.isoformat(), "", owner, team, status,
                        dt(at), dt(closed_at) if closed_at else None, reason, dt(created),
                        dt(at), owner, reached,
                    )
                )
            )  # fmt: skip
            for from_stage, to_stage, when, seconds in path:
                sc_rows.append(
                    sc_row(
                        (
                            oid, from_stage.pk if from_stage else None, to_stage.pk, dt(when),
                            owner, seconds,
                        )
                    )
                )  # fmt: skip
            opp_ids.append((oid, cid, owner, team))
        with transaction.atomic():
            writer.write(opp_table, opp_cols, opp_rows)
            writer.write(sc_table, sc_cols, sc_rows)
        sc_rows_total += len(sc_rows)
    log(
        f"  {total:,} opportunities, {sc_rows_total:,} stage changes "
        f"in {time.perf_counter() - started:.0f}s"
    )
    kinds = [k for k, _ in Activity.Kind.choices]
    subjects = {
        "call": "电话沟通",
        "visit": "上门拜访",
        "meeting": "会议",
        "email": "邮件跟进",
        "sms": "短信",
        "wechat": "微信沟通",
        "note": "备注",
    }
    done = 0
    for start in range(0, n_activities, BATCH):
        rows = []
        for _k in range(start, min(n_activities, start + BATCH)):
            if rng.random() < 0.3:
                oid, cid, owner, team = opp_ids[rng.randrange(len(opp_ids))]
            else:
                cid, owner, team = customers[rng.randrange(len(customers))]
                oid = None
            kind = rng.choice(kinds)
            when = now - datetime.timedelta(seconds=rng.randrange(365 * 86400))
            rows.append(
                act_row(
                    (
                        kind, subjects.get(kind, kind), dt(when), rng.randrange(5, 90), "",
                        cid, oid, owner, team, dt(when), dt(when), owner,
                    )
                )
            )  # fmt: skip
        with transaction.atomic():
            writer.write(act_table, act_cols, rows)
        done += len(rows)
    log(f"  {done:,} activities in {time.perf_counter() - started:.0f}s")
    with connection.cursor() as cur:
        if pg:
            cur.execute("SET session_replication_role = DEFAULT")
            cur.execute("SET maintenance_work_mem = '256MB'")
        else:
            cur.execute("PRAGMA synchronous = NORMAL")
        for _name, sql in dropped:
            cur.execute(sql)
        if pg:
            for table in tables:
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT MAX(id) FROM {table}))"
                )
                cur.execute(f"VACUUM ANALYZE {table}")
        else:
            cur.execute("ANALYZE")
    total_s = time.perf_counter() - started
    log(f"  done in {total_s:.0f}s (indexes rebuilt)")
    return {
        "open": n_open,
        "closed": n_closed,
        "stage_changes": sc_rows_total,
        "activities": done,
        "seconds": round(total_s, 1),
    }


# Measuring -------------------------------------------------------------------------------


class Timer:
    def __init__(self, args):
        from django.db import connection

        self.args = args
        self.connection = connection
        self.results: list[dict] = []
        self.plans: list[str] = []

    def client(self, user):
        from django.test import Client

        client = Client()
        client.force_login(user)
        return client

    def measure(self, name: str, role: str, client, requests: list) -> dict:
        captured = []

        def capture(execute, sql, params, many, context):
            captured.append((sql, params))
            return execute(sql, params, many, context)

        with self.connection.execute_wrapper(capture):
            response = client.get(*requests[0])
        if response.status_code != 200:
            raise SystemExit(
                f"{name}/{role}: HTTP {response.status_code}: {response.content[:300]!r}"
            )
        for i in range(self.args.warmup):
            client.get(*requests[i % len(requests)])
        times = []
        for i in range(self.args.requests):
            path, params = requests[(i + self.args.warmup) % len(requests)]
            started = time.perf_counter()
            response = client.get(path, params)
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{name}/{role}: HTTP {response.status_code}")
        result = {
            "name": name,
            "role": role,
            "requests": len(times),
            "p50_ms": round(percentile(times, 50), 1),
            "p95_ms": round(percentile(times, 95), 1),
            "max_ms": round(max(times), 1),
            "mean_ms": round(statistics.fmean(times), 1),
            "queries": len(captured),
            "example": requests[0][0]
            + "?"
            + "&".join(f"{k}={v}" for k, v in requests[0][1].items()),
            "target_p95_ms": TARGET_P95_MS,
        }
        result["meets_target"] = result["p95_ms"] < TARGET_P95_MS
        self.results.append(result)
        mark = "ok" if result["meets_target"] else "MISSED"
        print(
            f"  {name:<18} {role:<8} p50 {result['p50_ms']:>7.1f} ms  "
            f"p95 {result['p95_ms']:>7.1f} ms  q={result['queries']:<3} {mark}",
            flush=True,
        )
        self.explain(f"{name} / {role}", captured)
        return result

    def explain(self, title: str, captured: list) -> None:
        sales = [(sql, p) for sql, p in captured if '"sales_' in sql and "SELECT" in sql[:10]]
        lines = [f"== {title}"]
        with self.connection.cursor() as cur:
            for sql, params in sales:
                lines.append(f"-- {sql[:400]}")
                prefix = "EXPLAIN QUERY PLAN " if self.connection.vendor == "sqlite" else "EXPLAIN "
                cur.execute(prefix + sql, params)
                for row in cur.fetchall():
                    lines.append("   " + " | ".join(str(c) for c in row))
        self.plans.append("\n".join(lines))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], required=True)
    parser.add_argument("--open", type=int, default=OPEN)
    parser.add_argument("--closed", type=int, default=CLOSED)
    parser.add_argument("--activities", type=int, default=ACTIVITIES)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--generate-only", action="store_true")
    args = parser.parse_args(argv)
    ensure_database(args.db)
    configure_django(args.db)
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # pages use the manifest
    from django.db import connection

    with connection.cursor() as cursor:  # statistics for indexes added since the data
        cursor.execute("ANALYZE")
    from guanxi.accounts.models import User
    from guanxi.sales.models import Activity, Opportunity
    from guanxi.sales.services_pipeline import default_pipeline

    marker = OUT / f"sales-pipeline-dataset-{args.db}.json"
    dataset = None
    if marker.exists():
        dataset = json.loads(marker.read_text())
    if not dataset or dataset.get("open") != args.open or not Opportunity.objects.exists():
        if Opportunity.objects.exists():
            raise SystemExit(
                "opportunities exist but not the expected data set: start from a fresh bench db"
            )
        print(f"generating {args.open:,} open opportunities and {args.activities:,} activities")
        dataset = generate(
            n_open=args.open, n_closed=args.closed, n_activities=args.activities, seed=args.seed
        )
        marker.write_text(json.dumps(dataset, indent=2))
    counts = {
        "open_opportunities": Opportunity.objects.filter(status="open").count(),
        "opportunities": Opportunity.objects.count(),
        "activities": Activity.objects.count(),
    }
    print(f"  data: {counts}")
    if args.generate_only:
        return 0
    timer = Timer(args)
    pipeline = default_pipeline()
    board = f"/sales/pipelines/{pipeline.pk}/board/"
    funnel = "/sales/funnel/"
    users = {
        "admin": User.objects.get(username="bench_admin"),
        "manager": User.objects.get(username="bench_mgr1"),
        "sales": User.objects.get(username="bench_sales1_1"),
    }
    today = datetime.date.today()
    quarter = (today + datetime.timedelta(days=90)).isoformat()
    year_ago = (today - datetime.timedelta(days=364)).isoformat()
    print(f"load average before: {load_average()}")
    for role, user in users.items():
        client = timer.client(user)
        owner = user.pk if role != "admin" else users["sales"].pk
        timer.measure("board", role, client, [(board, {})])
        timer.measure(
            "board filtered",
            role,
            client,
            [
                (board, {"close_from": today.isoformat(), "close_to": quarter}),
                (board, {"owner": owner}),
            ],
        )
        timer.measure(
            "board more",
            role,
            client,
            [(f"/sales/pipelines/{pipeline.pk}/board/{pipeline.stages.first().pk}/more/", {})],
        )
        timer.measure("funnel 90 days", role, client, [(funnel, {"pipeline": pipeline.pk})])
        timer.measure(
            "funnel 1 year", role, client, [(funnel, {"pipeline": pipeline.pk, "start": year_ago})]
        )
    print(f"load average after: {load_average()}")
    out = {
        "db": args.db,
        "when": datetime.datetime.now().isoformat(timespec="seconds"),
        "load_average_after": load_average(),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        "data": counts,
        "results": timer.results,
    }
    (OUT / f"sales-pipeline-{args.db}.json").write_text(json.dumps(out, indent=2))
    (OUT / f"sales-pipeline-explain-{args.db}.txt").write_text("\n\n".join(timer.plans))
    return 0


if __name__ == "__main__":
    sys.exit(main())
