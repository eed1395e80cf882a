"""The sales story end to end in Chromium, on a live server (issue 4, point 14).

An anonymous visitor sends the public web-to-lead form; an assignment rule gives the lead
to alice (a sales rep), who gets an in-app notification, finds the lead, converts it into
a customer with an opportunity in the default pipeline, drags the opportunity's card to
the "won" column of the kanban board (mouse on the desktop, a finger on the phone), and
sees her target attainment on the sales dashboard go from 0 to the deal's share of the
target."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from guanxi.core.models import Notification
from guanxi.sales import selectors_targets, services_leads
from guanxi.sales import services_pipeline as pipelines
from guanxi.sales.models import Lead, Opportunity, Pipeline, SalesTarget, StageChange
from tests.e2e.conftest import login_as, open_nav, overflow, screenshot, zh

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TARGET = Decimal("48000")
AMOUNT = "12000"  # a quarter of the target


@pytest.fixture
def sales_setup(admin_user, manager, alice):
    # alice reads Chinese: her notifications are written in her language.
    alice.language = "zh-hans"
    alice.save(update_fields=["language"])
    # Transactional tests flush what the data migrations made: a default pipeline here.
    Pipeline.objects.all().delete()
    pipeline = pipelines.pipeline_create(
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
    services_leads.rule_create(
        actor=manager, data={"name": "官网线索", "source": "website", "members": [alice.pk]}
    )
    form = services_leads.leadform_create(
        actor=manager,
        data={
            "name": "官网",
            "slug": "demo-request",
            "title": "预约产品演示",
            "source": "website",
            "campaign": "夏季推广",
            "thank_you": "谢谢！我们会尽快联系您。",
        },
    )
    SalesTarget.objects.create(
        month=selectors_targets.current_month(), user=alice, amount=TARGET, won_deals=2
    )
    return pipeline, form


def zh_status(value: str) -> str:
    """A lead status as a page in Chinese shows it."""
    from django.utils import translation

    with translation.override("zh-hans"):
        return str(Lead.Status(value).label)


def _fits(page, viewport):
    if viewport == "phone":
        assert overflow(page, page.viewport_size["width"]) == 0


def _center(box):
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def mouse_drag(page, card, column):
    """Press on the card, move the mouse over the other column in steps, let go."""
    card.scroll_into_view_if_needed()
    x0, y0 = _center(card.bounding_box())
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + 10, y0 + 10, steps=3)
    box = column.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 30, steps=15)
    page.mouse.up()


def touch_drag(page, card, column, scroller):
    """Touch the card and hold it (SortableJS waits 200 ms on touch), slide the finger to
    the right edge of the board, where SortableJS scrolls the board sideways, until the
    target column is under the finger; move onto it and lift the finger."""
    cdp = page.context.new_cdp_session(page)

    def touch(kind, x=None, y=None):
        points = [] if x is None else [{"x": x, "y": y}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    def slide(x0, y0, x1, y1, steps=10):
        for i in range(1, steps + 1):
            touch("touchMove", x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps)
            page.wait_for_timeout(30)

    card.scroll_into_view_if_needed()
    x, y = _center(card.bounding_box())
    touch("touchStart", x, y)
    page.wait_for_timeout(400)
    area = scroller.bounding_box()
    edge = area["x"] + area["width"] - 12  # inside SortableJS's 30-px auto-scroll band
    slide(x, y, edge, y)
    for i in range(200):  # rest at the edge (tiny moves) until the column comes in view
        if column.bounding_box()["x"] < edge - 60:
            break
        touch("touchMove", edge, y + i % 2)
        page.wait_for_timeout(50)
    # Out of the band; SortableJS may scroll on a little (to the end of the board):
    # wait for the board to come to rest, then move onto what shows of the column.
    touch("touchMove", edge - 60, y)
    last, still = None, 0
    for _ in range(100):
        page.wait_for_timeout(100)
        now = scroller.evaluate("el => el.scrollLeft")
        still, last = (still + 1 if now == last else 0), now
        if still >= 3:
            break
    box = column.bounding_box()
    left, right = max(box["x"], area["x"]), min(box["x"] + box["width"], area["x"] + area["width"])
    slide(edge - 60, y, (left + right) / 2, box["y"] + 40)
    touch("touchEnd")


def test_lead_to_won_deal(page, viewport, live_server, alice, sales_setup):
    pipeline, webform = sales_setup
    stages = list(pipeline.stages.order_by("position"))
    first, won = stages[0], next(s for s in stages if s.kind == "won")
    shot = f"sales-flow-{viewport}"

    # 1. An anonymous visitor sends the public form (a person takes > 2 s to fill it).
    page.goto(f"{live_server.url}/f/{webform.slug}/")
    expect(page.locator("h1")).to_have_text("预约产品演示")
    page.fill("#id_name", "赵敏")
    page.fill("#id_phone", "138 0013 8000")
    page.fill("#id_email", "zhaomin@mingjiao.example")
    page.fill("#id_company", "明教贸易")
    page.fill("#id_message", "想了解会员系统的价格。")
    _fits(page, viewport)
    screenshot(page, f"{shot}-1-public-form")
    page.wait_for_timeout(2100)
    page.click("button[type=submit]")
    expect(page.locator("#lead-thanks")).to_have_text("谢谢！我们会尽快联系您。")
    screenshot(page, f"{shot}-2-thanks")
    lead = Lead.objects.get()
    assert (lead.owner, lead.team, lead.status) == (alice, alice.team, "new")
    assert (lead.source, lead.campaign, lead.form) == ("website", "夏季推广", webform)
    assert Notification.objects.filter(user=alice, kind="lead.assigned").count() == 1

    # 2. alice logs in: the bell counts one unread notification, which opens the lead.
    login_as(page, live_server, alice, "/")
    expect(page.locator(".fu-bell .fu-bell-count")).to_have_text("1")
    page.click(".fu-bell")
    page.wait_for_url(re.compile(r"/sales/notifications/$"))
    note = page.locator(".fu-notes li.unread")
    expect(note).to_have_count(1)
    expect(note).to_contain_text(zh("New lead for you: %(name)s") % {"name": "赵敏"})
    _fits(page, viewport)
    screenshot(page, f"{shot}-3-notification")
    note.locator("a").click()
    page.wait_for_url(re.compile(rf"/sales/leads/{lead.pk}/$"))
    expect(page.locator("h1")).to_have_text("赵敏")
    expect(page.locator("#lead-owner")).to_contain_text("alice")
    assert Notification.objects.get(user=alice).read_at is not None

    # …and the list of her leads shows it, new.
    page.goto(f"{live_server.url}/sales/leads/")
    row = page.locator("#results tr", has_text="赵敏")
    expect(row.locator(".lead-status")).to_have_text(zh_status("new"))
    _fits(page, viewport)
    screenshot(page, f"{shot}-4-leads")

    # 3. Her dashboard before the deal: nothing won yet against a 48,000 target.
    page.goto(f"{live_server.url}/sales/dashboard/")
    expect(page.get_by_test_id("attainment-amount")).to_have_text("0.0%")
    expect(page.get_by_test_id("won-deals")).to_have_text("0 / 2")
    _fits(page, viewport)
    screenshot(page, f"{shot}-5-dashboard-before")

    # 4. Convert the lead: a new customer plus an opportunity in the default pipeline.
    page.goto(f"{live_server.url}/sales/leads/{lead.pk}/")
    page.click("#convert-lead")
    page.wait_for_url(re.compile(r"/convert/$"))
    expect(page.locator("#convert-form")).to_contain_text("标准销售流程")
    page.fill("#id_opportunity_name", "会员系统")
    page.fill("#id_amount", AMOUNT)
    _fits(page, viewport)
    screenshot(page, f"{shot}-6-convert")
    page.click("#convert-submit")
    page.wait_for_url(re.compile(rf"/sales/leads/{lead.pk}/$"))
    expect(page.locator("#converted-note")).to_be_visible()
    expect(page.locator("#lead-status")).to_have_text(zh_status("converted"))
    expect(page.locator("#convert-lead")).to_have_count(0)
    # The change history names fields as people read them, not as the code does.
    history = page.locator("#history .changes .f")
    expect(history.filter(has_text=zh("status"))).not_to_have_count(0)
    expect(history.filter(has_text=re.compile(r"^(status|company|source)$"))).to_have_count(0)
    _fits(page, viewport)
    screenshot(page, f"{shot}-7-converted")
    lead.refresh_from_db()
    opp = lead.opportunity
    assert lead.status == Lead.Status.CONVERTED and lead.customer.name == "赵敏"
    assert (opp.name, opp.amount, opp.owner) == ("会员系统", Decimal(AMOUNT), alice)
    assert (opp.pipeline, opp.stage, opp.status) == (pipeline, first, "open")
    assert opp.customer == lead.customer and opp.lead == lead

    # 5. The board, from the main navigation: the card sits in the first column.
    nav = open_nav(page, viewport)
    nav.get_by_role("link", name=zh("Pipeline")).click()
    page.wait_for_url(re.compile(rf"/sales/pipelines/{pipeline.pk}/board/"))
    card = page.locator(f'.pl-card[data-id="{opp.pk}"]')
    expect(page.locator(f"#cards-{first.pk}")).to_contain_text("会员系统")
    expect(page.locator(f"#col-head-{won.pk} .pl-count")).to_have_text("0")
    _fits(page, viewport)
    screenshot(page, f"{shot}-8-board")

    won_cards = page.locator(f"#cards-{won.pk}")
    if viewport == "phone":
        # The won column is off screen: the board must scroll under the finger. (It
        # cannot while .pl-board-scroll's scroll-snap pulls every small scroll back.)
        touch_drag(page, card, won_cards, page.locator(".pl-board-scroll"))
    else:
        mouse_drag(page, card, won_cards)
    expect(page.locator(f"#col-head-{won.pk} .pl-count")).to_have_text("1")
    expect(page.locator(f"#col-head-{won.pk} .pl-amount")).to_have_text(re.compile(r"12,?000"))
    expect(page.locator(f"#col-head-{first.pk} .pl-count")).to_have_text("0")
    expect(won_cards.locator(f'.pl-card[data-id="{opp.pk}"]')).to_be_visible()
    expect(page.locator("#pl-move-error")).to_be_hidden()
    screenshot(page, f"{shot}-9-board-won")
    opp = Opportunity.objects.get(pk=opp.pk)
    assert (opp.stage, opp.status) == (won, "won") and opp.closed_at is not None
    moves = list(StageChange.objects.filter(opportunity=opp).order_by("at", "id"))
    assert [(m.from_stage, m.to_stage) for m in moves] == [(None, first), (first, won)]
    assert moves[-1].actor == alice and moves[-1].seconds_in_previous is not None

    # 6. The dashboard now counts the deal: 12,000 of 48,000 = 25.0 %, 1 of 2 deals.
    page.goto(f"{live_server.url}/sales/dashboard/")
    expect(page.get_by_test_id("attainment-amount")).to_have_text("25.0%")
    expect(page.get_by_test_id("won-amount")).to_have_text(re.compile(r"¥12,?000(\.00)?$"))
    expect(page.get_by_test_id("won-deals")).to_have_text("1 / 2")
    _fits(page, viewport)
    screenshot(page, f"{shot}-10-dashboard-after")
