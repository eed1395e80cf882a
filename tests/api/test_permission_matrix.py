"""The permission matrix of the customer API: role × endpoint × whose record.

The expectations below are written out from the role definitions (guanxi/accounts/
roles.py) by hand, not computed by the code under test; one test checks that this table
and roles.py still agree, so a change of a role shows up here as a failing cell.

A record the caller may not see answers 404 (never 403: that would say it exists);
a record the caller sees but may not change answers 403. Every refusal leaves the
database exactly as it was.
"""

import pytest
from django.test import Client

from guanxi.accounts.roles import ROLES
from guanxi.core.models import AuditEntry
from guanxi.customers import services
from guanxi.customers.models import Consent, Contact, Customer, CustomField, Tag
from tests.conftest import make_user

ROLE_NAMES = ["admin", "manager", "sales", "service", "marketing", "analyst"]
WHOSE = ["own", "team_mate", "other_team"]

# What each role sees, for a record owned by: the caller, a team-mate, another team's user.
SEES = {
    #             own    team-mate  other team
    "admin": (True, True, True),  # scope all
    "manager": (True, True, False),  # scope team
    "sales": (True, False, False),  # scope own
    "service": (True, True, True),  # scope all
    "marketing": (True, True, True),  # scope all
    "analyst": (True, True, True),  # scope all
}
# What each role may do (the actions the customer API needs).
MAY = {
    "admin": {"view", "create", "change", "delete", "manage_settings"},
    "manager": {"view", "create", "change", "delete"},
    "sales": {"view", "create", "change"},
    "service": {"view", "change"},
    "marketing": {"view", "change"},
    "analyst": {"view"},
}
SCOPE = {"own": (True, False, False), "team": (True, True, False), "all": (True, True, True)}


def test_the_table_above_matches_the_role_definitions():
    assert sorted(ROLES) == sorted(ROLE_NAMES)
    for name, role in ROLES.items():
        assert SCOPE[role.scope] == SEES[name], name
        wanted = {"view", "create", "change", "delete", "manage_settings"}
        assert {a.value for a in role.actions} & wanted == MAY[name], name


# Endpoints on one customer: (action needed, status on success, request).
RECORD_ENDPOINTS = {
    "customer_get": ("view", 200, lambda api, c: api.get(f"/customers/{c.pk}")),
    "customer_patch": (
        "change",
        200,
        lambda api, c: api.patch(f"/customers/{c.pk}", {"name": "Renamed", "stage": "vip"}),
    ),
    "customer_delete": ("delete", 204, lambda api, c: api.delete(f"/customers/{c.pk}")),
    "consents_put": (
        "change",
        200,
        lambda api, c: api.put(f"/customers/{c.pk}/consents", {"channel": "sms", "granted": True}),
    ),
    "audit_get": ("view", 200, lambda api, c: api.get(f"/customers/{c.pk}/audit")),
    "timeline_get": ("view", 200, lambda api, c: api.get(f"/customers/{c.pk}/timeline")),
    "contacts_list": ("view", 200, lambda api, c: api.get(f"/customers/{c.pk}/contacts")),
    "contacts_create": (
        "change",
        201,
        lambda api, c: api.post(f"/customers/{c.pk}/contacts", {"name": "New Li"}),
    ),
    "contact_get": ("view", 200, lambda api, c: api.get(f"/contacts/{c.contacts.get().pk}")),
    "contact_patch": (
        "change",
        200,
        lambda api, c: api.patch(f"/contacts/{c.contacts.get().pk}", {"title": "CEO"}),
    ),
    "contact_delete": (
        "change",
        204,
        lambda api, c: api.delete(f"/contacts/{c.contacts.get().pk}"),
    ),
}


def expected_status(role: str, endpoint: str, whose: str) -> int:
    action, success, _call = RECORD_ENDPOINTS[endpoint]
    if not SEES[role][WHOSE.index(whose)]:
        return 404
    return success if action in MAY[role] else 403


@pytest.fixture
def world(users_by_role, alice, charlie):
    """For each caller: a company customer (with one contact) owned by the caller, one
    owned by alice (team East, like every users_by_role user) and one by charlie (West)."""
    admin = users_by_role["admin"]

    def build(role):
        caller = users_by_role[role]
        owners = {"own": caller, "team_mate": alice, "other_team": charlie}
        records = {}
        for whose, owner in owners.items():
            customer = services.customer_create(
                actor=admin,
                data={"name": f"{whose} Ltd", "kind": "company", "owner": owner.pk},
            )
            services.contact_create(actor=admin, customer=customer, data={"name": "Wang"})
            records[whose] = customer
        assert records["team_mate"].team_id == caller.team_id != records["other_team"].team_id
        return caller, records

    return build


