"""POST /api/v1/customers/import and GET /api/v1/customers/import/{id}."""

import csv
import io
import json

from django.test import Client

from guanxi.core.models import AuditEntry, BusinessEvent
from guanxi.customers.models import Customer, ImportJob
from tests.conftest import token_for


def csv_file(rows, name="people.csv"):
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    upload = io.BytesIO(out.getvalue().encode("utf-8-sig"))
    upload.name = name
    return upload


def post_import(user, rows, **fields):
    client = Client()
    data = {"file": csv_file(rows), **fields}
    return client.post(
        "/api/v1/customers/import",
        data,
        headers={"Authorization": f"Bearer {token_for(user)}"},
    )


GOOD = [["姓名", "手机"], ["张伟", "13800138001"], ["李娜", "13800138002"]]
ONE_BAD = [["姓名", "手机"], ["张伟", "13800138001"], ["李娜", "12345"]]


def test_a_dry_run_answers_200_with_the_report_and_writes_nothing(manager):
    response = post_import(manager, ONE_BAD, dry_run="true", match_by="phone")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "validated"
    assert (body["total_rows"], body["created"], body["updated"], body["skipped"]) == (2, 1, 0, 1)
    assert body["errors"] == [
        {"row": 3, "column": "手机", "message": "“12345” is not a valid phone number."}
    ]
    assert Customer.objects.count() == 0


def test_the_report_lists_columns_it_did_not_recognise(manager):
    rows = [["姓名", "Shoe size"], ["张伟", "42"]]
    body = post_import(manager, rows, dry_run="true").json()

    assert body["mapping"] == {"姓名": "name", "Shoe size": ""}
    assert body["unknown_columns"] == ["Shoe size"]


def test_an_import_answers_201_with_the_report(manager):
    response = post_import(manager, GOOD, match_by="phone")

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "done"
    assert (body["created"], body["updated"], body["skipped"], body["errors"]) == (2, 0, 0, [])
    assert Customer.objects.count() == 2


def test_bad_rows_without_skipping_answer_422_and_write_nothing(manager):
    response = post_import(manager, ONE_BAD)

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["status"] == "failed"
    assert body["message"] == (
        "1 rows have errors; nothing was imported. Correct them or skip bad rows."
    )
    assert body["errors"] == [
        {"row": 3, "column": "手机", "message": "“12345” is not a valid phone number."}
    ]
    assert Customer.objects.count() == 0
    assert AuditEntry.objects.count() == 0
    assert BusinessEvent.objects.count() == 0


def test_skip_bad_rows_imports_the_good_ones(manager):
    response = post_import(manager, ONE_BAD, skip_bad_rows="true")

    assert response.status_code == 201
    assert (response.json()["created"], response.json()["skipped"]) == (1, 1)
    assert list(Customer.objects.values_list("name", flat=True)) == ["张伟"]


def test_a_mapping_can_be_given_as_json(manager):
    rows = [["Who", "Tel"], ["张伟", "13800138001"]]
    response = post_import(manager, rows, mapping=json.dumps({"Who": "name", "Tel": "phone"}))

    assert response.status_code == 201, response.json()
    assert Customer.objects.get().phone == "+8613800138001"


def test_a_mapping_that_is_not_json_is_a_422(manager):
    response = post_import(manager, GOOD, mapping="name=phone")

    assert response.status_code == 422
    assert response.json()["errors"] == {
        "mapping": ['Give the mapping as JSON: {"column": "field"}.']
    }
    assert ImportJob.objects.count() == 0


def test_a_sales_rep_gets_403_and_nothing_is_written(alice):
    response = post_import(alice, GOOD)

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert ImportJob.objects.count() == 0
    assert Customer.objects.count() == 0


def test_the_job_can_be_read_back_by_its_creator_only(manager, admin_user, api_as, bob):
    job_id = post_import(manager, GOOD).json()["job_id"]

    response = api_as(manager).get(f"/customers/import/{job_id}")
    assert response.status_code == 200
    assert (response.json()["job_id"], response.json()["created"]) == (job_id, 2)
    assert api_as(bob).get(f"/customers/import/{job_id}").status_code == 404
    assert api_as(admin_user).get(f"/customers/import/{job_id}").status_code == 200


def test_a_large_file_is_queued_and_answers_202(
    manager, settings, django_capture_on_commit_callbacks
):
    settings.IMPORT_BACKGROUND_ROWS = 1
    with django_capture_on_commit_callbacks(execute=True):
        response = post_import(manager, GOOD)

    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    # The test settings run tasks immediately: the job is done once committed.
    job = ImportJob.objects.get(pk=response.json()["job_id"])
    assert (job.status, job.created_count) == ("done", 2)
