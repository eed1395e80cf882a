import pytest
from django.urls import reverse

from guanxi.customers import services
from guanxi.customers.models import Customer, DuplicateDismissal


def make(actor, **data):
    return services.customer_create(actor=actor, data=data)


@pytest.fixture
def twins(alice):
    a = make(alice, name="张伟", phone="13812345678", city="杭州")
    b = make(alice, name="张伟", phone="13812345678", city="上海", email="zw@example.com")
    return a, b


@pytest.mark.django_db
class TestDuplicatesPage:
    def test_it_lists_the_pair_with_its_reasons(self, web_as, manager, twins):
        a, b = twins
        response = web_as(manager).get(reverse("customers:duplicates"))
        assert response.status_code == 200
        html = response.content.decode()
        assert f'id="pair-{a.pk}-{b.pk}"' in html
        assert "Same phone" in html and "Same name" in html
        assert f"?ids={a.pk},{b.pk}" in html

    def test_sales_sees_the_pair_but_no_merge_button(self, web_as, alice, twins):
        html = web_as(alice).get(reverse("customers:duplicates")).content.decode()
        assert "Not duplicates" in html
        assert "Compare and merge" not in html

    def test_not_duplicates_button_dismisses_the_pair(self, web_as, alice, twins):
        a, b = twins
        response = web_as(alice).post(
            reverse("customers:duplicates_dismiss"), {"ids": f"{a.pk},{b.pk}"}
        )
        assert response.status_code == 302
        assert DuplicateDismissal.objects.filter(first=a, second=b).count() == 1
        html = web_as(alice).get(reverse("customers:duplicates")).content.decode()
        assert "No possible duplicates found." in html


@pytest.mark.django_db
class TestMergePage:
    def test_it_shows_a_radio_only_for_differing_fields(self, web_as, manager, twins):
        a, b = twins
        response = web_as(manager).get(reverse("customers:merge"), {"ids": f"{a.pk},{b.pk}"})
        assert response.status_code == 200
        html = response.content.decode()
        assert f'name="field_city" value="{a.pk}" checked' in html
        assert f'name="field_email" value="{b.pk}" checked' in html
        assert 'name="field_name"' not in html
        assert f'name="survivor" value="{a.pk}" checked' in html

    def test_posting_merges_and_redirects_to_the_survivor(self, web_as, manager, twins):
        a, b = twins
        response = web_as(manager).post(
            reverse("customers:merge"),
            {"ids": f"{a.pk},{b.pk}", "survivor": a.pk, "field_city": b.pk, "field_email": b.pk},
        )
        assert response.status_code == 302
        assert response.url == reverse("customers:detail", args=[a.pk])
        a.refresh_from_db()
        assert (a.city, a.email) == ("上海", "zw@example.com")
        assert not Customer.objects.filter(pk=b.pk).exists()

    def test_sales_gets_403_and_nothing_changes(self, web_as, alice, twins):
        a, b = twins
        response = web_as(alice).post(
            reverse("customers:merge"), {"ids": f"{a.pk},{b.pk}", "survivor": a.pk}
        )
        assert response.status_code == 403
        assert Customer.objects.count() == 2

    def test_a_record_outside_the_managers_team_is_404(self, web_as, manager, charlie, twins):
        a, _b = twins
        theirs = make(charlie, name="张伟", phone="13812345678")
        response = web_as(manager).get(reverse("customers:merge"), {"ids": f"{a.pk},{theirs.pk}"})
        assert response.status_code == 404
