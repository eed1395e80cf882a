"""Every commerce and analytics page, desktop and phone, Chinese and English, with a
realistic shop behind it: a screenshot of each in /tmp/guanxi-screens (to look at), every
page answers 200 and none is wider than the phone's screen."""

import datetime
import random

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from guanxi.analytics import churn, clv_service, groups, rfm
from guanxi.commerce import services
from guanxi.commerce.models import Order, Product
from guanxi.customers.models import Customer
from tests.e2e.conftest import VIEWPORTS, login_as, make_customer, overflow, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PEOPLE = [
    ("张伟", "男", "浙江省", "杭州市", "1985-03-02"),
    ("王芳", "女", "上海市", "上海市", "1990-07-14"),
    ("李娜", "女", "江苏省", "南京市", "1988-11-30"),
    ("刘洋", "男", "广东省", "深圳市", "1995-01-09"),
    ("陈静", "女", "浙江省", "宁波市", "1979-05-21"),
    ("杨磊", "男", "北京市", "北京市", "2001-09-03"),
    ("赵敏", "女", "四川省", "成都市", "1993-12-12"),
    ("黄勇", "男", "湖北省", "武汉市", "1982-06-18"),
    ("周杰", "男", "浙江省", "杭州市", "1998-02-27"),
    ("吴丽", "女", "福建省", "厦门市", "1987-08-08"),
    ("徐强", "男", "山东省", "青岛市", "1975-04-04"),
    ("孙燕", "女", "江苏省", "苏州市", "1991-10-10"),
    ("马超", "男", "河南省", "郑州市", "1984-03-15"),
    ("朱婷", "女", "上海市", "上海市", "1996-07-01"),
    ("胡军", "男", "湖南省", "长沙市", "1980-01-25"),
    ("郭晶", "女", "浙江省", "温州市", "1999-11-11"),
    ("何平", "男", "广东省", "广州市", "1970-12-31"),
    ("高洁", "女", "北京市", "北京市", "1989-05-05"),
    ("林峰", "男", "福建省", "福州市", "1993-09-19"),
    ("郑爽", "女", "江苏省", "无锡市", "2000-02-02"),
]
GENDER = {"男": "male", "女": "female"}
CATALOGUE = [
    # sku, name, category path, price, cost
    ("TEA-LJ-250", "西湖龙井 250g 明前特级", ("茶叶", "绿茶"), "188.00", "92.00"),
    ("TEA-BLC-100", "碧螺春 100g", ("茶叶", "绿茶"), "96.00", "40.00"),
    ("TEA-PE-357", "普洱熟茶饼 357g", ("茶叶", "黑茶"), "268.00", "120.00"),
    ("TEA-DHP-200", "大红袍 200g 礼盒装", ("茶叶", "乌龙茶"), "358.00", "150.00"),
    ("CUP-GLASS", "双层玻璃杯 350ml", ("茶具", "杯子"), "45.00", "12.00"),
    ("POT-ZISHA", "宜兴紫砂壶 西施 220ml", ("茶具", "茶壶"), "680.00", "260.00"),
]


def _catalogue(admin):
    categories = {}
    for sku, name, path, price, cost in CATALOGUE:
        parent = None
        for depth in range(len(path)):
            key = path[: depth + 1]
            if key not in categories:
                categories[key] = services.category_create(
                    actor=admin, data={"name": key[-1], "parent": parent.pk if parent else ""}
                )
            parent = categories[key]
        services.product_create(
            actor=admin,
            data={
                "sku": sku,
                "name": name,
                "category": parent.pk,
                "price": price,
                "cost": cost,
            },
        )
    return {p.sku: p for p in Product.objects.all()}


def _lines(rng, products):
    chosen = rng.sample(list(products.values()), rng.choice([1, 1, 2, 3]))
    return [
        {
            "sku": p.sku,
            "name": p.name,
            "quantity": rng.choice([1, 1, 2]),
            "unit_price": str(p.price),
            "unit_cost": str(p.cost),
        }
        for p in chosen
    ]


