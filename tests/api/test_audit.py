"""Every write through the customer API leaves exactly one audit entry, with the actor
and the fields' old → new values; /customers/{id}/audit shows them, newest first."""

import pytest

from guanxi.core.models import AuditEntry
from guanxi.customers import services


def entries(model="customers.customer", object_id=None):
    qs = AuditEntry.objects.filter(model=model)
    if object_id is not None:
        qs = qs.filter(object_id=object_id)
    return list(qs.order_by("id"))


@pytest.fixture
def fields(admin_user):
    services.custom_field_create(
        actor=admin_user, data={"key": "budget", "label": "Budget", "type": "number"}
    )
    services.custom_field_create(
        actor=admin_user,
        data={"key": "level", "label": "Level", "type": "choice", "choices": ["gold", "silver"]},
    )


@pytest.mark.django_db
class TestCustomerAudit:
    def test_create_writes_one_entry_with_the_new_values(self, alice, api_as, fields):
        response = api_as(alice).post(
            "/customers",
            {
                "name": "张伟",
                "phone": "138 1234 5678",
                "tags": ["vip", "tea"],
                "custom": {"budget": "1,200"},
            },
        )
        assert response.status_code == 201
        [entry] = entries()
        assert (entry.action, entry.actor, entry.object_id) == (
            "create",
            alice,
            response.json()["id"],
        )
        assert entry.changes == {
            "kind": [None, "person"],
            "name": [None, "张伟"],
            "phone": [None, "+8613812345678"],
            "stage": [None, "lead"],
            "custom": [None, {"budget": 1200}],
            "owner": [None, "alice"],
            "team": [None, "East"],
            "tags": [None, ["tea", "vip"]],
        }

    def test_update_records_each_changed_field_old_to_new(self, alice, api_as, fields):
        customer = services.customer_create(
            actor=alice,
            data={"name": "王芳", "stage": "lead", "tags": ["tea"], "custom": {"budget": 5}},
        )
        response = api_as(alice).patch(
            f"/customers/{customer.pk}",
            {
                "name": "王芳芳",
                "stage": "customer",
                "phone": "13812345678",
                "tags": ["tea", "vip"],
                "custom": {"budget": 7, "level": "gold"},
            },
        )
        assert response.status_code == 200
        updates = [e for e in entries(object_id=customer.pk) if e.action == "update"]
        assert len(updates) == 1
        assert updates[0].actor == alice
        assert updates[0].changes == {
            "name": ["王芳", "王芳芳"],
            "stage": ["lead", "customer"],
            "phone": ["", "+8613812345678"],
            "tags": [["tea"], ["tea", "vip"]],
            "custom": [{"budget": 5}, {"budget": 7, "level": "gold"}],
        }

    def test_an_update_that_changes_nothing_writes_nothing(self, alice, api_as):
        customer = services.customer_create(actor=alice, data={"name": "A", "tags": ["x"]})
        count = AuditEntry.objects.count()
        response = api_as(alice).patch(f"/customers/{customer.pk}", {"name": " A ", "tags": ["x"]})
        assert response.status_code == 200
        assert AuditEntry.objects.count() == count

    def test_delete_writes_one_entry_with_the_old_values(self, manager, api_as):
        customer = services.customer_create(
            actor=manager, data={"name": "Gone", "email": "g@example.com", "tags": ["vip"]}
        )
        assert api_as(manager).delete(f"/customers/{customer.pk}").status_code == 204
        create, delete = entries(object_id=customer.pk)
        assert (delete.action, delete.actor) == ("delete", manager)
        assert delete.changes == {
            "kind": ["person", None],
            "name": ["Gone", None],
            "email": ["g@example.com", None],
            "stage": ["lead", None],
            "owner": ["mona", None],
            "team": ["East", None],
            "tags": [["vip"], None],
        }

    def test_consent_changes_are_recorded_each_time(self, alice, api_as):
        customer = services.customer_create(actor=alice, data={"name": "A"})
        api = api_as(alice)
        path = f"/customers/{customer.pk}/consents"
        assert api.put(path, {"channel": "sms", "granted": True}).status_code == 200
        assert (
            api.put(path, {"channel": "sms", "granted": False, "source": "hotline"}).json()[
                "granted"
            ]
            is False
        )
        first, second = [e for e in entries(object_id=customer.pk) if e.action == "update"]
        assert (first.actor, first.changes, first.note) == (
            alice,
            {"consent.sms": [None, True]},
            "api",
        )
        assert (second.changes, second.note) == ({"consent.sms": [True, False]}, "hotline")

    def test_a_refused_write_is_not_audited(self, alice, users_by_role, api_as):
        customer = services.customer_create(actor=alice, data={"name": "A"})
        count = AuditEntry.objects.count()
        analyst = api_as(users_by_role["analyst"])
        assert analyst.patch(f"/customers/{customer.pk}", {"name": "B"}).status_code == 403
        assert api_as(alice).patch(f"/customers/{customer.pk}", {"phone": "x"}).status_code == 422
        assert AuditEntry.objects.count() == count


@pytest.mark.django_db
class TestContactAudit:
    @pytest.fixture
    def company(self, alice):
        return services.customer_create(actor=alice, data={"name": "Acme", "kind": "company"})

    def test_create_update_delete_each_write_one_entry(self, alice, company, api_as):
        api = api_as(alice)
        response = api.post(
            f"/customers/{company.pk}/contacts",
            {"name": "Li", "phone": "13812345678", "is_primary": True},
        )
        contact_id = response.json()["id"]
        assert (
            api.patch(f"/contacts/{contact_id}", {"title": "CEO", "name": "Li"}).status_code == 200
        )
        assert api.delete(f"/contacts/{contact_id}").status_code == 204

        create, update, delete = entries("customers.contact", contact_id)
        assert all(e.actor == alice for e in (create, update, delete))
        assert (create.action, create.changes) == (
            "create",
            {"name": [None, "Li"], "phone": [None, "+8613812345678"], "is_primary": [None, True]},
        )
        assert (update.action, update.changes) == ("update", {"title": ["", "CEO"]})
        assert (delete.action, delete.changes) == (
            "delete",
            {
                "name": ["Li", None],
                "title": ["CEO", None],
                "phone": ["+8613812345678", None],
                "is_primary": [True, None],
            },
        )
        assert delete.note == "Contact of Acme"


@pytest.mark.django_db
class TestAuditEndpoint:
    def test_it_returns_the_customers_entries_newest_first(self, alice, bob, manager, api_as):
        customer = services.customer_create(actor=alice, data={"name": "A"})
        services.customer_update(actor=manager, customer=customer, data={"stage": "vip"})
        services.consent_set(actor=alice, customer=customer, channel="email", granted=True)
        services.customer_create(actor=alice, data={"name": "Other"})  # not in this history

        response = api_as(alice).get(f"/customers/{customer.pk}/audit")

        assert response.status_code == 200
        rows = response.json()
        assert [(r["action"], r["actor"], sorted(r["changes"])) for r in rows] == [
            ("update", "alice", ["consent.email"]),
            ("update", "mona", ["stage"]),
            ("create", "alice", ["kind", "name", "owner", "stage", "team"]),
        ]
        assert all(
            r["model"] == "customers.customer" and r["object_id"] == customer.pk for r in rows
        )
        assert rows[1]["changes"]["stage"] == ["lead", "vip"]

    def test_it_is_hidden_like_the_customer(self, alice, charlie, api_as):
        customer = services.customer_create(actor=alice, data={"name": "A"})
        response = api_as(charlie).get(f"/customers/{customer.pk}/audit")
        assert response.status_code == 404
