"""Targets, attainment and forecast: services, API, page, permissions."""

import datetime
from decimal import Decimal

import pytest

from guanxi.core.models import AuditEntry
from guanxi.customers.models import Customer
from guanxi.sales import selectors_targets
from guanxi.sales.models import Opportunity, Pipeline, SalesTarget, Stage

pytestmark = pytest.mark.django_db


@pytest.fixture
def pipeline(db):
    p = Pipeline.objects.create(name="Deals T")
    stages = {
        "qual": Stage.objects.create(pipeline=p, name="Q", position=1, probability=10),
        "prop": Stage.objects.create(pipeline=p, name="P", position=2, probability=60),
        "won": Stage.objects.create(pipeline=p, name="W", position=3, probability=100, kind="won"),
        "lost": Stage.objects.create(pipeline=p, name="L", position=4, probability=0, kind="lost"),
    }
    return p, stages


def opp(owner, pipeline, stage, amount, *, closed_at=None, expected_close=None):
    p, stages = pipeline
    st = stages[stage]
    customer = Customer.objects.create(
        name=f"C {owner.username} {amount}", owner=owner, team=owner.team
    )
    return Opportunity.objects.create(
        name=f"O {amount}",
        customer=customer,
        pipeline=p,
        stage=st,
        status=st.kind,
        amount=Decimal(amount),
        owner=owner,
        team=owner.team,
        closed_at=closed_at,
        expected_close=expected_close,
    )


def this_month():
    return selectors_targets.current_month()


def in_month(month, day=10):
    start, _end = selectors_targets.month_bounds(month)
    return start + datetime.timedelta(days=day - 1, hours=12)


def test_attainment_counts_won_in_month_within_visibility(alice, bob, charlie, manager, pipeline):
    m = this_month()
    opp(alice, pipeline, "won", "1000", closed_at=in_month(m))
    opp(alice, pipeline, "won", "500", closed_at=in_month(selectors_targets.add_months(m, -1)))
    opp(alice, pipeline, "lost", "700", closed_at=in_month(m))
    opp(bob, pipeline, "won", "300", closed_at=in_month(m))
    opp(charlie, pipeline, "won", "9999", closed_at=in_month(m))
    SalesTarget.objects.create(month=m, user=alice, amount=Decimal("4000"), won_deals=4)

    mine = selectors_targets.sales_dashboard(alice)
    assert mine.total.won_amount == Decimal("1000.00")
    assert mine.total.won_deals == 1
    assert mine.total.amount_pct == Decimal("25.0")
    assert mine.total.deals_pct == Decimal("25.0")

    team = selectors_targets.sales_dashboard(manager)
    assert team.total.won_amount == Decimal("1300.00")  # alice + bob, not charlie (West)
    by_label = {a.label: a for a in team.members}
    assert by_label["alice"].won_amount == Decimal("1000.00")
    assert by_label["bob"].won_amount == Decimal("300.00")
    assert "charlie" not in by_label


def test_month_boundaries_are_local(alice, pipeline, settings):
    m = this_month()
    start, _ = selectors_targets.month_bounds(m)
    # One second before the local month starts belongs to the previous month.
    opp(alice, pipeline, "won", "100", closed_at=start - datetime.timedelta(seconds=1))
    opp(alice, pipeline, "won", "200", closed_at=start)
    assert selectors_targets.sales_dashboard(alice).total.won_amount == Decimal("200.00")


def test_forecast_is_won_plus_weighted_open(alice, pipeline):
    m = this_month()
    nxt = selectors_targets.add_months(m, 1)
    opp(alice, pipeline, "won", "1000", closed_at=in_month(m))
    opp(alice, pipeline, "prop", "2000", expected_close=nxt + datetime.timedelta(days=3))
    opp(alice, pipeline, "qual", "500", expected_close=None)  # no date: this month
    opp(alice, pipeline, "qual", "300", expected_close=m - datetime.timedelta(days=40))  # overdue
    SalesTarget.objects.create(month=nxt, user=alice, amount=Decimal("1500"))
    board = selectors_targets.sales_dashboard(alice)
    first, second = board.forecast[0], board.forecast[1]
    assert first.month == m and first.won == Decimal("1000.00")
    assert first.weighted_open == Decimal("80.00")  # (500 + 300) × 10 %
    assert first.forecast == Decimal("1080.00")
    assert second.weighted_open == Decimal("1200.00")  # 2000 × 60 %
    assert second.target == Decimal("1500")
    assert len(board.forecast) == selectors_targets.FORECAST_MONTHS


