"""Pipeline pages: board (columns, totals, more, move), list, detail with lines and stage
history, forms, funnel with export, pipeline settings — with roles and visibility."""

import datetime
from decimal import Decimal

import pytest

from guanxi.commerce.models import Product
from guanxi.customers import services as customer_services
from guanxi.sales import selectors_pipeline
from guanxi.sales import services_pipeline as svc
from guanxi.sales.models import LostReason, Opportunity, Pipeline, StageChange

pytestmark = pytest.mark.django_db


def stages():
    return list(svc.default_pipeline().stages.order_by("position"))


@pytest.fixture
def acme(alice):
    return customer_services.customer_create(actor=alice, data={"name": "ACME 杭州"})


@pytest.fixture
def deals(alice, acme):
    return [
        svc.opportunity_create(
            alice, {"name": f"Deal {i}", "customer": acme.pk, "amount": str(100 * (i + 1))}
        )
        for i in range(3)
    ]


def test_board_shows_columns_totals_and_cards(web_as, alice, deals):
    pipeline = svc.default_pipeline()
    response = web_as(alice).get(f"/sales/pipelines/{pipeline.pk}/board/")
    assert response.status_code == 200
    html = response.content.decode()
    for stage in stages():
        assert f'id="cards-{stage.pk}"' in html
    assert "Deal 0" in html and "Deal 2" in html
    column = response.context["columns"][0]
    assert column.count == 3 and column.amount == Decimal("600.00")
    assert column.weighted == Decimal("60.00")
    assert "sortable.min.js" in html


def test_board_more_pages_a_column(web_as, alice, deals):
    pipeline = svc.default_pipeline()
    first = stages()[0]
    cards, cursor = selectors_pipeline.column_cards(
        alice, pipeline, first, selectors_pipeline.Filters(), size=2
    )
    assert len(cards) == 2 and cursor
    response = web_as(alice).get(
        f"/sales/pipelines/{pipeline.pk}/board/{first.pk}/more/", {"cursor": cursor}
    )
    assert response.status_code == 200
    shown = [c.name for c in response.context["column"]["cards"]]
    assert shown == ["Deal 0"]  # most recently moved first: Deal 2, Deal 1, then Deal 0


def test_board_filters(web_as, manager, alice, bob, acme, deals):
    pipeline = svc.default_pipeline()
    svc.opportunity_create(
        manager,
        {"name": "Bob's", "customer": acme.pk, "owner": bob.pk, "expected_close": "2030-01-05"},
    )
    client = web_as(manager)
    url = f"/sales/pipelines/{pipeline.pk}/board/"
    assert response_count(client.get(url)) == 4
    assert response_count(client.get(url, {"owner": bob.pk})) == 1
    assert (
        response_count(client.get(url, {"close_from": "2030-01-01", "close_to": "2030-01-31"})) == 1
    )
    bad = client.get(url, {"close_from": "nope"})
    assert bad.status_code == 200 and bad.context["errors"]


def response_count(response):
    assert response.status_code == 200
    return response.context["totals"]["count"]


