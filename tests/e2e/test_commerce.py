"""End to end: a shop signs an order webhook, and the KPI dashboard and the buyer's 360°
page show it (desktop and phone)."""

import datetime
import decimal
import json

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from guanxi.commerce import services
from guanxi.commerce.models import Order, OrderEvent, Store, WebhookRejection
from guanxi.commerce.webhooks import sign
from guanxi.customers.models import Customer
from tests.e2e.conftest import login_as, screenshot, zh

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

D = decimal.Decimal
SECRET = "e2e-webhook-secret"
BUYER_PHONE = "13912345678"


def iso(moment: datetime.datetime) -> str:
    return moment.isoformat(timespec="seconds")


def event(kind: str, when: datetime.datetime, **extra) -> dict:
    body = {
        "order_id": "TM20240001",
        "event": kind,
        "occurred_at": iso(when),
        "buyer": {"external_id": "tb_new_buyer", "phone": BUYER_PHONE, "name": "陈晓"},
        "items": [
            {"sku": "TEA-01", "name": "龙井 250g", "quantity": 2, "unit_price": "88.00"},
            {"sku": "CUP-02", "name": "玻璃杯", "quantity": 1, "unit_price": "35.00"},
        ],
        "amounts": {"goods": "211.00", "discount": "12.00", "shipping": "0", "paid": "199.00"},
    }
    body.update(extra)
    return body


@pytest.fixture
def store(db):
    return Store.objects.create(
        code="tmall-tea", name="天猫茶叶旗舰店", channel="tmall", webhook_secret=SECRET
    )


@pytest.fixture
def earlier_sales(store):
    """Two buyers who already paid this week, so the dashboard does not start at zero."""
    paid = timezone.now() - datetime.timedelta(days=2)
    for n, (phone, amount) in enumerate([("13800000001", "120.00"), ("13800000002", "80.50")]):
        for kind in ["placed", "paid"]:
            services.order_ingest(
                store=store,
                source="api",
                event={
                    "order_id": f"OLD{n}",
                    "event": kind,
                    "occurred_at": iso(paid),
                    "buyer": {"phone": phone},
                    "items": [{"sku": "X", "quantity": 1, "unit_price": amount}],
                    "amounts": {"paid": amount},
                },
            )


def post(page, live_server, store, body: dict, *, signature: str | None = None):
    raw = json.dumps(body, ensure_ascii=False).encode()
    return page.request.post(
        f"{live_server.url}/commerce/webhooks/{store.code}/",
        data=raw,
        headers={
            "Content-Type": "application/json",
            "X-Guanxi-Signature": signature or sign(SECRET, raw),
        },
    )


def number(text: str) -> D:
    return D(text.strip().replace(",", ""))


def kpi(page) -> dict[str, D]:
    """The current-period figures of the "All figures" table, by metric key."""
    expect(page.locator("#kpi-table tr[data-key]").first).to_be_visible()
    figures = {}
    for key in ["sales", "buyers", "orders", "refunds"]:
        current = page.locator(f"#kpi-table tr[data-key={key}] td").nth(1)
        figures[key] = number(current.inner_text())
    # The decomposition tree shows the same sales figure at its root.
    root = page.locator("#kpi-tree .kpi-node[data-key=sales] .kn-value")
    assert number(root.inner_text()) == figures["sales"]
    return figures


def test_a_signed_order_webhook_changes_the_customer_stats_and_the_kpi_dashboard(
    page, live_server, admin_user, store, earlier_sales, viewport
):
    kpi_url = "/analytics/kpi/?period=last_7"
    login_as(page, live_server, admin_user, kpi_url)
    before = kpi(page)
    assert before == {"sales": D("200.50"), "buyers": 2, "orders": 2, "refunds": 0}

    # A wrong signature: refused, logged, and nothing changes.
    now = timezone.now() - datetime.timedelta(minutes=30)
    forged = post(page, live_server, store, event("placed", now), signature="sha256=" + "0" * 64)
    assert forged.status == 401
    assert forged.json()["code"] == "bad_signature"
    assert WebhookRejection.objects.filter(store=store, reason="wrong signature").count() == 1
    assert not OrderEvent.objects.filter(external_order_id="TM20240001").exists()
    assert not Customer.objects.filter(phone="+86" + BUYER_PHONE).exists()
    page.reload()
    assert kpi(page) == before

    # Signed: placed, then paid five minutes later.
    placed = post(page, live_server, store, event("placed", now))
    assert (placed.status, placed.json()["status"]) == (200, "ok")
    paid = post(page, live_server, store, event("paid", now + datetime.timedelta(minutes=5)))
    assert (paid.status, paid.json()["status"]) == (200, "ok")
    order = Order.objects.get(store=store, external_id="TM20240001")
    assert (order.status, order.paid_amount) == ("paid", D("199.00"))

    page.reload()
    after = kpi(page)
    assert after == {
        "sales": before["sales"] + D("199.00"),
        "buyers": before["buyers"] + 1,
        "orders": before["orders"] + 1,
        "refunds": 0,
    }
    screenshot(page, f"e2e-kpi-after-webhook-{viewport}")

    # The buyer is found by phone in the customer list; the 360° page shows the order.
    page.goto(f"{live_server.url}/customers/?q={BUYER_PHONE}")
    found = page.locator("#results table.customers tbody tr td.primary a")
    expect(found).to_have_text(["陈晓"])
    found.click()
    page.wait_for_url(f"{live_server.url}/customers/{order.customer_id}/")
    stats = page.locator("#order-stats")
    expect(stats.locator("[data-stat=orders]")).to_have_text("1")
    expect(stats.locator("[data-stat=items]")).to_have_text("3")
    expect(stats.locator("[data-stat=revenue]")).to_have_text("199.00")
    timeline = page.locator("#timeline .tl-order")
    expect(timeline.first).to_contain_text(zh("Order %(order)s paid") % {"order": "TM20240001"})
    expect(timeline.nth(1)).to_contain_text(zh("Order %(order)s placed") % {"order": "TM20240001"})
    expect(timeline.first.locator("a")).to_have_attribute("href", f"/commerce/orders/{order.pk}/")

    # A partial refund: the customer's revenue drops by it; sales stay, refunds show it.
    refund = event(
        "refunded",
        now + datetime.timedelta(minutes=20),
        refund={"refund_id": "RF1", "amount": "35.00", "items": [{"sku": "CUP-02", "quantity": 1}]},
    )
    refunded = post(page, live_server, store, refund)
    assert (refunded.status, refunded.json()["status"]) == (200, "ok")
    page.reload()
    expect(stats.locator("[data-stat=revenue]")).to_have_text("164.00")
    expect(stats.locator("[data-stat=orders]")).to_have_text("1")
    expect(stats.locator("[data-stat=items]")).to_have_text("2")
    expect(timeline.first).to_contain_text(zh("Order %(order)s refunded") % {"order": "TM20240001"})
    screenshot(page, f"e2e-customer-after-refund-{viewport}")

    # The same refund delivered again counts nothing twice.
    again = post(page, live_server, store, refund)
    assert (again.status, again.json()["status"]) == (200, "duplicate")

    page.goto(f"{live_server.url}{kpi_url}")
    assert kpi(page) == dict(after, refunds=D("35.00"))
