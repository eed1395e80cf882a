"""Personal API tokens: shown once, stored hashed, accepted as Bearer, revocable."""

import hashlib
import re

import pytest
from django.test import Client

from guanxi.accounts import services
from guanxi.accounts.models import ApiToken
from guanxi.core.models import AuditEntry

pytestmark = pytest.mark.django_db
RAW = re.compile(r"gx_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")


def bearer(raw):
    return {"Authorization": f"Bearer {raw}"}


def me_with(raw):
    return Client().get("/api/v1/me", headers=bearer(raw))


class TestTokensPage:
    URL = "/accounts/tokens/"

    def test_a_new_token_is_shown_once(self, web_as, alice):
        client = web_as(alice)
        response = client.post(self.URL, {"name": "shop sync"})
        assert response.status_code == 200
        assert response["Cache-Control"] == "no-store"
        shown = RAW.findall(response.content.decode())
        assert len(set(shown)) == 1
        raw = shown[0]

        token = ApiToken.objects.get()
        assert (token.user, token.name) == (alice, "shop sync")
        assert raw.startswith(f"gx_{token.prefix}_")

        again = client.get(self.URL).content.decode()
        assert raw not in again
        assert RAW.findall(again) == []
        assert f"gx_{token.prefix}_…" in again
        assert "shop sync" in again

    def test_the_token_is_stored_hashed(self, web_as, alice):
        response = web_as(alice).post(self.URL, {"name": "bi"})
        raw = RAW.findall(response.content.decode())[0]
        token = ApiToken.objects.get()
        assert token.digest == hashlib.sha256(raw.encode()).hexdigest()
        assert token.digest != raw
        stored = ApiToken.objects.values().get()
        assert raw not in [str(v) for v in stored.values()]

    def test_the_token_works_as_bearer_and_records_its_use(self, web_as, alice):
        raw = RAW.findall(web_as(alice).post(self.URL, {"name": "bi"}).content.decode())[0]
        response = me_with(raw)
        assert response.status_code == 200
        assert response.json()["username"] == "alice"
        assert ApiToken.objects.get().last_used_at is not None

    def test_a_revoked_token_gets_401(self, web_as, alice):
        client = web_as(alice)
        raw = RAW.findall(client.post(self.URL, {"name": "bi"}).content.decode())[0]
        token = ApiToken.objects.get()
        response = client.post(f"/accounts/tokens/{token.pk}/revoke/")
        assert response.status_code == 302
        token.refresh_from_db()
        assert token.revoked_at is not None

        refused = me_with(raw)
        assert refused.status_code == 401
        assert refused.json()["code"] == "not_authenticated"
        assert "revoked" in client.get(self.URL).content.decode()

    def test_one_cannot_revoke_someone_elses_token(self, web_as, alice, bob):
        token, raw = services.token_create(actor=bob, name="bob's")
        response = web_as(alice).post(f"/accounts/tokens/{token.pk}/revoke/")
        assert response.status_code == 404
        token.refresh_from_db()
        assert token.revoked_at is None
        assert me_with(raw).status_code == 200

    def test_revoking_needs_a_post(self, web_as, alice):
        token, _raw = services.token_create(actor=alice, name="x")
        assert web_as(alice).get(f"/accounts/tokens/{token.pk}/revoke/").status_code == 405
        token.refresh_from_db()
        assert token.revoked_at is None

    def test_a_token_needs_a_name(self, web_as, alice):
        response = web_as(alice).post(self.URL, {"name": "  "})
        assert response.status_code == 200
        assert "This field is required." in response.content.decode()
        assert ApiToken.objects.count() == 0

    def test_the_page_lists_only_ones_own_tokens(self, web_as, alice, bob):
        services.token_create(actor=bob, name="bob-secret-name")
        services.token_create(actor=alice, name="alice-token")
        body = web_as(alice).get(self.URL).content.decode()
        assert "alice-token" in body
        assert "bob-secret-name" not in body


class TestTokensApi:
    def test_create_returns_the_raw_token_once(self, api_as, alice):
        api = api_as(alice)
        response = api.post("/tokens", {"name": "etl"})
        assert response.status_code == 201
        body = response.json()
        assert RAW.fullmatch(body["token"])
        assert body["name"] == "etl" and body["revoked_at"] is None
        token = ApiToken.objects.get(pk=body["id"])
        assert token.digest == hashlib.sha256(body["token"].encode()).hexdigest()
        assert body["prefix"] == token.prefix

        listed = api.get("/tokens").json()
        assert {t["name"] for t in listed} == {"test", "etl"}
        assert all("token" not in t for t in listed)
        assert me_with(body["token"]).status_code == 200

    def test_revoke_makes_the_token_get_401(self, api_as, alice):
        api = api_as(alice)
        created = api.post("/tokens", {"name": "etl"}).json()
        assert api.delete(f"/tokens/{created['id']}").status_code == 204
        assert me_with(created["token"]).status_code == 401
        assert [t["name"] for t in api.get("/tokens").json()] == ["test"]
        revoked = api.get("/tokens", include_revoked="true").json()
        assert {t["name"]: bool(t["revoked_at"]) for t in revoked} == {"test": False, "etl": True}

    def test_a_token_can_revoke_itself(self, alice):
        token, raw = services.token_create(actor=alice, name="self")
        response = Client().delete(f"/api/v1/tokens/{token.pk}", headers=bearer(raw))
        assert response.status_code == 204
        assert me_with(raw).status_code == 401

    def test_someone_elses_token_is_not_found_and_stays(self, api_as, alice, bob):
        token, raw = services.token_create(actor=bob, name="bob's")
        assert api_as(alice).delete(f"/tokens/{token.pk}").status_code == 404
        assert me_with(raw).status_code == 200

    def test_a_nameless_token_is_refused_with_field_errors(self, api_as, alice):
        api = api_as(alice)
        before = ApiToken.objects.count()
        response = api.post("/tokens", {"name": ""})
        assert response.status_code == 422
        assert response.json()["errors"] == {"name": ["This field is required."]}
        assert ApiToken.objects.count() == before

    def test_a_deactivated_users_token_gets_401(self, alice, admin_user):
        _token, raw = services.token_create(actor=alice, name="x")
        services.user_deactivate(actor=admin_user, user=alice)
        assert me_with(raw).status_code == 401

    def test_a_made_up_token_gets_401(self, alice):
        assert me_with("gx_deadbeef_" + "a" * 43).status_code == 401

    def test_create_and_revoke_are_audited(self, alice):
        token, raw = services.token_create(actor=alice, name="etl")
        services.token_revoke(actor=alice, token=token)
        entries = AuditEntry.objects.filter(model="accounts.apitoken", object_id=token.pk)
        assert [e.action for e in entries.order_by("id")] == ["create", "update"]
        created = entries.get(action="create")
        assert created.changes == {"name": [None, "etl"], "prefix": [None, token.prefix]}
        assert all(
            raw not in str(e.changes) and token.digest not in str(e.changes) for e in entries
        )
