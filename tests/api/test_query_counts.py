"""The customer list costs the same number of queries for 5 or 50 customers (no N+1)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from guanxi.customers import services


def add_customers(actor, count, start=0):
    for n in range(start, start + count):
        services.customer_create(
            actor=actor,
            data={
                "name": f"客户{n}",
                "tags": [f"tag{n % 3}", "vip"],
                "custom": {"level": "gold"},
                "kind": "company",
            },
        )


def queries_for(api, path, **params):
    with CaptureQueriesContext(connection) as ctx:
        response = api.get(path, **params)
    assert response.status_code == 200, response.content
    return response, len(ctx.captured_queries)


@pytest.fixture
def setup(admin_user, manager, api_as):
    services.custom_field_create(
        actor=admin_user,
        data={"key": "level", "label": "Level", "type": "choice", "choices": ["gold"]},
    )
    api = api_as(manager)
    api.get("/customers")  # the first call stamps the token's last use; not measured
    return api


@pytest.mark.django_db
@pytest.mark.parametrize("params", [{}, {"q": "客户"}, {"tag": "vip"}, {"cf_level": "gold"}])
def test_the_list_uses_the_same_number_of_queries_for_5_and_50(setup, manager, params):
    add_customers(manager, 5)
    small, small_count = queries_for(setup, "/customers", **params)
    add_customers(manager, 45, start=5)
    large, large_count = queries_for(setup, "/customers", **params)

    assert len(small.json()["items"]) == 5
    assert len(large.json()["items"]) == 50
    assert large_count == small_count
    assert small_count <= 6  # auth, custom fields, customers (+owner, team), tags


@pytest.mark.django_db
def test_the_detail_does_not_grow_with_tags_or_contacts(setup, manager):
    customer = services.customer_create(
        actor=manager, data={"name": "Big", "kind": "company", "tags": ["a"]}
    )
    _r, few = queries_for(setup, f"/customers/{customer.pk}")
    services.customer_update(
        actor=manager, customer=customer, data={"tags": [f"t{n}" for n in range(20)]}
    )
    for n in range(10):
        services.contact_create(actor=manager, customer=customer, data={"name": f"c{n}"})
    services.consent_set(actor=manager, customer=customer, channel="sms", granted=True)
    services.consent_set(actor=manager, customer=customer, channel="email", granted=True)
    response, many = queries_for(setup, f"/customers/{customer.pk}")
    assert len(response.json()["tags"]) == 20
    assert many == few
