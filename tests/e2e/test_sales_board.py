"""The kanban board in Chromium: drag a card to another column (mouse on the desktop,
touch on a 375-px phone), the move is saved and the column totals change; dropping on
"lost" asks for a reason. Plus the funnel page with its chart."""

import pytest
from playwright.sync_api import expect

from guanxi.customers import services as customer_services
from guanxi.sales import services_pipeline as svc
from guanxi.sales.models import LostReason, Opportunity, Pipeline
from tests.e2e.conftest import login_as, overflow, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def board_data(admin_user, alice):
    # Transactional tests flush the data migration's pipeline: make one here.
    Pipeline.objects.all().delete()
    pipeline = svc.pipeline_create(
        admin_user,
        {
            "name": "标准销售流程",
            "is_default": True,
            "stages": [
                {"name": "初步接洽", "probability": 10},
                {"name": "需求确认", "probability": 30},
                {"name": "方案报价", "probability": 60},
                {"name": "赢单", "kind": "won"},
                {"name": "输单", "kind": "lost"},
            ],
        },
    )
    if not LostReason.objects.exists():
        svc.lost_reason_save(admin_user, {"name": "价格太高"})
    customer = customer_services.customer_create(actor=alice, data={"name": "杭州茶叶有限公司"})
    opps = [
        svc.opportunity_create(alice, {"name": name, "customer": customer.pk, "amount": amount})
        for name, amount in (("门店系统升级", "120000"), ("会员营销方案", "30000"))
    ]
    return pipeline, list(pipeline.stages.order_by("position")), opps


def touch_drag(page, source, target):
    """Press, hold (SortableJS waits 200 ms on touch), move and lift a finger."""
    cdp = page.context.new_cdp_session(page)
    start, end = source.bounding_box(), target.bounding_box()
    x0, y0 = start["x"] + start["width"] / 2, start["y"] + start["height"] / 2
    x1, y1 = end["x"] + end["width"] / 2, end["y"] + 30
    point = {"x": x0, "y": y0}
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [point]})
    page.wait_for_timeout(400)
    steps = 12
    for i in range(1, steps + 1):
        point = {"x": x0 + (x1 - x0) * i / steps, "y": y0 + (y1 - y0) * i / steps}
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
        page.wait_for_timeout(30)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def drag(page, viewport, source, target):
    if viewport == "phone":
        target.scroll_into_view_if_needed()
        source.scroll_into_view_if_needed()
        touch_drag(page, source, target)
    else:
        source.drag_to(target, target_position={"x": 40, "y": 30})


def test_drag_between_columns(page, viewport, live_server, alice, board_data):
    pipeline, stages, opps = board_data
    login_as(page, live_server, alice, f"/sales/pipelines/{pipeline.pk}/board/")
    first, second = stages[0], stages[1]
    expect(page.locator(f"#col-head-{first.pk} .pl-count")).to_have_text("2")
    card = page.locator(f'.pl-card[data-id="{opps[0].pk}"]')
    if viewport == "phone":
        # The page itself does not scroll sideways; the board does.
        assert overflow(page, 375) == 0
    screenshot(page, f"sales-board-{viewport}")
    drag(page, viewport, card, page.locator(f"#cards-{second.pk}"))
    expect(page.locator(f"#col-head-{second.pk} .pl-count")).to_have_text("1")
    expect(page.locator(f"#col-head-{first.pk} .pl-count")).to_have_text("1")
    opps[0].refresh_from_db()
    assert opps[0].stage_id == second.pk

    # Dropping on "lost" asks why; cancelling puts the card back.
    lost = stages[-1]
    other = page.locator(f'.pl-card[data-id="{opps[1].pk}"]')
    drag(page, viewport, other, page.locator(f"#cards-{lost.pk}"))
    dialog = page.locator("#lost-dialog")
    expect(dialog).to_be_visible()
    screenshot(page, f"sales-board-lost-{viewport}")
    dialog.locator("select").select_option(index=1)
    dialog.locator("button[value=ok]").click()
    expect(page.locator(f"#col-head-{lost.pk} .pl-count")).to_have_text("1")
    assert Opportunity.objects.get(pk=opps[1].pk).status == "lost"


def test_funnel_page(page, viewport, live_server, alice, board_data):
    pipeline, stages, opps = board_data
    svc.opportunity_move(alice, opps[0], stages[1])
    svc.opportunity_move(alice, opps[0], stages[3])
    login_as(page, live_server, alice, f"/sales/funnel/?pipeline={pipeline.pk}")
    expect(page.locator("#kpi-win-rate")).to_have_text("100.0%")
    expect(page.locator("#funnel-chart svg")).to_be_visible()
    expect(page.locator("#funnel-table tbody tr").first).to_contain_text("初步接洽")
    if viewport == "phone":
        assert overflow(page, 375) == 0
    screenshot(page, f"sales-funnel-{viewport}")


def test_opportunity_detail_screens(page, viewport, live_server, alice, board_data):
    pipeline, stages, opps = board_data
    svc.opportunity_move(alice, opps[0], stages[2])
    login_as(page, live_server, alice, f"/sales/opportunities/{opps[0].pk}/")
    expect(page.locator("#stage-history tbody tr")).to_have_count(2)
    if viewport == "phone":
        assert overflow(page, 375) == 0
    screenshot(page, f"sales-opportunity-{viewport}")
    page.goto(f"{live_server.url}/sales/opportunities/?pipeline={pipeline.pk}")
    expect(page.locator("#opportunities tbody tr")).to_have_count(2)
    if viewport == "phone":
        assert overflow(page, 375) == 0
    screenshot(page, f"sales-opportunities-{viewport}")
