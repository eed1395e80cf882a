import json

import pytest
from django.urls import reverse

from guanxi.customers import services

DASHBOARD = reverse("web:dashboard")


@pytest.mark.django_db
class TestDashboard:
    def test_it_counts_only_visible_customers_by_stage_and_grade(self, web_as, alice, charlie):
        services.customer_create(actor=alice, data={"name": "张伟", "stage": "vip", "grade": "A"})
        services.customer_create(actor=alice, data={"name": "李娜", "stage": "vip"})
        services.customer_create(actor=charlie, data={"name": "王芳", "stage": "lost"})
        response = web_as(alice).get(DASHBOARD)
        assert response.status_code == 200
        assert response.context["total"] == 2
        stages = {value: n for value, _label, n in response.context["stages"]}
        assert stages == {
            "lead": 0,
            "prospect": 0,
            "customer": 0,
            "vip": 2,
            "dormant": 0,
            "lost": 0,
        }
        grades = {value: n for value, _label, n in response.context["grades"]}
        assert grades == {"A": 1, "B": 0, "C": 0, "D": 0}
        assert response.context["ungraded"] == 1

    def test_chart_data_is_the_same_numbers_as_the_table(self, web_as, alice):
        services.customer_create(actor=alice, data={"name": "张伟", "stage": "customer"})
        html = web_as(alice).get(DASHBOARD).content.decode()
        start = html.index('<script id="stage-data" type="application/json">') + 48
        data = json.loads(html[start : html.index("</script>", start)])
        assert {d["label"]: d["n"] for d in data}["Customer"] == 1
        assert sum(d["n"] for d in data) == 1
        assert "vendor/echarts.min.js" in html

    def test_without_customers_it_loads_no_chart(self, web_as, alice):
        html = web_as(alice).get(DASHBOARD).content.decode()
        assert "echarts" not in html and "No customers yet." in html

    def test_it_needs_a_login(self, client):
        response = client.get(DASHBOARD)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.django_db
class TestNavigation:
    def test_sales_does_not_see_settings_in_the_menu(self, web_as, alice):
        html = web_as(alice).get(DASHBOARD).content.decode()
        assert reverse("customers:list") in html
        assert reverse("customers:settings") not in html

    def test_admin_sees_settings_in_the_menu(self, web_as, admin_user):
        html = web_as(admin_user).get(DASHBOARD).content.decode()
        assert reverse("customers:settings") in html

    def test_language_switch_posts_to_set_language(self, web_as, alice):
        html = web_as(alice).get(DASHBOARD).content.decode()
        assert f'action="{reverse("set_language")}"' in html
        assert (
            '<option value="zh-hans" lang="zh-hans"' in html
            and '<option value="en" lang="en" selected>' in html
        )
