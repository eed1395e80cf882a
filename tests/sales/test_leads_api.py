"""Leads over /api/v1: CRUD, filters and keyset pages, permissions, statuses,
reassignment, conversion, web forms and assignment rules."""

import pytest

from guanxi.core.models import AuditEntry
from guanxi.customers import services as customer_services
from guanxi.sales import services_leads
from guanxi.sales.models import Lead

pytestmark = pytest.mark.django_db


def create(api, **data):
    return api.post("/leads", {"name": "王小明", "phone": "13812345678", **data})


class TestCrud:
    def test_create_read_update_delete(self, api_as, alice, manager):
        api = api_as(alice)
        response = create(api, email="W@Example.com", campaign="Expo", source="wechat")
        assert response.status_code == 201, response.json()
        lead = response.json()
        assert lead["phone"] == "+8613812345678" and lead["email"] == "w@example.com"
        assert lead["owner_id"] == alice.pk and lead["status"] == "new"
        assert api.get(f"/leads/{lead['id']}").json()["campaign"] == "Expo"
        response = api.patch(f"/leads/{lead['id']}", {"company": "华信"})
        assert response.status_code == 200 and response.json()["company"] == "华信"
        assert api.delete(f"/leads/{lead['id']}").status_code == 403  # reps may not delete
        assert api_as(manager).delete(f"/leads/{lead['id']}").status_code == 204
        assert not Lead.objects.exists()

    def test_bad_input_gets_the_one_error_format(self, api_as, alice):
        response = api_as(alice).post("/leads", {"name": "", "phone": "abc"})
        assert response.status_code == 422
        body = response.json()
        assert body["code"] == "validation_error"
        assert set(body["errors"]) == {"name", "phone"}
        assert not Lead.objects.exists()

    def test_visibility_and_roles(self, api_as, alice, bob, charlie, manager, users_by_role):
        lead_id = create(api_as(alice)).json()["id"]
        assert api_as(bob).get(f"/leads/{lead_id}").status_code == 404
        assert api_as(charlie).patch(f"/leads/{lead_id}", {"name": "x"}).status_code == 404
        assert api_as(manager).get(f"/leads/{lead_id}").status_code == 200
        analyst = api_as(users_by_role["analyst"])
        assert analyst.get(f"/leads/{lead_id}").status_code == 200
        assert analyst.patch(f"/leads/{lead_id}", {"name": "x"}).status_code == 403
        assert create(analyst, phone="13900000000").status_code == 403
        assert [i["id"] for i in api_as(bob).get("/leads").json()["items"]] == []


class TestList:
    def test_filters_search_and_keyset_pages(self, api_as, alice):
        api = api_as(alice)
        for i in range(5):
            create(api, name=f"客户{i}", phone=f"1390000000{i}", source="wechat", campaign="A")
        create(api, name="Amy Wang", phone="13800000009", email="amy@corp.cn", campaign="B")
        lead = Lead.objects.get(name="客户2")
        services_leads.lead_set_status(actor=alice, lead=lead, status="contacted")
        assert api.get("/leads", status="contacted").json()["items"][0]["name"] == "客户2"
        assert len(api.get("/leads", source="wechat").json()["items"]) == 5
        assert [i["name"] for i in api.get("/leads", campaign="B").json()["items"]] == ["Amy Wang"]
        assert [i["name"] for i in api.get("/leads", q="amy@").json()["items"]] == ["Amy Wang"]
        assert [i["name"] for i in api.get("/leads", q="139 0000 0003").json()["items"]] == [
            "客户3"
        ]
        assert [i["name"] for i in api.get("/leads", q="wang").json()["items"]] == ["Amy Wang"]
        assert api.get("/leads", owner=str(alice.pk)).json()["items"]
        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = api.get("/leads", **params).json()
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert len(seen) == 6 and len(set(seen)) == 6
        assert api.get("/leads", status="nope").status_code == 422
        assert api.get("/leads", cursor="garbage").status_code == 422


class TestWorkflow:
    def test_status_and_disqualify_reason(self, api_as, alice):
        api = api_as(alice)
        lead_id = create(api).json()["id"]
        response = api.post(f"/leads/{lead_id}/status", {"status": "disqualified"})
        assert response.status_code == 422 and "disqualify_reason" in response.json()["errors"]
        response = api.post(
            f"/leads/{lead_id}/status", {"status": "disqualified", "reason": "duplicate"}
        )
        assert response.json()["status"] == "disqualified"
        assert response.json()["disqualify_reason"] == "duplicate"

    def test_reassign_single_and_bulk(self, api_as, alice, bob, manager):
        ids = [create(api_as(alice), phone=f"1390000000{i}").json()["id"] for i in range(3)]
        assert api_as(alice).post(f"/leads/{ids[0]}/assign", {"owner": bob.pk}).status_code == 403
        response = api_as(manager).post(f"/leads/{ids[0]}/assign", {"owner": "bob"})
        assert response.status_code == 200 and response.json()["owner_id"] == bob.pk
        response = api_as(manager).post("/leads/assign", {"ids": ids[1:], "owner": bob.pk})
        assert response.status_code == 200
        assert {lead["owner_id"] for lead in response.json()} == {bob.pk}

    def test_convert_with_a_match(self, api_as, alice):
        api = api_as(alice)
        customer = customer_services.customer_create(
            actor=alice, data={"name": "王先生", "phone": "13812345678"}
        )
        lead_id = create(api).json()["id"]
        matches = api.get(f"/leads/{lead_id}/matches").json()
        assert [m["id"] for m in matches] == [customer.pk]
        response = api.post(
            f"/leads/{lead_id}/convert", {"customer_id": customer.pk, "create_opportunity": True}
        )
        assert response.status_code == 200, response.json()
        body = response.json()
        assert body["status"] == "converted" and body["read_only"] is True
        assert body["customer_id"] == customer.pk and body["opportunity_id"]
        response = api.patch(f"/leads/{lead_id}", {"name": "x"})
        assert response.status_code == 409 and response.json()["code"] == "read_only"
        actions = list(
            AuditEntry.objects.filter(model="sales.lead", object_id=lead_id).values_list(
                "action", flat=True
            )
        )
        assert sorted(actions) == ["create", "update"]


class TestSettings:
    def test_web_forms(self, api_as, manager, alice):
        api = api_as(manager)
        response = api.post("/lead-forms", {"name": "Expo", "slug": "expo", "source": "exhibition"})
        assert response.status_code == 201 and response.json()["url"] == "/f/expo/"
        form_id = response.json()["id"]
        assert (
            api.patch(f"/lead-forms/{form_id}", {"campaign": "2026"}).json()["campaign"] == "2026"
        )
        assert api.post("/lead-forms", {"name": "x", "slug": "expo"}).status_code == 422
        assert api_as(alice).get("/lead-forms").status_code == 403
        assert api.delete(f"/lead-forms/{form_id}").status_code == 204

    def test_assignment_rules(self, api_as, manager, alice, bob, east):
        api = api_as(manager)
        response = api.post("/assignment-rules", {"name": "R", "members": [alice.pk, "bob"]})
        assert response.status_code == 201
        assert response.json()["members"] == sorted([alice.pk, bob.pk])
        rule_id = response.json()["id"]
        response = api.patch(f"/assignment-rules/{rule_id}", {"members": [], "team": east.pk})
        assert response.json()["members"] == [] and response.json()["team_id"] == east.pk
        assert api.post("/assignment-rules", {"name": "empty"}).status_code == 422
        assert api_as(alice).post("/assignment-rules", {"name": "x"}).status_code == 403
        assert api.delete(f"/assignment-rules/{rule_id}").status_code == 204
