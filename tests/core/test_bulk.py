"""guanxi.core.bulk.insert: the rows it writes are the rows Django would write."""

import datetime

import pytest
from django.db import connection
from django.utils import timezone

from guanxi.core import bulk
from guanxi.core.models import AuditEntry, BusinessEvent
from guanxi.customers.models import Customer

NOW = timezone.make_aware(datetime.datetime(2026, 11, 23, 8, 30, 15, 123456))


def _customer_row(alice, **values) -> dict:
    row = {f.attname: f.get_default() for f in Customer._meta.concrete_fields if not f.primary_key}
    row.update(
        name="张伟",
        name_pinyin="zhangwei",
        name_initials="zw",
        phone="+8613812345678",
        phones_extra=["+8613900000000"],
        email="zw@example.com",
        emails_extra=[],
        birthday=datetime.date(1990, 2, 28),
        stage="customer",
        custom={"member_level": "金卡会员", "budget": 12.5, "wechat": True},
        owner_id=alice.pk,
        team_id=alice.team_id,
        created_by_id=alice.pk,
        created_at=NOW,
        updated_at=NOW,
        external_id="EXT-1",
    )
    row.update(values)
    return row


def _stored(model, pk) -> tuple:
    """The row as the database holds it (no conversion by Django)."""
    table = connection.ops.quote_name(model._meta.db_table)
    columns = [f.column for f in model._meta.concrete_fields if not f.primary_key]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(connection.ops.quote_name(c) for c in columns)} FROM {table} "
            "WHERE id = %s",
            [pk],
        )
        return cursor.fetchone()


@pytest.mark.django_db
class TestInsert:
    def test_returns_the_new_ids_in_order(self, alice):
        rows = [_customer_row(alice, name=f"C{i}", external_id=f"E{i}") for i in range(5)]
        ids = bulk.insert(Customer, rows, returning=True)
        assert len(ids) == 5
        names = dict(Customer.objects.filter(pk__in=ids).values_list("pk", "name"))
        assert [names[pk] for pk in ids] == ["C0", "C1", "C2", "C3", "C4"]

    def test_without_returning_it_returns_nothing_and_writes_every_row(self, alice):
        rows = [
            {
                "name": "customer.created",
                "occurred_at": NOW,
                "actor_id": alice.pk,
                "model": "customers.customer",
                "object_id": i,
                "customer_id": i,
                "payload": {"n": i},
            }
            for i in range(3)
        ]
        assert bulk.insert(BusinessEvent, rows) == []
        assert list(BusinessEvent.objects.order_by("id").values_list("object_id", "payload")) == [
            (0, {"n": 0}),
            (1, {"n": 1}),
            (2, {"n": 2}),
        ]

    def test_nothing_to_insert(self):
        assert bulk.insert(Customer, [], returning=True) == []

    def test_stored_form_is_the_same_as_the_orm(self, alice):
        """Every column — text, JSON (list, empty list, dict), date, datetime, foreign
        keys, NULL — is stored exactly as ``Model.objects.create`` stores it."""
        row = _customer_row(alice)
        (pk,) = bulk.insert(Customer, [row], returning=True)
        orm_row = dict(row, external_id="EXT-2")
        orm = Customer.objects.create(**orm_row)
        ours, theirs = _stored(Customer, pk), _stored(Customer, orm.pk)
        external = [f.attname for f in Customer._meta.concrete_fields if not f.primary_key].index(
            "external_id"
        )
        assert ours[:external] + ours[external + 1 :] == theirs[:external] + theirs[external + 1 :]
        assert Customer.objects.get(pk=pk).custom == row["custom"]

    def test_null_values_and_other_keys(self, alice):
        """Keys that are not columns are ignored; None is SQL NULL, also for JSON."""
        row = _customer_row(alice, birthday=None, owner_id=None, team_id=None, external_id=None)
        row["tags"] = ["ignored"]
        (pk,) = bulk.insert(Customer, [row], returning=True)
        found = Customer.objects.get(pk=pk)
        assert (found.birthday, found.owner_id, found.team_id, found.external_id) == (
            None,
            None,
            None,
            None,
        )
        entry = {
            "at": NOW,
            "actor_id": None,
            "action": "create",
            "model": "customers.customer",
            "object_id": pk,
            "object_repr": "张伟",
            "changes": {"name": [None, "张伟"]},
            "note": "",
        }
        bulk.insert(AuditEntry, [entry])
        saved = AuditEntry.objects.get(object_id=pk)
        assert (saved.at, saved.actor_id, saved.changes) == (NOW, None, {"name": [None, "张伟"]})

    def test_ids_continue_after_rows_written_by_the_orm(self, alice):
        first = Customer.objects.create(**_customer_row(alice, external_id="A"))
        ids = bulk.insert(
            Customer, [_customer_row(alice, external_id=f"B{i}") for i in range(3)], returning=True
        )
        later = Customer.objects.create(**_customer_row(alice, external_id="C"))
        assert first.pk < ids[0] < ids[1] < ids[2] < later.pk

    def test_ids_of_deleted_rows_are_never_handed_out_again(self, alice):
        """Django's SQLite ids are AUTOINCREMENT: a deleted customer's id must not come
        back (its audit entries and events still name it)."""
        gone = Customer.objects.create(**_customer_row(alice, external_id="GONE"))
        gone_pk = gone.pk
        gone.delete()
        (pk,) = bulk.insert(Customer, [_customer_row(alice, external_id="NEW")], returning=True)
        assert pk > gone_pk
        assert Customer.objects.create(**_customer_row(alice, external_id="AFTER")).pk > pk


