"""End to end in Chromium: a visitor fills the public web form embedded in another
page; the lead reaches its owner, who converts it into a customer with an opportunity."""

import re

import pytest
from playwright.sync_api import expect

from guanxi.sales import services_leads, views_leads
from guanxi.sales.models import Lead, Pipeline, Stage
from tests.e2e.conftest import login_as, overflow, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def webform(manager, alice, monkeypatch):
    monkeypatch.setattr(views_leads, "TOKEN_MIN_SECONDS", 0)
    if services_leads.default_pipeline_first_stage() is None:
        # A transactional test empties the tables the migrations filled.
        pipeline = Pipeline.objects.create(name="销售", is_default=True)
        Stage.objects.create(pipeline=pipeline, name="初步接触", position=1, probability=10)
        Stage.objects.create(pipeline=pipeline, name="赢单", position=9, kind="won")
    services_leads.rule_create(actor=manager, data={"name": "All", "members": [alice.pk]})
    return services_leads.leadform_create(
        actor=manager,
        data={
            "name": "展会",
            "slug": "expo",
            "title": "预约产品演示",
            "source": "exhibition",
            "campaign": "春季展会",
            "thank_you": "谢谢！我们会尽快联系您。",
        },
    )


def test_embedded_form_then_conversion(page, live_server, webform, alice, viewport):
    # Another site's page frames the form.
    page.set_content(
        f'<h1>Partner site</h1><iframe id="embed" src="{live_server.url}/f/expo/" '
        'style="width:100%;height:700px;border:0"></iframe>'
    )
    frame = page.frame_locator("#embed")
    expect(frame.locator("h1")).to_have_text("预约产品演示")
    frame.locator("#id_name").fill("赵敏")
    frame.locator("#id_phone").fill("138 0013 8000")
    frame.locator("#id_company").fill("明教贸易")
    frame.locator("button[type=submit]").click()
    expect(frame.locator("#lead-thanks")).to_have_text("谢谢！我们会尽快联系您。")
    lead = Lead.objects.get()
    assert (lead.owner, lead.source, lead.campaign) == (alice, "exhibition", "春季展会")
    page.goto(f"{live_server.url}/f/expo/")
    screenshot(page, f"sales-lead-public-form-{viewport}")
    assert overflow(page, page.viewport_size["width"]) == 0

    login_as(page, live_server, alice, "/sales/leads/")
    expect(page.locator("#results a", has_text="赵敏")).to_be_visible()
    screenshot(page, f"sales-leads-list-{viewport}")
    assert overflow(page, page.viewport_size["width"]) == 0
    page.locator("#results a", has_text="赵敏").click()
    page.wait_for_url(re.compile(r"/sales/leads/\d+/$"))
    expect(page.locator("#profile a[href^='tel:']")).to_have_text("+8613800138000")
    screenshot(page, f"sales-lead-detail-{viewport}")
    assert overflow(page, page.viewport_size["width"]) == 0

    page.click("#convert-lead")
    page.wait_for_url(re.compile(r"/convert/$"))
    page.fill("#id_amount", "8800")
    screenshot(page, f"sales-lead-convert-{viewport}")
    page.click("#convert-submit")
    page.wait_for_url(re.compile(r"/sales/leads/\d+/$"))
    expect(page.locator("#converted-note")).to_be_visible()
    lead.refresh_from_db()
    assert lead.status == "converted" and lead.customer.name == "赵敏"
    assert lead.opportunity is not None and str(lead.opportunity.amount) == "8800.00"
    expect(page.locator("#convert-lead")).to_have_count(0)  # read-only now
    page.click("#converted-customer")
    page.wait_for_url(re.compile(rf"/customers/{lead.customer_id}/$"))
    expect(page.locator("#timeline")).to_contain_text("赵敏")
    screenshot(page, f"sales-lead-customer-{viewport}")
