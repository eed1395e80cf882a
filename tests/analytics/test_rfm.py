import datetime

import pytest

from guanxi.analytics import rfm
from guanxi.analytics.models import CustomerRfm
from guanxi.analytics.models_analysis import RfmSettings
from guanxi.core.errors import PermissionDenied, ValidationFailed
from guanxi.core.models import AuditEntry
from tests.analytics import analysis_data as data

AS_OF = data.at("2025-06-30", 12)
REVENUE = [500, 100, 900, 300, 700, 200, 1000, 400, 600, 800]


@pytest.fixture
def ten(alice, charlie):
    """Customer i (1..10): i orders, the last 10·i days before AS_OF, revenue REVENUE[i-1].
    Customers 1–5 belong to alice, 6–10 to charlie; one more customer has no orders."""
    shop = data.store()
    customers = []
    for i in range(1, 11):
        c = data.customer(alice if i <= 5 else charlie, name=f"C{i}")
        last = AS_OF - datetime.timedelta(days=10 * i)
        for j in range(1, i):
            data.order(c, shop, last - datetime.timedelta(days=j), "1.00")
        data.order(c, shop, last, f"{REVENUE[i - 1] - (i - 1)}.00")
        customers.append(c)
    data.customer(alice, name="no orders")
    data.rebuild_stats()
    return customers


def scores(customers):
    rows = {
        s.customer_id: (s.r_score, s.f_score, s.m_score, s.segment)
        for s in CustomerRfm.objects.all()
    }
    return [rows.get(c.pk, (0, 0, 0, "")) for c in customers]


def test_it_scores_quintiles_and_assigns_segments(ten):
    summary = rfm.rfm_recompute(as_of=AS_OF)

    assert summary["customers"] == 10
    assert summary["recency"] == [20.0, 40.0, 60.0, 80.0]
    assert summary["frequency"] == [2, 4, 6, 8]
    assert summary["monetary"] == [200.0, 400.0, 600.0, 800.0]
    assert summary["means"] == {"r": 3.0, "f": 3.0, "m": 3.0}
    assert scores(ten) == [
        (5, 1, 3, "new"),
        (5, 1, 1, "new"),
        (4, 2, 5, "promising"),
        (4, 2, 2, "new"),
        (3, 3, 4, "at_risk"),
        (3, 3, 1, "lost"),
        (2, 4, 5, "loyal"),
        (2, 4, 2, "need_attention"),
        (1, 5, 3, "need_attention"),
        (1, 5, 4, "loyal"),
    ]


def test_customers_without_orders_have_no_scores(ten):
    rfm.rfm_recompute(as_of=AS_OF)
    assert not CustomerRfm.objects.filter(customer__name="no orders").exists()
    assert CustomerRfm.objects.count() == 10


def test_explicit_boundaries_replace_the_quintiles(ten, admin_user):
    rfm.rfm_settings_update(
        actor=admin_user,
        data={
            "recency": [30, 60, 90, 120],
            "frequency": "1, 2, 3, 4",
            "monetary": [100, 300, 500, 700],
        },
    )
    summary = rfm.rfm_recompute(as_of=AS_OF)

    assert summary["means"] == {"r": 3.8, "f": 4.0, "m": 3.4}
    assert summary["explicit"] == {"recency": True, "frequency": True, "monetary": True}
    assert [s[:3] for s in scores(ten)] == [
        (5, 1, 3),
        (5, 2, 1),
        (5, 3, 5),
        (4, 4, 2),
        (4, 5, 4),
        (4, 5, 2),
        (3, 5, 5),
        (3, 5, 3),
        (3, 5, 4),
        (2, 5, 5),
    ]
    # Means: R 3.8, F 4.0, M 3.4 → high is R ≥ 4, F = 5, M ≥ 4.
    assert [s[3] for s in scores(ten)] == [
        "new",
        "new",
        "promising",
        "new",
        "champions",
        "potential",
        "loyal",
        "need_attention",
        "loyal",
        "loyal",
    ]
    entry = AuditEntry.objects.get(model="analytics.rfmsettings")
    assert entry.actor == admin_user
    assert entry.changes["recency"] == [[], [30, 60, 90, 120]]


def test_clearing_boundaries_goes_back_to_quintiles(ten, admin_user):
    rfm.rfm_settings_update(actor=admin_user, data={"recency": [1, 2, 3, 4]})
    rfm.rfm_settings_update(actor=admin_user, data={"recency": []})
    assert rfm.rfm_recompute(as_of=AS_OF)["recency"] == [20.0, 40.0, 60.0, 80.0]


@pytest.mark.parametrize(
    "bounds, message",
    [
        ([1, 2, 3], "Enter four numbers separated by commas."),
        ([1, 2, "x", 4], "Enter four numbers separated by commas."),
        ([-1, 2, 3, 4], "Boundaries cannot be negative."),
        ([1, 3, 3, 4], "Each boundary must be greater than the one before."),
    ],
)
def test_it_rejects_bad_boundaries_and_writes_nothing(admin_user, bounds, message):
    with pytest.raises(ValidationFailed) as exc:
        rfm.rfm_settings_update(actor=admin_user, data={"monetary": bounds})
    assert exc.value.field_errors == {"monetary": [message]}
    assert not RfmSettings.objects.exclude(monetary_bounds=[]).exists()
    assert not AuditEntry.objects.exists()


def test_only_admins_set_boundaries_or_recompute(users_by_role):
    for role in ("manager", "sales", "service", "marketing", "analyst"):
        user = users_by_role[role]
        with pytest.raises(PermissionDenied):
            rfm.rfm_settings_update(actor=user, data={"recency": [1, 2, 3, 4]})
        with pytest.raises(PermissionDenied):
            rfm.rfm_recompute(actor=user)
    assert not RfmSettings.objects.exclude(recency_bounds=[]).exists()
    assert not AuditEntry.objects.exists()


def test_overview_counts_segments_and_grid_of_visible_customers(ten, alice, admin_user):
    rfm.rfm_recompute(as_of=AS_OF)

    everyone = rfm.rfm_overview(user=admin_user)
    assert everyone["customers"] == 10
    by_key = {s["key"]: s for s in everyone["segments"]}
    assert by_key["new"]["customers"] == 3
    assert by_key["new"]["revenue"] == 500 + 100 + 300
    assert by_key["loyal"]["customers"] == 2
    assert by_key["loyal"]["revenue"] == 1800
    assert by_key["champions"]["customers"] == 0
    assert by_key["new"]["customer_share"] == 30.0
    assert everyone["grid"][4][0] == 2  # R5 F1
    assert sum(map(sum, everyone["grid"])) == 10

    own = rfm.rfm_overview(user=alice)
    assert own["customers"] == 5
    assert {s["key"]: s["customers"] for s in own["segments"] if s["customers"]} == {
        "new": 3,
        "promising": 1,
        "at_risk": 1,
    }
    assert own["revenue"] == 500 + 100 + 900 + 300 + 700
