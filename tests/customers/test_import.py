"""Customer import: reading files, the dry-run report, all-or-nothing writes, upserts,
idempotency, permissions, the CLI and the background worker."""

import csv
import io
import pathlib

import openpyxl
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from guanxi import cli
from guanxi.core.errors import PermissionDenied, ValidationFailed
from guanxi.core.models import AuditEntry, BusinessEvent
from guanxi.customers import importing
from guanxi.customers.models import Customer, CustomField, ImportJob, Tag

DATA = pathlib.Path(__file__).parent.parent / "data"


def csv_bytes(rows, encoding="utf-8") -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode(encoding)


def start(actor, data: bytes, filename="people.csv", **options) -> ImportJob:
    return importing.import_start(
        actor=actor, fileobj=io.BytesIO(data), filename=filename, **options
    )


def run(actor, data: bytes, filename="people.csv", **options) -> ImportJob:
    return importing.import_commit(job=start(actor, data, filename, **options))


def ten_rows(bad_row_index=None):
    rows = [["姓名", "手机", "邮箱"]]
    for i in range(10):
        phone = "12345" if i == bad_row_index else f"1380013{i:04d}"
        rows.append([f"客户{i}", phone, f"c{i}@example.com"])
    return csv_bytes(rows)


def nothing_written():
    return (
        Customer.objects.count() == 0
        and AuditEntry.objects.count() == 0
        and BusinessEvent.objects.count() == 0
    )


# Reading ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["customers_utf8.csv", "customers_bom.csv", "customers_gb18030.csv", "customers.xlsx"]
)
def test_it_reads_utf8_bom_gb18030_and_xlsx_files_with_english_or_chinese_headers(manager, name):
    job = run(manager, (DATA / name).read_bytes(), name)

    assert job.status == "done", job.errors
    assert (job.total_rows, job.created_count, job.skipped_count) == (3, 3, 0)
    zhang = Customer.objects.get(external_id="T-001")
    assert zhang.name == "张伟"
    assert zhang.phone == "+8613800138001"
    assert zhang.email == "zhangwei@example.com"
    assert zhang.gender == "male"
    assert str(zhang.birthday) == "1990-05-01"
    assert (zhang.province, zhang.city) == ("广东", "深圳")
    assert (zhang.source, zhang.stage) == ("taobao", "prospect")
    assert sorted(t.name for t in zhang.tags.all()) == ["VIP", "复购"]
    assert zhang.notes == "老客户"
    assert (zhang.name_pinyin, zhang.name_initials) == ("zhangwei", "zw")
    assert (zhang.owner, zhang.team_id, zhang.created_by) == (manager, manager.team_id, manager)
    assert Customer.objects.get(external_id="T-003").phone == "+8613800138003"


def test_it_detects_chinese_header_aliases_and_custom_fields_by_label_or_key(db):
    CustomField.objects.create(key="wechat_id", label="微信号", type="text")
    CustomField.objects.create(key="vip_level", label="VIP level", type="number")
    headers = [
        "名称",
        "手机号",
        "电子邮件",
        "区县",
        "渠道",
        "客户等级",
        "负责人",
        "外部编号",
        "类型",
        "微信号",
        "vip_level",
        "地址",
        "生命周期",
        "Shoe size",
    ]

    mapping = importing.detect_mapping(headers)

    assert mapping == {
        "名称": "name", "手机号": "phone", "电子邮件": "email", "区县": "district",
        "渠道": "source", "客户等级": "grade", "负责人": "owner", "外部编号": "external_id",
        "类型": "kind", "微信号": "custom.wechat_id", "vip_level": "custom.vip_level",
        "地址": "address", "生命周期": "stage", "Shoe size": "",
    }  # fmt: skip
    assert importing.unknown_columns(headers, mapping) == ["Shoe size"]


def test_an_explicit_mapping_overrides_detection_and_can_ignore_a_column(manager):
    CustomField.objects.create(key="wechat_id", label="微信号", type="text")
    data = csv_bytes([["Who", "Mobile phone", "Phone"], ["张伟", "wx_zw", "13800138001"]])

    job = run(
        manager, data, mapping={"Who": "name", "Mobile phone": "custom.wechat_id", "Phone": ""}
    )

    assert job.status == "done", job.errors
    customer = Customer.objects.get()
    assert (customer.name, customer.phone, customer.custom) == ("张伟", "", {"wechat_id": "wx_zw"})


