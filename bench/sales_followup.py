"""The "needs follow-up" list at scale: ``python -m bench.sales_followup --db sqlite|postgres``.

Uses the bench database of ``bench.run`` (``BENCH_NAME=fup`` for a data set of its own;
make its customers first with
``BENCH_NAME=fup python -m bench.run --db … --customers 1000000 --generate-only``).
Adds, once, about 1,000,000 activities (three each for ~35% of the customers, over the
last two years) and the matching ``CustomerFollowUp`` rows (latest activity per
customer), with set-based SQL. Then times, through the Django test client (routing,
middleware, session, view, selector, template), the page ``/sales/follow-up/`` and the
API ``/api/v1/follow-up`` as an admin (1M customers), a manager (a team's) and a sales
rep (own): all grades, one grade, and a page deep in the list (after a cursor). Prints a
table and the main query plans; writes ``bench/out/[BENCH_NAME/]sales-followup-<db>.json``.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time

from bench.run import OUT, configure_django, ensure_database, percentile

TARGET_P95_MS = 150.0
MARKER = "sales-followup-data-{db}.json"


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def generate(log=print) -> dict:
    """Activities and CustomerFollowUp rows, set-based (INSERT … SELECT)."""
    from django.db import connection, transaction

    from guanxi.sales.models import Activity

    pg = connection.vendor == "postgresql"
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        for k in range(3):
            # Customers with id % 20 < 7 (35%) get three activities in the last 730 days.
            if pg:
                when = "now() - (random() * interval '730 days')"
                kind = (
                    "(ARRAY['call','visit','meeting','email','sms','wechat','note'])[1 + (id % 7)]"
                )
                cond = "id % 20 < 7"
            else:
                when = "datetime('now', '-' || (abs(random()) % (730 * 86400)) || ' seconds')"
                kind = (
                    "CASE id % 7 WHEN 0 THEN 'call' WHEN 1 THEN 'visit' WHEN 2 THEN 'meeting' "
                    "WHEN 3 THEN 'email' WHEN 4 THEN 'sms' WHEN 5 THEN 'wechat' ELSE 'note' END"
                )
                cond = "id % 20 < 7"
            cur.execute(
                f"""INSERT INTO sales_activity (created_at, updated_at, owner_id, team_id, kind,
                subject, body, occurred_at, duration_minutes, outcome, next_follow_up,
                customer_id, lead_id, opportunity_id, created_by_id)
                SELECT {when}, {when}, owner_id, team_id, {kind}, 'bench {k}', '', {when},
                NULL, '', NULL, id, NULL, NULL, owner_id FROM customers_customer WHERE {cond}"""
            )
            log(f"  activities pass {k + 1}/3 done ({time.perf_counter() - started:.0f}s)")
        cur.execute(
            "INSERT INTO sales_customerfollowup (customer_id, last_activity_at, "
            "customer_owner_id, customer_team_id, customer_grade) "
            "SELECT a.customer_id, MAX(a.occurred_at), c.owner_id, c.team_id, c.grade "
            "FROM sales_activity a JOIN customers_customer c ON c.id = a.customer_id "
            "GROUP BY a.customer_id, c.owner_id, c.team_id, c.grade"
        )
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    return {
        "activities": Activity.objects.count(),
        "customers_with_activity": _count("sales_customerfollowup"),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _count(table: str) -> int:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM {table}")
        return cur.fetchone()[0]


def users():
    """(admin, manager with the biggest team, sales rep with the most customers)."""
    from django.db.models import Count

    from guanxi.accounts.models import User
    from guanxi.customers.models import Customer

    admin = User.objects.filter(role="admin", is_active=True).order_by("id").first()
    top_team = (
        Customer.objects.exclude(team=None)
        .values("team_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    manager = User.objects.filter(role="manager", team_id=top_team["team_id"]).first()
    rep_id = (
        Customer.objects.filter(owner__role="sales")
        .values("owner_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()["owner_id"]
    )
    return {"admin": admin, "manager": manager, "sales": User.objects.get(pk=rep_id)}


class Bench:
    def __init__(self, args):
        self.args = args
        self.results: list[dict] = []
        self.plans: list[str] = []

    def client(self, user, api: bool):
        from django.test import Client

        from guanxi.accounts.models import ApiToken

        if api:
            raw, prefix, digest = ApiToken.generate()
            ApiToken.objects.create(user=user, name="bench", prefix=prefix, digest=digest)
            return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
        client = Client()
        client.force_login(user)
        return client

    def measure(self, name: str, role: str, client, path: str, params: dict) -> dict:
        from django.db import connection

        captured = []

        def capture(execute, sql, sql_params, many, context):
            captured.append((sql, sql_params))
            return execute(sql, sql_params, many, context)

        with connection.execute_wrapper(capture):
            response = client.get(path, params)
        if response.status_code != 200:
            raise SystemExit(
                f"{name}/{role}: HTTP {response.status_code}: {response.content[:300]!r}"
            )
        rows = None
        if response.get("Content-Type", "").startswith("application/json"):
            rows = len(response.json()["items"])
        for _ in range(self.args.warmup):
            client.get(path, params)
        times = []
        for _ in range(self.args.requests):
            started = time.perf_counter()
            response = client.get(path, params)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        result = {
            "name": name,
            "role": role,
            "requests": self.args.requests,
            "p50_ms": round(percentile(times, 50), 2),
            "p95_ms": round(percentile(times, 95), 2),
            "max_ms": round(max(times), 2),
            "mean_ms": round(statistics.fmean(times), 2),
            "queries": len(captured),
            "rows": rows,
            "example": path
            + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else ""),
            "meets_target": percentile(times, 95) < TARGET_P95_MS,
        }
        self.results.append(result)
        print(
            f"  {name:<28} {role:<8} p50 {result['p50_ms']:>8.1f} ms"
            f"  p95 {result['p95_ms']:>8.1f} ms"
            f"  q={result['queries']:<3} {'ok' if result['meets_target'] else 'MISSED'}",
            flush=True,
        )
        if name.startswith("api all grades") and role in ("admin", "sales"):
            self.explain(f"{name} / {role}", captured)
        return result

    def explain(self, title, captured):
        from django.db import connection

        prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
        for sql, params in captured:
            if "sales_customerfollowup" not in sql or "LIMIT" not in sql:
                continue
            with connection.cursor() as cur:
                cur.execute(prefix + sql, params)
                plan = "\n".join(" | ".join(str(c) for c in row) for row in cur.fetchall())
            self.plans.append(f"== {title}\n{sql[:400]}\n{plan}\n")
            break


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], required=True)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)
    ensure_database(args.db)
    configure_django(args.db)

    from guanxi.customers.models import Customer

    marker = OUT / MARKER.format(db=args.db)
    if not marker.exists():
        print("generating activities …", flush=True)
        info = generate()
        marker.write_text(json.dumps(info))
        print(f"  {info}", flush=True)
    data = json.loads(marker.read_text())
    people = users()
    customers = Customer.objects.count()
    print(
        f"{args.db}: {customers:,} customers, {data['activities']:,} activities, "
        f"{data['customers_with_activity']:,} customers with activity; load {load_average()}",
        flush=True,
    )
    bench = Bench(args)
    for role, user in people.items():
        web, api = bench.client(user, api=False), bench.client(user, api=True)
        bench.measure("page all grades", role, web, "/sales/follow-up/", {})
        bench.measure("api all grades", role, api, "/api/v1/follow-up", {})
        bench.measure("api grade A", role, api, "/api/v1/follow-up", {"grade": "A"})
        bench.measure("api no grade", role, api, "/api/v1/follow-up", {"grade": "none"})
        cursor = None
        for _ in range(20):  # 20 pages in
            body = api.get("/api/v1/follow-up", {"cursor": cursor} if cursor else {}).json()
            cursor = body["next_cursor"] or cursor
        bench.measure(
            "api page 21", role, api, "/api/v1/follow-up", {"cursor": cursor} if cursor else {}
        )
    report = {
        "db": args.db,
        "customers": customers,
        **data,
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "load_average_after": load_average(),
        "machine": f"{platform.machine()} {os.cpu_count()} CPU",
        "target_p95_ms": TARGET_P95_MS,
        "results": bench.results,
    }
    (OUT / f"sales-followup-{args.db}.json").write_text(json.dumps(report, indent=2))
    (OUT / f"sales-followup-explain-{args.db}.txt").write_text("\n".join(bench.plans))
    print(f"load average after: {load_average()}")
    return 0 if all(r["meets_target"] for r in bench.results) else 1


if __name__ == "__main__":
    sys.exit(main())
