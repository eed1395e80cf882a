"""The list and search queries are shaped for speed at 1M customers (see
docs/benchmarks.md); these tests check that the shapes still give the same answers."""

import pytest

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
