# ruff: noqa: E402, E501
"""Benchmark: import N generated customers from CSV (default 100000) into DATABASE_URL.

DATABASE_URL=sqlite:////tmp/bench.sqlite3 .venv/bin/python tests/data/bench_import.py 100000
"""

import csv
import io
import os
import random
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
import django

django.setup()
from django.core.management import call_command
from django.db import connection

call_command("migrate", verbosity=0)
from guanxi.accounts.models import Team, User
from guanxi.customers import importing
from guanxi.customers.models import Customer

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
team = Team.objects.get_or_create(name="Bench")[0]
user = User.objects.filter(username="bench").first() or User.objects.create_user(
    username="bench", password="x", role="admin", team=team
)
rnd = random.Random(1)
surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
given = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"
provinces = [
    ("广东", "深圳"),
    ("浙江", "杭州"),
    ("北京", "北京"),
    ("上海", "上海"),
    ("四川", "成都"),
]
out = io.StringIO()
w = csv.writer(out)
w.writerow(
    ["姓名", "手机", "邮箱", "性别", "省份", "城市", "来源", "阶段", "客户等级", "标签", "外部ID"]
)
run_id = int(time.time())
for i in range(N):
    p, c = rnd.choice(provinces)
    w.writerow(
        [
            rnd.choice(surnames) + rnd.choice(given) + rnd.choice(given),
            f"13{rnd.randint(0, 9)}{i:08d}",
            f"u{i}.{run_id}@example.com",
            rnd.choice(["男", "女", ""]),
            p,
            c,
            rnd.choice(["taobao", "jd", "wechat", ""]),
            rnd.choice(["lead", "prospect", "customer"]),
            rnd.choice("ABCD"),
            rnd.choice(["VIP", "复购;VIP", "", "新客"]),
            f"B{run_id}-{i}",
        ]
    )
data = out.getvalue().encode("utf-8-sig")
print(f"{connection.vendor}: {N} rows, {len(data) / 1e6:.1f} MB")
before = Customer.objects.count()
t0 = time.perf_counter()
c0 = time.process_time()
job = importing.import_start(
    actor=user, fileobj=io.BytesIO(data), filename="bench.csv", match_by="phone"
)
t1 = time.perf_counter()
job = importing.import_commit(job=job)
t2 = time.perf_counter()
c2 = time.process_time()
assert job.status == "done", (job.status, job.message, job.errors[:3])
assert Customer.objects.count() - before == N
print(f"CPU time of this process: {c2 - c0:.1f}s => {N / (c2 - c0):,.0f} rows/s by CPU time")
print(
    f"start (store + count): {t1 - t0:.2f}s; check+write: {t2 - t1:.2f}s; total {t2 - t0:.2f}s "
    f"=> {N / (t2 - t0):,.0f} rows/s (commit only {N / (t2 - t1):,.0f} rows/s)"
)
job2 = importing.import_start(
    actor=user, fileobj=io.BytesIO(data), filename="bench.csv", match_by="phone"
)
t3 = time.perf_counter()
job2 = importing.import_check(job=job2)
t4 = time.perf_counter()
print(
    f"dry run of the same file (all matches, unchanged): {N / (t4 - t3):,.0f} rows/s, unchanged={importing.report(job2)['unchanged']}"
)
