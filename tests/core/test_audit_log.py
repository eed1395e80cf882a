"""The audit log is append-only: the model refuses edits and deletes, and on
PostgreSQL a trigger refuses them in the database too (core migration 0002)."""

import pytest
from django.db import DatabaseError, connection, transaction

from guanxi.core import audit
from guanxi.core.models import AuditEntry


@pytest.fixture
def entry(alice):
    return audit.record(
        actor=alice,
        action="update",
        model="customers.customer",
        object_id=1,
        changes={"name": ["a", "b"]},
    )


@pytest.mark.django_db
class TestAppendOnly:
    def test_saving_an_existing_entry_is_refused(self, entry):
        entry.note = "edited"
        with pytest.raises(PermissionError):
            entry.save()
        assert AuditEntry.objects.get(pk=entry.pk).note == ""

    def test_deleting_an_entry_is_refused(self, entry):
        with pytest.raises(PermissionError):
            entry.delete()
        assert AuditEntry.objects.filter(pk=entry.pk).exists()

    def test_queryset_update_is_refused(self, entry):
        with pytest.raises(PermissionError):
            AuditEntry.objects.filter(pk=entry.pk).update(note="edited")
        assert AuditEntry.objects.get(pk=entry.pk).note == ""

    def test_queryset_delete_is_refused(self, entry):
        with pytest.raises(PermissionError):
            AuditEntry.objects.all().delete()
        assert AuditEntry.objects.count() == 1

    def test_new_entries_can_still_be_added(self, entry, alice):
        audit.record(actor=alice, action="create", model="customers.customer", object_id=2)
        assert AuditEntry.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL only")
class TestDatabaseTrigger:
    @pytest.mark.parametrize(
        "sql",
        [
            "UPDATE core_auditentry SET note = 'edited' WHERE id = %s",
            "DELETE FROM core_auditentry WHERE id = %s",
        ],
    )
    def test_raw_sql_cannot_change_the_log(self, entry, sql):
        with pytest.raises(DatabaseError, match="append-only"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, [entry.pk])
        row = AuditEntry.objects.get(pk=entry.pk)
        assert (row.note, row.changes) == ("", {"name": ["a", "b"]})
