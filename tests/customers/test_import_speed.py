"""What makes imports fast without changing what they do: the commit reuses the rows its
dry run cleaned (and cleans again whenever something they depend on changed), ids in
file order, and the process left as it was found."""

import csv
import gc
import io

import pytest
from django.db import connection
from django.utils import translation

from guanxi.core.models import AuditEntry, BusinessEvent
from guanxi.customers import importing, services
from guanxi.customers.models import Customer, CustomField


def csv_bytes(rows) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8")


def start(actor, data: bytes, **options):
    return importing.import_start(
        actor=actor, fileobj=io.BytesIO(data), filename="people.csv", **options
    )


def people(n=5, owner="", first_phone=0, prefix="E"):
    rows = [["姓名", "手机", "阶段", "负责人", "外部ID"]]
    for i in range(n):
        phone = f"1380013{first_phone + i:04d}"
        rows.append([f"客户{i}", phone, "prospect", owner, f"{prefix}{i}"])
    return csv_bytes(rows)


@pytest.fixture
def cleanings(monkeypatch):
    """How many rows went through clean_customer_input."""
    calls = []
    real = services.clean_customer_input

    def counting(data, **kwargs):
        calls.append(data.get("name"))
        return real(data, **kwargs)

    monkeypatch.setattr(services, "clean_customer_input", counting)
    return calls


def test_a_commit_right_after_its_check_does_not_clean_the_rows_again(manager, cleanings):
    job = importing.import_check(job=start(manager, people(5)))
    assert (job.status, job.created_count, len(cleanings)) == ("validated", 5, 5)

    job = importing.import_commit(job=job)

    assert (job.status, job.created_count, len(cleanings)) == ("done", 5, 5)
    assert Customer.objects.count() == 5
    assert AuditEntry.objects.filter(action="create").count() == 5
    assert BusinessEvent.objects.filter(name="customer.created").count() == 5


def test_a_commit_without_a_check_in_this_process_cleans_every_row(manager, cleanings):
    job = importing.import_check(job=start(manager, people(5)))
    importing._Kept.forget()  # as if the commit ran in another worker

    job = importing.import_commit(job=job)

    assert (job.status, len(cleanings)) == ("done", 10)


def test_reused_rows_are_written_exactly_as_freshly_cleaned_ones(manager):
    via_check = importing.import_check(job=start(manager, people(3, prefix="A")))
    via_check = importing.import_commit(job=via_check)
    direct = importing.import_commit(job=start(manager, people(3, first_phone=100, prefix="B")))
    assert (via_check.created_count, direct.created_count) == (3, 3)

    def written(prefix):
        skip = {"id", "created_at", "updated_at", "phone", "external_id"}
        customers = Customer.objects.filter(external_id__startswith=prefix).order_by("id")
        entries = AuditEntry.objects.filter(
            action="create", object_id__in=[c.pk for c in customers]
        ).order_by("object_id")
        return (
            [{k: v for k, v in c.items() if k not in skip} for c in customers.values()],
            [{k: v for k, v in e.changes.items() if k not in skip} for e in entries],
        )

    assert written("A") == written("B")
    assert len(written("A")[1]) == 3


def test_a_custom_field_made_required_after_the_check_is_enforced_by_the_commit(manager, cleanings):
    field = CustomField.objects.create(key="level", label="会员等级", type="text")
    job = importing.import_check(job=start(manager, people(3)))
    assert job.status == "validated"
    field.required = True
    field.save()

    job = importing.import_commit(job=job)

    assert job.status == "failed"
    assert len(cleanings) == 6  # cleaned again
    assert {e["row"] for e in job.errors} == {2, 3, 4}
    assert Customer.objects.count() == 0


def test_an_owner_deactivated_after_the_check_is_refused_by_the_commit(manager, bob):
    job = importing.import_check(job=start(manager, people(2, owner=bob.username)))
    assert job.status == "validated"
    bob.is_active = False
    bob.save()

    job = importing.import_commit(job=job)

    assert job.status == "failed"
    assert [e["message"] for e in job.errors] == [f"There is no active user “{bob.username}”."] * 2
    assert Customer.objects.count() == 0


def test_a_changed_mapping_is_checked_again(manager, cleanings):
    job = importing.import_check(job=start(manager, people(2)))
    job = importing.import_remap(actor=manager, job=job, mapping={"阶段": ""})

    job = importing.import_commit(job=job)

    assert (job.status, len(cleanings)) == ("done", 4)
    assert set(Customer.objects.values_list("stage", flat=True)) == {"lead"}


def test_a_customer_created_between_check_and_commit_is_matched_not_duplicated(manager):
    job = importing.import_check(job=start(manager, people(2), match_by="external_id"))
    assert job.created_count == 2
    services.customer_create(actor=manager, data={"name": "已有", "external_id": "E1"})

    job = importing.import_commit(job=job)

    assert (job.status, job.created_count, job.updated_count) == ("done", 1, 1)
    assert Customer.objects.filter(external_id="E1").get().name == "客户1"
    assert Customer.objects.count() == 2


def test_new_customers_get_ids_in_file_order_with_their_own_audit_and_event(manager):
    job = importing.import_commit(job=start(manager, people(30)))

    assert job.status == "done"
    customers = list(Customer.objects.order_by("id"))
    assert [c.name for c in customers] == [f"客户{i}" for i in range(30)]
    ids = [c.pk for c in customers]
    assert ids == list(range(ids[0], ids[0] + 30))
    entries = AuditEntry.objects.filter(action="create", model="customers.customer")
    assert {e.object_id: e.object_repr for e in entries} == {c.pk: c.name for c in customers}
    events = BusinessEvent.objects.filter(name="customer.created")
    assert sorted(e.customer_id for e in events) == ids


def test_an_import_leaves_garbage_collection_and_the_sqlite_cache_as_it_found_them(manager):
    def cache_size():
        if connection.vendor != "sqlite":
            return None
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size")
            return cursor.fetchone()[0]

    before = cache_size()
    assert gc.isenabled()
    importing.import_commit(job=importing.import_check(job=start(manager, people(3))))
    assert gc.isenabled()
    assert cache_size() == before

    gc.disable()
    try:
        importing.import_commit(job=start(manager, people(3, first_phone=10)))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_choice_columns_take_values_and_labels_in_either_language(manager):
    with translation.override("zh-hans"):
        zh_prospect = str(Customer.Stage.PROSPECT.label)
        zh_vip = str(Customer.Stage.VIP.label)
    rows = [["姓名", "阶段", "性别", "等级", "类型"]]
    rows += [
        ["a", "Prospect", "男", "b", "企业"],
        ["b", zh_prospect, "Female", "B", "Company"],
        ["c", zh_vip, "m", "", ""],
        ["d", "LEAD", "", "A", "person"],
    ]
    job = importing.import_commit(job=start(manager, csv_bytes(rows)))

    assert job.status == "done", job.errors
    found = {c.name: (c.stage, c.gender, c.grade, c.kind) for c in Customer.objects.all()}
    assert found == {
        "a": ("prospect", "male", "B", "company"),
        "b": ("prospect", "female", "B", "company"),
        "c": ("vip", "male", "", "person"),
        "d": ("lead", "", "A", "person"),
    }


def test_an_unknown_choice_names_the_allowed_values(manager):
    rows = [["姓名", "阶段"], ["a", "won"]]
    job = importing.import_check(job=start(manager, csv_bytes(rows)))

    assert job.errors == [
        {
            "row": 2,
            "column": "阶段",
            "message": "“won” is not one of: lead, prospect, customer, vip, dormant, lost.",
        }
    ]
