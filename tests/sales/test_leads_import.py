"""Lead import (CSV/XLSX): the dry run lists every bad row, all or nothing unless bad
rows are skipped, idempotent by phone / e-mail / external id, rules assign owners; the
page, the API and ``guanxi import leads``."""

import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from guanxi.core.models import AuditEntry, BusinessEvent, Notification
from guanxi.customers.models import ImportJob
from guanxi.sales import importing_leads, services_leads
from guanxi.sales.models import Lead

pytestmark = pytest.mark.django_db

GOOD = (
    "姓名,手机,邮箱,公司,来源,活动,省份\n"
    "张伟,13812345678,zw@example.com,华信,微信,Expo,广东\n"
    "李娜,139 1234 5678,,,,Expo,浙江\n"
)
BAD = GOOD + "王芳,12345,bad@,,月球,,\n,13712345678,,,,,\n"


def start(user, text, **options):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return importing_leads.import_start(
        actor=user, fileobj=io.BytesIO(data), filename="leads.csv", **options
    )


class TestImport:
    def test_dry_run_reports_every_bad_row_and_writes_nothing(self, manager):
        job = importing_leads.import_check(job=start(manager, BAD))
        assert job.status == ImportJob.Status.VALIDATED
        assert (job.created_count, job.skipped_count) == (2, 2)
        problems = {(e["row"], e["column"]) for e in job.errors}
        assert problems == {(4, "手机"), (4, "邮箱"), (4, "来源"), (5, "姓名")}
        assert not Lead.objects.exists()

    def test_all_or_nothing_unless_bad_rows_are_skipped(self, manager):
        job = importing_leads.import_commit(job=start(manager, BAD))
        assert job.status == ImportJob.Status.FAILED and not Lead.objects.exists()
        job = importing_leads.import_commit(job=start(manager, BAD, skip_bad_rows=True))
        assert job.status == ImportJob.Status.DONE
        assert sorted(Lead.objects.values_list("name", flat=True)) == ["张伟", "李娜"]
        lead = Lead.objects.get(name="李娜")
        assert lead.phone == "+8613912345678" and lead.campaign == "Expo"
        assert Lead.objects.get(name="张伟").source == "wechat"
        assert AuditEntry.objects.filter(model="sales.lead", action="create").count() == 2
        names = sorted(BusinessEvent.objects.values_list("name", flat=True))
        assert names == ["lead.assigned", "lead.assigned", "lead.created", "lead.created"]

    def test_importing_twice_changes_nothing_and_updates_by_match(self, manager):
        importing_leads.import_commit(job=start(manager, GOOD))
        job = importing_leads.import_commit(job=start(manager, GOOD))
        assert (job.created_count, job.updated_count) == (0, 0)
        assert Lead.objects.count() == 2
        changed = GOOD.replace("华信,微信,Expo", "华信集团,微信,Expo")
        job = importing_leads.import_commit(job=start(manager, changed))
        assert (job.created_count, job.updated_count) == (0, 1)
        assert Lead.objects.get(name="张伟").company == "华信集团"

    def test_match_by_external_id_and_duplicates_in_the_file(self, manager):
        text = "Name,Phone,External ID\nA,13812345678,X1\nB,13812345679,X1\n"
        job = importing_leads.import_check(job=start(manager, text, match_by="external_id"))
        assert job.errors == [
            {"row": 3, "column": "External ID", "message": "The same value as row 2 in this file."}
        ]

    def test_converted_leads_are_left_alone(self, manager):
        importing_leads.import_commit(job=start(manager, GOOD))
        lead = Lead.objects.get(name="张伟")
        services_leads.lead_convert(actor=manager, lead=lead)
        job = importing_leads.import_commit(job=start(manager, GOOD.replace("华信", "别的")))
        assert job.status == ImportJob.Status.DONE and job.updated_count == 0
        lead.refresh_from_db()
        assert lead.company == "华信"

    def test_rules_assign_owners_who_are_told_once(self, manager, alice, bob):
        services_leads.rule_create(actor=manager, data={"name": "R", "members": [alice.pk, bob.pk]})
        importing_leads.import_commit(job=start(manager, GOOD))
        owners = dict(Lead.objects.values_list("name", "owner__username"))
        assert owners == {"张伟": "alice", "李娜": "bob"}
        assert Notification.objects.filter(kind="lead.assigned").count() == 2

    def test_xlsx(self, manager):
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(["Name", "Mobile", "Campaign"])
        sheet.append(["Amy", 13812345678, "Web"])
        buffer = io.BytesIO()
        book.save(buffer)
        job = importing_leads.import_start(
            actor=manager, fileobj=io.BytesIO(buffer.getvalue()), filename="x.xlsx"
        )
        job = importing_leads.import_commit(job=job)
        assert job.status == ImportJob.Status.DONE
        assert Lead.objects.get().phone == "+8613812345678"

    def test_sales_reps_cannot_import(self, alice):
        from guanxi.core.errors import PermissionDenied

        with pytest.raises(PermissionDenied):
            start(alice, GOOD)


class TestFrontEnds:
    def test_api(self, api_as, manager):
        api = api_as(manager)
        upload = SimpleUploadedFile("leads.csv", BAD.encode(), content_type="text/csv")
        response = api.client.post(
            "/api/v1/leads/import", {"file": upload, "dry_run": "true"}, headers=api.headers
        )
        assert response.status_code == 200 and response.json()["skipped"] == 2
        upload = SimpleUploadedFile("leads.csv", BAD.encode(), content_type="text/csv")
        response = api.client.post("/api/v1/leads/import", {"file": upload}, headers=api.headers)
        assert response.status_code == 422 and not Lead.objects.exists()
        upload = SimpleUploadedFile("leads.csv", BAD.encode(), content_type="text/csv")
        response = api.client.post(
            "/api/v1/leads/import", {"file": upload, "skip_bad_rows": "true"}, headers=api.headers
        )
        assert response.status_code == 201 and response.json()["created"] == 2
        job_id = response.json()["job_id"]
        assert api.get(f"/leads/import/{job_id}").json()["status"] == "done"

    def test_page(self, web_as, manager):
        client = web_as(manager)
        upload = SimpleUploadedFile("leads.csv", GOOD.encode(), content_type="text/csv")
        response = client.post("/sales/leads/import/", {"file": upload, "match_by": "phone"})
        job = ImportJob.objects.get(kind="leads")
        assert response.status_code == 302
        assert client.post(f"/sales/leads/import/{job.pk}/", {"action": "check"}).status_code == 302
        page = client.get(f"/sales/leads/import/{job.pk}/").content.decode()
        assert 'id="import-commit"' in page
        client.post(f"/sales/leads/import/{job.pk}/", {"action": "commit"})
        assert Lead.objects.count() == 2

    def test_command(self, admin_user, tmp_path, capsys):
        path = tmp_path / "leads.csv"
        path.write_text(BAD, encoding="utf-8")
        with pytest.raises(CommandError) as exc:
            call_command("import_data", "leads", str(path))
        assert exc.value.returncode == 1 and not Lead.objects.exists()
        call_command("import_data", "leads", str(path), "--skip-bad-rows")
        out = capsys.readouterr().out
        assert "4\t手机\t" in out and "2 created" in out
        assert Lead.objects.count() == 2
