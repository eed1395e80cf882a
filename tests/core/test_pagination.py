"""Keyset pagination walks every record exactly once, also when many share the sort
value (ties are broken by id)."""

import datetime

import pytest
from django.utils.dateparse import parse_datetime

from guanxi.core.errors import ValidationFailed
from guanxi.core.pagination import keyset_page
from guanxi.customers import selectors
from guanxi.customers.models import Customer

T0 = datetime.datetime(2024, 5, 1, 8, 30, 0, 123456, tzinfo=datetime.UTC)
SORTS = ["-created_at", "name", "-updated_at", "created_at", "-name", "updated_at"]


@pytest.fixture
def customers(admin_user):
    """120 customers; created_at shared by groups of 4, updated_at by groups of 24,
    names by groups of about 17 (Chinese and Latin)."""
    names = ["张伟", "王芳", "Amy", "amy", "李娜", "Zhou", "欧阳娜娜"]
    Customer.objects.bulk_create(
        Customer(
            name=names[i % 7],
            owner=admin_user,
            team=admin_user.team,
            created_at=T0 + datetime.timedelta(seconds=i // 4),
            updated_at=T0 + datetime.timedelta(minutes=i % 5, microseconds=7),
        )
        for i in range(120)
    )
    return Customer.objects.all()


def expected_order(sort):
    field = sort.lstrip("-")
    order = [sort, "-id"] if sort.startswith("-") else [sort, "id"]
    assert Customer.objects.values(field).distinct().count() < 120  # there are ties
    return list(Customer.objects.order_by(*order).values_list("pk", flat=True))


def walk(fetch):
    pages, cursor = [], None
    while True:
        rows, cursor = fetch(cursor)
        pages.append(rows)
        if cursor is None:
            return pages
        assert len(pages) < 10, "pagination does not end"


@pytest.mark.django_db
@pytest.mark.parametrize("sort", SORTS)
def test_keyset_page_walks_120_records_in_pages_of_50(sort, customers):
    field = sort.lstrip("-")
    parse = parse_datetime if field.endswith("_at") else None
    pages = walk(
        lambda cursor: keyset_page(
            Customer.objects.all(), order=sort, cursor=cursor, size=50, parse=parse
        )
    )
    assert [len(p) for p in pages] == [50, 50, 20]
    walked = [c.pk for page in pages for c in page]
    assert walked == expected_order(sort)
    assert len(set(walked)) == 120


@pytest.mark.django_db
@pytest.mark.parametrize("sort", SORTS)
def test_the_api_walks_the_same_pages(sort, customers, admin_user, api_as):
    api = api_as(admin_user)

    def fetch(cursor):
        params = {"sort": sort, "limit": 50}
        if cursor:
            params["cursor"] = cursor
        response = api.get("/customers", **params)
        assert response.status_code == 200, response.content
        body = response.json()
        return [row["id"] for row in body["items"]], body["next_cursor"]

    pages = walk(fetch)
    assert [len(p) for p in pages] == [50, 50, 20]
    assert [pk for page in pages for pk in page] == expected_order(sort)


@pytest.mark.django_db
def test_an_exact_multiple_of_the_page_size_ends_without_an_empty_page(customers):
    Customer.objects.filter(
        pk__in=list(customers.order_by("id")[:20].values_list("pk", flat=True))
    ).delete()
    pages = walk(
        lambda cursor: keyset_page(Customer.objects.all(), order="name", cursor=cursor, size=50)
    )
    assert [len(p) for p in pages] == [50, 50]


@pytest.mark.django_db
def test_records_added_while_paging_do_not_shift_later_pages(customers, admin_user):
    first, cursor = selectors.customer_list(user=admin_user, params={}, size=50)
    Customer.objects.create(name="newest", created_at=T0 + datetime.timedelta(days=1))
    second, cursor = selectors.customer_list(user=admin_user, params={}, size=50, cursor=cursor)
    third, cursor = selectors.customer_list(user=admin_user, params={}, size=50, cursor=cursor)
    walked = [c.pk for c in first + second + third]
    assert cursor is None
    assert len(walked) == len(set(walked)) == 120


@pytest.mark.django_db
def test_the_cursor_keeps_the_filters_own_order(customers, admin_user):
    Customer.objects.filter(name="Amy").update(stage="vip")
    rows, cursor = selectors.customer_list(
        user=admin_user, params={"stage": "vip"}, size=10, sort="name"
    )
    more, cursor = selectors.customer_list(
        user=admin_user, params={"stage": "vip"}, size=10, sort="name", cursor=cursor
    )
    assert cursor is None
    assert {c.name for c in rows + more} == {"Amy"}
    assert len(rows + more) == Customer.objects.filter(name="Amy").count() == 17


@pytest.mark.django_db
@pytest.mark.parametrize(
    "cursor",
    ["", "!!!", "bnVsbA", "WzFd", "WzEsMiwzXQ", "WyJ4IiwiMiJd", "WyJ4IiwyLjVd", "WyJcdTAwMDAiLDFd"],
)
def test_cursors_a_client_made_up_are_refused(cursor, customers):
    if cursor == "":
        rows, _next = keyset_page(Customer.objects.all(), order="name", cursor=cursor, size=5)
        assert len(rows) == 5  # no cursor: the first page
        return
    with pytest.raises(ValidationFailed) as err:
        keyset_page(Customer.objects.all(), order="name", cursor=cursor, size=5)
    assert list(err.value.field_errors) == ["cursor"]