def test_a_mapping_to_an_unknown_field_is_refused(manager):
    with pytest.raises(ValidationFailed) as exc:
        start(manager, csv_bytes([["Name"], ["x"]]), mapping={"Name": "nickname"})

    assert exc.value.field_errors == {"mapping": ["Column “Name”: there is no field “nickname”."]}
    assert ImportJob.objects.count() == 0


def test_a_file_that_is_not_a_spreadsheet_is_refused_with_a_message(manager):
    with pytest.raises(importing.UnreadableFile):
        start(manager, b"PK\x03\x04 not really a zip", "x.xlsx")
    assert ImportJob.objects.count() == 0


# Dry run ------------------------------------------------------------------------------


def test_the_dry_run_reports_every_bad_row_with_its_row_number_column_and_reason(manager):
    data = csv_bytes(
        [
            ["姓名", "手机", "Email", "生日", "阶段"],
            ["张伟", "13800138001", "zw@example.com", "1990-01-01", "lead"],
            ["", "13800138002", "", "", ""],
            ["李娜", "12345", "not-an-email", "", ""],
            ["", "", "", "", ""],
            ["王芳", "13800138001", "", "2990-01-01", "royalty"],
        ]
    )
    job = importing.import_check(job=start(manager, data, match_by="phone"))

    assert job.status == "validated"
    assert job.errors == [
        {"row": 3, "column": "姓名", "message": "This field is required."},
        {"row": 4, "column": "手机", "message": "“12345” is not a valid phone number."},
        {"row": 4, "column": "Email", "message": "“not-an-email” is not a valid e-mail address."},
        {"row": 6, "column": "手机", "message": "The same value as row 2 in this file."},
        {"row": 6, "column": "生日", "message": "“2990-01-01” is not a plausible birthday."},
        {
            "row": 6,
            "column": "阶段",
            "message": "“royalty” is not one of: lead, prospect, customer, vip, dormant, lost.",
        },
    ]
    assert (job.total_rows, job.created_count, job.skipped_count) == (4, 1, 3)
    assert nothing_written()


# All or nothing -----------------------------------------------------------------------


def test_one_bad_row_among_ten_writes_nothing_at_all(manager):
    job = run(manager, ten_rows(bad_row_index=6))

    assert job.status == "failed"
    assert job.message == (
        "1 rows have errors; nothing was imported. Correct them or skip bad rows."
    )
    assert job.errors == [
        {"row": 8, "column": "手机", "message": "“12345” is not a valid phone number."}
    ]
    assert nothing_written()


def test_skipping_bad_rows_writes_the_good_ones_and_reports_the_bad_one(manager):
    job = run(manager, ten_rows(bad_row_index=6), skip_bad_rows=True)

    assert job.status == "done"
    assert (job.created_count, job.updated_count, job.skipped_count) == (9, 0, 1)
    assert job.errors == [
        {"row": 8, "column": "手机", "message": "“12345” is not a valid phone number."}
    ]
    assert Customer.objects.count() == 9
    assert not Customer.objects.filter(name="客户6").exists()
    assert AuditEntry.objects.filter(action="create", model="customers.customer").count() == 9
    assert BusinessEvent.objects.filter(name="customer.created").count() == 9


def test_an_import_writes_audit_entries_events_and_one_import_entry(manager):
    job = run(manager, ten_rows())

    customer = Customer.objects.get(name="客户3")
    entry = AuditEntry.objects.get(model="customers.customer", object_id=customer.pk)
    assert entry.action == "create"
    assert entry.actor == manager
    assert entry.changes["name"] == [None, "客户3"]
    assert entry.changes["phone"] == [None, "+8613800130003"]
    assert entry.changes["owner"] == [None, "mona"]
    event = BusinessEvent.objects.get(name="customer.created", customer_id=customer.pk)
    assert (event.model, event.object_id, event.actor) == (
        "customers.customer",
        customer.pk,
        manager,
    )
    summary = AuditEntry.objects.get(action="import")
    assert (summary.model, summary.object_id, summary.actor) == (
        "customers.importjob",
        job.pk,
        manager,
    )
    assert summary.changes == {
        "created": 10, "updated": 0, "unchanged": 0, "skipped": 0, "total": 10,
    }  # fmt: skip
    assert summary.note == "10 created, 0 updated, 0 unchanged, 0 skipped."


# Upserts ------------------------------------------------------------------------------


