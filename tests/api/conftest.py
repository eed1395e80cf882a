"""Helpers for the API tests: a picture of everything the customer API can write, so
every refusal can prove that nothing changed."""

import pytest

from guanxi.core.models import AuditEntry, BusinessEvent
from guanxi.customers.models import Consent, Contact, Customer, CustomField, Tag


def db_state() -> dict:
    """Row counts and the values of every row the customer API writes."""
    return {
        "customers": list(
            Customer.objects.order_by("pk").values_list(
                "pk",
                "name",
                "stage",
                "phone",
                "email",
                "birthday",
                "custom",
                "external_id",
                "owner_id",
                "team_id",
                "updated_at",
            )
        ),
        "customer_tags": list(
            Customer.tags.through.objects.order_by("pk").values_list("customer_id", "tag_id")
        ),
        "contacts": list(
            Contact.objects.order_by("pk").values_list(
                "pk", "customer_id", "name", "title", "phone", "email", "updated_at"
            )
        ),
        "tags": list(Tag.objects.order_by("pk").values_list("pk", "name", "color")),
        "custom_fields": list(
            CustomField.objects.order_by("pk").values_list(
                "pk", "key", "label", "type", "choices", "required", "active"
            )
        ),
        "consents": list(
            Consent.objects.order_by("pk").values_list("pk", "customer_id", "channel", "granted")
        ),
        "audit": AuditEntry.objects.count(),
        "events": BusinessEvent.objects.count(),
    }


@pytest.fixture
def state():
    return db_state
