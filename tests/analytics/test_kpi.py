"""The KPI dashboard: definitions, identities, the previous period, visibility, and that
the page, the API and the exports show the same numbers."""

import csv
import datetime
import io
from fractions import Fraction

import openpyxl
import pytest

from guanxi.analytics import kpi, stats
from guanxi.commerce.models import Order
from guanxi.core.errors import ValidationFailed
from guanxi.customers.models import Customer
from tests.analytics.test_stats_support import D, Shop, at, make_store, shop_fixture  # noqa: F401

MARCH = {"start": "2024-03-01", "end": "2024-03-31"}
A = ("A", 1, "33.33", "10.00")
B = ("B", 2, "10.00", "4.00")


@pytest.fixture
def march(shop):
    """Three buyers in March 2024 (one also bought in February), refunds, an unpaid
    order; and February's figures for the comparison."""
    # February: b1 buys once; b9 buys once.
    shop.buy("F1", "b1", at("2024-02-10"), [B])  # 20.00
    shop.buy("F2", "b9", at("2024-02-20"), [A])  # 33.33
    # March
    shop.buy("M1", "b1", at("2024-03-02"), [A, B])  # 53.33, 3 items (returning)
    shop.buy("M2", "b2", at("2024-03-05"), [A])  # 33.33 (new)
    shop.buy("M3", "b2", at("2024-03-20"), [B])  # 20.00 (new, 2nd order → repeat)
    shop.buy("M4", "b3", at("2024-03-31", 23), [A])  # 33.33 (new), last hour of March
    shop.refund("M3", at("2024-03-21"), "R1", "10.00", [("B", 1)])
    shop.place("M5", "b3", at("2024-03-15"), [B], shipping="5.00")  # unpaid: 25.00
    shop.place("M6", "b1", at("2024-03-16"), [A])  # placed, paid in April
    shop.pay("M6", at("2024-04-01", 9))
    stats.process_events()
    return shop


def test_march_figures_follow_the_documented_definitions(march):
    r = kpi.figures(user=_admin(), store=None, period=kpi.Period(*_dates(MARCH)))
    assert r == {
        "sales": D("139.99"),
        "orders": 4,
        "buyers": 3,
        "items": 7,
        "refunds": D("10.00"),
        # profit: M1 53.33−18 + M2 33.33−10 + M3 (20−10)−(8−4) + M4 33.33−10 = 87.99
        "gross_profit": D("87.99"),
        "repeat_buyers": 1,
        "new_buyers": 2,
        "placed_orders": 6,
        "unpaid_orders": 1,
        "unpaid_amount": D("25.00"),
    }


def test_the_sales_identities_hold_exactly(march):
    report = kpi.kpi_report(user=_admin(), **MARCH)
    e = report.exact
    assert e["sales"] == e["buyers"] * e["sales_per_buyer"]  # 139.99 = 3 × 46.663…
    assert e["sales_per_buyer"] == e["items_per_buyer"] * e["item_price"]
    assert e["sales_per_buyer"] == e["orders_per_buyer"] * e["order_value"]
    assert e["order_value"] == e["items_per_order"] * e["item_price"]
    assert e["buyers"] == e["new_buyers"] + e["returning_buyers"]
    assert isinstance(e["sales_per_buyer"], Fraction)
    # In Decimal: the 20-place ratios multiply back to the cent.
    aov = kpi.decimal_of(e["sales_per_buyer"])
    assert (e["buyers"] * aov).quantize(D("0.01")) == e["sales"]
    per = kpi.decimal_of(e["items_per_buyer"]) * kpi.decimal_of(e["item_price"])
    assert per.quantize(D("0.0000000001")) == aov.quantize(D("0.0000000001"))
    shown = {r["key"]: r["value"] for r in report.rows()}
    assert shown["sales_per_buyer"] == D("46.66")
    assert shown["item_price"] == D("20.00")
    assert shown["items_per_buyer"] == D("2.33")
    assert shown["repeat_rate"] == D("0.3333")
    assert shown["refund_rate"] == D("0.0714")
    assert shown["unpaid_rate"] == D("0.1667")
    assert shown["net_sales"] == D("129.99")


def test_the_previous_period_has_the_same_length_and_its_own_figures(march):
    report = kpi.kpi_report(user=_admin(), **MARCH)
    assert (report.previous.start, report.previous.end) == (
        datetime.date(2024, 1, 30),
        datetime.date(2024, 2, 29),
    )
    prev = report.exact_previous
    assert (prev["sales"], prev["buyers"], prev["new_buyers"]) == (D("53.33"), 2, 2)
    rows = {r["key"]: r for r in report.rows()}
    assert rows["sales"]["previous"] == D("53.33")
    assert rows["sales"]["delta"] == D("86.66")
    assert rows["sales"]["pct"] == D("1.6250")  # 86.66 / 53.33
    assert rows["sales"]["trend"] == "good"
    assert rows["refunds"]["trend"] == "bad"  # more refunds is worse


