import re

import pytest

from guanxi.commerce import services
from guanxi.commerce.models import Order, OrderEvent, Product, Store
from guanxi.core.models import AuditEntry
from guanxi.customers.models import Customer

from .conftest import make_event


@pytest.fixture
def orders(store, alice, charlie):
    """Order A1 belongs to alice's customer, C1 to charlie's."""
    mine = Customer.objects.create(
        name="Alice's", phone="+8613800000001", owner=alice, team=alice.team
    )
    theirs = Customer.objects.create(
        name="Charlie's", phone="+8613800000002", owner=charlie, team=charlie.team
    )
    a = make_event("paid", order_id="A1", buyer={"phone": mine.phone})
    c = make_event("paid", order_id="C1", buyer={"phone": theirs.phone})
    services.order_ingest(store=store, event=a, source="api")
    services.order_ingest(store=store, event=c, source="api")
    return Order.objects.get(external_id="A1"), Order.objects.get(external_id="C1")


def test_sales_sees_only_own_customers_orders(api_as, alice, orders):
    mine, theirs = orders
    api = api_as(alice)
    response = api.get("/orders")
    assert response.status_code == 200
    assert [o["external_id"] for o in response.json()["items"]] == ["A1"]
    assert api.get(f"/orders/{mine.pk}").status_code == 200
    assert api.get(f"/orders/{theirs.pk}").status_code == 404


def test_order_detail_has_items_and_events(api_as, admin_user, orders):
    mine, _theirs = orders
    body = api_as(admin_user).get(f"/orders/{mine.pk}").json()
    assert body["paid_amount"] == "99.00"
    assert [i["sku"] for i in body["items"]] == ["A1", "B2"]
    assert [e["event"] for e in body["events"]] == ["paid"]


def test_orders_filter_by_store_status_and_dates_with_keyset_pages(api_as, admin_user, orders):
    api = api_as(admin_user)
    page = api.get("/orders", limit=1).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    second = api.get("/orders", limit=1, cursor=page["next_cursor"]).json()
    assert second["next_cursor"] is None
    assert {page["items"][0]["external_id"], second["items"][0]["external_id"]} == {"A1", "C1"}
    assert api.get("/orders", status="shipped").json()["items"] == []
    assert (
        len(api.get("/orders", placed_from="2024-05-01", placed_to="2024-05-01").json()["items"])
        == 2
    )
    assert api.get("/orders", placed_from="2024-05-02").json()["items"] == []
    assert api.get("/orders", status="lost").status_code == 422


def test_an_analyst_reads_but_cannot_write(api_as, users_by_role, store, orders):
    api = api_as(users_by_role["analyst"])
    assert api.get("/orders").status_code == 200
    assert api.get("/stores").status_code == 200
    assert api.get("/products").status_code == 200
    before = (Store.objects.count(), Product.objects.count(), OrderEvent.objects.count())
    assert api.post("/stores", {"code": "x", "name": "X", "channel": "jd"}).status_code == 403
    assert api.post("/products", {"sku": "Z", "name": "Z"}).status_code == 403
    response = api.post(f"/stores/{store.pk}/order-events", make_event("placed", order_id="N1"))
    assert response.status_code == 403
    assert api.patch(f"/stores/{store.pk}", {"name": "Renamed"}).status_code == 403
    assert (Store.objects.count(), Product.objects.count(), OrderEvent.objects.count()) == before
    store.refresh_from_db()
    assert store.name == "Tmall flagship"


def test_a_manager_creates_a_store_with_a_secret(api_as, manager):
    response = api_as(manager).post("/stores", {"code": "jd-1", "name": "JD shop", "channel": "jd"})
    assert response.status_code == 201
    body = response.json()
    assert len(body["webhook_secret"]) == 64
    assert body["webhook_url"] == "/commerce/webhooks/jd-1/"
    assert AuditEntry.objects.filter(model="commerce.store", action="create").count() == 1


