"""Bad input on every customer entry point: one error format, the field named, nothing
written.

The format is {"code": "validation_error", "message": "...", "errors": {field: [...]}},
status 422; a body that is not JSON at all answers 400 in the same format.
"""

import datetime

import pytest
from django.utils import timezone

from guanxi.customers import services

TOMORROW = (timezone.localdate() + datetime.timedelta(days=1)).isoformat()


@pytest.fixture
def admin_api(admin_user, api_as):
    return api_as(admin_user)


@pytest.fixture
def fields(admin_user):
    for data in [
        {"key": "wechat_id", "label": "WeChat", "type": "text"},
        {"key": "budget", "label": "Budget", "type": "number"},
        {"key": "level", "label": "Level", "type": "choice", "choices": ["gold", "silver"]},
        {"key": "interests", "label": "Interests", "type": "multi", "choices": ["tea", "wine"]},
        {"key": "vip", "label": "VIP", "type": "bool"},
        {"key": "since", "label": "Since", "type": "date"},
    ]:
        services.custom_field_create(actor=admin_user, data=data)


@pytest.fixture
def company(admin_user, fields):
    customer = services.customer_create(
        actor=admin_user,
        data={
            "name": "Acme",
            "kind": "company",
            "phone": "13812345678",
            "external_id": "TB-1",
            "custom": {"budget": 5},
        },
    )
    contact = services.contact_create(actor=admin_user, customer=customer, data={"name": "Li"})
    person = services.customer_create(
        actor=admin_user, data={"name": "Wang", "external_id": "TB-2"}
    )
    return {"customer": customer, "contact": contact, "person": person}


def assert_refused(response, field, *, status=422, code="validation_error"):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "errors"}
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert field in body["errors"], body["errors"]
    messages = body["errors"][field]
    assert messages and all(isinstance(m, str) and m for m in messages)