def test_the_tree_shows_sales_as_customers_times_sales_per_customer(march):
    tree = kpi.kpi_report(user=_admin(), **MARCH).tree()
    assert tree["key"] == "sales"
    assert [c["key"] for c in tree["children"]] == ["buyers", "sales_per_buyer"]
    buyers, spb = tree["children"]
    assert [c["key"] for c in buyers["children"]] == ["new_buyers", "returning_buyers"]
    assert buyers["op"] == "+" and spb["op"] == "×"
    assert [c["key"] for c in spb["children"]] == ["orders_per_buyer", "order_value"]
    assert [c["key"] for c in spb["children"][1]["children"]] == ["items_per_order", "item_price"]


def test_the_daily_trend_has_every_day_in_local_time(march):
    report = kpi.kpi_report(user=_admin(), **MARCH)
    assert len(report.trend) == 31
    by_day = {d["date"].isoformat(): d for d in report.trend}
    assert by_day["2024-03-31"]["sales"] == D("33.33")  # 23:00 Shanghai = 15:00 UTC
    assert by_day["2024-03-02"]["orders"] == 1
    assert sum(d["sales"] for d in report.trend) == D("139.99")


def test_a_store_filter_counts_only_that_stores_orders(march):
    jd = Shop(make_store("jd", "jd"))
    jd.buy("J1", "j1", at("2024-03-03"), [B])
    stats.process_events()
    all_stores = kpi.kpi_report(user=_admin(), **MARCH).exact
    tmall = kpi.kpi_report(user=_admin(), store=march.store.pk, **MARCH).exact
    only_jd = kpi.kpi_report(user=_admin(), store=str(jd.store.pk), **MARCH).exact
    assert (all_stores["sales"], tmall["sales"], only_jd["sales"]) == (
        D("159.99"),
        D("139.99"),
        D("20.00"),
    )


def test_a_sales_rep_sees_kpis_of_own_customers_only(march, alice, charlie):
    Customer.objects.filter(pk=march.customer("b2").pk).update(owner=alice, team=alice.team)
    mine = kpi.kpi_report(user=alice, **MARCH).exact
    assert (mine["sales"], mine["buyers"], mine["orders"]) == (D("53.33"), 1, 2)
    assert mine["placed_orders"] == 2 and mine["unpaid_orders"] == 0
    theirs = kpi.kpi_report(user=charlie, **MARCH).exact
    assert (theirs["sales"], theirs["buyers"], theirs["placed_orders"]) == (D("0.00"), 0, 0)
    assert theirs["sales_per_buyer"] is None


def test_new_customers_are_new_to_the_business_not_to_the_store(march):
    jd = Shop(make_store("jd", "jd"))
    jd.place("J1", "j1", at("2024-03-03"), [B])
    Order.objects.filter(external_id="J1").update(customer=march.customer("b9"))
    jd.pay("J1", at("2024-03-03"))
    stats.process_events()
    only_jd = kpi.kpi_report(user=_admin(), store=jd.store.pk, **MARCH).exact
    assert (only_jd["buyers"], only_jd["new_buyers"], only_jd["returning_buyers"]) == (1, 0, 1)


def test_presets_cover_this_month_last_month_and_rolling_days():
    today = datetime.date(2024, 3, 15)

    def p(name):
        return kpi.period_from(preset=name, today=today)[1]

    assert p("this_month") == kpi.Period(datetime.date(2024, 3, 1), today)
    assert p("last_month") == kpi.Period(datetime.date(2024, 2, 1), datetime.date(2024, 2, 29))
    assert p("last_7") == kpi.Period(datetime.date(2024, 3, 9), today)
    assert p("last_90").days == 90
    assert p("last_month").previous() == kpi.Period(
        datetime.date(2024, 1, 3), datetime.date(2024, 1, 31)
    )


@pytest.mark.parametrize(
    "params, field",
    [
        ({"start": "2024-03-31", "end": "2024-03-01"}, "end"),
        ({"start": "March", "end": "2024-03-01"}, "start"),
        ({"start": "2024-03-01"}, "end"),
        ({"preset": "forever"}, "period"),
        ({"start": "2020-01-01", "end": "2024-01-01"}, "end"),
    ],
)
def test_a_bad_period_is_refused_naming_the_field(db, params, field):
    with pytest.raises(ValidationFailed) as exc:
        kpi.period_from(**params)
    assert list(exc.value.field_errors) == [field]


# Page, API, exports ---------------------------------------------------------------------


