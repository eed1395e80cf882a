"""The RFM recompute writes only what changes, keeps the overview's figures of every
customer with the run, and agrees with the overview counted from the rows."""

import datetime

from django.utils import translation

from guanxi.analytics import rfm
from guanxi.analytics.models import CustomerRfm, CustomerStats
from guanxi.customers.models import Customer
from tests.analytics import analysis_data as data
from tests.analytics.test_rfm import AS_OF, scores, ten  # noqa: F401  (fixture)


def _counted(user) -> dict:
    """The overview as the rows say now: customers and revenue per segment, the grid."""
    segments, grid = {}, [[0] * 5 for _r in range(5)]
    scores = {r.customer_id: r for r in CustomerRfm.objects.all()}
    for s in CustomerStats.objects.filter(orders__gt=0).select_related("customer"):
        if user is not None and s.customer.owner_id != user.pk:
            continue
        score = scores.get(s.customer_id)
        segment = score.segment if score else ""
        n, revenue = segments.get(segment, (0, 0))
        segments[segment] = (n + 1, revenue + s.revenue)
        if score:
            grid[score.r_score - 1][score.f_score - 1] += 1
    return {"segments": segments, "grid": grid}


def _shown(overview) -> dict:
    return {
        "segments": {
            s["key"]: (s["customers"], s["revenue"]) for s in overview["segments"] if s["customers"]
        },
        "grid": overview["grid"],
    }


def test_a_rerun_writes_nothing_and_a_change_rewrites_only_that_customer(ten, admin_user):  # noqa: F811
    first = rfm.rfm_recompute(as_of=AS_OF)
    assert first["changed"] == 10
    before = scores(ten)
    assert rfm.rfm_recompute(as_of=AS_OF)["changed"] == 0
    assert scores(ten) == before

    # With boundaries that stay put, C2 (revenue 100, M 1) rising to 5,000 changes its
    # row alone (the mean M goes from 3.0 to 3.4: high is still M ≥ 4).
    rfm.rfm_settings_update(actor=admin_user, data={"monetary": [200, 400, 600, 800]})
    assert rfm.rfm_recompute(as_of=AS_OF)["changed"] == 0
    CustomerStats.objects.filter(customer=ten[1]).update(revenue=5000)
    after = rfm.rfm_recompute(as_of=AS_OF)
    assert after["changed"] == 1
    assert after["means"]["m"] == 3.4
    assert scores(ten)[1] == (5, 1, 5, "promising")
    assert scores(ten)[2:] == before[2:]


def test_customers_whose_orders_are_gone_lose_their_scores(ten):  # noqa: F811
    rfm.rfm_recompute(as_of=AS_OF)
    CustomerStats.objects.filter(customer=ten[0]).update(orders=0, last_order_at=None, revenue=0)
    summary = rfm.rfm_recompute(as_of=AS_OF)
    assert summary["customers"] == 9
    assert scores(ten)[0] == (0, 0, 0, "")
    assert CustomerRfm.objects.count() == 9


def test_the_admins_overview_from_the_run_equals_the_rows_counted(ten, admin_user, alice):  # noqa: F811
    summary = rfm.rfm_recompute(as_of=AS_OF)
    assert sum(n for n, _cents in summary["segments"].values()) == 10
    assert summary["segments"]["loyal"] == [2, 180000]  # 1,000 + 800, in cents
    everyone = rfm.rfm_overview(user=admin_user)
    assert _shown(everyone) == _counted(None)
    assert "segments" not in everyone["last_run"] and "grid" not in everyone["last_run"]
    own = rfm.rfm_overview(user=alice)  # counted from alice's rows
    assert _shown(own) == _counted(alice)
    assert own["customers"] == 5


