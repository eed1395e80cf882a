"""Lead pages and the public web-to-lead form: embeddable, CSRF-free but guarded by a
signed token, a honeypot and a per-address rate limit kept in the database."""

import pytest
from django.core import signing
from django.test import Client

from guanxi.sales import services_leads, views_leads
from guanxi.sales.models import Lead, LeadForm

pytestmark = pytest.mark.django_db


@pytest.fixture
def webform(manager):
    return services_leads.leadform_create(
        actor=manager,
        data={
            "name": "Expo",
            "slug": "expo",
            "source": "exhibition",
            "campaign": "Expo 2026",
            "thank_you": "谢谢，我们会尽快联系您",
        },
    )


@pytest.fixture
def no_wait(monkeypatch):
    monkeypatch.setattr(views_leads, "TOKEN_MIN_SECONDS", 0)


def token_from(response) -> str:
    html = response.content.decode()
    start = html.index('name="t" value="') + len('name="t" value="')
    return html[start : html.index('"', start)]


def submit(client, data, *, ip="203.0.113.7", token=None):
    if token is None:
        token = token_from(client.get("/f/expo/"))
    return client.post("/f/expo/", {"t": token, **data}, REMOTE_ADDR=ip)


class TestPublicForm:
    def test_no_login_embeddable_and_creates_an_assigned_lead(
        self, webform, alice, manager, no_wait
    ):
        services_leads.rule_create(actor=manager, data={"name": "R", "members": [alice.pk]})
        client = Client(enforce_csrf_checks=True)  # a cross-site post carries no CSRF cookie
        response = client.get("/f/expo/")
        assert response.status_code == 200
        assert "X-Frame-Options" not in response  # may be framed; every other page is DENY
        response = submit(client, {"name": "访客", "phone": "13812345678", "website": ""})
        assert response.status_code == 200
        assert "谢谢，我们会尽快联系您" in response.content.decode()
        lead = Lead.objects.get()
        assert (lead.source, lead.campaign, lead.form) == ("exhibition", "Expo 2026", webform)
        assert lead.owner == alice and lead.submitted_ip == "203.0.113.7"
        assert Client().get("/sales/leads/").status_code == 302  # the rest needs a login

    def test_other_pages_still_refuse_framing(self, web_as, alice):
        assert web_as(alice).get("/sales/leads/")["X-Frame-Options"] == "DENY"

    def test_honeypot_pretends_success_and_writes_nothing(self, webform, no_wait):
        response = submit(Client(), {"name": "bot", "phone": "13812345678", "website": "x.com"})
        assert response.status_code == 200 and "谢谢" in response.content.decode()
        assert not Lead.objects.exists()

    def test_a_missing_forged_or_too_quick_token_is_refused(self, webform):
        client = Client()
        data = {"name": "x", "phone": "13812345678"}
        assert submit(client, data, token="nope").status_code == 400
        other = signing.dumps({"f": webform.pk + 1, "at": 0}, salt=views_leads.TOKEN_SALT)
        assert submit(client, data, token=other).status_code == 400
        # A real token used at once: scripts post faster than people.
        assert submit(client, data).status_code == 400
        assert not Lead.objects.exists()

    def test_rate_limit_per_address(self, webform, no_wait, settings):
        settings.GUANXI_LEAD_FORM_MAX = 3
        client = Client()
        for i in range(3):
            response = submit(client, {"name": f"x{i}", "phone": f"1381234567{i}"})
            assert response.status_code == 200
        response = submit(client, {"name": "x9", "phone": "13812345679"})
        assert response.status_code == 429
        assert "Too many submissions" in response.content.decode()
        assert Lead.objects.count() == 3
        # Another address is not affected.
        response = submit(client, {"name": "y", "phone": "13912345679"}, ip="198.51.100.1")
        assert response.status_code == 200 and Lead.objects.count() == 4

    def test_bad_input_shows_the_form_again(self, webform, no_wait):
        response = submit(Client(), {"name": "", "phone": "123"})
        assert response.status_code == 422
        assert not Lead.objects.exists()

    def test_inactive_form_is_gone(self, webform, manager):
        services_leads.leadform_update(actor=manager, form=webform, data={"active": False})
        assert Client().get("/f/expo/").status_code == 404


