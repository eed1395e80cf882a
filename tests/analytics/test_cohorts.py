import datetime

import pytest

from guanxi.analytics import cohorts
from tests.analytics import analysis_data as data

UNTIL = datetime.date(2025, 4, 15)


@pytest.fixture
def history(alice, charlie):
    shop = data.store()
    c = data.customer
    c1, c2, c3 = c(alice, "c1"), c(alice, "c2"), c(alice, "c3")
    c4, c5 = c(charlie, "c4"), c(charlie, "c5")
    for cust, days in [
        (c1, ["2025-01-10", "2025-02-05", "2025-04-01"]),
        (c2, ["2025-01-20", "2025-01-25", "2025-03-10"]),
        (c3, ["2025-02-03", "2025-03-01"]),
        (c5, ["2025-01-15"]),
    ]:
        for day in days:
            data.order(cust, shop, data.at(day))
    # 23:30 in Shanghai on the last day of February is still February (15:30 UTC).
    data.order(c4, shop, data.at("2025-02-28", 23).replace(minute=30))
    data.order(c4, shop, data.at("2025-03-31", 22))
    # c5's first order was in December: not in the January cohort.
    data.order(c5, shop, data.at("2024-12-31", 23))
    # A cancelled order is not a purchase.
    data.order(c3, shop, data.at("2025-04-02"), status="cancelled")
    data.rebuild_stats()


@pytest.mark.parametrize("use_facts", [True, False], ids=["facts", "orders"])
def test_the_cohort_matrix_is_exact(history, admin_user, use_facts):
    matrix = cohorts.cohort_matrix(user=admin_user, months=4, until=UNTIL, use_facts=use_facts)
    assert matrix["cohorts"] == [
        {
            "month": "2025-01",
            "customers": 2,
            "counts": [2, 1, 1, 1],
            "rates": [100.0, 50.0, 50.0, 50.0],
        },
        {"month": "2025-02", "customers": 2, "counts": [2, 2, 0], "rates": [100.0, 100.0, 0.0]},
        # A cohort without customers has no rates (the page shows "—").
        {"month": "2025-03", "customers": 0, "counts": [0, 0], "rates": [None, None]},
        {"month": "2025-04", "customers": 0, "counts": [0], "rates": [None]},
    ]


@pytest.mark.parametrize("use_facts", [True, False], ids=["facts", "orders"])
def test_a_sales_rep_sees_cohorts_of_own_customers(history, alice, use_facts):
    matrix = cohorts.cohort_matrix(
        user=alice, months=2, until=datetime.date(2025, 2, 1), use_facts=use_facts
    )
    assert matrix["cohorts"] == [
        {"month": "2025-01", "customers": 2, "counts": [2, 1], "rates": [100.0, 50.0]},
        {"month": "2025-02", "customers": 1, "counts": [1], "rates": [100.0]},
    ]


def test_cohort_tables_pad_the_unobserved_months(history, admin_user):
    matrix = cohorts.cohort_matrix(user=admin_user, months=2, until=datetime.date(2025, 2, 10))
    retention, counts = cohorts.cohort_tables(matrix)
    assert retention.headers == ["First order month", "Customers", "Month 0", "Month 1"]
    assert retention.rows == [["2025-01", 2, 100.0, 50.0], ["2025-02", 2, 100.0, ""]]
    assert counts.rows == [["2025-01", 2, 2, 1], ["2025-02", 2, 2, ""]]
