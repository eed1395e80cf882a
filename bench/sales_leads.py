"""Lead import throughput: ``python -m bench.sales_leads --db sqlite|postgres``.

Uses its own data set (``BENCH_NAME``, default ``leads``: ``bench/out/leads/`` and
PostgreSQL ``guanxi_bench_leads``), never the shared 1M-customer databases. It

1. migrates the database, creates an administrator, 16 sales reps in 2 teams and two
   assignment rules (WeChat leads round-robin in one team, the rest in the other);
2. makes sure the leads table already holds ``--base`` leads (loaded once, through the
   same import, and kept), so look-ups by phone run against a realistic table;
3. generates a CSV of ``--rows`` new leads (Chinese names, unique mobiles, e-mails on
   40%, sources, campaigns, provinces; deterministic for ``--seed``) and, inside a
   transaction that is rolled back, times ``import_start`` → ``import_check`` (dry run)
   → ``import_commit`` (check again + write leads, audit entries, ``lead.created`` /
   ``lead.assigned`` events, one notification per owner), then the same file again
   (every row found by phone and unchanged: the idempotent re-import);
4. prints the figures and writes ``bench/out/<name>/results-leads-<db>.json``.
"""

import argparse
import csv
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

BENCH_NAME = os.environ.get("BENCH_NAME") or "leads"
OUT = Path(__file__).resolve().parent / "out" / BENCH_NAME
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DB = f"guanxi_bench_{BENCH_NAME}"

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾"
SURNAMES += "肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红建国建华志强海燕春梅"
SOURCES = ["wechat"] * 4 + ["website"] * 3 + ["exhibition", "referral", "douyin", "offline", ""]
PROVINCES = ["广东", "浙江", "江苏", "上海", "北京", "山东", "四川", "福建", "湖北", ""]
CAMPAIGNS = ["春季展会", "双十一预热", "官网咨询", "老客户推荐", "抖音直播", ""]
DOMAINS = ["qq.com", "163.com", "126.com", "gmail.com", "example.cn"]


def database_url(db: str) -> str:
    if db == "sqlite":
        return f"sqlite:///{OUT / 'bench.sqlite3'}"
    return os.environ.get("BENCH_PG_URL", f"postgres://postgres@127.0.0.1:5432/{PG_DB}")


def ensure_database(db: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    if db == "sqlite":
        return
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [PG_DB]).fetchone()
        if not found:
            conn.execute(f'CREATE DATABASE "{PG_DB}"')


def configure_django(db: str) -> None:
    os.environ["DATABASE_URL"] = database_url(db)
    os.environ["DJANGO_SETTINGS_MODULE"] = "guanxi.settings"
    os.environ["GUANXI_DATA_DIR"] = str(OUT / "data")
    os.environ["GUANXI_HTTPS"] = "0"
    os.environ.setdefault("GUANXI_LOG_LEVEL", "ERROR")
    import django

    django.setup()


def write_csv(path: Path, rows: int, *, first_phone: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["姓名", "手机", "邮箱", "公司", "来源", "活动", "省份", "留言"])
        for i in range(rows):
            name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
            phone = f"1{rng.choice('3589')}{first_phone + i:09d}"
            email = f"u{first_phone + i}@{rng.choice(DOMAINS)}" if rng.random() < 0.4 else ""
            company = f"{rng.choice(PROVINCES) or '杭州'}{rng.randint(1, 999)}号贸易有限公司"
            out.writerow(
                [
                    name,
                    phone,
                    email,
                    company if rng.random() < 0.5 else "",
                    rng.choice(SOURCES),
                    rng.choice(CAMPAIGNS),
                    rng.choice(PROVINCES),
                    "想了解报价" if rng.random() < 0.3 else "",
                ]
            )


def setup_people():
    from guanxi.accounts.models import Team, User
    from guanxi.sales.models import AssignmentRule

    admin, _ = User.objects.get_or_create(
        username="bench_admin", defaults={"role": "admin", "email": "admin@example.com"}
    )
    teams = [Team.objects.get_or_create(name=name)[0] for name in ("线索一组", "线索二组")]
    for t, team in enumerate(teams):
        for i in range(8):
            User.objects.get_or_create(
                username=f"lead_rep_{t}_{i}",
                defaults={"role": "sales", "team": team, "email": f"rep{t}{i}@example.com"},
            )
    if not AssignmentRule.objects.exists():
        AssignmentRule.objects.create(name="WeChat", position=1, source="wechat", team=teams[0])
        AssignmentRule.objects.create(name="Rest", position=2, team=teams[1])
    return admin


def run_import(admin, path: Path, match_by: str = "phone") -> dict:
    from guanxi.sales import importing_leads

    t0 = time.perf_counter()
    with path.open("rb") as fh:
        job = importing_leads.import_start(
            actor=admin, fileobj=fh, filename=path.name, match_by=match_by
        )
    t1 = time.perf_counter()
    job = importing_leads.import_check(job=job)
    t2 = time.perf_counter()
    created_in_check, bad = job.created_count, job.skipped_count
    job = importing_leads.import_commit(job=job, progress=False)
    t3 = time.perf_counter()
    rows = job.total_rows
    return {
        "rows": rows,
        "status": str(job.status),
        "new_rows_in_check": created_in_check,
        "bad_rows": bad,
        "created": job.created_count,
        "updated": job.updated_count,
        "message": job.message,
        "upload_seconds": round(t1 - t0, 2),
        "check_seconds": round(t2 - t1, 2),
        "commit_seconds": round(t3 - t2, 2),
        "check_rows_per_s": round(rows / (t2 - t1)),
        "commit_rows_per_s": round(rows / (t3 - t2)),
        "total_rows_per_s": round(rows / (t3 - t0)),
    }


def show(label: str, r: dict) -> None:
    print(
        f"  {label}: {r['rows']:,} rows, {r['status']}, created {r['created']:,}; "
        f"dry run {r['check_seconds']} s = {r['check_rows_per_s']:,} rows/s; commit "
        f"{r['commit_seconds']} s = {r['commit_rows_per_s']:,} rows/s; whole flow "
        f"{r['total_rows_per_s']:,} rows/s"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], required=True)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--base", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    ensure_database(args.db)
    configure_django(args.db)
    from django.core.management import call_command
    from django.db import connection, transaction

    from guanxi.sales.models import Lead

    call_command("migrate", verbosity=0, interactive=False)
    # Load the URLconf now, as a running web or worker process has (the import links
    # notifications to the lead list): its one-off import is not part of the import.
    from django.urls import reverse

    reverse("sales:leads")
    admin = setup_people()
    base = Lead.objects.count()
    if base < args.base:
        path = OUT / f"base-{args.base}.csv"
        write_csv(path, args.base - base, first_phone=base, seed=args.seed + 1)
        print(f"loading {args.base - base:,} base leads …", flush=True)
        show("base load", run_import(admin, path))
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE sales_lead")
        else:
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
    base = Lead.objects.count()
    path = OUT / f"new-{args.rows}.csv"
    write_csv(path, args.rows, first_phone=500_000_000, seed=args.seed)
    print(f"\nlead import on {args.db}: {args.rows:,} new rows, {base:,} leads in the table")
    with transaction.atomic():
        first = run_import(admin, path)
        show("new leads", first)
        again = run_import(admin, path)
        show("same file again (idempotent)", again)
        transaction.set_rollback(True)
    assert Lead.objects.count() == base
    result = {
        "db": args.db,
        "rows": args.rows,
        "leads_in_table": base,
        "new": first,
        "again": again,
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    (OUT / f"results-leads-{args.db}.json").write_text(json.dumps(result, indent=2))
    print(f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