class TestPages:
    def test_list_create_detail_edit(self, web_as, alice):
        client = web_as(alice)
        assert client.get("/sales/leads/").status_code == 200
        response = client.post(
            "/sales/leads/new/", {"name": "李雷", "phone": "13812345678", "source": "wechat"}
        )
        lead = Lead.objects.get()
        assert response.status_code == 302 and response["Location"] == f"/sales/leads/{lead.pk}/"
        page = client.get(f"/sales/leads/{lead.pk}/").content.decode()
        assert "李雷" in page and "+8613812345678" in page
        response = client.post(f"/sales/leads/{lead.pk}/edit/", {"name": "李雷", "phone": "x"})
        assert response.status_code == 422
        listing = client.get("/sales/leads/", {"q": "李"}).content.decode()
        assert f"/sales/leads/{lead.pk}/" in listing
        htmx = client.get("/sales/leads/", {"status": "new"}, headers={"HX-Request": "true"})
        assert htmx.status_code == 200 and "<html" not in htmx.content.decode()

    def test_status_page_needs_a_reason_to_disqualify(self, web_as, alice):
        lead = services_leads.lead_create(actor=alice, data={"name": "a", "phone": "13812345678"})
        client = web_as(alice)
        response = client.post(f"/sales/leads/{lead.pk}/status/", {"status": "disqualified"})
        assert response.status_code == 422
        response = client.post(
            f"/sales/leads/{lead.pk}/status/", {"status": "disqualified", "reason": "spam"}
        )
        assert response.status_code == 302
        lead.refresh_from_db()
        assert lead.status == "disqualified"

    def test_others_get_404_and_analyst_cannot_create(self, web_as, alice, charlie, users_by_role):
        lead = services_leads.lead_create(actor=alice, data={"name": "a", "phone": "13812345678"})
        assert web_as(charlie).get(f"/sales/leads/{lead.pk}/").status_code == 404
        analyst = web_as(users_by_role["analyst"])
        assert analyst.get("/sales/leads/new/").status_code == 403

    def test_convert_page_shows_matches_and_converts(self, web_as, alice):
        from guanxi.customers import services as customer_services

        customer = customer_services.customer_create(
            actor=alice, data={"name": "王先生", "phone": "13812345678"}
        )
        lead = services_leads.lead_create(actor=alice, data={"name": "王", "phone": "13812345678"})
        client = web_as(alice)
        page = client.get(f"/sales/leads/{lead.pk}/convert/").content.decode()
        assert "王先生" in page and f'value="{customer.pk}"' in page
        response = client.post(f"/sales/leads/{lead.pk}/convert/", {"customer": str(customer.pk)})
        assert response.status_code == 302
        lead.refresh_from_db()
        assert lead.customer == customer
        page = client.get(f"/sales/leads/{lead.pk}/").content.decode()
        assert f"/customers/{customer.pk}/" in page and 'id="converted-note"' in page
        # Read-only: the edit page sends back to the lead with a message.
        response = client.get(f"/sales/leads/{lead.pk}/edit/")
        assert response.status_code == 302

    def test_manager_bulk_reassigns_from_the_list(self, web_as, alice, bob, manager):
        ids = [
            services_leads.lead_create(
                actor=alice, data={"name": f"n{i}", "phone": f"1381234567{i}"}
            ).pk
            for i in range(2)
        ]
        response = web_as(manager).post(
            "/sales/leads/assign/", {"ids": [str(i) for i in ids], "owner": str(bob.pk)}
        )
        assert response.status_code == 302
        assert set(Lead.objects.values_list("owner_id", flat=True)) == {bob.pk}

    def test_web_form_and_rule_settings_pages(self, web_as, manager, alice, east):
        client = web_as(manager)
        response = client.post(
            "/sales/leads/forms/new/",
            {
                "name": "Site",
                "slug": "site",
                "source": "website",
                "active": "on",
                "ask_email": "on",
            },
        )
        form = LeadForm.objects.get()
        assert response.status_code == 302 and form.ask_email and not form.ask_company
        assert "/f/site/" in client.get(f"/sales/leads/forms/{form.pk}/").content.decode()
        response = client.post(
            "/sales/leads/rules/new/", {"name": "East", "team": str(east.pk), "active": "on"}
        )
        assert response.status_code == 302
        assert "East" in client.get("/sales/leads/rules/").content.decode()
        assert web_as(alice).get("/sales/leads/rules/").status_code == 403

    def test_nav_has_leads(self, web_as, alice):
        assert 'href="/sales/leads/"' in web_as(alice).get("/").content.decode()
