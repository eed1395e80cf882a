"""Commerce and analytics at scale: ``python -m bench.run_commerce --db sqlite|postgres``.

Uses the bench database of ``bench.run`` (1M customers; run that first), adds 5M
generated orders (``bench.orders``) unless they are there, times the full statistics
rebuild, then measures through the Django stack:

- webhook ingestion on one process (Django test client, signed events, placed then paid
  for new orders of existing buyers): one event per request and 100 per request, then
  the statistics consumer (``process_order_events``) that a worker would run;
- the KPI dashboard API (last 30 days and last month, all stores and one, admin and a
  sales rep);
- RFM recompute and overview, group analysis of all customers, cohorts, churn report
  and the churn rule selection;
- the CLV refit of every customer.

The webhook's orders are deleted again afterwards (and their customers' statistics
recomputed), so the data set stays the same between runs. Writes
``bench/out/commerce-<db>.json`` and ``bench/out/commerce-explain-<db>.txt``.
"""

import argparse
import datetime
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

from bench.run import (
    OUT,
    configure_django,
    database_version,
    ensure_database,
    machine,
    percentile,
)

KPI_TARGET_MS = 300.0
ANALYSIS_TARGET_S = 2.0
CLV_TARGET_S = 60.0
INGEST_TARGET = 1000.0  # events/s


def marker_path(db: str) -> Path:
    if os.environ.get("BENCH_DATABASE_URL"):
        return Path(os.environ["BENCH_DATABASE_URL"].split("///")[-1] + ".orders.json")
    return OUT / f"orders-{db}.json"


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


class Timer:
    def __init__(self):
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


