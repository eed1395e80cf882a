"""POST /api/v1/orders/import and GET /api/v1/orders/import/{job_id}."""

import io

from django.test import Client

from guanxi.commerce.models import Order, OrderEvent, OrderItem
from guanxi.core.models import AuditEntry, BusinessEvent
from guanxi.customers.models import Customer, ImportJob
from tests.conftest import token_for

from .test_import_web import BAD, GOOD


def post_import(user, text=GOOD, **fields):
    file = io.BytesIO(text.encode("utf-8"))
    file.name = "orders.csv"
    return Client().post(
        "/api/v1/orders/import",
        {"file": file, **fields},
        headers={"Authorization": f"Bearer {token_for(user)}"},
    )


def counts():
    return (
        Order.objects.count(),
        OrderItem.objects.count(),
        OrderEvent.objects.count(),
        BusinessEvent.objects.count(),
        Customer.objects.count(),
        AuditEntry.objects.count(),
    )


NOTHING = (0, 0, 0, 0, 0, 0)


def test_a_dry_run_answers_200_with_the_report_and_writes_nothing(manager, store):
    response = post_import(manager, store="tmall-main", dry_run="true")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "validated"
    assert body["store"] == "tmall-main"
    assert (body["total_rows"], body["orders"], body["lines"], body["created_customers"]) == (
        4,
        3,
        4,
        2,
    )
    assert (body["new_orders"], body["applied"], body["errors"]) == (3, 0, [])
    assert counts() == NOTHING


def test_an_import_answers_201_and_writes_the_orders(manager, store):
    response = post_import(manager, store=str(store.pk))

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "done"
    assert (body["orders"], body["lines"], body["created_customers"]) == (3, 4, 2)
    assert body["applied"] == body["events"] == 5  # placed + paid, placed, placed + paid
    assert body["message"] == (
        "3 orders (3 new, 0 already known), 4 lines, 2 new customers, 0 rows skipped."
    )
    assert (Order.objects.count(), OrderItem.objects.count(), Customer.objects.count()) == (3, 4, 2)
    assert str(Order.objects.get(external_id="W1").paid_amount) == "109.00"


def test_bad_rows_answer_422_with_row_column_and_reason_and_nothing_is_written(manager, store):
    response = post_import(manager, BAD, store="tmall-main")

    assert response.status_code == 422
    body = response.json()
    assert (body["code"], body["status"]) == ("validation_error", "failed")
    assert body["errors"] == [
        {"row": 2, "column": "Quantity", "message": body["errors"][0]["message"]}
    ]
    assert body["errors"][0]["message"]
    assert body["message"] == (
        "1 rows have errors; nothing was imported. Correct them or skip bad rows."
    )
    assert counts() == NOTHING


def test_skipping_bad_rows_imports_the_other_orders(manager, store):
    response = post_import(manager, BAD, store="tmall-main", skip_bad_rows="true")

    assert response.status_code == 201
    body = response.json()
    assert (body["orders"], body["lines"], body["skipped_rows"]) == (2, 2, 2)
    assert [e["row"] for e in body["errors"]] == [2]
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["W2", "W3"]


def test_the_same_file_twice_adds_nothing(manager, store):
    assert post_import(manager, store="tmall-main").status_code == 201
    before = counts()

    response = post_import(manager, store="tmall-main")

    assert response.status_code == 201
    body = response.json()
    assert (body["orders"], body["new_orders"], body["created_customers"]) == (3, 0, 0)
    assert (body["applied"], body["duplicates"]) == (0, 5)
    after = counts()
    assert after[:5] == before[:5]
    assert after[5] == before[5] + 1  # only the audit entry of the second import


def test_a_sales_rep_gets_403_and_nothing_is_written(alice, store):
    response = post_import(alice, store="tmall-main")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert ImportJob.objects.count() == 0
    assert counts() == NOTHING


def test_an_unknown_store_is_a_field_error(manager, store):
    response = post_import(manager, store="nowhere")

    assert response.status_code == 422
    assert response.json() == {
        "code": "validation_error",
        "message": response.json()["message"],
        "errors": {"store": ["There is no store “nowhere”."]},
    }
    assert ImportJob.objects.count() == 0
    assert counts() == NOTHING


def test_a_file_without_order_numbers_is_refused(manager, store):
    response = post_import(manager, "Name,Phone\nx,1\n", store="tmall-main")

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "import_error"
    assert body["message"] == "The file has no order number column (Order ID / 订单号)."
    assert ImportJob.objects.count() == 0


def test_a_missing_file_is_a_field_error(manager, store):
    response = Client().post(
        "/api/v1/orders/import",
        {"store": "tmall-main"},
        headers={"Authorization": f"Bearer {token_for(manager)}"},
    )
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["file"]


def test_the_job_can_be_read_back_by_its_creator_and_admins(
    manager, admin_user, users_by_role, api_as, store
):
    job_id = post_import(manager, store="tmall-main").json()["job_id"]

    response = api_as(manager).get(f"/orders/import/{job_id}")
    assert response.status_code == 200
    assert (response.json()["job_id"], response.json()["orders"]) == (job_id, 3)
    assert api_as(admin_user).get(f"/orders/import/{job_id}").status_code == 200
    assert api_as(users_by_role["marketing"]).get(f"/orders/import/{job_id}").status_code == 404


def test_a_customer_import_job_is_not_an_order_import(manager, api_as):
    file = io.BytesIO("姓名,手机\n张伟,13800138001\n".encode())
    file.name = "people.csv"
    job_id = (
        Client()
        .post(
            "/api/v1/customers/import",
            {"file": file, "dry_run": "true"},
            headers={"Authorization": f"Bearer {token_for(manager)}"},
        )
        .json()["job_id"]
    )
    assert api_as(manager).get(f"/orders/import/{job_id}").status_code == 404


def test_a_large_file_is_queued_and_answers_202(
    manager, store, settings, django_capture_on_commit_callbacks
):
    settings.IMPORT_BACKGROUND_ROWS = 2
    with django_capture_on_commit_callbacks(execute=True):
        response = post_import(manager, store="tmall-main")

    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    # The test settings run tasks immediately: the job is done once committed.
    job = ImportJob.objects.get(pk=response.json()["job_id"])
    assert (job.status, job.processed_rows) == ("done", 4)
    assert Order.objects.count() == 3