def test_the_api_returns_the_same_numbers_as_the_page(march, api_as, web_as, admin_user):
    body = api_as(admin_user).get("/kpi", **MARCH).json()
    page = web_as(admin_user).get("/analytics/kpi/", MARCH)
    assert page.status_code == 200
    rows = {r["key"]: r for r in page.context["rows"]}
    assert body["current"]["sales"] == "139.99" == str(rows["sales"]["value"])
    assert body["current"]["buyers"] == 3
    assert body["current"]["sales_per_buyer"] == "46.66"
    for key, row in rows.items():
        value = row["value"]
        assert body["current"][key] == (
            value if isinstance(value, int) or value is None else str(value)
        )
        prev = row["previous"]
        assert body["previous"][key] == (
            prev if isinstance(prev, int) or prev is None else str(prev)
        )
    assert (body["start"], body["end"]) == ("2024-03-01", "2024-03-31")
    assert (body["previous_start"], body["previous_end"]) == ("2024-01-30", "2024-02-29")
    assert body["change"]["sales"] == "1.6250"
    assert len(body["trend"]) == 31
    html = page.content.decode()
    assert "139.99" in html and 'id="kpi-chart"' in html and "kpi-tree" in html


def test_the_api_refuses_a_bad_range_with_the_field_named(db, api_as, admin_user):
    response = api_as(admin_user).get("/kpi", start="2024-03-31", end="2024-03-01")
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["end"]
    response = api_as(admin_user).get("/kpi", store="999999", **MARCH)
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["store"]


def test_the_page_shows_the_error_and_this_month_for_a_bad_range(db, web_as, admin_user):
    page = web_as(admin_user).get("/analytics/kpi/", {"start": "2024-03-31", "end": "2024-03-01"})
    assert page.status_code == 200
    assert "The end must not be before the start." in page.content.decode()
    assert page.context["report"].preset == "this_month"


def test_the_api_for_a_sales_rep_counts_own_customers_only(march, api_as, alice):
    Customer.objects.filter(pk=march.customer("b2").pk).update(owner=alice, team=alice.team)
    body = api_as(alice).get("/kpi", **MARCH).json()
    assert (body["current"]["sales"], body["current"]["buyers"]) == ("53.33", 1)


def test_the_csv_export_has_the_table_of_the_page(march, web_as, admin_user):
    response = web_as(admin_user).get("/analytics/kpi/", {**MARCH, "format": "csv", "table": "kpi"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["Metric", "Current", "Previous", "Change", "Change %"]
    by_label = {r[0]: r for r in rows[1:]}
    assert by_label["Sales"] == ["Sales", "139.99", "53.33", "86.66", "162.50"]
    assert by_label["Paying customers"] == ["Paying customers", "3", "2", "1", "50.00"]
    assert len(rows) == 1 + len(kpi.METRICS)


def test_the_xlsx_export_of_daily_sales_has_every_day(march, web_as, admin_user):
    response = web_as(admin_user).get(
        "/analytics/kpi/", {**MARCH, "format": "xlsx", "table": "kpi_daily"}
    )
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("Date", "Sales", "Paid orders", "Paying customers")
    assert len(rows) == 32
    assert rows[2] == ("2024-03-02", 53.33, 1, 1)


def test_exports_need_the_export_permission(march, web_as, users_by_role):
    response = web_as(users_by_role["service"]).get("/analytics/kpi/", {**MARCH, "format": "csv"})
    assert response.status_code == 403


def test_the_kpi_page_is_in_the_navigation(db, web_as, alice):
    page = web_as(alice).get("/analytics/kpi/")
    assert page.status_code == 200
    assert ("analytics:kpi", "KPI") in [(n, str(label)) for n, label in page.context["nav_items"]]


def test_the_kpi_page_needs_a_login(db, client):
    assert client.get("/analytics/kpi/").status_code == 302


# Customer statistics on the 360° page and the API -----------------------------------------


def test_the_customer_page_and_api_show_the_customers_statistics(march, web_as, api_as, alice):
    stats.process_events()
    b2 = march.customer("b2")
    Customer.objects.filter(pk=b2.pk).update(owner=alice, team=alice.team)
    page = web_as(alice).get(f"/customers/{b2.pk}/")
    html = page.content.decode()
    assert 'id="order-stats"' in html
    assert '<dd data-stat="orders">2</dd>' in html
    assert '<dd data-stat="revenue">43.33</dd>' in html
    body = api_as(alice).get(f"/customers/{b2.pk}/stats").json()
    assert (body["orders"], body["items"], body["revenue"]) == (2, 2, "43.33")
    assert body["average_order_value"] == "21.66"  # 43.33 / 2, rounded half-even
    assert body["first_order_at"].startswith("2024-03-05T02:00:00")


def test_another_teams_customer_statistics_are_not_found(march, api_as, charlie):
    stats.process_events()
    response = api_as(charlie).get(f"/customers/{march.customer('b2').pk}/stats")
    assert response.status_code == 404


# helpers ----------------------------------------------------------------------------------


def _admin():
    from guanxi.accounts.models import User

    return User.objects.filter(role="admin").first() or User.objects.create_user(
        username="kpi-admin", password="x", role="admin"
    )


def _dates(period: dict):
    return datetime.date.fromisoformat(period["start"]), datetime.date.fromisoformat(period["end"])
