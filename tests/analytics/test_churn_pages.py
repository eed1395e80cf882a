"""Churn over the API and on its page."""

from guanxi.customers.models import Customer
from tests.analytics import analysis_data as data


def test_only_admins_apply_the_churn_rules(alice, admin_user, api_as, web_as):
    shop = data.store("s", dormant_after_days=30, lost_after_days=60)
    old = data.customer(alice, "old")
    data.order(old, shop, data.at("2020-01-01"))
    data.rebuild_stats()

    assert api_as(alice).post("/analytics/churn/apply").status_code == 403
    assert web_as(alice).post("/analytics/churn/apply/").status_code == 403
    assert Customer.objects.get(pk=old.pk).stage == "customer"

    response = api_as(admin_user).post("/analytics/churn/apply")
    assert response.status_code == 202
    assert response.json()["result"]["lost"] == 1
    assert Customer.objects.get(pk=old.pk).stage == "lost"


def test_the_report_api_page_and_export(alice, charlie, admin_user, api_as, web_as):
    shop = data.store("s", dormant_after_days=30)
    for owner, name, day in [(alice, "a", "2025-02-20"), (charlie, "c", "2025-02-15")]:
        data.order(data.customer(owner, name), shop, data.at(day))
    data.rebuild_stats()

    body = api_as(alice).get("/analytics/churn/report", months=1, until="2025-03-10").json()
    assert body == {
        "days": 30,
        "months": [
            {
                "month": "2025-03",
                "active_at_start": 1,
                "churned": 1,
                "churn_rate": 100.0,
                "moved_by_rules": 0,
            }
        ],
    }
    assert api_as(alice).get("/analytics/churn/report", months=0).status_code == 422
    assert api_as(alice).get("/analytics/churn/report", days=0).status_code == 422

    page = web_as(admin_user).get("/analytics/churn/?months=3&days=30")
    assert page.status_code == 200
    assert 'data-analysis-chart="line"' in page.content.decode()
    csv = web_as(admin_user).get("/analytics/churn/?months=3&days=30&format=csv")
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert (
        lines[0]
        == "Month,Active at start,Became inactive,Churn rate %,Moved to dormant/lost by the rules"
    )
    assert len(lines) == 4
