"""The list and search queries are shaped for speed at 1M customers (see
docs/benchmarks.md); these tests check that the shapes still give the same answers."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from guanxi.core.visibility import visible_to
from guanxi.customers import selectors
from guanxi.customers.models import Customer, Tag


def make(name, owner, team, phone="", email=""):
    from guanxi.core.normalize import name_pinyin

    pinyin, initials = name_pinyin(name)
    return Customer.objects.create(
        name=name,
        name_pinyin=pinyin,
        name_initials=initials,
        phone=phone,
        email=email,
        owner=owner,
        team=team,
    )


def names(rows):
    return sorted(c.name for c in rows)


@pytest.fixture
def book(alice, bob, charlie, manager, east, west):
    return {
        "alice": make("张伟", alice, east, phone="+8613812345678", email="zw@example.com"),
        "bob": make("张伟明", bob, east),
        "charlie": make("张三", charlie, west),
        "manager": make("李四", manager, east),
        "moved": make("王五", manager, west),  # the manager's own, in another team
    }


def test_a_manager_sees_exactly_what_visibility_allows(book, manager):
    rows, _cursor = selectors.customer_list(user=manager, params={})

    assert names(rows) == names(visible_to(manager, Customer.objects.all()))
    assert names(rows) == ["张伟", "张伟明", "李四", "王五"]


def test_the_tag_filter_matches_by_name_or_id_without_duplicates(book, admin_user):
    vip, other = Tag.objects.create(name="VIP"), Tag.objects.create(name="other")
    book["alice"].tags.add(vip, other)
    book["charlie"].tags.add(vip)

    by_name, _c = selectors.customer_list(user=admin_user, params={"tag": "VIP"})
    by_id, _c = selectors.customer_list(user=admin_user, params={"tag": str(vip.pk)})
    unknown, _c = selectors.customer_list(user=admin_user, params={"tag": "nope"})

    assert names(by_name) == ["张三", "张伟"]
    assert names(by_id) == ["张三", "张伟"]
    assert unknown == []


@pytest.mark.parametrize("probe", [2000, 1])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("张", ["张伟", "张伟明"]),
        ("zw", ["张伟", "张伟明"]),
        ("zhangwei", ["张伟", "张伟明"]),
        ("13812345678", ["张伟"]),
        ("1381234", ["张伟"]),
        ("zw@example", ["张伟"]),
        ("李", ["李四"]),
        ("王", []),
    ],
)
def test_search_finds_the_same_with_few_or_many_matches(
    book, alice, bob, monkeypatch, probe, text, expected
):
    # probe=1 takes the "many matches" path (unindexed column copies) on SQLite.
    monkeypatch.setattr(selectors, "SEARCH_PROBE", probe)
    monkeypatch.setattr(selectors, "SEARCH_SCOPED_PROBE", probe)
    alice.role = "manager"  # team scope: alice and bob's customers, not the manager's

    rows, _cursor = selectors.customer_list(user=alice, params={"q": text})

    assert names(rows) == expected


def test_a_deep_keyset_page_continues_exactly_after_the_cursor(book, admin_user):
    first, cursor = selectors.customer_list(user=admin_user, params={}, size=2)
    second, cursor2 = selectors.customer_list(user=admin_user, params={}, size=2, cursor=cursor)
    third, cursor3 = selectors.customer_list(user=admin_user, params={}, size=2, cursor=cursor2)

    seen = [c.pk for c in first + second + third]
    assert seen == list(
        Customer.objects.order_by("-created_at", "-id").values_list("pk", flat=True)
    )
    assert cursor3 is None


def _page_sql(user, params) -> str:
    with CaptureQueriesContext(connection) as ctx:
        rows, _cursor = selectors.customer_list(user=user, params=params)
    pages = [q["sql"] for q in ctx.captured_queries if "LIMIT 51" in q["sql"]]
    assert len(pages) == 1
    return pages[0]


@pytest.mark.parametrize(("scoped_probe", "by_index"), [(4, True), (3, False)])
def test_on_sqlite_a_scoped_search_uses_the_search_index_up_to_its_own_limit(
    book, alice, admin_user, monkeypatch, scoped_probe, by_index
):
    """ "张" matches 3 customers. Above SEARCH_PROBE (1) an admin's search walks the sort
    order (unindexed copies of the columns); a manager's still goes through the search
    index while there are fewer matches than SEARCH_SCOPED_PROBE. Same rows either way."""
    monkeypatch.setattr(selectors, "SEARCH_PROBE", 1)
    monkeypatch.setattr(selectors, "SEARCH_SCOPED_PROBE", scoped_probe)
    alice.role = "manager"

    scoped, admin = _page_sql(alice, {"q": "张"}), _page_sql(admin_user, {"q": "张"})
    rows, _c = selectors.customer_list(user=alice, params={"q": "张"})

    assert names(rows) == ["张伟", "张伟明"]
    if connection.vendor == "sqlite":
        assert ("IN (SELECT" in scoped) is by_index
        assert "IN (SELECT" not in admin and "||" in admin
    else:  # PostgreSQL plans from its statistics: the plain condition
        assert "IN (SELECT" not in scoped and "LIKE" in scoped


def test_a_custom_field_filter_is_a_containment_on_postgresql(book, admin_user):
    from guanxi.customers.models import CustomField

    CustomField.objects.create(key="level", label="Level", type="choice", choices=["gold", "x"])
    Customer.objects.filter(pk=book["bob"].pk).update(custom={"level": "gold", "other": 1})
    Customer.objects.filter(pk=book["alice"].pk).update(custom={"level": ["gold"]})

    sql = _page_sql(admin_user, {"cf_level": "gold"})
    rows, _c = selectors.customer_list(user=admin_user, params={"cf_level": "gold"})

    assert names(rows) == ["张伟明"]  # a list holding the value is not equal to it
    assert ("@>" in sql) is (connection.vendor == "postgresql")