@pytest.mark.django_db
@pytest.mark.parametrize("whose", WHOSE)
@pytest.mark.parametrize("endpoint", list(RECORD_ENDPOINTS))
@pytest.mark.parametrize("role", ROLE_NAMES)
def test_record_endpoint(role, endpoint, whose, world, api_as, state):
    caller, records = world(role)
    customer = records[whose]
    contact = customer.contacts.get()
    api = api_as(caller)
    before = state()

    response = RECORD_ENDPOINTS[endpoint][2](api, customer)

    expected = expected_status(role, endpoint, whose)
    assert response.status_code == expected, response.content
    if expected >= 400:
        body = response.json()
        assert set(body) == {"code", "message", "errors"}
        assert body["code"] == {404: "not_found", 403: "permission_denied"}[expected]
        assert state() == before
        return
    # Success: the effect happened (and reads wrote nothing).
    if endpoint == "customer_get":
        assert response.json()["id"] == customer.pk
    elif endpoint == "customer_patch":
        customer.refresh_from_db()
        assert (customer.name, customer.stage) == ("Renamed", "vip")
        assert AuditEntry.objects.count() == before["audit"] + 1
    elif endpoint == "customer_delete":
        assert not Customer.objects.filter(pk=customer.pk).exists()
        assert not Contact.objects.filter(pk=contact.pk).exists()
    elif endpoint == "consents_put":
        assert Consent.objects.get(customer=customer, channel="sms").granted is True
    elif endpoint == "audit_get":
        assert [e["action"] for e in response.json()] == ["create"]
    elif endpoint == "timeline_get":
        assert [i["kind"] for i in response.json()] == ["contact.create", "audit.create"]
    elif endpoint == "contacts_list":
        assert [c["id"] for c in response.json()] == [contact.pk]
    elif endpoint == "contacts_create":
        assert sorted(customer.contacts.values_list("name", flat=True)) == ["New Li", "Wang"]
    elif endpoint == "contact_get":
        assert response.json()["id"] == contact.pk
    elif endpoint == "contact_patch":
        contact.refresh_from_db()
        assert contact.title == "CEO"
    elif endpoint == "contact_delete":
        assert not Contact.objects.filter(pk=contact.pk).exists()
    if endpoint.endswith(("_get", "_list")):
        assert state() == before


@pytest.mark.django_db
@pytest.mark.parametrize("whose", WHOSE)
@pytest.mark.parametrize("role", ROLE_NAMES)
def test_list_shows_exactly_the_records_the_role_sees(role, whose, world, api_as, state):
    caller, records = world(role)
    before = state()
    response = api_as(caller).get("/customers")
    assert response.status_code == 200
    listed = {row["id"] for row in response.json()["items"]}
    assert (records[whose].pk in listed) is SEES[role][WHOSE.index(whose)]
    assert state() == before


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLE_NAMES)
def test_create_customer(role, users_by_role, api_as, state):
    caller = users_by_role[role]
    before = state()
    response = api_as(caller).post("/customers", {"name": "New Co"})
    if "create" in MAY[role]:
        assert response.status_code == 201
        created = Customer.objects.get(pk=response.json()["id"])
        assert (created.owner, created.team) == (caller, caller.team)
    else:
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
        assert state() == before


