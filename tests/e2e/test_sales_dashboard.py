"""The sales dashboard in Chromium: a manager sees the team's attainment and forecast,
with charts, at desktop and phone width, in Chinese."""

import datetime
import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from guanxi.customers.models import Customer
from guanxi.sales import selectors_targets
from guanxi.sales.models import Opportunity, Pipeline, SalesTarget, Stage
from tests.e2e.conftest import VIEWPORTS, login_as, overflow, screenshot, zh

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_team_dashboard(page, viewport, live_server, manager, alice, bob):
    pipeline = Pipeline.objects.create(name="E2E")
    won = Stage.objects.create(
        pipeline=pipeline, name="赢单", position=9, probability=100, kind="won"
    )
    proposal = Stage.objects.create(pipeline=pipeline, name="方案报价", position=3, probability=60)
    month = selectors_targets.current_month()
    start, _ = selectors_targets.month_bounds(month)
    for user, amount in ((alice, "12000"), (bob, "4500")):
        customer = Customer.objects.create(name=f"{user.username} 客户", owner=user, team=user.team)
        Opportunity.objects.create(
            name="年度采购",
            customer=customer,
            pipeline=pipeline,
            stage=won,
            status="won",
            amount=Decimal(amount),
            owner=user,
            team=user.team,
            closed_at=start + datetime.timedelta(days=1),
        )
        Opportunity.objects.create(
            name="新品试用",
            customer=customer,
            pipeline=pipeline,
            stage=proposal,
            amount=Decimal("10000"),
            owner=user,
            team=user.team,
            expected_close=selectors_targets.add_months(month, 1),
        )
        SalesTarget.objects.create(month=month, user=user, amount=Decimal("20000"), won_deals=2)
    SalesTarget.objects.create(month=month, team=alice.team, amount=Decimal("40000"), won_deals=4)

    login_as(page, live_server, manager, "/sales/dashboard/")
    expect(page.locator("h1")).to_have_text(zh("Sales dashboard"))
    # Team: 16,500 won of 40,000 → 41.2 %; alice 60.0 %, bob 22.5 %.
    expect(page.get_by_test_id("attainment-amount")).to_have_text("41.2%")
    expect(page.locator("table").first).to_contain_text("60.0%")
    expect(page.locator("table").first).to_contain_text("22.5%")
    expect(page.locator("#forecast-table")).to_contain_text(
        re.compile(r"12,?000\.00")
    )  # 2 × 10,000 × 60 %
    page.wait_for_function(
        "() => document.querySelectorAll('[data-analysis-chart] svg').length >= 2"
    )
    screenshot(page, f"sales-dashboard-{viewport}")
    assert overflow(page, VIEWPORTS[viewport]["width"]) == 0
