"""Small things the pages must get right: the order of changes in the history, the
language names on the log-in page, dates and labels on the duplicate and merge pages."""

import re

import pytest
from django.urls import reverse
from django.utils import translation

from guanxi.customers import services
from guanxi.customers.models import Customer


def change_labels(response) -> list[list[str]]:
    """The field labels of each history entry, newest first, as the page shows them."""
    history = response.content.decode().split('id="history"', 1)[1]
    entries = history.split("</ol>", 1)[0].split('<ul class="changes">')[1:]
    return [re.findall(r'<span class="f">([^<]+)</span>', e.split("</ul>", 1)[0]) for e in entries]


@pytest.mark.django_db
class TestHistoryOrder:
    def test_changes_follow_the_form_order_not_the_alphabet(self, web_as, alice, admin_user):
        services.custom_field_create(
            actor=admin_user,
            data={"key": "aa_last", "label": "Second field", "type": "text", "position": 2},
        )
        services.custom_field_create(
            actor=admin_user,
            data={"key": "zz_first", "label": "First field", "type": "text", "position": 1},
        )
        customer = services.customer_create(
            actor=alice,
            data={
                "name": "张伟",
                "phone": "13812345678",
                "city": "杭州",
                "stage": "customer",
                "tags": "VIP",
                "custom": {"aa_last": "x", "zz_first": "y"},
            },
        )
        services.consent_set(actor=alice, customer=customer, channel="sms", granted=True)
        response = web_as(alice).get(reverse("customers:detail", args=[customer.pk]))
        consent, created = change_labels(response)
        assert consent == ["Marketing consent: SMS"]
        assert created == [
            "Type",
            "Name",
            "Phone",
            "City",
            "Lifecycle stage",
            "Tags",
            "Owner",
            "Team",
            "First field",
            "Second field",
        ]


@pytest.mark.django_db
class TestLoginLanguages:
    def test_each_language_is_named_in_itself(self, client):
        for code in ("zh-hans", "en"):
            client.cookies["django_language"] = code
            html = client.get(reverse("accounts:login")).content.decode()
            form = html.split('class="auth-lang"', 1)[1].split("</form>", 1)[0]
            assert re.findall(r">([^<>]+)</button>", form) == ["简体中文", "English"]


@pytest.mark.django_db
class TestDuplicatesAndMerge:
    @pytest.fixture
    def twins(self, alice):
        return [
            services.customer_create(actor=alice, data={"name": "张伟", "phone": "13812345678"}),
            services.customer_create(actor=alice, data={"name": "张 伟", "phone": "13812345678"}),
        ]

    def test_duplicates_name_the_owner_through_a_translatable_pattern(self, web_as, manager, twins):
        html = web_as(manager).get(reverse("customers:duplicates")).content.decode()
        assert html.count("Owner: alice") == 2
        with translation.override("zh-hans"):
            expected = translation.gettext("Owner: %(owner)s") % {"owner": "alice"}
        client = web_as(manager)
        client.cookies["django_language"] = "zh-hans"
        html = client.get(reverse("customers:duplicates")).content.decode()
        assert html.count(expected) == 2

    def test_merge_shows_created_times_like_the_other_pages(self, web_as, admin_user, twins):
        Customer.objects.filter(pk=twins[0].pk).update(created_at="2026-03-04T05:06:00Z")
        url = reverse("customers:merge") + f"?ids={twins[0].pk},{twins[1].pk}"
        client = web_as(admin_user)
        client.cookies["django_language"] = "zh-hans"
        html = client.get(url).content.decode()
        assert f'<td data-label="#{twins[0].pk}"><span>2026-03-04 13:06</span></td>' in html