def test_store_input_is_validated(api_as, admin_user, store):
    response = api_as(admin_user).post(
        "/stores", {"code": store.code, "name": "", "channel": "mars", "lost_after_days": 10}
    )
    assert response.status_code == 422
    assert sorted(response.json()["errors"]) == ["channel", "code", "lost_after_days", "name"]
    assert Store.objects.count() == 1


def test_posting_order_events_with_a_token(api_as, users_by_role, store):
    api = api_as(users_by_role["marketing"])
    response = api.post(f"/stores/{store.pk}/order-events", make_event("placed"))
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    again = api.post(f"/stores/{store.pk}/order-events", make_event("placed"))
    assert again.json()["status"] == "duplicate"
    assert OrderEvent.objects.get().source == "api"
    bad = api.post(f"/stores/{store.pk}/order-events", {"events": [{"order_id": "x"}]})
    assert bad.status_code == 422
    assert sorted(bad.json()["errors"]) == ["events.0.event", "events.0.occurred_at"]


def test_products_and_categories_need_the_settings_permission(api_as, admin_user, manager):
    admin = api_as(admin_user)
    category = admin.post("/categories", {"name": "服装"}).json()
    child = admin.post("/categories", {"name": "女装", "parent": category["id"]})
    assert child.status_code == 201
    assert (
        admin.patch(f"/categories/{category['id']}", {"parent": child.json()["id"]}).status_code
        == 422
    )
    product = admin.post(
        "/products",
        {"sku": "A1", "name": "Dress", "price": "99.00", "category": child.json()["id"]},
    )
    assert product.status_code == 201
    assert product.json()["price"] == "99.00"
    assert admin.post("/products", {"sku": "A1", "name": "Again"}).status_code == 422
    assert api_as(manager).post("/products", {"sku": "B1", "name": "X"}).status_code == 403
    assert Product.objects.count() == 1


def test_the_pages_render_for_a_reader_and_hide_the_secret(web_as, users_by_role, store, orders):
    client = web_as(users_by_role["analyst"])
    mine, _ = orders
    assert client.get("/commerce/orders/").status_code == 200
    page = client.get(f"/commerce/orders/{mine.pk}/")
    assert page.status_code == 200
    assert "A1" in page.content.decode()
    assert client.get("/commerce/products/").status_code == 200
    detail = client.get(f"/commerce/stores/{store.pk}/")
    assert detail.status_code == 200
    assert store.webhook_secret not in detail.content.decode()
    assert client.post(f"/commerce/stores/{store.pk}/rotate-secret/").status_code == 403
    old = store.webhook_secret
    store.refresh_from_db()
    assert store.webhook_secret == old


def test_a_manager_sees_and_rotates_the_secret(web_as, manager, store):
    client = web_as(manager)
    old = store.webhook_secret
    assert old in client.get(f"/commerce/stores/{store.pk}/").content.decode()
    response = client.post(f"/commerce/stores/{store.pk}/rotate-secret/")
    assert response.status_code == 302
    store.refresh_from_db()
    assert store.webhook_secret != old
    assert old not in str(AuditEntry.objects.filter(model="commerce.store").values_list("changes"))


def test_sales_gets_404_on_another_reps_order_page(web_as, alice, orders):
    mine, theirs = orders
    client = web_as(alice)
    assert client.get(f"/commerce/orders/{mine.pk}/").status_code == 200
    assert client.get(f"/commerce/orders/{theirs.pk}/").status_code == 404
    listing = client.get("/commerce/orders/").content.decode()
    # As words: a CSRF token may contain "C1".
    assert re.search(r"\bA1\b", listing) and not re.search(r"\bC1\b", listing)


def test_the_customer_page_shows_its_orders_in_the_timeline(web_as, alice, orders):
    mine, _ = orders
    page = web_as(alice).get(f"/customers/{mine.customer_id}/").content.decode()
    assert "Order A1 paid" in page
    assert f"/commerce/orders/{mine.pk}/" in page
