"""The change history shows fields by their verbose names (in the reader's language) and
choices by their labels: one helper for the customer and lead pages."""

import pytest
from django.utils import translation
from django.utils.text import capfirst

from guanxi.core import audit, audit_display
from guanxi.customers.models import Customer
from guanxi.sales.models import Lead


def test_label_is_the_verbose_name_in_the_active_language():
    assert audit_display.field_label(Lead, "company") == "Company"
    assert audit_display.field_label(Customer, "stage") == "Lifecycle stage"
    with translation.override("zh-hans"):
        assert audit_display.field_label(Lead, "company") == capfirst(
            translation.gettext("company")
        )
        assert audit_display.field_label(Lead, "company") != "company"
        assert audit_display.field_label(Customer, "stage") == translation.gettext(
            "lifecycle stage"
        )


def test_a_name_that_is_no_field_stays_as_stored():
    assert audit_display.field_label(Lead, "gone_field") == "gone_field"
    assert audit_display.field_value(Lead, "gone_field", "x") == "x"


def test_values_choices_empty_booleans_lists():
    assert audit_display.field_value(Lead, "status", "converted") == "Converted"
    assert audit_display.field_value(Customer, "source", "taobao") == "Taobao"
    # A lead's source has no choices of its own: it borrows the customers'.
    assert audit_display.field_value(Lead, "source", "website") == "website"
    borrowed = {"source": Customer.Source.choices}
    assert audit_display.field_value(Lead, "source", "website", choices=borrowed) == "Website"
    assert audit_display.field_value(Lead, "status", "not-a-choice") == "not-a-choice"
    for empty in (None, "", [], {}):
        assert audit_display.field_value(Lead, "company", empty) == "—"
    assert audit_display.field_value(Lead, "x", True) == "Yes"
    assert audit_display.field_value(Lead, "x", ["VIP", "新客"]) == "VIP, 新客"
    with translation.override("zh-hans"):
        assert audit_display.field_value(Customer, "source", "taobao") == translation.gettext(
            "Taobao"
        )


@pytest.mark.django_db
def test_change_rows(alice):
    lead = Lead.objects.create(name="赵敏", owner=alice)
    audit.record(
        actor=None,
        action="create",
        instance=lead,
        changes={"name": [None, "赵敏"], "status": [None, "new"]},
    )
    audit.record(
        actor=alice,
        action="update",
        instance=lead,
        changes={"status": ["new", "qualified"], "company": ["", "明教"]},
    )
    entries = audit.history(model="sales.lead", object_id=lead.pk).order_by("id")
    created, updated = audit_display.change_rows(entries, Lead)
    assert created["created"] and not updated["created"]
    assert created["changes"] == [("Name", "—", "赵敏"), ("Status", "—", "New")]
    assert updated["changes"] == [("Status", "New", "Qualified"), ("Company", "—", "明教")]
    assert updated["entry"].actor == alice
    (ordered,) = audit_display.change_rows(entries[1:], Lead, order=["company", "status"])
    assert [label for label, _, _ in ordered["changes"]] == ["Company", "Status"]