def test_matching_by_phone_updates_only_the_columns_in_the_file(manager):
    existing = Customer.objects.create(
        name="张伟", phone="+8613800138001", city="上海", stage="lead", owner=manager,
        team=manager.team,
    )  # fmt: skip
    data = csv_bytes([["手机", "阶段"], ["138 0013 8001", "vip"], ["13800138002", ""]])

    job = run(manager, data, match_by="phone", skip_bad_rows=True)

    existing.refresh_from_db()
    assert (existing.name, existing.city, existing.stage) == ("张伟", "上海", "vip")
    assert (job.created_count, job.updated_count, job.skipped_count) == (0, 1, 1)
    assert job.errors == [{"row": 3, "column": "Name", "message": "This field is required."}]
    update = AuditEntry.objects.get(action="update", object_id=existing.pk)
    assert update.changes == {"stage": ["lead", "vip"]}
    assert BusinessEvent.objects.filter(name="customer.stage_changed").count() == 1


def test_matching_by_external_id_updates_and_creates(manager):
    existing = Customer.objects.create(
        name="Old name", external_id="E1", owner=manager, team=manager.team
    )
    data = csv_bytes([["External ID", "Name"], ["E1", "New name"], ["E2", "Second"]])

    job = run(manager, data, match_by="external_id")

    existing.refresh_from_db()
    assert existing.name == "New name"
    assert existing.name_pinyin == "newname"
    assert (job.created_count, job.updated_count) == (1, 1)
    assert Customer.objects.get(external_id="E2").name == "Second"


def test_matching_by_email_is_case_insensitive(manager):
    existing = Customer.objects.create(
        name="Amy", email="amy@example.com", owner=manager, team=manager.team
    )
    job = run(manager, csv_bytes([["邮箱", "城市"], ["AMY@Example.com", "成都"]]), match_by="email")

    existing.refresh_from_db()
    assert existing.city == "成都"
    assert (job.created_count, job.updated_count) == (0, 1)


def test_a_match_the_importer_cannot_see_is_an_error_and_is_not_touched(manager, charlie):
    theirs = Customer.objects.create(
        name="Theirs", phone="+8613800138001", owner=charlie, team=charlie.team
    )
    data = csv_bytes([["Name", "Phone"], ["Mine now", "13800138001"]])

    job = run(manager, data, match_by="phone")

    assert job.status == "failed"
    assert job.errors == [
        {"row": 2, "column": "Phone", "message": "This customer exists but is not yours."}
    ]
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"
    assert Customer.objects.count() == 1
    assert AuditEntry.objects.count() == 0


def test_an_external_id_already_taken_by_another_customer_is_a_row_error(manager):
    Customer.objects.create(name="A", phone="+8613800138001", external_id="X1", owner=manager)
    data = csv_bytes([["Name", "Phone", "External ID"], ["B", "13800138002", "X1"]])

    job = importing.import_check(job=start(manager, data, match_by="phone"))

    assert job.errors == [
        {
            "row": 2,
            "column": "External ID",
            "message": "Another customer already has this external id.",
        }
    ]


def test_importing_the_same_file_twice_creates_nothing_new(manager):
    data = (DATA / "customers_bom.csv").read_bytes()
    first = run(manager, data, "a.csv")
    counts = (Customer.objects.count(), AuditEntry.objects.count(), BusinessEvent.objects.count())

    second = run(manager, data, "a.csv")

    assert (first.created_count, second.created_count, second.updated_count) == (3, 0, 0)
    assert importing.report(second)["unchanged"] == 3
    assert Customer.objects.count() == counts[0] == 3
    assert Tag.objects.count() == 2
    # Only the second import's own summary entry was added.
    assert AuditEntry.objects.count() == counts[1] + 1
    assert BusinessEvent.objects.count() == counts[2]


# Permissions --------------------------------------------------------------------------


def test_a_sales_rep_cannot_import(alice):
    with pytest.raises(PermissionDenied):
        start(alice, ten_rows())
    assert ImportJob.objects.count() == 0
    assert nothing_written()


def test_giving_customers_to_someone_else_needs_the_assign_permission(users_by_role, bob):
    marketing = users_by_role["marketing"]  # may import but neither create nor assign
    data = csv_bytes([["Name", "Owner"], ["A", "bob"]])

    job = importing.import_check(job=start(marketing, data))

    assert job.errors == [
        {"row": 2, "column": "Owner", "message": "You may not give customers to other users."},
        {"row": 2, "column": "External ID", "message": "You may not create customers."},
    ]
    assert nothing_written()


# CLI ----------------------------------------------------------------------------------


def test_the_cli_imports_a_file_and_prints_the_report(admin_user, capsys):
    call_command("import_data", "customers", str(DATA / "customers_utf8.csv"), "--user", "root")

    out = capsys.readouterr().out
    assert "import done: 3 rows, 3 created, 0 updated, 0 unchanged, 0 bad" in out
    assert Customer.objects.filter(owner=admin_user).count() == 3


