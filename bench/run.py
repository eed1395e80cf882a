"""Benchmarks at scale: ``python -m bench.run --db sqlite|postgres``.

Prepares a dedicated database (``bench/out/bench.sqlite3`` or PostgreSQL
``guanxi_bench``), fills it with 1M generated customers unless it already holds them,
then measures through the whole Django stack (URL routing, middleware, Bearer token,
django-ninja, selectors, JSON): customer lists and searches as a sales rep (own scope),
a manager (team scope) and an admin (all), the customer 360° page and the CSV import.
Prints a table and the query plans of the list and search queries; writes
``bench/out/results-<db>.json`` and ``bench/out/explain-<db>.txt``.
"""

import argparse
import base64
import json
import os
import platform
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

# BENCH_NAME=small gives a second, independent data set (bench/out/small/ and PostgreSQL
# guanxi_bench_small), e.g. to try a change on 100k customers beside the 1M one.
BENCH_NAME = os.environ.get("BENCH_NAME", "")
OUT = Path(__file__).resolve().parent / "out" / BENCH_NAME
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DB = f"guanxi_bench_{BENCH_NAME}" if BENCH_NAME else "guanxi_bench"
TARGETS = {"list": 50.0, "search": 50.0, "360": 100.0}  # p95 in ms
IMPORT_TARGET = 20_000  # rows/s


# Database preparation (before Django is set up) ------------------------------------------


def database_url(db: str) -> str:
    if db == "sqlite":
        return f"sqlite:///{OUT / 'bench.sqlite3'}"
    return os.environ.get("BENCH_PG_URL", f"postgres://postgres@127.0.0.1:5432/{PG_DB}")


def marker_path(db: str) -> Path:
    return OUT / f"dataset-{db}.json"


def wipe(db: str) -> None:
    """Drop the bench database (it is recreated empty)."""
    marker_path(db).unlink(missing_ok=True)
    if db == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            (OUT / f"bench.sqlite3{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')


def ensure_database(db: str) -> None:
    if db == "sqlite":
        return
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [PG_DB]).fetchone()
        if not found:
            conn.execute(f'CREATE DATABASE "{PG_DB}"')
            print(f"created PostgreSQL database {PG_DB}")


def dataset_ok(db: str, customers: int, seed: int) -> bool:
    try:
        found = json.loads(marker_path(db).read_text())
    except (FileNotFoundError, ValueError):
        return False
    return found.get("customers") == customers and found.get("seed") == seed


