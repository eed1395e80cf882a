"""Screenshots of the customer pages, to look at (not a test; pytest does not collect it).

    .venv/bin/python tests/web/screens.py [--out /tmp/screens] [--port 8765]

Creates a fresh SQLite database under /tmp/guanxi-screens, fills it with sample
customers through the services, starts ``manage.py runserver`` and takes PNGs at
1366×900 and 375×812, in Chinese and English, with Playwright and Debian's chromium.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python")
DATA = Path("/tmp/guanxi-screens")
PASSWORD = "Screens-Pass-42"


def seed() -> str:
    """Sample data, written through the services (run inside ``manage.py shell``).
    Returns the ids the pages need: "company,twin_a,twin_b,import_job"."""
    import io

    from guanxi.accounts import services as account_services
    from guanxi.accounts.models import Team, User
    from guanxi.customers import importing, services

    east = Team.objects.create(name="华东")
    admin = User.objects.create_user(
        "admin", password=PASSWORD, role="admin", team=east, display_name="管理员"
    )
    alice = User.objects.create_user(
        "alice", password=PASSWORD, role="sales", team=east, display_name="刘晓"
    )
    services.custom_field_create(
        actor=admin, data={"key": "wechat_id", "label": "微信号", "type": "text"}
    )
    services.custom_field_create(
        actor=admin,
        data={
            "key": "size",
            "label": "企业规模",
            "type": "choice",
            "choices": "小;中;大",
            "position": 1,
        },
    )
    services.custom_field_create(
        actor=admin,
        data={"key": "channels", "label": "购买渠道", "type": "multi", "choices": "天猫;京东;门店"},
    )
    services.custom_field_create(
        actor=admin, data={"key": "member", "label": "会员", "type": "bool"}
    )
    services.tag_create(actor=admin, name="VIP", color="#d97706")
    services.tag_create(actor=admin, name="回头客", color="#16a34a")
    services.tag_create(actor=admin, name="价格敏感", color="#7c3aed")
    people = [
        (
            "张伟",
            "13812345678",
            "zhangwei@example.com",
            "customer",
            "A",
            "上海",
            "上海",
            "tmall",
            "VIP, 回头客",
        ),
        ("李娜", "13900001111", "lina@example.cn", "vip", "A", "浙江", "杭州", "jd", "VIP"),
        ("王芳", "13700002222", "", "lead", "", "江苏", "南京", "douyin", ""),
        (
            "陈静",
            "13600003333",
            "chenjing@example.com",
            "prospect",
            "B",
            "广东",
            "深圳",
            "wechat",
            "价格敏感",
        ),
        ("刘洋", "", "liuyang@example.com", "dormant", "C", "北京", "北京", "website", ""),
        ("赵敏", "13500004444", "", "lost", "D", "四川", "成都", "offline", "回头客"),
        (
            "孙丽",
            "13400005555",
            "sunli@example.com",
            "customer",
            "B",
            "湖北",
            "武汉",
            "pinduoduo",
            "",
        ),
    ]
    for i, (name, phone, email, stage, grade, prov, city, source, tags) in enumerate(people):
        services.customer_create(
            actor=alice if i % 2 else admin,
            data={
                "name": name,
                "phone": phone,
                "email": email,
                "stage": stage,
                "grade": grade,
                "province": prov,
                "city": city,
                "source": source,
                "tags": tags,
                "gender": "female" if i % 2 else "male",
                "birthday": f"19{80 + i}-0{i + 1}-1{i}",
                "custom": {"wechat_id": f"wx_{i}", "member": bool(i % 2)},
            },
        )
    for i in range(40):
        services.customer_create(
            actor=alice,
            data={"name": f"测试客户{i:02d}", "stage": "lead", "phone": f"1380000{i:04d}"},
        )
    company = services.customer_create(
        actor=admin,
        data={
            "name": "上海星光贸易有限公司",
            "kind": "company",
            "phone": "021-6888 8888",
            "stage": "vip",
            "grade": "A",
            "province": "上海",
            "city": "上海",
            "district": "浦东新区",
            "address": "世纪大道 100 号 18 楼",
            "source": "exhibition",
            "tags": "VIP",
            "external_id": "ERP-10086",
            "notes": "年度框架合同，每季度回访。\nAnnual contract; quarterly review.",
            "custom": {
                "size": "大",
                "channels": ["天猫", "门店"],
                "wechat_id": "xingguang_sh",
                "member": True,
            },
        },
    )
    services.contact_create(
        actor=admin,
        customer=company,
        data={
            "name": "陈经理",
            "title": "采购总监",
            "phone": "13900009999",
            "email": "chen@xingguang.cn",
            "is_primary": True,
        },
    )
    services.contact_create(
        actor=admin,
        customer=company,
        data={"name": "周小姐", "title": "财务", "phone": "13900008888"},
    )
    services.customer_update(
        actor=admin, customer=company, data={"stage": "customer", "grade": "B"}
    )
    services.customer_update(
        actor=admin, customer=company, data={"stage": "vip", "tags": "VIP, 回头客"}
    )
    services.consent_set(
        actor=admin, customer=company, channel="email", granted=True, source="展会登记表"
    )
    services.consent_set(
        actor=admin, customer=company, channel="sms", granted=False, source="客户来电"
    )
    # A duplicate pair, an API token and a checked import with bad rows.
    twin_a = services.customer_create(
        actor=admin,
        data={
            "name": "周杰",
            "phone": "13811112222",
            "email": "zhoujie@example.com",
            "city": "杭州",
        },
    )
    twin_b = services.customer_create(
        actor=alice, data={"name": "周 杰", "phone": "+86 138-1111-2222", "stage": "prospect"}
    )
    account_services.token_create(actor=admin, name="门店同步")
    csv = (
        "姓名,手机,邮箱,省份,城市\n"
        "吴磊,13812340001,wulei@example.com,浙江省,杭州市\n"
        "郑爽,abc,zs@example,上海市,上海市\n"
    )
    job = importing.import_start(
        actor=admin, fileobj=io.BytesIO(csv.encode()), filename="客户名单.csv"
    )
    importing.import_check(job=job)
    return f"{company.pk},{twin_a.pk},{twin_b.pk},{job.pk}"


def env() -> dict:
    e = dict(os.environ)
    e.update(
        GUANXI_DATA_DIR=str(DATA),
        DATABASE_URL=f"sqlite:///{DATA / 'db.sqlite3'}",
        GUANXI_DEBUG="1",
        GUANXI_HTTPS="0",
        GUANXI_SECRET_KEY="screens-only-not-secret",
        GUANXI_LOG_LEVEL="WARNING",
    )
    return e


def prepare() -> list[int]:
    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)
    manage = [PYTHON, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env(), check=True, cwd=ROOT)
    code = f"import runpy; runpy.run_path({str(Path(__file__))!r}, run_name='seed')"
    out = subprocess.run(
        [*manage, "shell", "-c", code],
        env=env(),
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return [int(x) for x in out.stdout.strip().splitlines()[-1].split(",")]


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"server did not answer at {url}")


def shoot(base: str, out: Path, ids: list[int]) -> list[Path]:
    from playwright.sync_api import sync_playwright

    company_id, twin_a, twin_b, job_id = ids
    pages = [
        ("dashboard", "/"),
        ("list", "/customers/"),
        ("list-filtered", "/customers/?q=zw&tag=1"),
        ("detail", f"/customers/{company_id}/"),
        ("create", "/customers/new/"),
        ("edit", f"/customers/{company_id}/edit/"),
        ("settings", "/customers/settings/"),
        ("duplicates", "/customers/duplicates/"),
        ("merge", f"/customers/merge/?ids={twin_a},{twin_b}"),
        ("import", "/customers/import/"),
        ("import-report", f"/customers/import/{job_id}/"),
        ("users", "/accounts/users/"),
        ("tokens", "/accounts/tokens/"),
    ]
    shots = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        for lang in ("zh-hans", "en"):
            for width, height in ((1366, 900), (375, 812)):
                context = browser.new_context(viewport={"width": width, "height": height})
                context.add_cookies([{"name": "django_language", "value": lang, "url": base}])
                page = context.new_page()
                page.goto(f"{base}/accounts/login/")
                file = out / f"login-{lang}-{width}.png"
                page.screenshot(path=str(file))
                shots.append(file)
                page.fill("#id_username", "admin")
                page.fill("#id_password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_load_state("networkidle")
                for name, path in pages:
                    page.goto(base + path)
                    page.wait_for_load_state("networkidle")
                    page.wait_for_timeout(1200 if name == "dashboard" else 100)  # chart animation
                    file = out / f"{name}-{lang}-{width}.png"
                    tall = page.evaluate("document.documentElement.scrollHeight")
                    clip = {"x": 0, "y": 0, "width": width, "height": min(tall, 1800)}
                    page.screenshot(path=str(file), full_page=True, clip=clip)
                    shots.append(file)
                # The create form after a refused submit (bad phone, required fields).
                page.goto(f"{base}/customers/new/")
                page.fill("#id_name", "测试")
                page.fill("#id_phone", "abc")
                page.click(".form-actions button[type=submit]")
                page.wait_for_load_state("networkidle")
                file = out / f"create-errors-{lang}-{width}.png"
                page.screenshot(path=str(file), full_page=True)
                shots.append(file)
                # Live search through htmx: type, wait for the table to be replaced.
                page.goto(f"{base}/customers/")
                page.fill("#f-q", "zhang")
                page.wait_for_timeout(900)
                file = out / f"list-htmx-{lang}-{width}.png"
                page.screenshot(path=str(file), full_page=False)
                shots.append(file)
                if width < 800:
                    page.goto(f"{base}/customers/")
                    page.click(".menu-toggle")
                    file = out / f"menu-open-{lang}-{width}.png"
                    page.screenshot(path=str(file))
                    shots.append(file)
                context.close()
        browser.close()
    return shots


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="/tmp/screens")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ids = prepare()
    base = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen(
        [PYTHON, str(ROOT / "manage.py"), "runserver", "--noreload", f"127.0.0.1:{args.port}"],
        env=env(),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=open(DATA / "server.log", "w"),  # noqa: SIM115
    )
    try:
        wait_for(base + "/healthz")
        for file in shoot(base, out, ids):
            print(file)
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "seed":
    print(seed())
elif __name__ == "__main__":
    sys.exit(main())
