import datetime

import pytest
from django.utils import timezone

from guanxi.analytics import groups
from guanxi.analytics.models import CustomerRfm
from guanxi.analytics.models_analysis import SavedGroup
from guanxi.commerce.models import Category
from guanxi.core.errors import PermissionDenied, ValidationFailed
from guanxi.core.models import AuditEntry
from tests.analytics import analysis_data as data


def born(age: int) -> datetime.date:
    today = timezone.localdate()
    return today.replace(year=today.year - age) - datetime.timedelta(days=1)


@pytest.fixture
def shop(alice, charlie):
    """Six customers (A1–A4 alice's, C1–C2 charlie's), three of them VIP, and orders
    in two top-level categories."""
    store = data.store()
    clothes = Category.objects.create(name="Clothes")
    women = Category.objects.create(name="Women", parent=clothes)
    digital = Category.objects.create(name="Digital")
    dress = data.product("dress", women)
    phone = data.product("phone", digital)
    other = data.product("other", None)
    vip, cust = "vip", "customer"
    a1 = data.customer(
        alice, "A1", province="浙江", gender="female", birthday=born(30), source="tmall", stage=vip
    )
    a2 = data.customer(
        alice, "A2", province="浙江", gender="male", birthday=born(20), source="tmall", stage=vip
    )
    a3 = data.customer(alice, "A3", province="上海", gender="female", source="jd", stage=cust)
    data.customer(alice, "A4", birthday=born(45), stage=cust)
    c1 = data.customer(
        charlie,
        "C1",
        province="上海",
        gender="female",
        birthday=born(30),
        source="tmall",
        stage=vip,
    )
    c2 = data.customer(
        charlie,
        "C2",
        province="北京",
        gender="male",
        birthday=born(65),
        source="website",
        stage=cust,
    )
    data.order(a1, store, data.at("2025-06-02", 10), "200.00", lines=[(dress, 2, "100.00")])
    data.order(a1, store, data.at("2025-06-03", 20), "1000.00", lines=[(phone, 1, "1000.00")])
    data.order(a2, store, data.at("2025-06-02", 20), "30.00", lines=[(phone, 1, "30.00")])
    data.order(a3, store, data.at("2025-06-04", 10), "60.00", lines=[(other, 1, "60.00")])
    data.order(
        c1,
        store,
        data.at("2025-06-07", 10),
        "300.00",
        lines=[(dress, 1, "150.00"), (phone, 1, "150.00")],
    )
    data.order(c2, store, data.at("2025-06-08", 23), "1500.00", lines=[(phone, 3, "500.00")])
    # Not purchases: unpaid, and cancelled.
    data.order(
        a2,
        store,
        data.at("2025-06-05", 9),
        "999.00",
        lines=[(dress, 9, "111.00")],
        status="placed",
        paid=False,
    )
    data.order(
        c2,
        store,
        data.at("2025-06-05", 9),
        "999.00",
        lines=[(dress, 9, "111.00")],
        status="cancelled",
    )
    data.rebuild_stats()
    return store


def table(analysis, key):
    dim = next(d for d in analysis["dimensions"] if d["key"] == key)
    return [
        (r["label"], r["group"], r["group_share"], r["all"], r["all_share"], r["lift"])
        for r in dim["rows"]
    ]