def test_the_cli_exits_non_zero_and_writes_nothing_when_rows_are_bad(
    admin_user, tmp_path, capsys, monkeypatch
):
    from django.db import connections

    # manage.py closes the connections when it exits; the test still needs its own.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    path = tmp_path / "bad.csv"
    path.write_bytes(ten_rows(bad_row_index=0))

    with pytest.raises(SystemExit) as exit_:
        cli.main(["import", "customers", str(path), "--match-by", "phone"])

    assert exit_.value.code == 1
    out = capsys.readouterr().out
    assert "row\tcolumn\treason\n2\t手机\t“12345” is not a valid phone number." in out
    assert nothing_written()


def test_the_cli_dry_run_writes_nothing_and_skip_bad_rows_exits_zero(admin_user, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(ten_rows(bad_row_index=0))

    with pytest.raises(CommandError) as exc:
        call_command("import_data", "customers", str(path), "--dry-run")
    assert exc.value.returncode == 1
    assert nothing_written()

    call_command("import_data", "customers", str(path), "--skip-bad-rows")
    assert Customer.objects.count() == 9


def test_the_cli_refuses_a_user_without_the_import_permission(alice, tmp_path):
    path = tmp_path / "ok.csv"
    path.write_bytes(ten_rows())

    with pytest.raises(CommandError) as exc:
        call_command("import_data", "customers", str(path), "--user", "alice")

    assert exc.value.returncode == 2
    assert nothing_written()


# XLSX details ---------------------------------------------------------------------------


def test_xlsx_numbers_and_dates_are_read_as_the_user_typed_them(manager):
    book = openpyxl.Workbook()
    book.active.append(["姓名", "手机", "生日", "外部ID"])
    book.active.append(["张伟", 13800138001.0, None, 1001])
    out = io.BytesIO()
    book.save(out)

    job = run(manager, out.getvalue(), "x.xlsx")

    assert job.status == "done", job.errors
    customer = Customer.objects.get()
    assert (customer.phone, customer.external_id) == ("+8613800138001", "1001")


def test_the_fast_create_path_writes_what_customer_create_writes(manager):
    from guanxi.customers import services

    CustomField.objects.create(key="wechat_id", label="微信号", type="text")
    row = {
        "name": "张伟", "phone": "13800138001", "email": "ZW@example.com", "gender": "男",
        "birthday": "1990-05-01", "province": "广东", "city": "深圳", "source": "taobao",
        "stage": "prospect", "grade": "a", "tags": "VIP;复购", "notes": "n",
        "external_id": "E1", "custom": {"wechat_id": "wx"},
    }  # fmt: skip
    one = services.customer_create(actor=manager, data=row)
    imported = run(
        manager,
        csv_bytes(
            [
                [
                    "Name",
                    "Phone",
                    "E-mail",
                    "Gender",
                    "Birthday",
                    "Province",
                    "City",
                    "Source",
                    "Stage",
                    "Grade",
                    "Tags",
                    "Notes",
                    "External ID",
                    "微信号",
                ],
                [
                    "张伟",
                    "13800138001",
                    "ZW@example.com",
                    "男",
                    "1990-05-01",
                    "广东",
                    "深圳",
                    "taobao",
                    "prospect",
                    "a",
                    "VIP;复购",
                    "n",
                    "E2",
                    "wx",
                ],
            ]
        ),  # fmt: skip
        match_by="external_id",
    )
    assert imported.created_count == 1
    two = Customer.objects.get(external_id="E2")

    fields = [f.attname for f in Customer._meta.concrete_fields]
    skip = {"id", "external_id", "created_at", "updated_at"}
    assert {f: getattr(two, f) for f in fields if f not in skip} == {
        f: getattr(one, f) for f in fields if f not in skip
    }
    assert sorted(t.name for t in two.tags.all()) == sorted(t.name for t in one.tags.all())
    first = AuditEntry.objects.get(action="create", object_id=one.pk).changes
    second = AuditEntry.objects.get(action="create", object_id=two.pk).changes
    assert first.pop("external_id") == [None, "E1"]
    assert second.pop("external_id") == [None, "E2"]
    assert second == first
    event = BusinessEvent.objects.get(name="customer.created", customer_id=two.pk)
    reference = BusinessEvent.objects.get(name="customer.created", customer_id=one.pk)
    assert (event.model, event.object_id, event.actor_id, event.payload) == (
        reference.model, two.pk, reference.actor_id, reference.payload,
    )  # fmt: skip