class Commerce:
    def __init__(self, args):
        from django.db import connection

        self.args = args
        self.connection = connection
        self.results: list[dict] = []
        self.plans: list[str] = []

    # Helpers --------------------------------------------------------------------------------

    def api_client(self, user):
        from django.test import Client

        from guanxi.accounts.models import ApiToken

        raw, prefix, digest = ApiToken.generate()
        ApiToken.objects.create(user=user, name="bench-commerce", prefix=prefix, digest=digest)
        return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    def record(self, **result) -> dict:
        result["load_average"] = load_average()
        self.results.append(result)
        shown = {k: v for k, v in result.items() if k not in ("example", "queries_top")}
        print("  " + json.dumps(shown, ensure_ascii=False), flush=True)
        return result

    def repeat_count(self, first_seconds: float) -> int:
        """≥ 30 timed runs, fewer only for operations that take many seconds each."""
        if first_seconds > 20:
            return 1
        if first_seconds > 5:
            return 3
        if first_seconds > 1.5:
            return 10
        return self.args.requests

    def time_requests(self, group, name, role, call, *, target_ms=None, count=None) -> dict:
        """Call ``call()`` (returns a response) once to capture its queries, then time
        ``count`` calls (≥ 30 unless each takes seconds)."""
        captured: list[tuple[float, str, object]] = []

        def capture(execute, sql, params, many, context):
            t = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                captured.append(((time.perf_counter() - t) * 1000, sql, params))

        t = Timer()
        with self.connection.execute_wrapper(capture):
            response = call()
        first = t.seconds
        if response.status_code != 200:
            raise SystemExit(
                f"{group}/{name}/{role}: HTTP {response.status_code}: {response.content[:500]!r}"
            )
        count = count or self.repeat_count(first)
        times = []
        for _i in range(count):
            t = Timer()
            response = call()
            times.append(t.seconds * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{group}/{name}/{role}: HTTP {response.status_code}")
        top = sorted(captured, key=lambda q: -q[0])[:3]
        result = self.record(
            group=group,
            name=name,
            role=role,
            requests=count,
            first_ms=round(first * 1000, 1),
            p50_ms=round(percentile(times, 50), 1),
            p95_ms=round(percentile(times, 95), 1),
            max_ms=round(max(times), 1),
            mean_ms=round(statistics.fmean(times), 1),
            queries=len(captured),
            queries_top=[(round(ms, 1), sql[:300]) for ms, sql, _p in top],
            target_p95_ms=target_ms,
            meets_target=None if target_ms is None else percentile(times, 95) < target_ms,
        )
        if top and (target_ms is None or result["p95_ms"] >= target_ms * 0.5):
            ms, sql, params = top[0]
            self.explain(f"{group} / {name} / {role} (slowest query, {ms:.0f} ms)", sql, params)
        return result

    def explain(self, title: str, sql: str, params) -> None:
        try:
            with self.connection.cursor() as cur:
                if self.connection.vendor == "sqlite":
                    cur.execute("EXPLAIN QUERY PLAN " + sql, params)
                    plan = "\n".join(f"  {row[-1]}" for row in cur.fetchall())
                else:
                    cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                    plan = "\n".join(f"  {row[0]}" for row in cur.fetchall())
                shown = cur.db.ops.last_executed_query(cur.cursor, sql, params)
        except Exception as exc:  # a plan is a bonus, never a failure
            plan, shown = f"  (no plan: {exc})", sql
        self.plans.append(f"-- {title}\n{shown}\n{plan}\n")

    # Webhook ingestion ----------------------------------------------------------------------

    def run_webhook(self) -> None:
        from django.db import connection
        from django.test import Client

        from guanxi.analytics import stats
        from guanxi.commerce.models import Product, Store, StoreBuyer
        from guanxi.commerce.webhooks import sign

        store = Store.objects.get(code="tmall-flagship")
        secret = store.webhook_secret
        rng = random.Random(self.args.seed)
        hi = StoreBuyer.objects.filter(store=store).order_by("-id").values_list("id", flat=True)[0]
        n_orders = self.args.webhook_orders
        buyers: list[str] = []
        while len(buyers) < 2 * n_orders:
            ids = rng.sample(range(1, hi + 1), 4 * n_orders)
            buyers += list(
                StoreBuyer.objects.filter(store=store, id__in=ids).values_list(
                    "buyer_external_id", flat=True
                )
            )
        rng.shuffle(buyers)
        products = list(Product.objects.values_list("sku", "name", "price", "cost")[:300])
        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        run = now.strftime("%H%M%S")

        def order_events(k: int, buyer: str, prefix: str) -> list[dict]:
            lines = rng.sample(products, rng.choice([1, 1, 2, 2, 3]))
            items = [
                {
                    "sku": sku,
                    "name": name,
                    "quantity": 1,
                    "unit_price": str(price),
                    "unit_cost": str(cost),
                }
                for sku, name, price, cost in lines
            ]
            goods = sum(p for _s, _n, p, _c in lines)
            placed = now - datetime.timedelta(minutes=30) + datetime.timedelta(seconds=k)
            base = {
                "order_id": f"BENCH-{prefix}{run}-{k:06d}",
                "buyer": {"external_id": buyer},
            }
            return [
                {
                    **base,
                    "event": "placed",
                    "occurred_at": placed.isoformat(),
                    "items": items,
                    "amounts": {"goods": str(goods), "discount": "0", "shipping": "0"},
                },
                {
                    **base,
                    "event": "paid",
                    "occurred_at": (placed + datetime.timedelta(seconds=40)).isoformat(),
                    "amounts": {"paid": str(goods)},
                },
            ]

        client = Client()
        url = f"/commerce/webhooks/{store.code}/"

        def post(body: bytes):
            response = client.post(
                url,
                body,
                content_type="application/json",
                HTTP_X_GUANXI_SIGNATURE=sign(secret, body),
            )
            if response.status_code != 200:
                raise SystemExit(
                    f"webhook: HTTP {response.status_code}: {response.content[:500]!r}"
                )
            return response

        # Warm up (not counted): a few orders.
        for k in range(5):
            for ev in order_events(k, buyers[-1 - k], "W"):
                post(json.dumps(ev).encode())
        stats.process_events()

        for mode, per_request in (("one event per request", 1), ("100 events per request", 100)):
            half = buyers[:n_orders] if per_request == 1 else buyers[n_orders : 2 * n_orders]
            prefix = "S" if per_request == 1 else "B"
            events = []
            for k, buyer in enumerate(half):
                events += order_events(k, buyer, prefix)  # placed then paid, order by order
            if per_request == 1:
                bodies = [json.dumps(ev).encode() for ev in events]
            else:
                bodies = [
                    json.dumps({"events": events[i : i + per_request]}).encode()
                    for i in range(0, len(events), per_request)
                ]
            latencies = []
            t = Timer()
            for body in bodies:
                t1 = time.perf_counter()
                post(body)
                latencies.append((time.perf_counter() - t1) * 1000)
            ingest = t.seconds
            t = Timer()
            handled = stats.process_events()
            consume = t.seconds
            t = Timer()
            stats.process_events()  # what every further queued task run costs: a poll
            idle_poll = t.seconds
            rate_ingest = len(events) / ingest
            rate_both = len(events) / (ingest + consume)
            self.record(
                group="webhook",
                name=mode,
                role="system",
                events=len(events),
                requests=len(bodies),
                seconds_ingest=round(ingest, 2),
                events_per_s_ingest=round(rate_ingest),
                p50_ms_request=round(percentile(latencies, 50), 2),
                p95_ms_request=round(percentile(latencies, 95), 2),
                consumer_events=handled,
                seconds_consumer=round(consume, 2),
                events_per_s_consumer=round(handled / consume) if consume else None,
                events_per_s_ingest_and_consumer=round(rate_both),
                idle_consumer_poll_ms=round(idle_poll * 1000, 1),
                target_events_per_s=INGEST_TARGET,
                meets_target=rate_both >= INGEST_TARGET,
            )
        # The query the consumer runs to find its work, with the plan.
        from guanxi.analytics.stats import CONSUMER, EVENT_NAMES
        from guanxi.core import events as core_events

        qs = core_events.pending(CONSUMER, EVENT_NAMES, limit=1000)
        sql, params = qs.query.sql_with_params()
        self.explain("consumer: pending events (events.pending)", sql, params)
        self.cleanup_webhook()
        connection.close()

    def cleanup_webhook(self, *, refresh: bool = True) -> None:
        """Delete the orders the webhook bench created and restore their customers
        (``refresh``; not needed right before a full rebuild)."""
        from django.db import transaction
        from django.db.models import Q

        from guanxi.analytics import stats
        from guanxi.analytics.models import OrderContribution
        from guanxi.commerce.models import Order, OrderEvent, OrderItem
        from guanxi.core.models import BusinessEvent, ProcessedEvent

        with transaction.atomic():
            orders = Order.objects.filter(external_id__startswith="BENCH-")
            ids = list(orders.values_list("id", flat=True))
            customers = set(orders.values_list("customer_id", flat=True))
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                OrderContribution.objects.filter(order_id__in=chunk).delete()
                OrderItem.objects.filter(order_id__in=chunk).delete()
                events = BusinessEvent.objects.filter(model="commerce.order", object_id__in=chunk)
                ProcessedEvent.objects.filter(event__in=events).delete()
                events.delete()
            OrderEvent.objects.filter(external_order_id__startswith="BENCH-").delete()
            Order.objects.filter(id__in=ids).delete() if len(ids) < 30_000 else orders.delete()
            if refresh:
                stats.refresh_customers(customers)
            try:
                from django_tasks_db.models import DBTaskResult

                DBTaskResult.objects.filter(Q(task_path__endswith="process_order_events")).delete()
            except Exception as exc:  # the task table is a detail of the backend
                print(f"  (task rows not deleted: {exc})")
        print(f"  removed {len(ids):,} bench orders; {len(customers):,} customers recomputed")

    # KPI dashboard -------------------------------------------------------------------------

    def run_kpi(self, users: dict) -> None:
        from bench.orders import END_LOCAL
        from guanxi.commerce.models import Store

        last_day = (END_LOCAL - datetime.timedelta(days=1)).date()
        month_end = last_day.replace(day=1) - datetime.timedelta(days=1)
        periods = {
            "last 30 days": (last_day - datetime.timedelta(days=29), last_day),
            "last month": (month_end.replace(day=1), month_end),
        }
        from guanxi.accounts.models import User

        store = Store.objects.get(code="tmall-flagship")
        # A team manager (bench_mgr1: own customers and the team's) besides the admin and
        # a sales rep.
        users = {**users}
        users.setdefault("manager", User.objects.get(username="bench_mgr1"))
        for role in ("admin", "sales", "manager"):
            client = self.api_client(users[role])
            for pname, (start, end) in periods.items():
                for sname, sid in (("all stores", None), ("one store", store.pk)):
                    params = {"start": start.isoformat(), "end": end.isoformat()}
                    if sid:
                        params["store"] = sid
                    self.time_requests(
                        "kpi",
                        f"{pname}, {sname}",
                        role,
                        lambda c=client, p=params: c.get("/api/v1/kpi", p),
                        target_ms=KPI_TARGET_MS,
                        count=self.args.requests,
                    )

    # Analyses --------------------------------------------------------------------------------

    def run_rfm(self, users: dict) -> None:
        """RFM recompute (a first run that scores every customer, then a rerun that
        finds nothing to change) and the overview for the admin and a sales rep."""
        from bench.orders import END
        from guanxi.analytics import rfm
        from guanxi.analytics.models import CustomerRfm

        # The first run: every customer's scores are written, as after the first
        # statistics rebuild (the rebuild itself keeps scores already there).
        CustomerRfm.objects.all()._raw_delete(CustomerRfm.objects.db)
        for attempt in ("first run", "rerun"):
            t = Timer()
            summary = rfm.rfm_recompute(as_of=END)
            seconds = t.seconds
            self.record(
                group="rfm",
                name=f"recompute ({attempt})",
                role="system",
                customers=summary["customers"],
                rows_written=summary.get("changed"),
                seconds=round(seconds, 2),
                target_s=ANALYSIS_TARGET_S,
                meets_target=seconds < ANALYSIS_TARGET_S,
            )
        for role in ("admin", "sales"):
            client = self.api_client(users[role])
            self.time_requests(
                "rfm",
                "overview (GET /analytics/rfm)",
                role,
                lambda c=client: c.get("/api/v1/analytics/rfm"),
                target_ms=ANALYSIS_TARGET_S * 1000,
            )

    def run_analyses(self, users: dict) -> None:
        from bench.orders import END, END_LOCAL
        from guanxi.analytics import churn, groups

        until = (END_LOCAL - datetime.timedelta(days=1)).date().isoformat()
        self.run_rfm(users)
        clients = {role: self.api_client(u) for role, u in users.items()}
        # The analyses' order facts (guanxi.analytics.facts): built by the statistics
        # rebuild; on a database rebuilt before they existed, build them here (timed).
        from guanxi.analytics import facts
        from guanxi.analytics.models_facts import GroupBaseline

        if not facts.is_built():
            t = Timer()
            n = facts.refresh_facts()
            self.record(
                group="facts",
                name="full refresh (refresh_facts)",
                role="system",
                customers=n,
                seconds=round(t.seconds, 1),
            )
        # Group analysis: all dimensions, a group against all visible customers. The
        # "all customers" side is kept per scope: the first request ("first_ms")
        # counts it, the timed ones reuse it.
        GroupBaseline.objects.all().delete()
        for role in ("admin", "sales"):
            for fname, filters in (
                ("VIP customers", {"stage": "vip"}),
                ("tag 高价值", {"tag": "高价值"}),
            ):
                body = json.dumps({"filters": filters})
                self.time_requests(
                    "groups",
                    f"analysis, all dimensions: {fname}",
                    role,
                    lambda c=clients[role], b=body: c.post(
                        "/api/v1/analytics/groups/analysis", b, content_type="application/json"
                    ),
                    target_ms=ANALYSIS_TARGET_S * 1000,
                )
        # What each side costs (admin): the group side as a request reads it (one pass,
        # ``groups.group_side``), the all side (kept per scope) dimension by dimension.
        from guanxi.customers.selectors import apply_filters, customers_visible

        admin = users["admin"]
        use_facts = facts.is_built()
        for fname, filters in (("VIP", {"stage": "vip"}), ("tag 高价值", {"tag": "高价值"})):
            t = Timer()
            _counts, n = groups.group_side(
                apply_filters(customers_visible(admin), filters),
                groups.DIMENSIONS,
                use_facts=use_facts,
            )
            self.record(
                group="groups",
                name=f"group side, all dimensions (admin, {fname})",
                role="admin",
                customers=n,
                seconds=round(t.seconds, 3),
            )
        parts = {}
        for dim in groups.DIMENSIONS:
            t = Timer()
            dim.counts(customers_visible(admin), use_facts)
            parts[dim.key] = round(t.seconds, 3)
        self.record(
            group="groups",
            name="seconds per dimension (admin, all side: cached per scope)",
            role="admin",
            total=round(sum(parts.values()), 2),
            **parts,
        )
        for role in ("admin", "sales"):
            self.time_requests(
                "cohorts",
                "12 months (GET /analytics/cohorts)",
                role,
                lambda c=clients[role]: c.get(
                    "/api/v1/analytics/cohorts", {"months": 12, "until": until}
                ),
                target_ms=ANALYSIS_TARGET_S * 1000,
            )
            self.time_requests(
                "churn",
                "report, 12 months (GET /analytics/churn/report)",
                role,
                lambda c=clients[role]: c.get(
                    "/api/v1/analytics/churn/report", {"months": 12, "until": until}
                ),
                target_ms=ANALYSIS_TARGET_S * 1000,
            )
        t = Timer()
        candidates = churn.churn_candidates(as_of=END)
        self.record(
            group="churn",
            name="rule selection (churn_candidates)",
            role="system",
            candidates=len(candidates),
            seconds=round(t.seconds, 2),
        )

    def run_clv(self) -> None:
        """Two refits that each write every customer's new predictions (``bench.clv``)."""
        from bench import clv
        from bench.orders import END

        for result in clv.time_refits(END):
            self.record(group="clv", role="system", **result)


# Data ---------------------------------------------------------------------------------------


def wipe_orders() -> None:
    """Empty the commerce and analytics tables (customers stay)."""
    from django.db import connection

    from guanxi.analytics.models import ClvFit, CustomerStats, OrderContribution
    from guanxi.commerce.models import Order, OrderEvent, OrderItem, StoreBuyer
    from guanxi.core.models import BusinessEvent, ProcessedEvent

    models = [OrderContribution, CustomerStats, ClvFit, OrderItem, OrderEvent, Order, StoreBuyer]
    with connection.cursor() as cur:
        for model in models:
            table = model._meta.db_table
            if connection.vendor == "postgresql":
                cur.execute(f"TRUNCATE {table} CASCADE")
            else:
                cur.execute(f"DELETE FROM {table}")
    ProcessedEvent.objects.filter(event__name__startswith="order.").delete()
    BusinessEvent.objects.filter(name__startswith="order.").delete()


def prepare_orders(args) -> dict:
    from bench import orders
    from guanxi.commerce.models import Order

    path = marker_path(args.db)
    found = Order.objects.count()
    try:
        marker = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        marker = {}
    if (
        not args.fresh_orders
        and marker.get("orders") == args.orders
        and marker.get("seed") == args.seed
        and found == args.orders
    ):
        print(f"reusing {found:,} generated orders")
        return marker
    if found and not args.fresh_orders:
        # A data set that took half an hour to build is wiped only when asked: a wrong
        # count is more often another run's webhook orders than a stale data set.
        print(
            f"the bench database has {found:,} orders, its marker says {marker.get('orders')}: "
            "run again with --fresh-orders to regenerate them"
        )
        raise SystemExit(1)
    if found:
        print(f"removing {found:,} orders to generate afresh")
        wipe_orders()
    print(f"generating {args.orders:,} orders (seed {args.seed}); load average {load_average()}")
    marker = orders.load(args.orders, seed=args.seed)
    marker["rebuild_stats_seconds"] = rebuild_stats()
    path.write_text(json.dumps(marker, indent=2))
    return marker


def rebuild_stats() -> float:
    from django.core.management import call_command

    print(f"full statistics rebuild (manage.py rebuild_stats); load average {load_average()}")
    t = Timer()
    call_command("rebuild_stats")
    seconds = round(t.seconds, 1)
    print(f"  {seconds} s")
    return seconds


def claim_run(db: str) -> bool:
    """One run per database at a time: a second run would take the first one's webhook
    orders for leftovers of an interrupted run and delete them."""
    lock = OUT / f"commerce-{db}.pid"
    try:
        pid = int(lock.read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        lock.write_text(str(os.getpid()))
        import atexit

        atexit.register(lambda: lock.unlink(missing_ok=True))
        return True
    print(f"another bench.run_commerce (pid {pid}) is using this database; wait for it")
    return False


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Guanxi commerce and analytics benchmarks")
    parser.add_argument("--db", choices=["sqlite", "postgres"], required=True)
    parser.add_argument("--orders", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--fresh-orders", action="store_true", help="regenerate the orders")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per case")
    parser.add_argument("--webhook-orders", type=int, default=1000, help="orders per mode")
    parser.add_argument("--rebuild", action="store_true", help="time rebuild_stats again")
    parser.add_argument(
        "--only",
        default="webhook,kpi,analyses,clv",
        help="comma-separated: webhook, kpi, analyses, clv",
    )
    parser.add_argument("--generate-only", action="store_true")
    args = parser.parse_args(argv)

    OUT.mkdir(parents=True, exist_ok=True)
    if not claim_run(args.db):
        return 1
    if os.environ.get("BENCH_DATABASE_URL"):  # a small data set elsewhere, for trying out
        import bench.run

        bench.run.database_url = lambda db: os.environ["BENCH_DATABASE_URL"]
    else:
        ensure_database(args.db)
    configure_django(args.db)

    from django.core.management import call_command
    from django.utils import timezone

    from guanxi.accounts.models import User
    from guanxi.customers.models import Customer

    call_command("migrate", interactive=False, verbosity=0)
    customers = Customer.objects.count()
    if customers < 1000:
        print("no bench customers: run `python -m bench.run --db ... --generate-only` first")
        return 1
    from guanxi.commerce.models import Order

    if Order.objects.filter(id__gt=args.orders).exists():  # left by an interrupted run
        Commerce(args).cleanup_webhook(refresh=not args.rebuild)
    dataset = prepare_orders(args)
    if args.rebuild:
        dataset["rebuild_stats_seconds"] = rebuild_stats()
        marker_path(args.db).write_text(json.dumps(dataset, indent=2))
    if args.generate_only:
        return 0

    results_path = OUT / f"commerce-{args.db}.json"
    report = {
        "date": timezone.now().isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "-m", "bench.run_commerce", *sys.argv[1:]]),
        "machine": machine(),
        "database": database_version(),
        "customers": customers,
        "dataset": dataset,
        "load_average_start": load_average(),
    }
    print(f"{report['database']}; {report['machine']}; load average {report['load_average_start']}")
    bench = Commerce(args)
    users = {
        "admin": User.objects.get(username="bench_admin"),
        "sales": User.objects.get(username="bench_sales1_1"),
    }
    only = set(args.only.split(","))
    if "webhook" in only:
        print("\nwebhook ingestion (POST /commerce/webhooks/<store>/)")
        bench.run_webhook()
    if "kpi" in only:
        print("\nKPI dashboard (GET /api/v1/kpi)")
        bench.run_kpi(users)
    if "analyses" in only:
        print("\nRFM, groups, cohorts, churn")
        bench.run_analyses(users)
    if "clv" in only:
        print("\nCLV refit")
        bench.run_clv()
    report["load_average_end"] = load_average()
    report["results"] = bench.results
    if results_path.exists() and only != {"webhook", "kpi", "analyses", "clv"}:
        # Keep the other groups' figures of an earlier run.
        previous = json.loads(results_path.read_text())
        groups_run = {r["group"] for r in bench.results}
        kept = [r for r in previous.get("results", []) if r["group"] not in groups_run]
        report["results"] = kept + bench.results
    results_path.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    explain_path = OUT / f"commerce-explain-{args.db}.txt"
    explain_path.write_text("\n".join(bench.plans))
    print(f"results written to {results_path}, plans to {explain_path}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("GUANXI_LOG_LEVEL", "ERROR")
    sys.exit(main())
