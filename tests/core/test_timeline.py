"""The timeline registry: providers registered by apps, merged newest first."""

import datetime

import pytest

from guanxi.core import timeline
from guanxi.core.timeline import TimelineItem
from guanxi.customers import services

T0 = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC)


def at(minutes):
    return T0 + datetime.timedelta(minutes=minutes)


@pytest.fixture
def provider():
    """Registers a test provider (items out of order), and removes it afterwards."""
    calls = []

    def orders(customer, user, limit):
        calls.append((customer.pk, user.pk, limit))
        return [
            TimelineItem(at=at(10), kind="order", title="order 2"),
            TimelineItem(at=at(-10), kind="order", title="order 1"),
            TimelineItem(at=at(30), kind="order", title="order 3"),
        ]

    timeline.register("test.orders", orders)
    yield calls
    timeline.unregister("test.orders")
    assert "test.orders" not in timeline.providers()


@pytest.fixture
def notes():
    def provide(customer, user, limit):
        yield TimelineItem(at=at(20), kind="note", title="note b", actor="bob")
        yield TimelineItem(at=at(0), kind="note", title="note a")

    timeline.register("test.notes", provide)
    yield
    timeline.unregister("test.notes")


@pytest.mark.django_db
class TestTimeline:
    def test_the_customers_app_registers_its_audit_history(self):
        assert "customers.audit" in timeline.providers()

    def test_items_of_all_providers_are_merged_newest_first(self, alice, provider, notes):
        customer = services.customer_create(actor=alice, data={"name": "A"})
        items = timeline.timeline_for(customer, alice, limit=50)
        titles = [i.title for i in items]
        # The audit entry was written now, after every test item.
        assert titles == ["Customer created", "order 3", "note b", "order 2", "note a", "order 1"]
        assert [i.at for i in items] == sorted((i.at for i in items), reverse=True)
        assert provider == [(customer.pk, alice.pk, 50)]

    def test_limit_keeps_the_newest(self, alice, provider, notes):
        customer = services.customer_create(actor=alice, data={"name": "A"})
        items = timeline.timeline_for(customer, alice, limit=3)
        assert [i.title for i in items] == ["Customer created", "order 3", "note b"]

    def test_the_api_shows_the_merged_timeline(self, alice, provider, api_as):
        customer = services.customer_create(actor=alice, data={"name": "A"})
        response = api_as(alice).get(f"/customers/{customer.pk}/timeline", limit=2)
        assert response.status_code == 200
        assert [(i["kind"], i["title"]) for i in response.json()] == [
            ("audit.create", "Customer created"),
            ("order", "order 3"),
        ]

    def test_unregistering_removes_the_provider(self, alice):
        timeline.register("test.once", lambda c, u, n: [TimelineItem(at=T0, kind="x", title="x")])
        timeline.unregister("test.once")
        customer = services.customer_create(actor=alice, data={"name": "A"})
        assert [i.kind for i in timeline.timeline_for(customer, alice)] == ["audit.create"]


@pytest.mark.django_db
def test_the_customer_timeline_names_fields_by_their_labels(alice):
    from guanxi.core.timeline import timeline_for
    from guanxi.customers import services
    from guanxi.customers.models import CustomField

    CustomField.objects.create(key="wechat_id", label="WeChat ID", type="text")
    customer = services.customer_create(actor=alice, data={"name": "张伟"})
    services.customer_update(
        actor=alice, customer=customer, data={"stage": "prospect", "custom": {"wechat_id": "zw"}}
    )
    services.consent_set(actor=alice, customer=customer, channel="sms", granted=True)
    bodies = [item.body for item in timeline_for(customer, alice) if item.kind == "audit.update"]
    assert bodies == ["Marketing consent (SMS)", "lifecycle stage、WeChat ID"]