def test_group_distributions_side_by_side_with_all_customers(shop, admin_user):
    analysis = groups.group_analysis(user=admin_user, filters={"stage": "vip"})

    assert (analysis["customers"], analysis["all_customers"]) == (3, 6)
    assert table(analysis, "region") == [
        ("上海", 1, 33.33, 2, 33.33, 1.0),
        ("浙江", 2, 66.67, 2, 33.33, 2.0),
        ("北京", 0, 0.0, 1, 16.67, 0.0),
        ("Unknown", 0, 0.0, 1, 16.67, 0.0),
    ]
    assert table(analysis, "gender") == [
        ("Female", 2, 66.67, 3, 50.0, 1.33),
        ("Male", 1, 33.33, 2, 33.33, 1.0),
        ("Unknown", 0, 0.0, 1, 16.67, 0.0),
    ]
    assert table(analysis, "age") == [
        ("18–24", 1, 33.33, 1, 16.67, 2.0),
        ("30–34", 2, 66.67, 2, 33.33, 2.0),
        ("40–49", 0, 0.0, 1, 16.67, 0.0),
        ("60+", 0, 0.0, 1, 16.67, 0.0),
        ("Unknown", 0, 0.0, 1, 16.67, 0.0),
    ]
    assert table(analysis, "source") == [
        ("Tmall", 3, 100.0, 3, 50.0, 2.0),
        ("JD.com", 0, 0.0, 1, 16.67, 0.0),
        ("Website", 0, 0.0, 1, 16.67, 0.0),
        ("Unknown", 0, 0.0, 1, 16.67, 0.0),
    ]
    assert table(analysis, "favourite_category") == [
        ("Clothes", 2, 66.67, 2, 33.33, 2.0),
        ("Digital", 1, 33.33, 2, 33.33, 1.0),
        ("No category", 0, 0.0, 2, 33.33, 0.0),
    ]
    assert table(analysis, "price_band") == [
        ("<50", 1, 33.33, 1, 16.67, 2.0),
        ("50–100", 0, 0.0, 1, 16.67, 0.0),
        ("100–200", 1, 33.33, 1, 16.67, 2.0),
        ("200–500", 1, 33.33, 1, 16.67, 2.0),
        ("500–1000", 0, 0.0, 1, 16.67, 0.0),
        ("No orders", 0, 0.0, 1, 16.67, 0.0),
    ]
    weekday = table(analysis, "weekday")
    assert [r[0] for r in weekday] == [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ]
    assert [(r[1], r[3]) for r in weekday] == [
        (2, 2),
        (1, 1),
        (0, 1),
        (0, 0),
        (0, 0),
        (1, 1),
        (0, 1),
    ]
    hours = {r[0]: (r[1], r[3]) for r in table(analysis, "hour") if r[3]}
    assert hours == {"10:00": (2, 3), "20:00": (2, 2), "23:00": (0, 1)}
    segments = table(analysis, "rfm_segment")
    assert [r[0] for r in segments][-1] == "No orders"
    assert sum(r[1] for r in segments) == 3 and sum(r[3] for r in segments) == 6


def test_a_sales_rep_compares_only_own_customers(shop, alice):
    analysis = groups.group_analysis(
        user=alice, filters={"stage": "vip"}, dimensions=["region", "favourite_category"]
    )

    assert (analysis["customers"], analysis["all_customers"]) == (2, 4)
    assert table(analysis, "region") == [
        ("浙江", 2, 100.0, 2, 50.0, 2.0),
        ("上海", 0, 0.0, 1, 25.0, 0.0),
        ("Unknown", 0, 0.0, 1, 25.0, 0.0),
    ]
    assert table(analysis, "favourite_category") == [
        ("Clothes", 1, 50.0, 1, 25.0, 2.0),
        ("Digital", 1, 50.0, 1, 25.0, 2.0),
        ("No category", 0, 0.0, 2, 50.0, 0.0),
    ]


def test_the_rfm_segment_filter_selects_customers_of_a_segment(shop, admin_user):
    from guanxi.analytics import rfm
    from guanxi.customers.selectors import apply_filters, customers_visible

    rfm.rfm_recompute(as_of=data.at("2025-06-30"))
    seg = CustomerRfm.objects.get(customer__name="C2").segment
    names = set(
        apply_filters(customers_visible(admin_user), {"rfm_segment": seg}).values_list(
            "name", flat=True
        )
    )
    assert "C2" in names
    with pytest.raises(ValidationFailed) as exc:
        apply_filters(customers_visible(admin_user), {"rfm_segment": "vip"})
    assert list(exc.value.field_errors) == ["rfm_segment"]


def test_unknown_filters_and_dimensions_are_refused(shop, admin_user):
    with pytest.raises(ValidationFailed) as exc:
        groups.group_analysis(user=admin_user, filters={"colour": "red"})
    assert exc.value.field_errors == {"filters": ["Unknown filter: colour."]}
    with pytest.raises(ValidationFailed) as exc:
        groups.group_analysis(user=admin_user, filters={"stage": "nope"})
    assert list(exc.value.field_errors) == ["filters.stage"]
    with pytest.raises(ValidationFailed):
        groups.group_analysis(user=admin_user, filters={}, dimensions=["shoe_size"])


