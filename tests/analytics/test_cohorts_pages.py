"""Cohorts over the API and on their page."""

import io

import openpyxl

from tests.analytics.test_cohorts import history  # noqa: F401  (fixture)


def test_the_cohort_api_respects_visibility(history, alice, charlie, api_as):  # noqa: F811
    own = api_as(charlie).get("/analytics/cohorts", months=4, until="2025-04-15").json()
    assert [(c["month"], c["customers"], c["counts"]) for c in own["cohorts"]] == [
        ("2025-01", 0, [0, 0, 0, 0]),
        ("2025-02", 1, [1, 1, 0]),
        ("2025-03", 0, [0, 0]),
        ("2025-04", 0, [0]),
    ]
    assert api_as(alice).get("/analytics/cohorts", months=61).status_code == 422


def test_the_cohort_page_draws_a_heat_map_and_exports(history, admin_user, web_as):  # noqa: F811
    web = web_as(admin_user)
    page = web.get("/analytics/cohorts/?months=6")
    assert page.status_code == 200
    assert 'data-analysis-chart="heatmap"' in page.content.decode()
    xlsx = web.get("/analytics/cohorts/?months=6&format=xlsx&table=cohort-customers")
    rows = list(openpyxl.load_workbook(io.BytesIO(xlsx.content)).active.values)
    assert rows[0][:3] == ("First order month", "Customers", "Month 0")
    assert len(rows) == 7


def test_the_analysis_index_is_in_the_navigation(users_by_role, web_as):
    html = web_as(users_by_role["analyst"]).get("/analytics/").content.decode()
    for url in (
        "/analytics/rfm/",
        "/analytics/groups/",
        "/analytics/churn/",
        "/analytics/cohorts/",
    ):
        assert f'href="{url}"' in html
    assert 'href="/analytics/"' in html  # the nav entry
