"""Customer export: CSV (streamed, UTF-8 with BOM) and XLSX, within the user's visibility,
with tags, owner and custom fields; headers in the user's language; the import template."""

import csv
import io

import openpyxl
import pytest
from django.utils import translation

from guanxi.customers import exporting, importing
from guanxi.customers.models import Customer, CustomField, Tag


@pytest.fixture
def book(alice, bob, charlie):
    CustomField.objects.create(key="wechat_id", label="微信号", type="text", position=1)
    CustomField.objects.create(key="vip", label="VIP?", type="bool", position=2)
    vip = Tag.objects.create(name="VIP")
    zhang = Customer.objects.create(
        name="张伟", phone="+8613800138001", stage="prospect", source="taobao", owner=alice,
        team=alice.team, external_id="E1", custom={"wechat_id": "wx_zw", "vip": True},
    )  # fmt: skip
    zhang.tags.add(vip)
    Customer.objects.create(name="Bob's", owner=bob, team=bob.team)
    Customer.objects.create(name="Charlie's", owner=charlie, team=charlie.team)
    return zhang


def read_csv(response) -> list[list[str]]:
    data = b"".join(response.streaming_content)
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_alice_exports_only_her_customers_with_tags_owner_and_custom_columns(book, alice, web_as):
    response = web_as(alice).get("/customers/export/")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="customers-')
    rows = read_csv(response)
    assert rows[0] == [
        "ID", "Name", "Type", "Phone", "Other phones", "E-mail", "Other e-mails", "Gender",
        "Birthday", "Province", "City", "District", "Address", "Source", "Lifecycle stage",
        "Grade", "Tags", "Owner", "Notes", "External ID", "Team", "Created at", "微信号", "VIP?",
    ]  # fmt: skip
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["Name"] == "张伟"
    assert row["Phone"] == "+8613800138001"
    assert (row["Tags"], row["Owner"], row["Team"]) == ("VIP", "alice", "East")
    assert (row["Source"], row["Lifecycle stage"]) == ("Taobao", "Prospect")
    assert (row["微信号"], row["VIP?"]) == ("wx_zw", "Yes")


def test_the_export_applies_the_list_filters(book, manager, web_as):
    rows = read_csv(web_as(manager).get("/customers/export/", {"stage": "prospect"}))

    assert [r[1] for r in rows[1:]] == ["张伟"]
    rows = read_csv(web_as(manager).get("/customers/export/"))
    assert sorted(r[1] for r in rows[1:]) == ["Bob's", "张伟"]


def test_headers_are_chinese_when_the_language_is_chinese(book, alice):
    with translation.override("zh-hans"):
        head, rows = exporting.export_rows(user=alice, params={})

    assert head[:4] == ["编号", "姓名", "类型", "手机"]
    assert head[-2:] == ["微信号", "VIP?"]
    assert importing.detect_mapping(head)["姓名"] == "name"


def test_xlsx_export_opens_with_openpyxl(book, alice, web_as):
    response = web_as(alice).get("/customers/export/", {"format": "xlsx"})

    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert (row["Name"], row["Tags"], row["微信号"]) == ("张伟", "VIP", "wx_zw")


def test_an_exported_file_imports_back_without_changes(book, manager, web_as):
    data = web_as(manager).get("/customers/export/", {"format": "xlsx"}).content
    job = importing.import_start(
        actor=manager, fileobj=io.BytesIO(data), filename="back.xlsx", match_by="external_id"
    )
    job = importing.import_commit(job=job)

    # Bob's customer has no external id, so it comes back as a new customer.
    assert job.status == "done", job.errors
    assert (job.created_count, job.updated_count) == (1, 0)
    assert importing.report(job)["unchanged"] == 1


def test_export_needs_a_login_and_the_export_permission(book, users_by_role, client, web_as):
    assert client.get("/customers/export/").status_code == 302
    assert web_as(users_by_role["service"]).get("/customers/export/").status_code == 403


def test_the_api_exports_csv_and_xlsx_with_the_same_filters(book, alice, api_as):
    api = api_as(alice)
    response = api.get("/customers/export", format="csv", stage="prospect")
    assert response.status_code == 200
    assert [r[1] for r in read_csv(response)[1:]] == ["张伟"]

    response = api.get("/customers/export", format="xlsx")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).worksheets[0]
    assert sheet.max_row == 2

    assert api.get("/customers/export", format="pdf").status_code == 422
    assert api_as_service_is_refused(api_as, book)


def api_as_service_is_refused(api_as, book) -> bool:
    from tests.conftest import make_user

    service = make_user("sam", "service")
    return api_as(service).get("/customers/export").status_code == 403


def test_a_formula_in_a_name_is_not_run_by_the_spreadsheet(alice, web_as):
    Customer.objects.create(name='=HYPERLINK("http://x")', owner=alice, team=alice.team)

    rows = read_csv(web_as(alice).get("/customers/export/"))
    assert rows[1][1] == '\'=HYPERLINK("http://x")'
    response = web_as(alice).get("/customers/export/", {"format": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).worksheets[0]
    assert sheet.cell(2, 2).data_type == "s"


def test_the_template_has_the_import_headers_and_custom_fields(book, manager, web_as):
    response = web_as(manager).get("/customers/import/template.csv")

    assert response.status_code == 200
    assert response.content.startswith(b"\xef\xbb\xbf")
    head = next(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert head[:3] == ["Name", "Type", "Phone"]
    assert head[-3:] == ["External ID", "微信号", "VIP?"]
    assert all(importing.detect_mapping(head).values())
