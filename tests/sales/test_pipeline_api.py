"""/api/v1/pipelines… and /api/v1/opportunities…: the same services as the pages, the one
error format, roles and visibility."""

import datetime
from decimal import Decimal

import pytest

from guanxi.commerce.models import Product
from guanxi.customers import services as customer_services
from guanxi.sales import services_pipeline as svc
from guanxi.sales.models import LostReason, Opportunity, Pipeline, StageChange

pytestmark = pytest.mark.django_db


def stages():
    return list(svc.default_pipeline().stages.order_by("position"))


@pytest.fixture
def acme(alice):
    return customer_services.customer_create(actor=alice, data={"name": "ACME"})


def test_create_get_update_move(api_as, alice, acme):
    api = api_as(alice)
    product = Product.objects.create(sku="P1", name="Router", price=Decimal("250.00"))
    response = api.post(
        "/opportunities",
        {
            "name": "Routers",
            "customer": acme.pk,
            "expected_close": "2026-12-31",
            "next_step": "Send quote",
            "lines": [{"product": product.pk, "quantity": "4", "discount_percent": "5"}],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["amount"] == "950.00" and body["owner_id"] == alice.pk
    assert body["lines"][0]["name"] == "Router" and body["stage_id"] == stages()[0].pk
    opp_id = body["id"]
    assert api.get(f"/opportunities/{opp_id}").json()["next_step"] == "Send quote"
    response = api.patch(
        f"/opportunities/{opp_id}", {"next_step": "Call Friday", "currency": "usd"}
    )
    assert response.status_code == 200 and response.json()["currency"] == "USD"
    response = api.post(f"/opportunities/{opp_id}/move", {"stage": stages()[2].pk})
    assert response.status_code == 200 and response.json()["stage_id"] == stages()[2].pk
    history = api.get(f"/opportunities/{opp_id}/stage-history").json()
    assert [h["to_stage_id"] for h in history] == [stages()[0].pk, stages()[2].pk]
    assert history[1]["seconds_in_previous"] is not None


def test_errors_in_one_format(api_as, alice, acme):
    api = api_as(alice)
    response = api.post("/opportunities", {"name": "", "customer": acme.pk, "amount": "abc"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error" and {"name", "amount"} <= set(body["errors"])
    opp = svc.opportunity_create(alice, {"name": "x", "customer": acme.pk})
    lost = [s for s in stages() if s.kind == "lost"][0]
    response = api.post(f"/opportunities/{opp.pk}/move", {"stage": lost.pk})
    assert response.status_code == 422 and "lost_reason" in response.json()["errors"]
    reason = LostReason.objects.first()
    response = api.post(
        f"/opportunities/{opp.pk}/move", {"stage": lost.pk, "lost_reason": reason.pk}
    )
    assert response.status_code == 200 and response.json()["status"] == "lost"


def test_visibility_and_roles(api_as, alice, bob, charlie, manager, users_by_role, acme):
    opp = svc.opportunity_create(alice, {"name": "Deal", "customer": acme.pk})
    target = {"stage": stages()[1].pk}
    for user in (bob, charlie):
        assert api_as(user).get(f"/opportunities/{opp.pk}").status_code == 404
        response = api_as(user).post(f"/opportunities/{opp.pk}/move", target)
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert (
        api_as(users_by_role["analyst"]).post(f"/opportunities/{opp.pk}/move", target).status_code
        == 403
    )
    assert api_as(users_by_role["analyst"]).get(f"/opportunities/{opp.pk}").status_code == 200
    assert api_as(manager).post(f"/opportunities/{opp.pk}/move", target).status_code == 200
    ids = [row["id"] for row in api_as(bob).get("/opportunities").json()["items"]]
    assert ids == []
    ids = [row["id"] for row in api_as(manager).get("/opportunities").json()["items"]]
    assert ids == [opp.pk]
    opp.refresh_from_db()
    assert opp.stage_id == stages()[1].pk
    assert StageChange.objects.filter(opportunity=opp).count() == 2


def test_pipeline_admin(api_as, admin_user, manager):
    body = {
        "name": "Projects",
        "stages": [
            {"name": "Scoping", "probability": 20},
            {"name": "Signed", "kind": "won"},
            {"name": "Dropped", "kind": "lost"},
        ],
    }
    assert api_as(manager).post("/pipelines", body).status_code == 403
    response = api_as(admin_user).post("/pipelines", {**body, "stages": body["stages"][:2]})
    assert response.status_code == 422 and "stages" in response.json()["errors"]
    response = api_as(admin_user).post("/pipelines", body)
    assert response.status_code == 201, response.content
    created = response.json()
    assert [s["kind"] for s in created["stages"]] == ["open", "won", "lost"]
    ids = [s["id"] for s in created["stages"]]
    response = api_as(admin_user).post(
        f"/pipelines/{created['id']}/stages/reorder", {"stage_ids": [ids[0], ids[2], ids[1]]}
    )
    assert [s["id"] for s in response.json()["stages"]] == [ids[0], ids[2], ids[1]]
    listed = api_as(manager).get("/pipelines").json()
    assert {p["name"] for p in listed} == set(Pipeline.objects.values_list("name", flat=True))
    assert api_as(manager).get("/lost-reasons").status_code == 200
    assert api_as(manager).post("/lost-reasons", {"name": "Gone quiet"}).status_code == 403
    assert api_as(admin_user).post("/lost-reasons", {"name": "Gone quiet"}).status_code == 201


def test_board_and_funnel(api_as, alice, charlie, manager, acme):
    first, second = stages()[0], stages()[1]
    for i in range(3):
        svc.opportunity_create(alice, {"name": f"A{i}", "customer": acme.pk, "amount": "100"})
    moved = Opportunity.objects.filter(owner=alice).first()
    svc.opportunity_move(alice, moved, second)
    west = customer_services.customer_create(actor=charlie, data={"name": "West"})
    svc.opportunity_create(charlie, {"name": "C", "customer": west.pk, "amount": "999"})
    pipeline = svc.default_pipeline()
    board = api_as(alice).get(f"/pipelines/{pipeline.pk}/board").json()
    columns = {c["stage"]["id"]: c for c in board["columns"]}
    assert columns[first.pk]["count"] == 2 and columns[first.pk]["amount"] == "200.00"
    assert columns[second.pk]["count"] == 1
    assert Decimal(columns[second.pk]["weighted_amount"]) == Decimal("30.00")
    assert [c["name"] for c in columns[second.pk]["cards"]] == [moved.name]
    page = api_as(alice).get(f"/pipelines/{pipeline.pk}/board/{first.pk}", limit=1).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = (
        api_as(alice)
        .get(f"/pipelines/{pipeline.pk}/board/{first.pk}", limit=1, cursor=page["next_cursor"])
        .json()
    )
    assert len(rest["items"]) == 1 and rest["items"][0]["id"] != page["items"][0]["id"]
    # Manager of East sees alice's three, not charlie's.
    board = api_as(manager).get(f"/pipelines/{pipeline.pk}/board").json()
    assert sum(c["count"] for c in board["columns"]) == 3
    later = (datetime.date.today() + datetime.timedelta(days=400)).isoformat()
    board = api_as(manager).get(f"/pipelines/{pipeline.pk}/board", close_from=later).json()
    assert sum(c["count"] for c in board["columns"]) == 0
    funnel = api_as(alice).get(f"/pipelines/{pipeline.pk}/funnel").json()
    assert funnel["total"] == 3
    assert [r["count"] for r in funnel["rows"]][:2] == [3, 1]
    assert funnel["rows"][0]["conversion_to_next_pct"] == pytest.approx(33.3)
    bad = api_as(alice).get(
        f"/pipelines/{pipeline.pk}/funnel", start="2026-05-01", end="2026-01-01"
    )
    assert bad.status_code == 422
