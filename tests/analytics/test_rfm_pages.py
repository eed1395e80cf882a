"""RFM over the API and on its page: visibility, admin-only writes, exports."""

import io

import openpyxl

from guanxi.analytics.models import CustomerRfm
from guanxi.analytics.models_analysis import RfmSettings
from tests.analytics.test_rfm import ten  # noqa: F401  (fixture)


def test_the_api_shows_segments_of_visible_customers(ten, alice, admin_user, api_as):  # noqa: F811
    assert api_as(admin_user).post("/analytics/rfm/recompute").status_code == 202
    everyone = api_as(admin_user).get("/analytics/rfm").json()
    own = api_as(alice).get("/analytics/rfm").json()
    assert (everyone["customers"], own["customers"]) == (10, 5)
    assert sum(map(sum, own["grid"]["counts"])) == 5
    assert [s["key"] for s in own["segments"]][:2] == ["champions", "promising"]


def test_only_admins_recompute_or_change_boundaries_over_the_api(ten, alice, admin_user, api_as):  # noqa: F811
    client = api_as(alice)
    assert client.post("/analytics/rfm/recompute").status_code == 403
    assert client.put("/analytics/rfm/settings", {"recency": [1, 2, 3, 4]}).status_code == 403
    assert not CustomerRfm.objects.exists()
    assert RfmSettings.load().recency_bounds == []

    admin = api_as(admin_user)
    bad = admin.put("/analytics/rfm/settings", {"recency": [4, 3, 2, 1]})
    assert bad.status_code == 422
    assert bad.json()["errors"] == {
        "recency": ["Each boundary must be greater than the one before."]
    }
    ok = admin.put("/analytics/rfm/settings", {"recency": [7, 30, 90, 180]})
    assert ok.json() == {"recency": [7, 30, 90, 180], "frequency": [], "monetary": []}
    assert admin.get("/analytics/rfm/settings").json()["recency"] == [7, 30, 90, 180]


def test_the_page_shows_the_table_the_grid_and_links_to_customers(ten, alice, admin_user, web_as):  # noqa: F811
    admin = web_as(admin_user)
    response = admin.post("/analytics/rfm/recompute/")
    assert response.status_code == 302
    page = admin.get("/analytics/rfm/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "/customers/?rfm_segment=loyal" in html
    assert 'data-analysis-chart="heatmap"' in html
    assert "Recompute now" in html
    rep = web_as(alice).get("/analytics/rfm/").content.decode()
    assert "5 customers with orders." in rep
    assert "Recompute now" not in rep
    assert web_as(alice).post("/analytics/rfm/recompute/").status_code == 403


def test_the_customer_list_filters_by_segment(ten, admin_user, web_as):  # noqa: F811
    web = web_as(admin_user)
    web.post("/analytics/rfm/recompute/")
    html = web.get("/customers/?rfm_segment=loyal").content.decode()
    assert ">C7<" in html and ">C10<" in html and ">C1<" not in html


def test_the_customer_page_shows_its_scores(ten, admin_user, web_as):  # noqa: F811
    web = web_as(admin_user)
    web.post("/analytics/rfm/recompute/")
    html = web.get(f"/customers/{ten[2].pk}/").content.decode()
    assert 'data-rfm="segment"' in html and "Promising" in html
    assert 'data-rfm="r">4 / 5' in html and 'data-rfm="m">5 / 5' in html


def test_exports_as_csv_and_xlsx_respect_visibility(ten, alice, admin_user, web_as):  # noqa: F811
    web_as(admin_user).post("/analytics/rfm/recompute/")
    csv = web_as(alice).get("/analytics/rfm/?format=csv&table=rfm-segments")
    assert csv["Content-Disposition"] == 'attachment; filename="rfm-segments.csv"'
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0] == (
        "Segment,Customers,Share of customers %,Revenue,Share of revenue %,Average revenue"
    )
    assert "New,3,60.0,900.00,36.0,300.00" in lines
    xlsx = web_as(admin_user).get("/analytics/rfm/?format=xlsx&table=rfm-grid")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    rows = list(sheet.values)
    assert rows[0] == ("R score \\ F score", "F1", "F2", "F3", "F4", "F5")
    assert rows[1] == ("R5", 2, 0, 0, 0, 0)
    assert web_as(admin_user).get("/analytics/rfm/?format=pdf").status_code == 400


def test_users_who_may_not_export_get_no_download(ten, users_by_role, web_as):  # noqa: F811
    service = web_as(users_by_role["service"])
    assert service.get("/analytics/rfm/?format=csv").status_code == 403
    assert "format=csv" not in service.get("/analytics/rfm/").content.decode()
