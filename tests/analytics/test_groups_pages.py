"""Customer groups over the API and on their pages."""

import io

import openpyxl

from guanxi.analytics.models_analysis import SavedGroup
from tests.analytics.test_groups import shop  # noqa: F401  (fixture)


def test_groups_crud_over_the_api(alice, bob, api_as):
    client = api_as(alice)
    created = client.post("/analytics/groups", {"name": "VIPs", "filters": {"stage": "vip"}})
    assert created.status_code == 201
    group = created.json()
    assert (group["name"], group["filters"], group["owner"], group["shared"]) == (
        "VIPs",
        {"stage": "vip"},
        "alice",
        False,
    )
    assert [g["name"] for g in client.get("/analytics/groups").json()] == ["VIPs"]
    assert api_as(bob).get(f"/analytics/groups/{group['id']}").status_code == 404
    assert client.patch(f"/analytics/groups/{group['id']}", {"shared": True}).json()["shared"]
    assert api_as(bob).get(f"/analytics/groups/{group['id']}").status_code == 200
    assert api_as(bob).patch(f"/analytics/groups/{group['id']}", {"name": "x"}).status_code == 403
    assert api_as(bob).delete(f"/analytics/groups/{group['id']}").status_code == 403
    assert client.delete(f"/analytics/groups/{group['id']}").status_code == 204
    assert not SavedGroup.objects.exists()


def test_a_bad_group_over_the_api_is_a_field_error(alice, api_as):
    response = api_as(alice).post("/analytics/groups", {"name": "x", "filters": {"stage": "nope"}})
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["filters.stage"]
    assert not SavedGroup.objects.exists()


def test_the_analysis_over_the_api_respects_visibility(shop, alice, admin_user, api_as):  # noqa: F811
    group = (
        api_as(alice)
        .post("/analytics/groups", {"name": "VIPs", "filters": {"stage": "vip"}, "shared": True})
        .json()
    )
    own = api_as(alice).get(f"/analytics/groups/{group['id']}/analysis", dimensions="gender").json()
    assert (own["customers"], own["all_customers"]) == (2, 4)
    assert [d["key"] for d in own["dimensions"]] == ["gender"]
    everyone = api_as(admin_user).get(f"/analytics/groups/{group['id']}/analysis").json()
    assert (everyone["customers"], everyone["all_customers"]) == (3, 6)
    assert len(everyone["dimensions"]) == 9
    adhoc = api_as(admin_user).post(
        "/analytics/groups/analysis", {"filters": {"province": "浙江"}, "dimensions": ["source"]}
    )
    assert adhoc.json()["customers"] == 2


def test_the_group_pages_save_show_and_export(shop, alice, web_as):  # noqa: F811
    web = web_as(alice)
    response = web.post(
        "/analytics/groups/new/", {"name": "VIPs", "filters": "/customers/?stage=vip&cursor=abc"}
    )
    group = SavedGroup.objects.get()
    assert group.filters == {"stage": "vip"}
    assert response["Location"] == f"/analytics/groups/{group.pk}/"
    html = web.get(f"/analytics/groups/{group.pk}/").content.decode()
    assert "2 customers in the group, of 4 you can see." in html
    assert html.count('data-analysis-chart="bars"') == 9
    assert "Delete group" in html
    csv = web.get(f"/analytics/groups/{group.pk}/?format=csv&table=group-region")
    assert csv.content.decode("utf-8-sig").splitlines() == [
        "Region (province),Customers in group,Share in group %,"
        "Customers in all,Share in all %,Lift",
        "浙江,2,100.0,2,50.0,2.0",
        "上海,0,0.0,1,25.0,0.0",
        "Unknown,0,0.0,1,25.0,0.0",
    ]
    xlsx = web.get(f"/analytics/groups/{group.pk}/?format=xlsx&table=group-weekday")
    rows = list(openpyxl.load_workbook(io.BytesIO(xlsx.content)).active.values)
    assert rows[1] == ("Monday", 2, 66.67, 2, 50.0, 1.33)
    assert "Customer groups" in web.get("/analytics/groups/").content.decode()
    adhoc = web.get("/analytics/groups/analyse/?province=上海").content.decode()
    assert "1 customers in the group, of 4 you can see." in adhoc
    assert web.get("/analytics/groups/analyse/?stage=nope").status_code == 422
    assert web.post(f"/analytics/groups/{group.pk}/delete/").status_code == 302
    assert not SavedGroup.objects.exists()


def test_a_bad_group_on_the_page_writes_nothing(alice, web_as):
    response = web_as(alice).post("/analytics/groups/new/", {"name": "", "filters": ""})
    assert response.status_code == 422
    assert "This field is required." in response.content.decode()
    assert not SavedGroup.objects.exists()