def test_set_target_api_permissions_and_audit(
    api_as, alice, bob, charlie, manager, admin_user, west
):
    m = this_month().strftime("%Y-%m")
    # A sales rep may not set targets.
    r = api_as(alice).put("/sales/targets", {"month": m, "user": alice.pk, "amount": "100"})
    assert r.status_code == 403
    assert not SalesTarget.objects.exists()
    # A manager sets targets within the team ...
    r = api_as(manager).put(
        "/sales/targets", {"month": m, "user": bob.pk, "amount": "800", "won_deals": 3}
    )
    assert r.status_code == 200, r.content
    target = SalesTarget.objects.get()
    assert (target.user_id, target.amount, target.won_deals) == (bob.pk, Decimal("800.00"), 3)
    assert AuditEntry.objects.filter(
        model="sales.salestarget", object_id=target.pk, action="create"
    ).exists()
    # ... replacing, not duplicating, and the change is audited.
    r = api_as(manager).put("/sales/targets", {"month": m, "user": bob.pk, "amount": "900"})
    assert r.status_code == 200
    assert SalesTarget.objects.get().amount == Decimal("900.00")
    assert AuditEntry.objects.filter(model="sales.salestarget", action="update").count() == 1
    # ... but not outside it: another team's rep and team are hidden.
    r = api_as(manager).put("/sales/targets", {"month": m, "user": charlie.pk, "amount": "1"})
    assert r.status_code == 404
    r = api_as(manager).put("/sales/targets", {"month": m, "team": west.pk, "amount": "1"})
    assert r.status_code == 404
    # The admin sets anyone's.
    r = api_as(admin_user).put("/sales/targets", {"month": m, "team": west.pk, "amount": "5000"})
    assert r.status_code == 200
    assert SalesTarget.objects.count() == 2


@pytest.mark.parametrize(
    "body, field",
    [
        ({"month": "2026-13", "amount": "1"}, "month"),
        ({"month": "next month", "amount": "1"}, "month"),
        ({"month": "2026-11", "amount": "-5"}, "amount"),
        ({"month": "2026-11", "amount": "abc"}, "amount"),
        ({"month": "2026-11", "amount": "1", "won_deals": -1}, "won_deals"),
    ],
)
def test_bad_target_input_names_the_field_and_writes_nothing(api_as, admin_user, bob, body, field):
    r = api_as(admin_user).put("/sales/targets", {**body, "user": bob.pk})
    assert r.status_code == 422, r.content
    assert field in r.json()["errors"]
    assert not SalesTarget.objects.exists()


def test_target_needs_a_subject(api_as, admin_user):
    r = api_as(admin_user).put("/sales/targets", {"month": "2026-11", "amount": "1"})
    assert r.status_code == 422
    assert "user" in r.json()["errors"]


def test_dashboard_api_and_hidden_subjects(api_as, alice, bob, charlie, manager, pipeline):
    m = this_month()
    opp(bob, pipeline, "won", "250", closed_at=in_month(m))
    r = api_as(manager).get("/sales/dashboard", user=bob.pk)
    assert r.status_code == 200
    assert Decimal(r.json()["total"]["won_amount"]) == Decimal("250")
    # A rep cannot look at a team-mate's figures; a manager not at another team's.
    assert api_as(alice).get("/sales/dashboard", user=bob.pk).status_code == 404
    assert api_as(manager).get("/sales/dashboard", user=charlie.pk).status_code == 404
    r = api_as(alice).get("/sales/dashboard", month=m.strftime("%Y-%m"))
    assert r.status_code == 200 and r.json()["user_id"] == alice.pk
    assert Decimal(r.json()["total"]["won_amount"]) == 0


def test_delete_target(api_as, manager, bob, charlie):
    m = this_month()
    mine = SalesTarget.objects.create(month=m, user=bob, amount=1)
    other = SalesTarget.objects.create(month=m, user=charlie, amount=1)
    assert api_as(manager).delete(f"/sales/targets/{other.pk}").status_code == 404
    assert api_as(manager).delete(f"/sales/targets/{mine.pk}").status_code == 204
    assert list(SalesTarget.objects.all()) == [other]


def test_dashboard_page_and_export(web_as, manager, bob, pipeline):
    m = this_month()
    opp(bob, pipeline, "won", "250", closed_at=in_month(m))
    SalesTarget.objects.create(month=m, user=bob, amount=Decimal("1000"), won_deals=2)
    client = web_as(manager)
    page = client.get("/sales/dashboard/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "25.0%" in html  # bob: 250 of 1000
    export = client.get("/sales/dashboard/", {"format": "csv", "table": "attainment"})
    assert export.status_code == 200
    body = export.content.decode("utf-8-sig")
    assert "bob" in body and "250" in body


def test_targets_page_sets_and_validates(web_as, manager, bob):
    client = web_as(manager)
    assert client.get("/sales/targets/").status_code == 200
    r = client.post(
        "/sales/targets/",
        {"subject": f"user:{bob.pk}", "month": "2026-12", "amount": "oops", "won_deals": "1"},
    )
    assert r.status_code == 200 and "Enter an amount" in r.content.decode()
    assert not SalesTarget.objects.exists()
    r = client.post(
        "/sales/targets/",
        {"subject": f"user:{bob.pk}", "month": "2026-12", "amount": "1200", "won_deals": "1"},
    )
    assert r.status_code == 302
    assert SalesTarget.objects.get().month == datetime.date(2026, 12, 1)


def test_targets_page_forbidden_for_sales_rep(web_as, alice):
    assert web_as(alice).get("/sales/targets/").status_code == 403
    assert web_as(alice).post("/sales/targets/", {"amount": "1"}).status_code == 403
    assert not SalesTarget.objects.exists()
