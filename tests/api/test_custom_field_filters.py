"""Filtering the customer list by custom fields with ``cf_<key>=value``."""

import pytest

from guanxi.customers import services


@pytest.fixture
def people(admin_user):
    for data in [
        {"key": "wechat_id", "label": "WeChat", "type": "text"},
        {"key": "budget", "label": "Budget", "type": "number"},
        {"key": "level", "label": "Level", "type": "choice", "choices": ["gold", "silver"]},
        {"key": "interests", "label": "Interests", "type": "multi", "choices": ["tea", "wine"]},
        {"key": "vip", "label": "VIP", "type": "bool"},
        {"key": "since", "label": "Since", "type": "date"},
    ]:
        services.custom_field_create(actor=admin_user, data=data)

    def make(name, **custom):
        return services.customer_create(actor=admin_user, data={"name": name, "custom": custom})

    return {
        "zhang": make(
            "张伟",
            wechat_id="zw88",
            budget=1200,
            level="gold",
            interests=["tea", "wine"],
            vip=True,
            since="2023-01-05",
        ),
        "wang": make(
            "王芳", wechat_id="wf", budget="99.5", level="silver", interests="wine", vip="否"
        ),
        "li": make("李娜", budget=0, interests=["tea"]),
        "none": make("Empty"),
    }


CASES = {
    "text": ({"cf_wechat_id": "zw88"}, ["zhang"]),
    "text_exact_only": ({"cf_wechat_id": "zw"}, []),
    "number_integer": ({"cf_budget": "1200"}, ["zhang"]),
    "number_written_as_float": ({"cf_budget": "1200.0"}, ["zhang"]),
    "number_decimal": ({"cf_budget": "99.5"}, ["wang"]),
    "number_zero": ({"cf_budget": "0"}, ["li"]),
    "choice": ({"cf_level": "silver"}, ["wang"]),
    "multi_one_of_two": ({"cf_interests": "wine"}, ["wang", "zhang"]),
    "multi_other": ({"cf_interests": "tea"}, ["li", "zhang"]),
    "bool_true": ({"cf_vip": "true"}, ["zhang"]),
    "bool_yes": ({"cf_vip": "1"}, ["zhang"]),
    "bool_false": ({"cf_vip": "false"}, ["wang"]),
    "bool_in_chinese": ({"cf_vip": "是"}, ["zhang"]),
    "date": ({"cf_since": "2023-01-05"}, ["zhang"]),
    "date_with_slashes": ({"cf_since": "2023/01/05"}, ["zhang"]),
    "two_fields": ({"cf_level": "gold", "cf_interests": "tea"}, ["zhang"]),
    "with_a_built_in_filter": ({"cf_interests": "tea", "q": "李"}, ["li"]),
    "empty_value_is_no_filter": ({"cf_level": ""}, ["li", "none", "wang", "zhang"]),
    "unknown_field_is_ignored": ({"cf_nope": "x"}, ["li", "none", "wang", "zhang"]),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(CASES))
def test_custom_field_filter(case, people, admin_user, api_as):
    params, expected = CASES[case]
    response = api_as(admin_user).get("/customers", **params)
    assert response.status_code == 200, response.content
    ids = {row["id"] for row in response.json()["items"]}
    assert ids == {people[name].pk for name in expected}


@pytest.mark.django_db
def test_the_filter_stays_within_what_the_user_sees(people, alice, api_as):
    mine = services.customer_create(actor=alice, data={"name": "Mine", "custom": {"level": "gold"}})
    response = api_as(alice).get("/customers", cf_level="gold")
    assert [row["id"] for row in response.json()["items"]] == [mine.pk]