def test_move_by_htmx_returns_new_totals(web_as, alice, deals):
    second = stages()[1]
    response = web_as(alice).post(
        f"/sales/opportunities/{deals[0].pk}/move/",
        {"stage": second.pk},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="col-head-{second.pk}"' in html and 'hx-swap-oob="true"' in html
    deals[0].refresh_from_db()
    assert deals[0].stage == second
    assert StageChange.objects.filter(opportunity=deals[0]).count() == 2


def test_move_to_lost_without_reason_is_422(web_as, alice, deals):
    lost = [s for s in stages() if s.kind == "lost"][0]
    client = web_as(alice)
    response = client.post(
        f"/sales/opportunities/{deals[0].pk}/move/",
        {"stage": lost.pk},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422 and "lost" in response.content.decode().lower()
    reason = LostReason.objects.first()
    response = client.post(
        f"/sales/opportunities/{deals[0].pk}/move/",
        {"stage": lost.pk, "lost_reason": reason.pk},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    deals[0].refresh_from_db()
    assert deals[0].status == "lost" and deals[0].lost_reason == reason


def test_move_hidden_is_404_and_analyst_403(web_as, bob, charlie, users_by_role, deals):
    second = stages()[1]
    for user in (bob, charlie):
        from django.test import Client

        client = Client()
        client.force_login(user)
        assert (
            client.post(
                f"/sales/opportunities/{deals[0].pk}/move/", {"stage": second.pk}
            ).status_code
            == 404
        )
        assert client.get(f"/sales/opportunities/{deals[0].pk}/").status_code == 404
    from django.test import Client

    client = Client()
    client.force_login(users_by_role["analyst"])
    assert (
        client.post(f"/sales/opportunities/{deals[0].pk}/move/", {"stage": second.pk}).status_code
        == 403
    )
    assert client.get(f"/sales/opportunities/{deals[0].pk}/").status_code == 200
    deals[0].refresh_from_db()
    assert deals[0].stage == stages()[0]


def test_create_with_lines_and_detail(web_as, alice, acme):
    product = Product.objects.create(sku="K-9", name="Kiosk", price=Decimal("1000.00"))
    client = web_as(alice)
    assert client.get("/sales/opportunities/new/", {"customer": acme.pk}).status_code == 200
    response = client.post(
        "/sales/opportunities/new/",
        {
            "name": "Kiosks for stores",
            "customer": acme.pk,
            "currency": "CNY",
            "expected_close": "2026-12-01",
            "next_step": "Demo",
            "line_product": [product.pk, ""],
            "line_name": ["", "Setup"],
            "line_price": ["", "300"],
            "line_quantity": ["2", "1"],
            "line_discount": ["10", ""],
        },
    )
    assert response.status_code == 302, response.content[:500]
    opp = Opportunity.objects.get(name="Kiosks for stores")
    assert opp.amount == Decimal("2100.00") and opp.lines.count() == 2
    detail = client.get(f"/sales/opportunities/{opp.pk}/")
    html = detail.content.decode()
    assert detail.status_code == 200 and "Kiosk" in html and "Setup" in html
    assert 'id="stage-history"' in html and stages()[0].name in html


def test_create_errors_rerender_with_422(web_as, alice, acme):
    response = web_as(alice).post(
        "/sales/opportunities/new/", {"name": "", "customer": acme.pk, "expected_close": "tomorrow"}
    )
    assert response.status_code == 422
    assert "name" in response.context["errors"] and "expected_close" in response.context["errors"]
    assert not Opportunity.objects.exists()


def test_edit_and_move_form(web_as, alice, deals):
    client = web_as(alice)
    response = client.post(
        f"/sales/opportunities/{deals[1].pk}/edit/", {"name": "Renamed", "amount": "555"}
    )
    assert response.status_code == 302
    deals[1].refresh_from_db()
    assert deals[1].name == "Renamed" and deals[1].amount == Decimal("555.00")
    response = client.post(f"/sales/opportunities/{deals[1].pk}/move/", {"stage": stages()[3].pk})
    assert response.status_code == 302
    deals[1].refresh_from_db()
    assert deals[1].stage == stages()[3]


def test_list_with_filters(web_as, alice, manager, deals):
    response = web_as(alice).get("/sales/opportunities/")
    assert response.status_code == 200 and len(response.context["rows"]) == 3
    svc.opportunity_move(alice, deals[0], stages()[2])
    response = web_as(alice).get("/sales/opportunities/", {"stage": stages()[2].pk})
    assert [o.name for o in response.context["rows"]] == ["Deal 0"]


def test_funnel_page_and_export(web_as, alice, analyst_client, deals):
    svc.opportunity_move(alice, deals[0], stages()[1])
    won = [s for s in stages() if s.kind == "won"][0]
    svc.opportunity_move(alice, deals[0], won)
    response = web_as(alice).get("/sales/funnel/")
    assert response.status_code == 200
    result = response.context["result"]
    assert result.total == 3 and result.won == 1 and result.win_rate == 100.0
    assert [row.count for row in result.rows] == [3, 1, 1, 1, 1]
    assert "echarts" in response.content.decode()
    export = web_as(alice).get("/sales/funnel/", {"format": "csv"})
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    body = export.content.decode("utf-8-sig")
    assert body.splitlines()[0].startswith("Stage,") and stages()[0].name in body
    xlsx = web_as(alice).get("/sales/funnel/", {"format": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    # The analyst sees every team's funnel (read-only role, scope all).
    assert analyst_client.get("/sales/funnel/").context["result"].total == 3
    today = datetime.date.today()
    old = web_as(alice).get("/sales/funnel/", {"start": "2000-01-01", "end": "2000-12-31"})
    assert old.context["result"].total == 0 and today.year > 2000


@pytest.fixture
def analyst_client(users_by_role):
    from django.test import Client

    client = Client()
    client.force_login(users_by_role["analyst"])
    return client


def test_pipeline_settings(web_as, admin_user, manager):
    assert web_as(manager).get("/sales/settings/pipelines/").status_code == 403
    client = web_as(admin_user)
    assert client.get("/sales/settings/pipelines/").status_code == 200
    response = client.post(
        "/sales/settings/pipelines/new/",
        {
            "name": "Channel",
            "active": "on",
            "stage_id": ["", "", ""],
            "stage_name": ["Talk", "Won it", ""],
            "stage_kind": ["open", "won", "lost"],
            "stage_probability": ["20", "100", "0"],
        },
    )
    assert response.status_code == 422  # no lost stage (the empty row is skipped)
    assert not Pipeline.objects.filter(name="Channel").exists()
    response = client.post(
        "/sales/settings/pipelines/new/",
        {
            "name": "Channel",
            "active": "on",
            "stage_id": ["", "", ""],
            "stage_name": ["Talk", "Won it", "Lost it"],
            "stage_kind": ["open", "won", "lost"],
            "stage_probability": ["20", "100", "0"],
        },
    )
    assert response.status_code == 302
    pipeline = Pipeline.objects.get(name="Channel")
    ids = list(pipeline.stages.order_by("position").values_list("pk", flat=True))
    # Reorder: the rows come back in their new order.
    response = client.post(
        f"/sales/settings/pipelines/{pipeline.pk}/",
        {
            "name": "Channel",
            "active": "on",
            "stage_id": [ids[0], ids[2], ids[1]],
            "stage_name": ["Talk", "Lost it", "Won it"],
            "stage_kind": ["open", "lost", "won"],
            "stage_probability": ["25", "0", "100"],
        },
    )
    assert response.status_code == 302
    assert list(pipeline.stages.order_by("position").values_list("pk", flat=True)) == [
        ids[0],
        ids[2],
        ids[1],
    ]
    assert (
        client.post("/sales/settings/lost-reasons/new/", {"name": "Merged away"}).status_code == 302
    )
    assert LostReason.objects.filter(name="Merged away").exists()


def test_nav_has_pipeline_and_the_board_links_the_funnel(web_as, alice):
    client = web_as(alice)
    html = client.get("/sales/funnel/").content.decode()
    assert 'href="/sales/pipelines/"' in html  # the main navigation
    board = client.get("/sales/pipelines/", follow=True).content.decode()
    assert 'href="/sales/funnel/?pipeline=' in board  # the board's view tabs


def test_manager_board_counts_own_deals_outside_the_team_once(web_as, manager, west, acme, deals):
    mine = svc.opportunity_create(manager, {"name": "Mine", "customer": acme.pk, "amount": "7"})
    Opportunity.objects.filter(pk=mine.pk).update(team=west)
    pipeline = svc.default_pipeline()
    response = web_as(manager).get(f"/sales/pipelines/{pipeline.pk}/board/")
    column = response.context["columns"][0]
    assert column.count == 4 and column.amount == Decimal("607.00")
    assert "Mine" in [c.name for c in column.cards]


def test_manager_column_pages_merge_team_and_own_outside_team(manager, west, acme, deals):
    mine = svc.opportunity_create(manager, {"name": "Mine", "customer": acme.pk})
    Opportunity.objects.filter(pk=mine.pk).update(team=west)
    pipeline, first = svc.default_pipeline(), stages()[0]
    seen, cursor = [], None
    for _ in range(6):
        cards, cursor = selectors_pipeline.column_cards(
            manager, pipeline, first, selectors_pipeline.Filters(), cursor=cursor, size=1
        )
        seen += [c.name for c in cards]
        if not cursor:
            break
    assert seen == ["Mine", "Deal 2", "Deal 1", "Deal 0"]