def test_saved_groups_belong_to_their_owner_unless_shared(alice, bob, charlie, admin_user):
    mine = groups.group_create(actor=alice, data={"name": "VIPs", "filters": {"stage": "vip"}})
    shared = groups.group_create(
        actor=alice, data={"name": "Zhejiang", "filters": {"province": "浙江"}, "shared": True}
    )

    assert list(groups.groups_for_user(user=alice)) == [mine, shared]
    assert list(groups.groups_for_user(user=bob)) == [shared]
    with pytest.raises(PermissionDenied):
        groups.group_update(actor=bob, group=shared, data={"name": "Mine now"})
    with pytest.raises(PermissionDenied):
        groups.group_delete(actor=charlie, group=shared)
    shared.refresh_from_db()
    assert shared.name == "Zhejiang"
    assert SavedGroup.objects.count() == 2

    groups.group_update(actor=admin_user, group=shared, data={"filters": {"province": "上海"}})
    shared.refresh_from_db()
    assert shared.filters == {"province": "上海"}
    assert AuditEntry.objects.filter(model="analytics.savedgroup", action="update").count() == 1


def test_a_bad_group_is_refused_and_nothing_is_written(alice):
    with pytest.raises(ValidationFailed) as exc:
        groups.group_create(actor=alice, data={"name": " ", "filters": {}})
    assert exc.value.field_errors == {"name": ["This field is required."]}
    with pytest.raises(ValidationFailed):
        groups.group_create(actor=alice, data={"name": "x", "filters": {"stage": "nope"}})
    assert not SavedGroup.objects.exists()
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("who", ["admin_user", "alice"])
def test_a_tag_group_counts_what_its_filter_selects(shop, who, request):
    """The group's filter is evaluated once and the dimensions are counted over its ids:
    the same figures as counting each dimension on the filtered customers."""
    from guanxi.analytics import facts
    from guanxi.customers.models import Customer, Tag
    from guanxi.customers.selectors import apply_filters, customers_visible

    user = request.getfixturevalue(who)
    tag = Tag.objects.create(name="高价值")
    for customer in Customer.objects.filter(name__in=["A1", "A3", "A4", "C2"]):
        customer.tags.add(tag)
    filters = {"tag": "高价值"}

    analysis = groups.group_analysis(user=user, filters=filters)

    filtered = apply_filters(customers_visible(user), filters)
    assert analysis["customers"] == filtered.count() == (4 if who == "admin_user" else 3)
    for dim in analysis["dimensions"]:
        direct = groups.DIMENSION_BY_KEY[dim["key"]].counts(filtered, facts.is_built())
        shown = {row["value"]: row["group"] for row in dim["rows"] if row["group"]}
        assert shown == {v: n for v, n in direct.items() if n}, dim["key"]


def test_a_group_that_matches_nobody_is_empty(shop, admin_user):
    analysis = groups.group_analysis(user=admin_user, filters={"tag": "nobody has it"})
    assert analysis["customers"] == 0
    assert all(d["group_total"] == 0 for d in analysis["dimensions"])


def test_before_the_facts_are_built_a_group_shows_the_same_figures(shop, admin_user, alice):
    """Without the facts, favourite category, weekday and hour are counted from the
    orders of the group's ids: the same figures as from the facts."""
    from guanxi.analytics import facts
    from guanxi.analytics.models_facts import FactsState, GroupBaseline

    for user in (admin_user, alice):
        assert facts.is_built()
        with_facts = groups.group_analysis(user=user, filters={"stage": "vip"})
        FactsState.objects.all().delete()
        GroupBaseline.objects.all().delete()
        without = groups.group_analysis(user=user, filters={"stage": "vip"})
        assert without["dimensions"] == with_facts["dimensions"]
        assert without["customers"] == with_facts["customers"]
        facts.refresh_facts()
