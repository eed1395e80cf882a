"""The lead page's change history reads like the customer page's: field labels in the
reader's language, choice labels, "—" for nothing; and a converted lead links to its
opportunity."""

import re

import pytest
from django.urls import reverse
from django.utils import translation

from guanxi.sales import services_leads
from guanxi.sales.models import Lead

pytestmark = pytest.mark.django_db


def history_lines(response) -> list[str]:
    return history_lines_of(response.content.decode())


def history_lines_of(html: str) -> list[str]:
    html = html.split('id="history"', 1)[1].split("</section>", 1)[0]
    lines = re.findall(r'<li><span class="f">(.*?)</li>', html, flags=re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", line)).strip() for line in lines]


def test_history_shows_labels_not_field_names(web_as, alice):
    lead = services_leads.lead_create(
        actor=alice, data={"name": "赵敏", "phone": "13800138000", "source": "website"}
    )
    services_leads.lead_update(actor=alice, lead=lead, data={"company": "明教贸易"})
    services_leads.lead_set_status(actor=alice, lead=lead, status="qualified", reason="")
    response = web_as(alice).get(reverse("sales:lead_detail", args=[lead.pk]))
    lines = history_lines(response)
    assert "Status New → Qualified" in lines
    assert "Company — → 明教贸易" in lines
    assert "Source Website" in lines  # created: the new value only, with its label
    assert not any(line.split(" ", 1)[0] in ("company", "status", "source") for line in lines)


def test_history_in_the_form_order(web_as, alice):
    lead = services_leads.lead_create(
        actor=alice,
        data={"name": "赵敏", "company": "明教", "phone": "13800138000", "campaign": "春"},
    )
    html = web_as(alice).get(reverse("sales:lead_detail", args=[lead.pk])).content.decode()
    labels = [line.split(" ", 1)[0] for line in history_lines_of(html)]
    assert labels[:4] == ["Name", "Company", "Phone", "Campaign"]


def test_history_in_chinese(web_as, alice):
    lead = services_leads.lead_create(actor=alice, data={"name": "赵敏", "phone": "13800138000"})
    services_leads.lead_update(actor=alice, lead=lead, data={"company": "明教贸易"})
    client = web_as(alice)
    client.cookies["django_language"] = "zh-hans"
    lines = history_lines(client.get(reverse("sales:lead_detail", args=[lead.pk])))
    with translation.override("zh-hans"):
        company = translation.gettext("company")
    assert f"{company} — → 明教贸易" in lines


def test_converted_lead_links_to_its_opportunity(web_as, alice, admin_user):
    from guanxi.sales import services_pipeline
    from guanxi.sales.models import Pipeline

    if services_leads.default_pipeline_first_stage() is None:
        Pipeline.objects.all().delete()
        services_pipeline.pipeline_create(
            admin_user, {"name": "P", "stages": [{"name": "A"}, {"name": "W", "kind": "won"}]}
        )
    lead = services_leads.lead_create(actor=alice, data={"name": "赵敏", "phone": "13800138000"})
    services_leads.lead_convert(actor=alice, lead=lead, create_opportunity=True, amount="100")
    lead = Lead.objects.get(pk=lead.pk)
    html = web_as(alice).get(reverse("sales:lead_detail", args=[lead.pk])).content.decode()
    link = reverse("sales:opportunity_detail", args=[lead.opportunity_id])
    assert f'href="{link}" id="converted-opportunity"' in html