def configure_django(db: str) -> None:
    os.environ["DATABASE_URL"] = database_url(db)
    os.environ["DJANGO_SETTINGS_MODULE"] = "guanxi.settings"
    os.environ["GUANXI_DATA_DIR"] = str(OUT / "data")  # secret key, uploaded import files
    os.environ["GUANXI_HTTPS"] = "0"  # no redirect to https for the test client
    os.environ["GUANXI_ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    os.environ.setdefault("GUANXI_LOG_LEVEL", "ERROR")
    import django

    django.setup()


# Measuring -------------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class Bench:
    def __init__(self, args):
        from django.db import connection

        self.args = args
        self.connection = connection
        self.results: list[dict] = []
        self.plans: list[str] = []

    # Clients, users and sample values ---------------------------------------------------

    def api_client(self, user):
        from django.test import Client

        from guanxi.accounts.models import ApiToken

        raw, prefix, digest = ApiToken.generate()
        ApiToken.objects.create(user=user, name="bench", prefix=prefix, digest=digest)
        return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    def web_client(self, user):
        from django.test import Client

        client = Client()
        client.force_login(user)
        return client

    # One measurement ---------------------------------------------------------------------

    def measure(self, group: str, name: str, role: str, client, requests: list) -> dict:
        """Time ``requests`` ((path, params) pairs, cycled) after a warm-up."""
        warmup, count = self.args.warmup, self.args.requests
        sample = requests[0]
        captured: list[tuple[str, object]] = []

        def capture(execute, sql, params, many, context):
            captured.append((sql, params))
            return execute(sql, params, many, context)

        # A wrapper rather than connection.queries: each request resets the query log.
        with self.connection.execute_wrapper(capture):
            response = client.get(sample[0], sample[1])
        if response.status_code != 200:
            raise SystemExit(
                f"{group}/{name}/{role}: HTTP {response.status_code} for {sample}: "
                f"{response.content[:300]!r}"
            )
        main = self.main_query(captured)
        rows = None
        if response.get("Content-Type", "").startswith("application/json"):
            body = response.json()
            rows = len(body["items"]) if isinstance(body, dict) and "items" in body else None
        for i in range(warmup):
            path, params = requests[i % len(requests)]
            client.get(path, params)
        times = []
        for i in range(count):
            path, params = requests[(i + warmup) % len(requests)]
            started = time.perf_counter()
            response = client.get(path, params)
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{group}/{name}/{role}: HTTP {response.status_code}")
        result = {
            "group": group,
            "name": name,
            "role": role,
            "requests": count,
            "p50_ms": round(percentile(times, 50), 2),
            "p95_ms": round(percentile(times, 95), 2),
            "max_ms": round(max(times), 2),
            "mean_ms": round(statistics.fmean(times), 2),
            "queries": len(captured),
            "rows": rows,
            "example": f"{sample[0]}?{'&'.join(f'{k}={v}' for k, v in sample[1].items())}",
            "target_p95_ms": TARGETS[group],
        }
        result["meets_target"] = result["p95_ms"] < TARGETS[group]
        self.results.append(result)
        mark = "ok" if result["meets_target"] else "MISSED"
        print(
            f"  {group:<6} {name:<22} {role:<8} p50 {result['p50_ms']:>8.1f} ms  "
            f"p95 {result['p95_ms']:>8.1f} ms  q={result['queries']:<3} {mark}",
            flush=True,
        )
        if main and group in ("list", "search"):
            self.explain(f"{group} / {name} / {role}", main)
        return result

    @staticmethod
    def main_query(queries: list[tuple]) -> tuple | None:
        """The page query: the one that reads customers in an order with a LIMIT (not
        the count a search on SQLite runs first)."""
        for sql, params in queries:
            if 'FROM "customers_customer"' in sql and "LIMIT" in sql and "ORDER BY" in sql:
                return sql, params
        return None

    def explain(self, title: str, query: tuple) -> None:
        sql, params = query
        with self.connection.cursor() as cur:
            if self.connection.vendor == "sqlite":
                cur.execute("EXPLAIN QUERY PLAN " + sql, params)
                rows = cur.fetchall()
                depth = {0: 0}
                lines = []
                for node, parent, _unused, detail in rows:
                    depth[node] = depth.get(parent, 0) + 1
                    lines.append("  " * depth[node] + detail)
                plan = "\n".join(lines)
            else:
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                plan = "\n".join(f"  {row[0]}" for row in cur.fetchall())
            shown = cur.db.ops.last_executed_query(cur.cursor, sql, params)
        # The column list (select_related brings ~50) says nothing about the plan.
        start, end = shown.find("SELECT "), shown.find(' FROM "customers_customer"')
        if start == 0 and end > 0:
            shown = "SELECT … " + shown[end + 1 :]
        self.plans.append(f"-- {title}\n{shown}\n{plan}\n")

    # The scenarios -------------------------------------------------------------------------

    def run(self) -> dict:
        from guanxi.accounts.models import User
        from guanxi.customers.models import Customer, Tag
        from guanxi.customers.selectors import customers_visible

        rng = random.Random(self.args.seed)
        users = {
            "sales": User.objects.get(username="bench_sales1_1"),
            "manager": User.objects.get(username="bench_mgr1"),
            "admin": User.objects.get(username="bench_admin"),
        }
        clients = {role: self.api_client(user) for role, user in users.items()}
        tag = Tag.objects.get(name="高价值")
        visible = {role: customers_visible(user) for role, user in users.items()}
        counts = {role: qs.count() for role, qs in visible.items()}
        print("visible customers: " + ", ".join(f"{r} {n:,}" for r, n in counts.items()))
        samples = {}
        top = Customer.objects.order_by("-id").values_list("id", flat=True).first() or 0
        for role, qs in visible.items():
            found: list = []
            for _attempt in range(20):  # random visible customers, for searches and pages
                ids = rng.sample(range(1, top + 1), min(5000, top))
                found += list(qs.filter(pk__in=ids).order_by("id")[: 60 - len(found)])
                if len(found) >= 60:
                    break
            rng.shuffle(found)
            samples[role] = found

        print("\ncustomer list (GET /api/v1/customers)")
        for role, client in clients.items():
            deep = self.deep_cursor(visible[role], counts[role])
            for name, params in [
                ("first page", {}),
                ("stage=customer", {"stage": "customer"}),
                ("tag", {"tag": tag.name}),
                ("custom field", {"cf_member_level": "金卡会员"}),
                ("sorted by name", {"sort": "name"}),
                ("deep keyset page", {"cursor": deep}),
            ]:
                self.measure("list", name, role, client, [("/api/v1/customers", params)])

        print("\nsearch (GET /api/v1/customers?q=...)")
        for role, client in clients.items():
            people = samples[role]
            with_email = [c for c in people if c.email]
            for name, values in [
                ("pinyin full", ["zhangwei"]),
                ("initials", ["zw"]),
                ("chinese prefix", ["张"]),
                ("phone prefix", [c.phone[3:10] for c in people]),
                ("exact phone", [c.phone[3:] for c in people]),
                ("e-mail", [c.email for c in with_email]),
            ]:
                requests = [("/api/v1/customers", {"q": v}) for v in values]
                self.measure("search", name, role, client, requests)

        print("\ncustomer 360° page (GET /customers/<id>/)")
        for role in ("sales", "admin"):
            client = self.web_client(users[role])
            requests = [(f"/customers/{c.pk}/", {}) for c in samples[role]]
            self.measure("360", "html page", role, client, requests)
        for role in ("sales", "admin"):
            client = clients[role]
            requests = []
            for c in samples[role]:
                requests += [(f"/api/v1/customers/{c.pk}{p}", {}) for p in ("", "/timeline")]
            self.measure("360", "api detail+timeline", role, client, requests)
        return {"visible": counts}

    def deep_cursor(self, qs, count: int) -> str:
        """A cursor in the middle of the user's list (what page count/100 would send)."""
        row = (
            qs.order_by("-created_at", "-id").values("created_at", "id")[
                count // 2 : count // 2 + 1
            ]
        )[0]
        raw = json.dumps([row["created_at"].isoformat(), row["id"]], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    # Import --------------------------------------------------------------------------------

    def run_import(self, csv_path: Path) -> dict:
        """Import the CSV as the admin inside a transaction that is rolled back, so the
        bench database keeps exactly its generated customers."""
        from django.db import transaction

        from guanxi.accounts.models import User
        from guanxi.customers import importing
        from guanxi.customers.models import Customer

        admin = User.objects.get(username="bench_admin")
        before = Customer.objects.count()
        size = csv_path.stat().st_size
        print(f"\nimport of {csv_path.name} ({size / 1e6:.1f} MB) as admin, match by external id")
        result = {}
        with transaction.atomic():
            t0 = time.perf_counter()
            with csv_path.open("rb") as fh:
                job = importing.import_start(
                    actor=admin, fileobj=fh, filename=csv_path.name, match_by="external_id"
                )
            t1 = time.perf_counter()
            job = importing.import_check(job=job)
            t2 = time.perf_counter()
            checked = job.status
            job = importing.import_commit(job=job)
            t3 = time.perf_counter()
            # What COMMIT would add: PostgreSQL checks the deferred foreign keys then
            # (SQLite checks them on each insert, so its figure already includes them).
            deferred = 0.0
            if self.connection.vendor == "postgresql":
                with self.connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                deferred = time.perf_counter() - t3
            after = Customer.objects.count()
            rows = job.total_rows
            result = {
                "group": "import",
                "rows": rows,
                "status_after_check": checked,
                "status": job.status,
                "created": job.created_count,
                "skipped": job.skipped_count,
                "message": job.message,
                "errors_sample": job.errors[:5],
                "upload_seconds": round(t1 - t0, 2),
                "check_seconds": round(t2 - t1, 2),
                "commit_seconds": round(t3 - t2, 2),
                "check_rows_per_s": round(rows / (t2 - t1)),
                "commit_rows_per_s": round(rows / (t3 - t2)),
                "deferred_fk_check_seconds": round(deferred, 2),
                "commit_with_fk_checks_rows_per_s": round(rows / (t3 - t2 + deferred)),
                "total_rows_per_s": round(rows / (t3 - t0)),
                "customers_added": after - before,
                "target_rows_per_s": IMPORT_TARGET,
                "load_average": [round(v, 2) for v in os.getloadavg()],
            }
            transaction.set_rollback(True)
        result["meets_target"] = result["commit_rows_per_s"] >= IMPORT_TARGET
        if job.status != "done":
            print(f"  import did not finish: {job.status} {job.message} {job.errors[:3]}")
        print(
            f"  upload+count {result['upload_seconds']}s, check (dry run) "
            f"{result['check_seconds']}s = {result['check_rows_per_s']:,} rows/s, commit "
            f"(check + write) {result['commit_seconds']}s = {result['commit_rows_per_s']:,} "
            f"rows/s (with the deferred foreign-key checks of COMMIT: "
            f"{result['commit_with_fk_checks_rows_per_s']:,}); "
            f"whole flow {result['total_rows_per_s']:,} rows/s "
            f"({'ok' if result['meets_target'] else 'MISSED'}; rolled back)"
        )
        return result


# Reporting -------------------------------------------------------------------------------


def machine() -> dict:
    info = {"nproc": os.cpu_count(), "python": platform.python_version()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gb"] = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    return info


def database_version() -> str:
    from django.db import connection

    with connection.cursor() as cur:
        if connection.vendor == "sqlite":
            cur.execute("SELECT sqlite_version()")
            return "SQLite " + cur.fetchone()[0]
        cur.execute("SHOW server_version")
        version = cur.fetchone()[0]
        # The figures depend on the server's memory settings: say which were in force.
        settings = []
        for name in ("shared_buffers", "max_wal_size"):
            cur.execute(f"SHOW {name}")
            settings.append(f"{name} {cur.fetchone()[0]}")
        return f"PostgreSQL {version} ({', '.join(settings)})"


def print_table(results: list[dict]) -> None:
    print(f"\n{'what':<36} {'role':<8} {'p50 ms':>8} {'p95 ms':>8} {'target':>8}  {'':<6} queries")
    for r in results:
        print(
            f"{r['group'] + ' / ' + r['name']:<36} {r['role']:<8} {r['p50_ms']:>8.1f} "
            f"{r['p95_ms']:>8.1f} {'<' + str(int(r['target_p95_ms'])):>8}  "
            f"{'ok' if r['meets_target'] else 'MISSED':<6} {r['queries']}"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Guanxi benchmarks at scale")
    parser.add_argument("--db", choices=["sqlite", "postgres"], required=True)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--fresh", action="store_true", help="regenerate the data")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per case")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--csv-rows", type=int, default=200_000)
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--only-import", action="store_true")
    parser.add_argument("--generate-only", action="store_true")
    args = parser.parse_args(argv)

    OUT.mkdir(parents=True, exist_ok=True)
    if args.fresh or not dataset_ok(args.db, args.customers, args.seed):
        print(f"preparing a fresh {args.db} bench database")
        wipe(args.db)
    ensure_database(args.db)
    configure_django(args.db)

    from django.core.management import call_command

    from bench import generate
    from guanxi.customers.models import Customer

    call_command("migrate", interactive=False, verbosity=0)
    # The pages use the production static storage (hashed names from a manifest).
    call_command("collectstatic", interactive=False, verbosity=0)
    dataset = None
    if not dataset_ok(args.db, args.customers, args.seed):
        print(f"generating {args.customers:,} customers (seed {args.seed})")
        dataset = generate.load(args.customers, seed=args.seed)
        marker_path(args.db).write_text(json.dumps(dataset, indent=2))
    else:
        dataset = json.loads(marker_path(args.db).read_text())
        found = Customer.objects.count()
        if found != args.customers:
            print(f"the bench database has {found:,} customers, expected {args.customers:,}")
            print("run again with --fresh")
            return 1
        print(f"reusing {found:,} generated customers")
    csv_path = OUT / f"import-{args.csv_rows}.csv"
    if not args.skip_import and not csv_path.exists():
        t0 = time.perf_counter()
        generate.write_csv(csv_path, args.csv_rows, seed=args.seed)
        print(f"wrote {csv_path} in {time.perf_counter() - t0:.1f}s")
    if args.generate_only:
        return 0

    from django.utils import timezone

    bench = Bench(args)
    report = {
        "date": timezone.now().isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "-m", "bench.run", *sys.argv[1:]]),
        "machine": machine(),
        "database": database_version(),
        "dataset": dataset,
        "load_average_start": [round(v, 2) for v in os.getloadavg()],
    }
    print(f"{report['database']}; {report['machine']}")
    if not args.only_import:
        report.update(bench.run())
        print_table(bench.results)
    report["results"] = bench.results
    if not args.skip_import:
        report["import"] = bench.run_import(csv_path)
    explain_path = OUT / f"explain-{args.db}.txt"
    if bench.plans:
        explain_path.write_text("\n".join(bench.plans))
        print("\nquery plans (also in " + str(explain_path) + ")\n")
        print("\n".join(bench.plans))
    report["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    print(
        f"load average: {report['load_average_start']} at the start, "
        f"{report['load_average_end']} at the end"
    )
    results_path = OUT / f"results-{args.db}.json"
    if results_path.exists() and (args.only_import or args.skip_import):
        # Keep the other half of an earlier run's figures.
        previous = json.loads(results_path.read_text())
        if args.only_import:
            previous["import"] = report["import"]
            report = previous
        elif "import" in previous:
            report["import"] = previous["import"]
    results_path.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(f"results written to {results_path}")
    shutil.rmtree(OUT / "data" / "media", ignore_errors=True)  # uploaded import copies
    return 0


if __name__ == "__main__":
    sys.exit(main())
