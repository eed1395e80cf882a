import pytest

from guanxi.core.models import AuditEntry
from guanxi.customers import services
from guanxi.customers.models import Contact, Customer, DuplicateDismissal


def make(actor, **data):
    return services.customer_create(actor=actor, data=data)


@pytest.fixture
def twins(alice):
    a = make(alice, name="张伟", phone="13812345678", kind="company")
    b = make(alice, name="章伟", phone="13812345678", email="zw@example.com", kind="company")
    services.contact_create(actor=alice, customer=b, data={"name": "王总"})
    return a, b


@pytest.mark.django_db
class TestDuplicatesApi:
    def test_it_lists_pairs_with_reasons_and_score(self, api_as, alice, twins):
        a, b = twins
        response = api_as(alice).get("/customers/duplicates")
        assert response.status_code == 200
        assert response.json() == [
            {
                "first": {
                    "id": a.pk,
                    "name": "张伟",
                    "phone": "+8613812345678",
                    "email": "",
                    "owner_id": alice.pk,
                    "owner": "alice",
                },
                "second": {
                    "id": b.pk,
                    "name": "章伟",
                    "phone": "+8613812345678",
                    "email": "zw@example.com",
                    "owner_id": alice.pk,
                    "owner": "alice",
                },
                "reasons": ["phone", "pinyin"],
                "reason_labels": ["Same phone", "Similar name (same pinyin)"],
                "score": 80,
            }
        ]

    def test_another_teams_user_sees_no_pairs(self, api_as, charlie, twins):
        assert api_as(charlie).get("/customers/duplicates").json() == []

    def test_dismiss_hides_the_pair(self, api_as, alice, twins):
        a, b = twins
        client = api_as(alice)
        response = client.post(
            "/customers/duplicates/dismiss", {"first_id": b.pk, "second_id": a.pk}
        )
        assert response.status_code == 204
        assert DuplicateDismissal.objects.filter(first=a, second=b).count() == 1
        assert client.get("/customers/duplicates").json() == []

    def test_dismiss_of_a_record_you_cannot_see_is_404(self, api_as, charlie, twins):
        a, b = twins
        response = api_as(charlie).post(
            "/customers/duplicates/dismiss", {"first_id": a.pk, "second_id": b.pk}
        )
        assert response.status_code == 404
        assert DuplicateDismissal.objects.count() == 0


@pytest.mark.django_db
class TestMergeApi:
    def test_manager_merges_with_a_field_choice(self, api_as, manager, twins):
        a, b = twins
        response = api_as(manager).post(
            "/customers/merge", {"survivor_id": a.pk, "other_ids": [b.pk], "fields": {"name": b.pk}}
        )
        assert response.status_code == 200
        body = response.json()
        assert (body["id"], body["name"], body["email"]) == (a.pk, "章伟", "zw@example.com")
        assert body["contacts_count"] == 1
        assert Contact.objects.get().customer_id == a.pk

    def test_a_merged_away_id_is_404_afterwards(self, api_as, manager, twins):
        a, b = twins
        client = api_as(manager)
        client.post("/customers/merge", {"survivor_id": a.pk, "other_ids": [b.pk]})
        assert client.get(f"/customers/{b.pk}").status_code == 404
        assert client.get(f"/customers/{a.pk}").status_code == 200

    def test_sales_cannot_merge_403_and_nothing_changed(self, api_as, alice, twins):
        a, b = twins
        entries = AuditEntry.objects.count()
        response = api_as(alice).post(
            "/customers/merge", {"survivor_id": a.pk, "other_ids": [b.pk]}
        )
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
        assert Customer.objects.count() == 2
        assert Contact.objects.get().customer_id == b.pk
        assert AuditEntry.objects.count() == entries

    def test_merging_across_a_record_you_cannot_see_is_404(self, api_as, manager, charlie, twins):
        a, _b = twins
        theirs = make(charlie, name="张伟", phone="13812345678")
        response = api_as(manager).post(
            "/customers/merge", {"survivor_id": a.pk, "other_ids": [theirs.pk]}
        )
        assert response.status_code == 404
        assert Customer.objects.filter(pk=theirs.pk).exists()

    def test_an_unknown_field_is_422(self, api_as, manager, twins):
        a, b = twins
        response = api_as(manager).post(
            "/customers/merge",
            {"survivor_id": a.pk, "other_ids": [b.pk], "fields": {"created_by": b.pk}},
        )
        assert response.status_code == 422
        assert list(response.json()["errors"]) == ["created_by"]
        assert Customer.objects.count() == 2