@pytest.fixture
def shop(admin_user, alice):
    """Two stores, a small tea catalogue, 20 customers and 45 orders over ten months
    (placed, paid, shipped; a few unpaid, one cancelled, a partial and a full refund),
    all through the ingest service; then RFM scores, a CLV fit, the churn rules and a
    saved customer group, as the background tasks would leave them."""
    rng = random.Random(20240501)
    now = timezone.now()
    tmall = services.store_create(
        actor=admin_user,
        data={"code": "tmall-tea", "name": "天猫 · 西湖茶叶旗舰店", "channel": "tmall"},
    )
    web = services.store_create(
        actor=admin_user, data={"code": "web", "name": "官网商城", "channel": "web"}
    )
    products = _catalogue(admin_user)
    for n, (name, gender, province, city, birthday) in enumerate(PEOPLE):
        make_customer(
            admin_user,
            name,
            phone=f"1381234{n:04d}",
            gender=GENDER[gender],
            birthday=birthday,
            province=province,
            city=city,
            stage="customer",
            owner=alice.pk if n % 3 else admin_user.pk,
        )

    batches = {tmall: [], web: []}
    number = 0
    for n, (name, *_rest) in enumerate(PEOPLE):
        phone = f"1381234{n:04d}"
        # Loyal buyers order often; some bought once, long ago.
        count = [6, 5, 4, 4, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1][n]
        first = rng.randint(20, 300)
        days = sorted({rng.randint(0, first) for _ in range(count)} | {first}, reverse=True)
        for ago in days[:count]:
            number += 1
            store = tmall if number % 4 else web
            placed = now - datetime.timedelta(days=ago, hours=rng.randint(1, 12))
            lines = _lines(rng, products)
            base = {
                "order_id": f"TM{number:05d}",
                "buyer": {"external_id": f"buyer-{n}", "phone": phone, "name": name},
                "items": lines,
            }
            events = [dict(base, event="placed", occurred_at=placed.isoformat())]
            if number % 11 == 0 and ago < 30:
                batches[store] += events  # placed, never paid
                continue
            paid = placed + datetime.timedelta(minutes=rng.randint(1, 50))
            events.append(dict(base, event="paid", occurred_at=paid.isoformat()))
            if ago > 3:
                shipped = paid + datetime.timedelta(days=1)
                events.append(dict(base, event="shipped", occurred_at=shipped.isoformat()))
            batches[store] += events
    for store, events in batches.items():
        services.order_ingest_body(store=store, body={"events": events}, source="api")

    # A cancellation after payment, a partial refund, a full one.
    paid_orders = list(Order.objects.filter(paid_at__isnull=False).order_by("pk"))
    cancelled, partial, full = paid_orders[3], paid_orders[8], paid_orders[15]
    services.order_ingest(
        store=cancelled.store,
        source="api",
        event={
            "order_id": cancelled.external_id,
            "event": "cancelled",
            "occurred_at": (cancelled.paid_at + datetime.timedelta(hours=2)).isoformat(),
        },
    )
    first_line = partial.items.order_by("id").first()
    for order, amount, refund_id, items in [
        (partial, first_line.unit_price, "RF-1", [{"sku": first_line.sku, "quantity": 1}]),
        (full, full.paid_amount, "RF-2", []),
    ]:
        services.order_ingest(
            store=order.store,
            source="api",
            event={
                "order_id": order.external_id,
                "event": "refunded",
                "occurred_at": (order.paid_at + datetime.timedelta(days=2)).isoformat(),
                "refund": {"refund_id": refund_id, "amount": str(amount), "items": items},
            },
        )
    # A forged delivery the operator sees on the store page.
    from django.test import Client

    Client().post(
        f"/commerce/webhooks/{tmall.code}/",
        data=b'{"order_id": "X"}',
        content_type="application/json",
        headers={"X-Guanxi-Signature": "sha256=00"},
    )

    rfm.rfm_recompute()
    clv_service.refit()
    churn.apply_churn_rules()
    group = groups.group_create(
        actor=admin_user, data={"name": "浙江客户", "filters": {"province": "浙江省"}}
    )
    assert Order.objects.count() == 45
    best = Customer.objects.get(name="张伟")
    return {
        "customer": best,
        "order": partial,
        "store": tmall,
        "group": group,
    }