# Settings endpoints (tags, custom fields): not owned by anyone, so only the role counts.
SETTINGS_ENDPOINTS = {
    "tags_list": ("view", 200, lambda api, w: api.get("/tags")),
    "tags_create": ("manage_settings", 201, lambda api, w: api.post("/tags", {"name": "new"})),
    "tags_patch": (
        "manage_settings",
        200,
        lambda api, w: api.patch(f"/tags/{w['tag'].pk}", {"name": "renamed"}),
    ),
    "tags_delete": ("manage_settings", 204, lambda api, w: api.delete(f"/tags/{w['tag'].pk}")),
    "custom_fields_list": ("view", 200, lambda api, w: api.get("/custom-fields")),
    "custom_fields_create": (
        "manage_settings",
        201,
        lambda api, w: api.post(
            "/custom-fields", {"key": "wechat_id", "label": "WeChat", "type": "text"}
        ),
    ),
    "custom_fields_patch": (
        "manage_settings",
        200,
        lambda api, w: api.patch(f"/custom-fields/{w['field'].pk}", {"label": "Budget ¥"}),
    ),
    "custom_fields_delete": (
        "manage_settings",
        204,
        lambda api, w: api.delete(f"/custom-fields/{w['field'].pk}"),
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", list(SETTINGS_ENDPOINTS))
@pytest.mark.parametrize("role", ROLE_NAMES)
def test_settings_endpoint(role, endpoint, users_by_role, api_as, state):
    admin = users_by_role["admin"]
    things = {
        "tag": services.tag_create(actor=admin, name="vip"),
        "field": services.custom_field_create(
            actor=admin, data={"key": "budget", "label": "Budget", "type": "number"}
        ),
    }
    action, success, call = SETTINGS_ENDPOINTS[endpoint]
    before = state()

    response = call(api_as(users_by_role[role]), things)

    if action not in MAY[role]:
        assert response.status_code == 403, response.content
        assert response.json()["code"] == "permission_denied"
        assert state() == before
        return
    assert response.status_code == success, response.content
    if endpoint == "tags_list":
        assert [t["name"] for t in response.json()] == ["vip"]
    elif endpoint == "tags_create":
        assert sorted(Tag.objects.values_list("name", flat=True)) == ["new", "vip"]
    elif endpoint == "tags_patch":
        assert list(Tag.objects.values_list("name", flat=True)) == ["renamed"]
    elif endpoint == "tags_delete":
        assert not Tag.objects.exists()
    elif endpoint == "custom_fields_list":
        assert [f["key"] for f in response.json()] == ["budget"]
    elif endpoint == "custom_fields_create":
        assert CustomField.objects.get(key="wechat_id").type == "text"
    elif endpoint == "custom_fields_patch":
        assert CustomField.objects.get().label == "Budget ¥"
    elif endpoint == "custom_fields_delete":
        assert CustomField.objects.get().active is False


# Without credentials every endpoint answers 401, before looking at anything else.
ALL_PATHS = [
    ("get", "/customers"),
    ("post", "/customers"),
    ("get", "/customers/{c}"),
    ("patch", "/customers/{c}"),
    ("delete", "/customers/{c}"),
    ("put", "/customers/{c}/consents"),
    ("get", "/customers/{c}/audit"),
    ("get", "/customers/{c}/timeline"),
    ("get", "/customers/{c}/contacts"),
    ("post", "/customers/{c}/contacts"),
    ("get", "/contacts/{k}"),
    ("patch", "/contacts/{k}"),
    ("delete", "/contacts/{k}"),
    ("get", "/tags"),
    ("post", "/tags"),
    ("patch", "/tags/{t}"),
    ("delete", "/tags/{t}"),
    ("get", "/custom-fields"),
    ("post", "/custom-fields"),
    ("patch", "/custom-fields/{f}"),
    ("delete", "/custom-fields/{f}"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("credentials", ["none", "unknown_token", "inactive_user"])
@pytest.mark.parametrize("method,path", ALL_PATHS)
def test_without_valid_credentials_it_answers_401(method, path, credentials, admin_user, state):
    customer = services.customer_create(actor=admin_user, data={"name": "Co", "kind": "company"})
    contact = services.contact_create(actor=admin_user, customer=customer, data={"name": "Li"})
    tag = services.tag_create(actor=admin_user, name="vip")
    field = services.custom_field_create(
        actor=admin_user, data={"key": "budget", "label": "Budget", "type": "number"}
    )
    url = "/api/v1" + path.format(c=customer.pk, k=contact.pk, t=tag.pk, f=field.pk)
    headers = {}
    if credentials == "unknown_token":
        headers["Authorization"] = "Bearer gx_not-a-real-token"
    elif credentials == "inactive_user":
        from tests.conftest import token_for

        gone = make_user("gone", "admin", admin_user.team, is_active=False)
        headers["Authorization"] = f"Bearer {token_for(gone)}"
    before = state()

    kwargs = {"headers": headers}
    if method in ("post", "patch", "put"):
        kwargs.update(data={"name": "x"}, content_type="application/json")
    response = getattr(Client(), method)(url, **kwargs)

    assert response.status_code == 401, response.content
    assert response.json()["code"] == "not_authenticated"
    assert state() == before