@pytest.mark.django_db
class TestReserveIds:
    def test_a_reserved_range_is_skipped_by_later_inserts(self, alice):
        reserved = list(bulk.reserve_ids(Customer, 3))
        assert reserved == sorted(reserved) and len(set(reserved)) == 3
        later = Customer.objects.create(**_customer_row(alice, external_id="LATER"))
        assert later.pk > reserved[-1]

    def test_rows_written_with_reserved_ids_keep_them(self, alice):
        ids = bulk.reserve_ids(Customer, 2)
        table = bulk.Table(Customer, with_ids=True)
        rows = [_customer_row(alice, id=pk, external_id=f"R{pk}") for pk in ids]
        table.write(table.convert(rows))
        assert sorted(Customer.objects.values_list("external_id", flat=True)) == sorted(
            f"R{pk}" for pk in ids
        )
        assert set(Customer.objects.values_list("pk", flat=True)) == set(ids)

    def test_first_reservation_of_an_empty_table(self):
        """No row ever inserted: SQLite has no sequence entry yet."""
        Tag = Customer.tags.field.related_model
        ids = list(bulk.reserve_ids(Tag, 2))
        assert len(ids) == 2 and ids[1] == ids[0] + 1
        assert Tag.objects.create(name="after").pk > ids[1]


class TestAhead:
    def test_results_come_in_order(self):
        assert list(bulk.ahead(lambda n: n * n, range(50))) == [n * n for n in range(50)]

    def test_an_error_in_the_producer_is_raised_in_the_caller(self):
        def produce(n):
            if n == 3:
                raise ValueError("row 3 is bad")
            return n

        seen = []
        with pytest.raises(ValueError, match="row 3 is bad"):
            for value in bulk.ahead(produce, range(10)):
                seen.append(value)
        assert seen == [0, 1, 2]

    def test_stopping_early_stops_the_producer_and_restores_the_switch_interval(self):
        import sys

        before = sys.getswitchinterval()
        produced = []

        def produce(n):
            produced.append(n)
            return n

        for value in bulk.ahead(produce, range(1000)):
            if value == 2:
                break
        assert sys.getswitchinterval() == before
        assert len(produced) < 10  # one or two ahead, not the whole range

    def test_a_second_thread_on_postgresql_only(self):
        """PostgreSQL writes in its server process, so preparing the next batch in a
        second thread overlaps the two; SQLite works in this process (see ``ahead``)."""
        import threading

        from django.db import connection

        threads = set(bulk.ahead(lambda _n: threading.get_ident(), range(3)))
        here = threading.get_ident()
        if connection.vendor == "sqlite":
            assert threads == {here}
        else:
            assert len(threads) == 1 and here not in threads


def test_in_list_selects_exactly_the_listed_values(alice):
    ids = [Customer.objects.create(name=f"C{i}", owner=alice, team=alice.team).pk for i in range(5)]
    where, params = bulk.in_list("id", ids[1:4])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM customers_customer WHERE {where} ORDER BY id", params)
        assert [row[0] for row in cursor.fetchall()] == ids[1:4]


@pytest.mark.django_db
def test_rows_source_inserts_the_rows_with_mixed_numbers_as_the_field_types():
    """Ints among Decimals (a cell's zero) go into one typed array on PostgreSQL."""
    from decimal import Decimal

    from guanxi.analytics.models import KpiDay
    from guanxi.analytics.rollup import DAY_FIELDS

    day = datetime.date(2026, 11, 1)
    columns = ("day", "store_id", *DAY_FIELDS)
    first = {f: 0 for f in DAY_FIELDS} | {"sales": Decimal("12.50"), "orders": 2}
    second = {f: 0 for f in DAY_FIELDS} | {"orders": 1}
    rows = [
        (day, 7, *(first[f] for f in DAY_FIELDS)),
        (day.replace(day=2), 7, *(second[f] for f in DAY_FIELDS)),
    ]
    source, params = bulk.rows_source(KpiDay, columns, rows)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO analytics_kpiday ({', '.join(columns)}) {source}", params)
    stored = list(KpiDay.objects.order_by("day").values_list("day", "sales", "orders"))
    assert stored == [(day, Decimal("12.50"), 2), (day.replace(day=2), Decimal("0"), 1)]
