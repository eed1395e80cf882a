"""CLV in the product: the refit reads the orders, writes a fit and each customer's
predictions; the page, the exports and the API show them to whom may see them; the refit
runs on the task worker."""

import datetime
import decimal
import zoneinfo

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from guanxi.analytics import clv, clv_service
from guanxi.analytics.models import ClvFit, CustomerStats
from guanxi.commerce.models import Order, Store
from guanxi.core.models import AuditEntry
from guanxi.customers.models import Customer
from tests.conftest import make_user

D = decimal.Decimal
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
CDNOW_LIKE = (0.243, 4.414, 0.793, 2.426)
SPEND = (6.25, 3.74, 15.44)
PAGE = reverse("analytics:clv")
REFIT = reverse("analytics:clv_refit")
EXPORT = reverse("analytics:clv_export")


def local(day: str, hour: int = 12, minute: int = 0) -> datetime.datetime:
    return datetime.datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=SHANGHAI)


def end_of(day: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(day).replace(
        hour=23, minute=59, second=59, microsecond=999999, tzinfo=SHANGHAI
    )


@pytest.fixture
def store(db):
    return Store.objects.create(code="web", name="Web shop", channel="web")


_order_numbers = iter(range(1, 10**9))


def order(store, customer, paid_at, amount, *, status="paid", refunded="0", cost="0", **extra):
    if isinstance(amount, float):
        amount = f"{amount:.2f}"
    return Order(
        store=store,
        external_id=f"O{next(_order_numbers)}",
        customer=customer,
        status=status,
        paid_amount=D(str(amount)),
        refunded_amount=D(refunded),
        cost_amount=D(cost),
        placed_at=extra.pop("placed_at", paid_at),
        paid_at=paid_at,
        **extra,
    )


def simulated_orders(n: int, *, seed: int, start="2023-01-01", days=365):
    """(customer index, day offset, amount) of ``n`` customers drawn from the BG/NBD and
    Gamma-Gamma stories with CDNOW-like parameters; first purchases spread over the
    first half of the ``days``, the calibration end being ``start + days - 1``."""
    rng = np.random.default_rng(seed)
    first = rng.integers(0, days // 2, n)
    T = (days - 1 - first) / 7
    x, t_x = clv.simulate_bgnbd(T, CDNOW_LIKE, seed=seed)
    p, q, gamma = SPEND
    nu = rng.gamma(q, 1 / gamma, n)
    rows = []
    for i in range(n):
        last = first[i] + int(t_x[i] * 7)
        between = sorted(rng.integers(first[i], last + 1, int(x[i]) - 1)) if x[i] > 1 else []
        repeat_days = [*between, last] if x[i] > 0 else []
        for day in [first[i], *repeat_days]:
            rows.append((i, int(day), round(float(rng.gamma(p, 1 / nu[i])), 2) + 0.01))
    return rows


def shop_with_history(store, owners, *, n=240, seed=3):
    """``n`` customers owned in turn by ``owners``, with simulated paid orders in 2023."""
    customers = [
        Customer(name=f"Customer {i}", owner=owners[i % len(owners)], team=None) for i in range(n)
    ]
    for c in customers:
        c.team = c.owner.team if c.owner else None
    Customer.objects.bulk_create(customers)
    start = datetime.date(2023, 1, 1)
    orders = [
        order(
            store,
            customers[i],
            local((start + datetime.timedelta(days=day)).isoformat(), 10),
            amount,
        )
        for i, day, amount in simulated_orders(n, seed=seed)
    ]
    Order.objects.bulk_create(orders)
    return customers


AS_OF = end_of("2023-12-31")


# --------------------------------------------------------------------------- reading orders


def test_the_summary_from_orders_is_the_math_modules_summary(store, alice):
    a, b, c = (Customer.objects.create(name=n, owner=alice) for n in "abc")
    rows = [
        order(store, a, local("2024-01-01", 9), "10.00"),
        order(store, a, local("2024-01-01", 18), "5.00"),  # same day: one transaction
        order(store, a, local("2024-01-08"), "30.00", refunded="6.00"),  # kept 24
        order(store, a, local("2024-01-09"), "99.00", status="cancelled"),  # not counted
        order(store, a, local("2024-01-10"), "99.00", status="refunded", refunded="99.00"),
        order(store, a, None, "0", status="placed"),  # never paid
        order(store, a, local("2024-01-16"), "50.00"),  # after the calibration end
        order(store, b, local("2024-01-03"), "9.00"),
        order(store, c, local("2024-01-20"), "7.00"),  # born after the end: absent
    ]
    rows[5].placed_at = local("2024-01-05")
    Order.objects.bulk_create(rows)

    summary = clv_service.read_summary(as_of=end_of("2024-01-15"))

    expected = clv.summary_from_transactions(
        [a.pk, a.pk, a.pk, b.pk],
        ["2024-01-01", "2024-01-01", "2024-01-08", "2024-01-03"],
        [10.0, 5.0, 24.0, 9.0],
        calibration_end="2024-01-15",
    )
    assert summary.customer_ids.tolist() == [a.pk, b.pk] == expected.customer_ids.tolist()
    assert summary.frequency.tolist() == [1, 0] == expected.frequency.tolist()
    assert summary.recency.tolist() == [1.0, 0.0] == expected.recency.tolist()
    assert summary.T.tolist() == [2.0, 12 / 7] == expected.T.tolist()
    assert summary.monetary_value.tolist() == [24.0, 0.0] == expected.monetary_value.tolist()


def test_a_purchase_day_is_the_calendar_day_in_the_sites_time_zone(store, alice):
    a = Customer.objects.create(name="a", owner=alice)
    Order.objects.bulk_create(
        [
            # 2024-01-01 01:00 in Shanghai is still 2023-12-31 in UTC ...
            order(store, a, local("2024-01-01", 1), "10.00"),
            # ... and 23:30 the same Shanghai day is 15:30 UTC: one transaction.
            order(store, a, local("2024-01-01", 23, 30), "10.00"),
            # 00:30 the next Shanghai day is a new transaction.
            order(store, a, local("2024-01-02", 0, 30), "10.00"),
        ]
    )
    summary = clv_service.read_summary(as_of=end_of("2024-01-08"))
    assert summary.frequency.tolist() == [1]
    assert summary.recency.tolist() == [1 / 7]
    assert summary.T.tolist() == [7 / 7]
    assert summary.first_day.tolist() == [datetime.date(2024, 1, 1)]
    assert summary.monetary_value.tolist() == [10.0]


def test_the_calibration_end_is_inclusive_to_the_microsecond(store, alice):
    a = Customer.objects.create(name="a", owner=alice)
    Order.objects.bulk_create(
        [
            order(store, a, local("2024-01-01"), "10.00"),
            order(store, a, end_of("2024-01-05"), "10.00"),
            order(store, a, end_of("2024-01-05") + datetime.timedelta(microseconds=1), "1.00"),
        ]
    )
    summary = clv_service.read_summary(as_of=end_of("2024-01-05"))
    assert (summary.frequency.tolist(), summary.recency.tolist()) == ([1], [4 / 7])


# --------------------------------------------------------------------------- refit


def test_a_refit_writes_the_fit_and_every_customers_predictions(store, alice, charlie, manager):
    customers = shop_with_history(store, [alice, charlie])
    fit = clv_service.refit(as_of=AS_OF, margin=0.4, actor=manager)

    assert ClvFit.objects.count() == 1
    assert (fit.customers, fit.calibration_end) == (240, AS_OF)
    assert fit.seconds > 0
    assert all(v > 0 for v in (fit.r, fit.alpha, fit.a, fit.b, fit.p, fit.q, fit.gamma))
    assert fit.bgnbd_loglik < 0 and fit.gg_loglik < 0
    # What is stored for each customer is exactly what the math gives.
    summary = clv_service.read_summary(as_of=AS_OF)
    bgnbd = (fit.r, fit.alpha, fit.a, fit.b)
    x, t_x, T = summary.frequency, summary.recency, summary.T
    expected = clv.bgnbd_expected_purchases(12 * clv.WEEKS_PER_MONTH, x, t_x, T, bgnbd)
    spend = clv.gg_expected_spend(x, summary.monetary_value, (fit.p, fit.q, fit.gamma))
    value = clv.clv_discounted(
        x, t_x, T, bgnbd, spend, months=12, monthly_discount_rate=0.01, margin=0.4
    )
    stored = {
        s.customer_id: s
        for s in CustomerStats.objects.filter(customer__in=customers).order_by("customer_id")
    }
    assert len(stored) == 240
    for i, customer_id in enumerate(summary.customer_ids.tolist()):
        s = stored[customer_id]
        assert s.expected_purchases_12m == pytest.approx(expected[i], rel=1e-9)
        assert s.p_alive == pytest.approx(clv.bgnbd_p_alive(x, t_x, T, bgnbd)[i], rel=1e-9)
        assert s.clv_12m == D(str(round(value[i], 2))).quantize(D("0.01"))
    entry = AuditEntry.objects.get(model="analytics.clvfit", object_id=fit.pk)
    assert (entry.action, entry.actor, entry.changes["margin"]) == ("create", manager, 0.4)
    # The fit records what its predictions were computed with.
    stored_fit = ClvFit.objects.get()
    assert (stored_fit.margin, stored_fit.horizon_months, stored_fit.monthly_discount_rate) == (
        0.4,
        12,
        0.01,
    )


def test_the_fit_records_the_horizon_discount_rate_and_default_margin(store, alice):
    customers = shop_with_history(store, [alice], n=60)
    CustomerStats.objects.create(customer=customers[0], revenue=D("300"), profit=D("90"))
    fit = clv_service.refit(as_of=AS_OF, horizon_months=6, monthly_discount_rate=0.02)
    fit.refresh_from_db()
    assert fit.horizon_months == 6
    assert fit.monthly_discount_rate == 0.02
    assert fit.margin == pytest.approx(0.3)  # the overall gross margin it used


def test_a_refit_changes_only_the_clv_columns_of_existing_statistics(store, alice):
    customers = shop_with_history(store, [alice], n=60)
    kept = CustomerStats.objects.create(
        customer=customers[0],
        orders=7,
        items=9,
        revenue=D("123.45"),
        profit=D("45.67"),
        updated_at=local("2020-01-01"),
    )
    clv_service.refit(as_of=AS_OF)
    kept.refresh_from_db()
    assert (kept.orders, kept.items, kept.revenue, kept.profit) == (7, 9, D("123.45"), D("45.67"))
    assert kept.clv_12m is not None and kept.p_alive is not None
    assert kept.updated_at > local("2020-01-01")
    assert CustomerStats.objects.count() == 60  # the missing rows were created ...
    created = CustomerStats.objects.get(customer=customers[1])  # ... with the defaults
    assert (created.orders, created.revenue, created.clv_12m is not None) == (0, D("0"), True)
    assert created.clv_12m is not None and created.expected_purchases_12m is not None


def test_a_repeated_refit_leaves_unchanged_rows_alone(store, alice):
    shop_with_history(store, [alice], n=60)
    clv_service.refit(as_of=AS_OF)
    CustomerStats.objects.update(updated_at=local("2020-01-01"))
    again = clv_service.refit(as_of=AS_OF)
    assert again.timings["rows_written"] == 0
    assert not CustomerStats.objects.exclude(updated_at=local("2020-01-01")).exists()
    assert ClvFit.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_large_refit_is_split_over_sessions_on_postgresql_and_one_transaction_on_sqlite(
    store, alice, monkeypatch
):
    """PostgreSQL splits a large UPDATE over WRITE_WORKERS sessions by customer id;
    SQLite (one writer at a time) writes it in one transaction. Either way the figures
    are those of a refit written in one transaction, and no scratch table is left."""
    shop_with_history(store, [alice], n=80)
    ranges = []
    real_update = clv_service._update_range
    monkeypatch.setattr(
        clv_service,
        "_update_range",
        lambda scratch, now, id_range: (
            ranges.append(id_range) or real_update(scratch, now, id_range)
        ),
    )
    monkeypatch.setattr(clv_service, "PARALLEL_MIN_ROWS", 10)
    created = clv_service.refit(as_of=AS_OF)  # creates the rows
    assert created.timings["rows_written"] == 80
    fit = clv_service.refit(as_of=AS_OF + datetime.timedelta(days=1))  # updates them
    split = dict(CustomerStats.objects.values_list("customer_id", "clv_12m"))
    assert fit.timings["rows_written"] == 80
    if connection.vendor == "postgresql":
        assert len(ranges) == 2 * clv_service.WRITE_WORKERS
        assert ranges[2][1] == ranges[3][0]
    else:
        assert ranges == []

    CustomerStats.objects.update(clv_12m=None)
    monkeypatch.setattr(clv_service, "PARALLEL_MIN_ROWS", 10**9)
    clv_service.refit(as_of=AS_OF + datetime.timedelta(days=1))  # one transaction
    assert dict(CustomerStats.objects.values_list("customer_id", "clv_12m")) == split
    assert len(ranges) == (4 if connection.vendor == "postgresql" else 0)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'clv_predictions%'")
        else:
            cursor.execute(
                "SELECT count(*) FROM sqlite_temp_master WHERE name LIKE 'clv_predictions%'"
            )
        assert cursor.fetchone()[0] == 0


def test_customers_without_a_counted_order_lose_old_predictions(store, alice):
    customers = shop_with_history(store, [alice], n=60)
    clv_service.refit(as_of=AS_OF)
    gone = customers[5]
    Order.objects.filter(customer=gone).update(status="refunded")
    clv_service.refit(as_of=AS_OF)
    s = CustomerStats.objects.get(customer=gone)
    assert (s.expected_purchases_12m, s.p_alive, s.clv_12m) == (None, None, None)
    assert CustomerStats.objects.filter(clv_12m__isnull=False).count() == 59
    assert ClvFit.objects.count() == 2


def test_the_margin_defaults_to_the_overall_gross_margin(store, alice):
    customers = shop_with_history(store, [alice], n=60)
    CustomerStats.objects.create(customer=customers[0], revenue=D("300"), profit=D("90"))
    CustomerStats.objects.create(customer=customers[1], revenue=D("100"), profit=D("30"))
    assert clv_service.overall_margin() == pytest.approx(0.3)
    clv_service.refit(as_of=AS_OF)
    by_default = dict(CustomerStats.objects.values_list("customer_id", "clv_12m"))
    clv_service.refit(as_of=AS_OF, margin=1.0)
    full = dict(CustomerStats.objects.values_list("customer_id", "clv_12m"))
    for customer_id, value in by_default.items():
        assert float(value) == pytest.approx(float(full[customer_id]) * 0.3, abs=0.011)


def test_without_cost_data_or_revenue_the_margin_is_one(db):
    assert clv_service.overall_margin() == 1.0


def test_too_little_history_is_refused_and_writes_nothing(store, alice):
    a = Customer.objects.create(name="a", owner=alice)
    Order.objects.bulk_create([order(store, a, local("2023-05-01"), "10.00")])
    with pytest.raises(clv_service.NotEnoughHistory):
        clv_service.refit(as_of=AS_OF)
    assert ClvFit.objects.count() == 0
    assert CustomerStats.objects.count() == 0


def test_bad_refit_options_are_refused(db):
    with pytest.raises(clv_service.ValidationFailed) as caught:
        clv_service.refit(horizon_months=0, monthly_discount_rate=-0.1, margin=1.5)
    assert set(caught.value.field_errors) == {"horizon_months", "monthly_discount_rate", "margin"}
    assert ClvFit.objects.count() == 0


# --------------------------------------------------------------------------- high potential


@pytest.fixture
def fitted(store, alice, charlie):
    customers = shop_with_history(store, [alice, charlie, None])
    clv_service.refit(as_of=AS_OF)
    # "Orders so far" comes from the statistics; make them match the simulated history.
    for c in customers:
        n = Order.objects.filter(customer=c).count()
        CustomerStats.objects.filter(customer=c).update(orders=n, revenue=D(n * 10))
    return customers


def high_potential_ids(**filters) -> list[int]:
    threshold = clv_service.high_potential_threshold()
    qs = CustomerStats.objects.filter(orders__lte=2, clv_12m__gte=threshold, **filters)
    return sorted(qs.values_list("customer_id", flat=True))


def test_high_potential_customers_are_the_top_decile_of_few_order_customers(fitted, admin_user):
    few = CustomerStats.objects.filter(orders__lte=2, clv_12m__isnull=False)
    threshold = clv_service.high_potential_threshold()
    above = few.filter(clv_12m__gte=threshold).count()
    assert above >= np.ceil(few.count() * 0.1)
    assert few.filter(clv_12m__gt=threshold).count() < np.ceil(few.count() * 0.1)
    rows, next_cursor = clv_service.high_potential(user=admin_user, size=1000)
    assert [c.pk for c in rows] == [
        c.pk for c in sorted(rows, key=lambda c: (-c.stats.clv_12m, -c.pk))
    ]
    assert sorted(c.pk for c in rows) == high_potential_ids()
    assert next_cursor is None
    assert all(c.stats.orders <= 2 and 0 <= c.stats.p_alive <= 1 for c in rows)


def test_the_high_potential_list_shows_each_user_only_whom_they_may_see(
    fitted, alice, bob, charlie, manager
):
    def listed(user):
        rows, _ = clv_service.high_potential(user=user, size=1000)
        return sorted(c.pk for c in rows)

    assert listed(alice) == high_potential_ids(customer__owner=alice)
    assert listed(charlie) == high_potential_ids(customer__owner=charlie)
    assert listed(bob) == []
    assert listed(manager) == high_potential_ids(customer__team=manager.team)
    assert listed(alice) and listed(charlie)
    assert not set(listed(alice)) & set(listed(charlie))


def test_the_high_potential_list_pages_by_cursor(fitted, admin_user):
    everyone, _ = clv_service.high_potential(user=admin_user, size=1000)
    first, cursor = clv_service.high_potential(user=admin_user, size=2)
    second, _ = clv_service.high_potential(user=admin_user, size=2, cursor=cursor)
    assert [c.pk for c in first + second] == [c.pk for c in everyone[:4]]


def test_summary_and_distribution_cover_only_visible_customers(fitted, alice, admin_user):
    mine = CustomerStats.objects.filter(customer__owner=alice, clv_12m__isnull=False)
    summary = clv_service.clv_summary(user=alice)
    assert summary["customers"] == mine.count() == 80
    assert summary["total_clv"] == sum(s.clv_12m for s in mine)
    bins = clv_service.clv_distribution(user=alice)
    assert sum(b["customers"] for b in bins) == 80
    assert sum(b["total_clv"] for b in bins) == summary["total_clv"]
    everyone = clv_service.clv_distribution(user=admin_user)
    assert sum(b["customers"] for b in everyone) == 240
    assert len(everyone) <= clv_service.HISTOGRAM_BINS + 1
    assert everyone[0]["low"] == 0
    for b, following in zip(everyone, everyone[1:], strict=False):
        assert b["high"] == following["low"]


def test_histogram_bins_have_round_widths():
    assert [clv_service._nice_width(v) for v in (0, 0.3, 1, 1.2, 2.2, 4, 7, 12, 260, 999)] == [
        D(1),
        D("0.5"),
        D(1),
        D(2),
        D("2.5"),
        D(5),
        D(10),
        D(20),
        D(500),
        D(1000),
    ]


# --------------------------------------------------------------------------- page


def test_the_page_shows_the_fit_and_only_own_customers_to_a_sales_rep(fitted, web_as, alice):
    response = web_as(alice).get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    fit = ClvFit.objects.get()
    assert f"{fit.r:.4f}" in html and f"{fit.gamma:.4f}" in html
    options = html[html.index('id="clv-fit-options"') :].split("</table>")[0]
    assert "12 months" in options and "1 %" in options and "100.0 %" in options
    listed = [c.pk for c in response.context["rows"]]
    assert listed == sorted(listed, key=lambda pk: -Customer.objects.get(pk=pk).stats.clv_12m)
    assert set(listed) == set(high_potential_ids(customer__owner=alice))
    for pk in listed:
        assert reverse("customers:detail", args=[pk]) in html
    assert response.context["summary"]["customers"] == 80
    assert 'id="refit-now"' not in html
    assert 'id="clv-chart"' in html


def test_the_next_page_of_the_list_comes_as_a_fragment_for_htmx(fitted, web_as, admin_user):
    response = web_as(admin_user).get(PAGE, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "<html" not in html and "<table" in html


# Who may refit, written out by hand (the ``refit_models`` action of roles.py): the
# administrator and the analyst, whose work the models are; nobody else.
MAY_REFIT = {
    "admin": True,
    "manager": False,
    "sales": False,
    "service": False,
    "marketing": False,
    "analyst": True,
}


def test_the_refit_table_above_matches_the_role_definitions():
    from guanxi.accounts.roles import ROLES, Action

    assert {name: role.can(Action.REFIT_MODELS) for name, role in ROLES.items()} == MAY_REFIT


@pytest.mark.parametrize("role", sorted(MAY_REFIT))
def test_the_refit_button_and_page_request_follow_the_role(
    fitted, web_as, users_by_role, role, django_capture_on_commit_callbacks
):
    client = web_as(users_by_role[role])
    assert ('id="refit-now"' in client.get(PAGE).content.decode()) == MAY_REFIT[role]
    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = client.post(REFIT)
    if MAY_REFIT[role]:
        assert response.status_code == 302
        assert ClvFit.objects.count() == 2  # the immediate test backend ran it
    else:
        assert response.status_code == 403
        assert (queued, ClvFit.objects.count()) == ([], 1)


@pytest.mark.parametrize("role", sorted(MAY_REFIT))
def test_the_api_refit_follows_the_role(
    fitted, api_as, users_by_role, role, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = api_as(users_by_role[role]).post("/analytics/clv/refit")
    if MAY_REFIT[role]:
        assert (response.status_code, response.json()) == (202, {"status": "queued"})
        assert ClvFit.objects.count() == 2
    else:
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
        assert (queued, ClvFit.objects.count()) == ([], 1)


def _old_fit(**options) -> ClvFit:
    """A fit as stored before margin, horizon and discount rate were recorded on it."""
    return ClvFit.objects.create(
        calibration_end=AS_OF, customers=10, r=0.2, alpha=4.0, a=0.8, b=2.4, bgnbd_loglik=-1.0
    )


def test_a_fit_without_recorded_options_shows_dashes(web_as, admin_user):
    _old_fit()
    html = web_as(admin_user).get(PAGE).content.decode()
    options = html[html.index('id="clv-fit-options"') :].split("</table>")[0]
    assert options.count("—") == 3


def test_the_migration_copies_the_options_of_earlier_fits_from_the_audit_log(db):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("guanxi.analytics.migrations.0008_clv_fit_options")
    audited, unaudited = _old_fit(), _old_fit()
    AuditEntry.objects.create(
        action="create",
        model="analytics.clvfit",
        object_id=audited.pk,
        changes={"margin": 0.35, "horizon_months": 6, "monthly_discount_rate": 0.02},
    )
    migration.options_from_the_audit_log(apps, None)
    audited.refresh_from_db()
    unaudited.refresh_from_db()
    assert (audited.margin, audited.horizon_months, audited.monthly_discount_rate) == (
        0.35,
        6,
        0.02,
    )
    assert (unaudited.margin, unaudited.horizon_months) == (None, None)


def test_the_page_without_a_fit_says_so(web_as, admin_user):
    html = web_as(admin_user).get(PAGE).content.decode()
    assert "The models have not been fitted yet." in html


def test_the_page_needs_a_login(client, db):
    response = client.get(PAGE)
    assert response.status_code == 302


def test_the_distribution_exports_as_csv_and_xlsx(fitted, web_as, alice):
    client = web_as(alice)
    response = client.get(EXPORT, {"table": "clv_distribution", "format": "csv"})
    assert response.status_code == 200
    lines = response.content.decode("utf-8-sig").strip().splitlines()
    bins = clv_service.clv_distribution(user=alice)
    assert lines[0] == "CLV from,CLV to (below),Customers,Total predicted CLV"
    assert len(lines) == 1 + len(bins)
    assert sum(int(line.split(",")[2]) for line in lines[1:]) == 80
    xlsx = client.get(EXPORT, {"table": "clv_distribution", "format": "xlsx"})
    assert xlsx.status_code == 200
    assert xlsx["Content-Disposition"] == 'attachment; filename="clv_distribution.xlsx"'


def test_the_high_potential_export_has_only_visible_customers(fitted, web_as, alice):
    response = web_as(alice).get(EXPORT, {"table": "clv_high_potential", "format": "csv"})
    lines = response.content.decode("utf-8-sig").strip().splitlines()
    ids = sorted(int(line.split(",")[0]) for line in lines[1:])
    assert ids == high_potential_ids(customer__owner=alice)


def test_export_needs_the_export_permission_and_a_known_table(fitted, web_as, users_by_role):
    assert web_as(users_by_role["service"]).get(EXPORT).status_code == 403
    response = web_as(users_by_role["analyst"]).get(EXPORT, {"table": "secrets"})
    assert response.status_code == 400


# --------------------------------------------------------------------------- API


def test_the_api_overview_has_the_fit_and_visible_totals(fitted, api_as, alice):
    response = api_as(alice).get("/analytics/clv")
    assert response.status_code == 200
    body = response.json()
    fit = ClvFit.objects.get()
    assert body["fit"]["bgnbd"]["r"] == fit.r
    assert body["fit"]["gamma_gamma"]["gamma"] == fit.gamma
    assert body["fit"]["customers"] == 240
    assert (
        body["fit"]["margin"],
        body["fit"]["horizon_months"],
        body["fit"]["monthly_discount_rate"],
    ) == (1.0, 12, 0.01)
    assert body["summary"]["customers"] == 80
    assert sum(b["customers"] for b in body["distribution"]) == 80
    assert body["refit"] == {"state": "", "since": None}


def test_the_api_high_potential_list_respects_visibility(fitted, api_as, alice, charlie):
    body = api_as(alice).get("/analytics/clv/high-potential", size=500).json()
    assert sorted(c["id"] for c in body["items"]) == high_potential_ids(customer__owner=alice)
    assert all(c["owner"] == "alice" for c in body["items"])
    assert body["max_orders"] == 2
    charlies = api_as(charlie).get("/analytics/clv/high-potential", size=500).json()
    assert not {c["id"] for c in body["items"]} & {c["id"] for c in charlies["items"]}


def test_the_api_needs_authentication(client, db):
    assert client.get("/api/v1/analytics/clv").status_code == 401


# --------------------------------------------------------------------------- task


@pytest.fixture
def analyst_user(east):
    return make_user("ada", "analyst", east)


@pytest.fixture
def db_tasks(settings):
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }


@pytest.mark.django_db(transaction=True)
def test_the_refit_runs_once_on_the_db_worker_however_often_it_is_asked(
    db_tasks, store, alice, analyst_user
):
    from django_tasks_db.models import DBTaskResult

    shop_with_history(store, [alice], n=80)
    assert clv_service.request_refit(actor=analyst_user) == "queued"
    assert clv_service.refit_state()["state"] == "queued"
    assert clv_service.request_refit(actor=analyst_user) == "already_queued"  # a double click
    assert DBTaskResult.objects.count() == 1
    assert ClvFit.objects.count() == 0  # nothing happens until a worker runs

    call_command("db_worker", "--batch", "--no-startup-delay")

    result = DBTaskResult.objects.get()
    assert result.status == "SUCCESSFUL"
    fit = ClvFit.objects.get()
    assert result.return_value == {
        "status": "done",
        "fit_id": fit.pk,
        "customers": 80,
        "seconds": fit.seconds,
    }
    assert CustomerStats.objects.filter(clv_12m__isnull=False).count() == 80
    assert AuditEntry.objects.get(model="analytics.clvfit").actor == analyst_user
    assert clv_service.refit_state() == {"state": "", "since": None}


@pytest.mark.django_db(transaction=True)
def test_the_task_reports_too_little_history_instead_of_failing(db_tasks, analyst_user):
    from django_tasks_db.models import DBTaskResult

    clv_service.request_refit(actor=analyst_user)
    call_command("db_worker", "--batch", "--no-startup-delay")
    result = DBTaskResult.objects.get()
    assert (result.status, result.return_value["status"]) == ("SUCCESSFUL", "not_enough_history")
    assert ClvFit.objects.count() == 0


def test_the_refit_command_fits_up_to_the_end_of_the_given_day(store, alice, capsys):
    shop_with_history(store, [alice], n=60)
    call_command("refit_clv", as_of="2023-12-31", margin=0.5)
    fit = ClvFit.objects.get()
    assert fit.calibration_end == AS_OF
    assert "CLV refitted on 60 customers" in capsys.readouterr().out


def test_the_refit_command_explains_too_little_history(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Not enough purchase history"):
        call_command("refit_clv")
    assert ClvFit.objects.count() == 0