CUSTOMER_CASES = {
    "missing_name": ({}, "name"),
    "blank_name": ({"name": "   "}, "name"),
    "name_too_long": ({"name": "x" * 201}, "name"),
    "name_not_a_string": ({"name": 5}, "name"),
    "phone_without_digits": ({"name": "A", "phone": "abc"}, "phone"),
    "phone_too_short": ({"name": "A", "phone": "12345"}, "phone"),
    "bad_email": ({"name": "A", "email": "not-an-email"}, "email"),
    "email_without_domain_dot": ({"name": "A", "email": "a@b"}, "email"),
    "bad_extra_phone": ({"name": "A", "phones_extra": ["13812345678", "abc"]}, "phones_extra"),
    "bad_extra_email": ({"name": "A", "emails_extra": ["x@"]}, "emails_extra"),
    "bad_stage": ({"name": "A", "stage": "foo"}, "stage"),
    "bad_kind": ({"name": "A", "kind": "robot"}, "kind"),
    "bad_gender": ({"name": "A", "gender": "x"}, "gender"),
    "bad_grade": ({"name": "A", "grade": "Z"}, "grade"),
    "bad_source": ({"name": "A", "source": "ebay"}, "source"),
    "birthday_in_the_future": ({"name": "A", "birthday": TOMORROW}, "birthday"),
    "birthday_not_a_date": ({"name": "A", "birthday": "abc"}, "birthday"),
    "birthday_impossible": ({"name": "A", "birthday": "2020-02-30"}, "birthday"),
    "birthday_too_old": ({"name": "A", "birthday": "1850-01-01"}, "birthday"),
    "tag_too_long": ({"name": "A", "tags": ["x" * 51]}, "tags"),
    "tags_not_a_list": ({"name": "A", "tags": "vip"}, "tags"),
    "unknown_custom_field": ({"name": "A", "custom": {"nope": 1}}, "custom.nope"),
    "custom_number_x": ({"name": "A", "custom": {"budget": "x"}}, "custom.budget"),
    "custom_number_infinite": ({"name": "A", "custom": {"budget": "Infinity"}}, "custom.budget"),
    "custom_choice_not_in_list": ({"name": "A", "custom": {"level": "bronze"}}, "custom.level"),
    "custom_multi_not_in_list": (
        {"name": "A", "custom": {"interests": ["tea", "beer"]}},
        "custom.interests",
    ),
    "custom_bool_maybe": ({"name": "A", "custom": {"vip": "maybe"}}, "custom.vip"),
    "custom_date_bad": ({"name": "A", "custom": {"since": "2020-13-01"}}, "custom.since"),
    "custom_text_too_long": (
        {"name": "A", "custom": {"wechat_id": "x" * 1001}},
        "custom.wechat_id",
    ),
    "custom_not_an_object": ({"name": "A", "custom": ["x"]}, "custom"),
    "unknown_owner": ({"name": "A", "owner": "nobody"}, "owner"),
    "duplicate_external_id": ({"name": "A", "external_id": "TB-1"}, "external_id"),
    "external_id_too_long": ({"name": "A", "external_id": "x" * 101}, "external_id"),
    "province_too_long": ({"name": "A", "province": "x" * 51}, "province"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(CUSTOMER_CASES))
def test_create_customer_refuses(case, admin_api, company, state):
    payload, field = CUSTOMER_CASES[case]
    before = state()
    assert_refused(admin_api.post("/customers", payload), field)
    assert state() == before


@pytest.mark.django_db
@pytest.mark.parametrize("case", [c for c in CUSTOMER_CASES if c != "missing_name"])
def test_update_customer_refuses(case, admin_api, company, state):
    payload, field = CUSTOMER_CASES[case]
    if field == "external_id" and case == "duplicate_external_id":
        payload = {"external_id": "TB-2"}  # the other customer's
    before = state()
    assert_refused(admin_api.patch(f"/customers/{company['customer'].pk}", payload), field)
    assert state() == before


@pytest.mark.django_db
def test_a_sales_rep_may_not_give_a_customer_away(alice, bob, api_as, state):
    customer = services.customer_create(actor=alice, data={"name": "Mine"})
    before = state()
    response = api_as(alice).patch(f"/customers/{customer.pk}", {"owner": bob.username})
    assert_refused(response, "owner")
    assert state() == before


@pytest.mark.django_db
def test_a_required_custom_field_must_be_given_on_create(admin_user, admin_api, state):
    services.custom_field_create(
        actor=admin_user,
        data={"key": "shop", "label": "Shop", "type": "text", "required": True},
    )
    before = state()
    assert_refused(admin_api.post("/customers", {"name": "A"}), "custom.shop")
    assert_refused(
        admin_api.post("/customers", {"name": "A", "custom": {"shop": " "}}), "custom.shop"
    )
    assert state() == before
    assert (
        admin_api.post("/customers", {"name": "A", "custom": {"shop": "Tmall"}}).status_code == 201
    )


@pytest.mark.django_db
def test_a_required_custom_field_cannot_be_emptied_by_an_update(admin_user, admin_api, state):
    services.custom_field_create(
        actor=admin_user,
        data={"key": "shop", "label": "Shop", "type": "text", "required": True},
    )
    customer = services.customer_create(
        actor=admin_user, data={"name": "A", "custom": {"shop": "Tmall"}}
    )
    before = state()
    response = admin_api.patch(f"/customers/{customer.pk}", {"custom": {"shop": ""}})
    assert_refused(response, "custom.shop")
    assert state() == before
    # A patch that does not mention the field leaves it alone.
    assert admin_api.patch(f"/customers/{customer.pk}", {"notes": "hi"}).status_code == 200


@pytest.mark.django_db
def test_it_names_every_bad_field_at_once(admin_api, company, state):
    before = state()
    response = admin_api.post(
        "/customers", {"name": "", "phone": "abc", "email": "x", "stage": "foo"}
    )
    assert_refused(response, "name")
    assert set(response.json()["errors"]) == {"name", "phone", "email", "stage"}
    assert state() == before


# Contacts, consents, tags and custom fields ------------------------------------------

OTHER_CASES = {
    "contact_missing_name": ("post", "/customers/{customer}/contacts", {}, "name"),
    "contact_bad_phone": (
        "post",
        "/customers/{customer}/contacts",
        {"name": "Li", "phone": "abc"},
        "phone",
    ),
    "contact_bad_email": (
        "post",
        "/customers/{customer}/contacts",
        {"name": "Li", "email": "li@"},
        "email",
    ),
    "contact_title_too_long": (
        "post",
        "/customers/{customer}/contacts",
        {"name": "Li", "title": "x" * 101},
        "title",
    ),
    "contact_on_a_person": ("post", "/customers/{person}/contacts", {"name": "Li"}, "customer"),
    "contact_patch_blank_name": ("patch", "/contacts/{contact}", {"name": ""}, "name"),
    "contact_patch_bad_phone": ("patch", "/contacts/{contact}", {"phone": "12"}, "phone"),
    "consent_unknown_channel": (
        "put",
        "/customers/{customer}/consents",
        {"channel": "fax", "granted": True},
        "channel",
    ),
    "consent_missing_granted": (
        "put",
        "/customers/{customer}/consents",
        {"channel": "sms"},
        "granted",
    ),
    "consent_granted_not_bool": (
        "put",
        "/customers/{customer}/consents",
        {"channel": "sms", "granted": "perhaps"},
        "granted",
    ),
    "tag_missing_name": ("post", "/tags", {}, "name"),
    "tag_duplicate_name": ("post", "/tags", {"name": "vip"}, "name"),
    "tag_bad_color": ("post", "/tags", {"name": "new", "color": "red"}, "color"),
    "tag_patch_duplicate": ("patch", "/tags/{other_tag}", {"name": "vip"}, "name"),
    "tag_patch_blank": ("patch", "/tags/{tag}", {"name": ""}, "name"),
    "field_bad_key": (
        "post",
        "/custom-fields",
        {"key": "Bad Key", "label": "L", "type": "text"},
        "key",
    ),
    "field_duplicate_key": (
        "post",
        "/custom-fields",
        {"key": "budget", "label": "L", "type": "text"},
        "key",
    ),
    "field_missing_label": ("post", "/custom-fields", {"key": "k", "type": "text"}, "label"),
    "field_bad_type": ("post", "/custom-fields", {"key": "k", "label": "L", "type": "foo"}, "type"),
    "field_choice_without_choices": (
        "post",
        "/custom-fields",
        {"key": "k", "label": "L", "type": "choice"},
        "choices",
    ),
    "field_patch_type": ("patch", "/custom-fields/{field}", {"type": "text"}, "type"),
    "field_patch_key": ("patch", "/custom-fields/{field}", {"key": "other"}, "key"),
    "field_position_not_a_number": (
        "patch",
        "/custom-fields/{field}",
        {"position": "x"},
        "position",
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(OTHER_CASES))
def test_other_entry_points_refuse(case, admin_user, admin_api, company, state):
    method, path, payload, field = OTHER_CASES[case]
    tag = services.tag_create(actor=admin_user, name="vip")
    other_tag = services.tag_create(actor=admin_user, name="new")
    ids = {
        "customer": company["customer"].pk,
        "person": company["person"].pk,
        "contact": company["contact"].pk,
        "tag": tag.pk,
        "other_tag": other_tag.pk,
        "field": services.custom_field_create(
            actor=admin_user, data={"key": "size", "label": "Size", "type": "number"}
        ).pk,
    }
    before = state()
    assert_refused(getattr(admin_api, method)(path.format(**ids), payload), field)
    assert state() == before


# The list: filters, sort, cursor and page size ---------------------------------------

LIST_CASES = {
    "bad_cursor": ({"cursor": "not-a-cursor"}, "cursor"),
    "cursor_of_wrong_shape": ({"cursor": "WzEsMl0"}, "cursor"),  # [1, 2]: no date
    "cursor_with_text_id": ({"cursor": "WyIyMDIwLTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwieCJd"}, "cursor"),
    "cursor_for_name_with_object": ({"cursor": "W3siYSI6MX0sMl0", "sort": "name"}, "cursor"),
    "bad_sort": ({"sort": "password"}, "sort"),
    "limit_0": ({"limit": 0}, "limit"),
    "limit_1000": ({"limit": 1000}, "limit"),
    "limit_not_a_number": ({"limit": "many"}, "limit"),
    "bad_stage_filter": ({"stage": "lead,foo"}, "stage"),
    "bad_grade_filter": ({"grade": "Z"}, "grade"),
    "bad_created_after": ({"created_after": "yesterday"}, "created_after"),
    "custom_number_filter_x": ({"cf_budget": "x"}, "cf_budget"),
    "custom_bool_filter_maybe": ({"cf_vip": "maybe"}, "cf_vip"),
    "custom_date_filter_bad": ({"cf_since": "2023-02-30"}, "cf_since"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(LIST_CASES))
def test_list_refuses(case, admin_api, company, state):
    params, field = LIST_CASES[case]
    before = state()
    assert_refused(admin_api.get("/customers", **params), field)
    assert state() == before


@pytest.mark.django_db
def test_a_path_id_that_is_not_a_number_is_named(admin_api, company):
    assert_refused(admin_api.get("/customers/abc"), "customer_id")
    assert_refused(admin_api.patch("/contacts/abc", {"name": "x"}), "contact_id")


@pytest.mark.django_db
@pytest.mark.parametrize("customer_id", [0, -1, 2**31, 10**18])
def test_an_id_that_does_not_exist_answers_404(customer_id, admin_api, company):
    response = admin_api.get(f"/customers/{customer_id}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# Bodies that are not a JSON object -----------------------------------------------------

BODY_ENTRY_POINTS = [
    ("post", "/customers"),
    ("patch", "/customers/{customer}"),
    ("put", "/customers/{customer}/consents"),
    ("post", "/customers/{customer}/contacts"),
    ("patch", "/contacts/{contact}"),
    ("post", "/tags"),
    ("post", "/custom-fields"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("method,path", BODY_ENTRY_POINTS)
@pytest.mark.parametrize("body", ['{"name": "A",', "{name: 'A'}", "\xff\xfe"])
def test_malformed_json_answers_400_in_our_format(method, path, body, admin_api, company, state):
    ids = {"customer": company["customer"].pk, "contact": company["contact"].pk}
    before = state()
    response = getattr(admin_api.client, method)(
        "/api/v1" + path.format(**ids),
        body.encode("latin-1"),
        content_type="application/json",
        headers=admin_api.headers,
    )
    assert_refused(response, "__all__", status=400, code="malformed_json")
    assert state() == before


@pytest.mark.django_db
@pytest.mark.parametrize("method,path", BODY_ENTRY_POINTS)
@pytest.mark.parametrize("body", ['["name", "A"]', '"A"', "null", "42"])
def test_json_that_is_not_an_object_answers_422(method, path, body, admin_api, company, state):
    ids = {"customer": company["customer"].pk, "contact": company["contact"].pk}
    before = state()
    response = getattr(admin_api.client, method)(
        "/api/v1" + path.format(**ids),
        body,
        content_type="application/json",
        headers=admin_api.headers,
    )
    assert_refused(response, "__all__")
    assert state() == before