def test_the_admins_overview_shows_customers_scored_by_no_run_yet(ten, admin_user, alice):  # noqa: F811
    rfm.rfm_recompute(as_of=AS_OF)
    late = data.customer(alice, name="late")
    data.order(late, data.store("jd"), AS_OF - datetime.timedelta(days=1), "70.00")
    data.rebuild_stats()
    overview = rfm.rfm_overview(user=admin_user)
    assert overview["customers"] == 11
    unscored = overview["segments"][-1]
    assert (unscored["key"], unscored["customers"], unscored["revenue"]) == ("", 1, 70)
    assert str(unscored["label"]) == "Not scored yet"


def test_fractional_explicit_boundaries_compare_exactly(ten, admin_user):  # noqa: F811
    rfm.rfm_settings_update(
        actor=admin_user,
        data={"frequency": "1.5, 2.5, 3.5, 4.5", "monetary": "199.99, 400.005, 600, 800.01"},
    )
    rfm.rfm_recompute(as_of=AS_OF)
    # Orders 1..10: > 1.5 from 2 orders on; revenue 200 > 199.99, 400 ≤ 400.005,
    # 600 ≤ 600, 800 ≤ 800.01.
    assert [s[1] for s in scores(ten)] == [1, 2, 3, 4, 5, 5, 5, 5, 5, 5]
    # M = 1 + #{c: revenue > c}: 100 → 1, 200–400 → 2, 500–600 → 3, 700–800 → 4, more → 5.
    assert [s[2] for s in scores(ten)] == [3, 1, 5, 2, 4, 2, 5, 2, 3, 4]


def test_the_rfm_segment_lost_is_not_the_lifecycle_stage_lost():
    segment = rfm.SEGMENT_BY_KEY["lost"].label
    with translation.override("zh-hans"):
        stage = str(Customer.Stage.LOST.label)
        assert stage != "Lost"  # the stage is translated …
        assert str(segment) != stage  # … and the segment is its own message


def test_the_page_shows_shares_as_percentages(ten, admin_user, web_as):  # noqa: F811
    rfm.rfm_recompute(as_of=AS_OF)
    web = web_as(admin_user)
    html = web.get("/analytics/rfm/").content.decode()
    assert '<td class="num">30.0%</td>' in html  # "new": 3 of 10 customers
    zh = web.get("/analytics/rfm/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert '<td class="num">30.0%</td>' in zh and " %<" not in zh


def test_one_write_of_changed_and_emptied_rows_equals_scoring_from_scratch(ten, admin_user):  # noqa: F811
    """Changed scores and customers left without orders go out in the same UPDATE;
    the rows then hold what a recompute over rows without any scores gives."""
    rfm.rfm_recompute(as_of=AS_OF)
    # Boundaries that move most customers, and one customer whose orders are gone.
    rfm.rfm_settings_update(actor=admin_user, data={"monetary": [50, 150, 250, 350]})
    CustomerStats.objects.filter(customer=ten[4]).update(orders=0, last_order_at=None, revenue=0)
    summary = rfm.rfm_recompute(as_of=AS_OF)
    assert summary["changed"] >= 6
    incremental = scores(ten)
    assert incremental[4] == (0, 0, 0, "")

    CustomerRfm.objects.all().delete()
    afresh = rfm.rfm_recompute(as_of=AS_OF)
    assert afresh["changed"] == 9
    assert scores(ten) == incremental
    assert {k: v for k, v in afresh.items() if k != "changed"} == {
        k: v for k, v in summary.items() if k != "changed"
    }


def test_scores_of_a_customer_without_statistics_are_removed(ten):  # noqa: F811
    """A score row whose customer has no statistics row (left by a write outside the
    recompute) does not survive the next recompute, however few scores change."""
    rfm.rfm_recompute(as_of=AS_OF)
    nobody = Customer.objects.get(name="no orders")
    assert not CustomerStats.objects.filter(customer=nobody).exists()
    CustomerRfm.objects.create(customer=nobody, r_score=5, f_score=5, m_score=5, segment="lost")
    summary = rfm.rfm_recompute(as_of=AS_OF)
    assert summary["changed"] == 0  # every scored customer kept its scores ...
    assert not CustomerRfm.objects.filter(customer=nobody).exists()  # ... and this went
    assert CustomerRfm.objects.count() == 10