# What shows each page has the shop's data, not its empty state: a selector and how many.
CONTENT = {
    "kpi": ("#kpi-table tr[data-key]", 23),
    "orders": ("table.orders tbody tr", 45),
    "order": ("#items tbody tr", 3),
    "stores": ("table.stores tbody tr", 2),
    "store": ("#rejections tbody tr", 1),
    "products": ("table.products tbody tr", 6),
    "rfm": ("[data-analysis-chart]", 2),
    "group": ("[data-analysis-chart]", 9),
    "churn": ("[data-analysis-chart]", 1),
    "cohorts": ("[data-analysis-chart]", 1),
    "clv": ("#clv-chart", 1),  # drawn only when there are predictions
    "customer": ("#order-stats [data-stat]", 9),
}


def pages(shop) -> dict[str, str]:
    return {
        "kpi": "/analytics/kpi/?period=last_90",
        "orders": "/commerce/orders/",
        "order": f"/commerce/orders/{shop['order'].pk}/",
        "stores": "/commerce/stores/",
        "store": f"/commerce/stores/{shop['store'].pk}/",
        "products": "/commerce/products/",
        "analysis": "/analytics/",
        "rfm": "/analytics/rfm/",
        "groups": "/analytics/groups/",
        "group": f"/analytics/groups/{shop['group'].pk}/",
        "churn": "/analytics/churn/",
        "cohorts": "/analytics/cohorts/",
        "clv": "/analytics/clv/",
        "customer": f"/customers/{shop['customer'].pk}/",
    }


# Every ECharts chart of these pages drawn, and its animation skipped to the end.
CHARTS_DRAWN = """() => {
  const els = [...document.querySelectorAll("[data-chart], [data-analysis-chart], #kpi-chart")];
  if (!els.length) return true;
  if (!window.echarts) return false;
  const charts = els.map((el) => echarts.getInstanceByDom(el));
  if (charts.some((c) => !c)) return false;
  charts.forEach((c) => c.setOption({ animation: false }));
  return true;
}"""


def test_every_commerce_and_analytics_page_fits_the_screen_in_both_languages(
    browser, live_server, admin_user, shop
):
    # One shop for both screens (building it is the slow part), so the viewports are a
    # loop here rather than the ``page`` fixture's parameters.
    too_wide, script_errors = [], []
    for viewport, size in VIEWPORTS.items():
        context = browser.new_context(
            viewport=size,
            locale="zh-CN",
            is_mobile=viewport == "phone",
            has_touch=viewport == "phone",
        )
        page = context.new_page()
        page.set_default_timeout(15000)
        page.on("pageerror", lambda error, p=page: script_errors.append((p.url, str(error))))
        login_as(page, live_server, admin_user, None)
        for lang in ["zh-hans", "en"]:
            page.context.add_cookies(
                [{"name": settings.LANGUAGE_COOKIE_NAME, "value": lang, "url": live_server.url}]
            )
            for name, path in pages(shop).items():
                response = page.goto(f"{live_server.url}{path}")
                assert response.status == 200, (viewport, name, lang, response.status)
                expect(page.locator("html")).to_have_attribute("lang", lang)
                page.wait_for_function(CHARTS_DRAWN)
                if name in CONTENT:
                    selector, count = CONTENT[name]
                    assert page.locator(selector).count() == count, (viewport, name, lang)
                screenshot(page, f"commerce-{name}-{viewport}-{lang}")
                if overflow(page, size["width"]) > 1:
                    too_wide.append((viewport, name, lang, overflow(page, size["width"])))
        context.close()
    assert too_wide == []
    assert script_errors == []
