"""The order import pages: upload → dry-run report → import → result, on the job page."""

import io

import pytest
from django.urls import reverse

from guanxi.commerce.models import Order, OrderEvent, OrderItem, Store
from guanxi.core.models import AuditEntry, BusinessEvent
from guanxi.customers.models import Customer, ImportJob

GOOD = (
    "Order ID,Buyer ID,Phone,Name,Placed at,Paid at,SKU,Product name,Quantity,Unit price,"
    "Paid amount\n"
    "W1,b1,13812345678,张伟,2024-05-01 10:00,2024-05-01 10:05,A1,T-shirt,2,49.50,99.00\n"
    "W1,b1,13812345678,张伟,2024-05-01 10:00,2024-05-01 10:05,B2,Socks,1,10.00,10.00\n"
    "W2,b2,,李娜,2024-05-03 08:00,,A1,T-shirt,1,49.50,\n"
    "W3,b1,,,2024-05-04 08:00,2024-05-04 08:01,,,1,20,20.00\n"
)
BAD = GOOD.replace("A1,T-shirt,2,49.50,99.00", "A1,T-shirt,two,49.50,99.00")


def upload(text, name="orders.csv"):
    file = io.BytesIO(text.encode("utf-8"))
    file.name = name
    return file


def counts():
    return (
        Order.objects.count(),
        OrderItem.objects.count(),
        OrderEvent.objects.count(),
        BusinessEvent.objects.count(),
        Customer.objects.count(),
    )


def start(client, store, text=GOOD, **fields):
    data = {"file": upload(text), "store": str(store.pk) if store else "", **fields}
    return client.post(reverse("commerce:order_import"), data)


def test_the_upload_page_offers_file_store_and_skip_bad_rows(manager, web_as, store):
    Store.objects.create(code="closed", name="Closed shop", channel="web", active=False)
    page = web_as(manager).get(reverse("commerce:order_import"))

    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="file"' in html and 'name="skip_bad_rows"' in html
    assert f'<option value="{store.pk}" >Tmall flagship (tmall-main)</option>' in html
    assert "Closed shop" not in html


def test_the_orders_list_links_to_the_import_for_those_who_may_import(manager, alice, web_as):
    link = f'href="{reverse("commerce:order_import")}"'
    assert link in web_as(manager).get(reverse("commerce:orders")).content.decode()
    assert link not in web_as(alice).get(reverse("commerce:orders")).content.decode()


def test_a_sales_rep_gets_403_and_nothing_is_written(alice, web_as, store):
    client = web_as(alice)
    assert client.get(reverse("commerce:order_import")).status_code == 403
    assert start(client, store).status_code == 403
    assert ImportJob.objects.count() == 0
    assert counts() == (0, 0, 0, 0, 0)


def test_upload_shows_the_dry_run_report_and_writes_nothing(manager, web_as, store):
    client = web_as(manager)
    response = start(client, store)
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("commerce:order_import_job", args=[job.pk])
    assert (job.kind, job.status, job.mapping["__store__"]) == ("orders", "validated", store.pk)

    html = client.get(response["Location"]).content.decode()
    assert '<div class="n">3</div><div class="l">Orders</div>' in html
    assert '<div class="n">4</div><div class="l">Order lines</div>' in html
    assert '<div class="n">2</div><div class="l">New customers to create</div>' in html
    assert '<div class="n">0</div><div class="l">Bad rows</div>' in html
    assert 'id="import-commit">Import</button>' in html
    assert counts() == (0, 0, 0, 0, 0)


def test_importing_writes_the_orders_and_shows_the_result(manager, web_as, store):
    client = web_as(manager)
    start(client, store)
    job = ImportJob.objects.get()

    response = client.post(reverse("commerce:order_import_job", args=[job.pk]))
    assert response.status_code == 302
    html = client.get(response["Location"]).content.decode()

    assert "Import finished" in html
    assert "3 orders (3 new, 0 already known), 4 lines, 2 new customers, 0 rows skipped." in html
    assert (Order.objects.count(), OrderItem.objects.count(), Customer.objects.count()) == (3, 4, 2)
    assert set(Order.objects.values_list("store__code", flat=True)) == {"tmall-main"}
    job.refresh_from_db()
    assert job.status == "done"
    entry = AuditEntry.objects.get(action="import", object_id=job.pk)
    assert (entry.actor, entry.changes["orders"], entry.changes["lines"]) == (manager, 3, 4)


def test_bad_rows_are_listed_and_the_import_button_is_disabled(manager, web_as, store):
    client = web_as(manager)
    response = start(client, store, text=BAD)
    html = client.get(response["Location"]).content.decode()

    assert '<table class="list cards" id="import-errors">' in html
    assert (
        '<td class="num" data-label="Row">2</td><td data-label="Column">Quantity</td>'
        '<td class="full" data-label="Problem">' in html
    )
    assert 'id="import-commit" disabled :disabled="!skip">' in html
    assert 'name="skip_bad_rows"' in html
    assert counts() == (0, 0, 0, 0, 0)


def test_importing_with_bad_rows_is_refused_unless_skipping(manager, web_as, store):
    client = web_as(manager)
    start(client, store, text=BAD)
    job = ImportJob.objects.get()
    url = reverse("commerce:order_import_job", args=[job.pk])

    refused = client.post(url)
    assert refused.status_code == 422
    assert "Some rows have errors: correct the file or skip bad rows." in refused.content.decode()
    assert counts() == (0, 0, 0, 0, 0)

    assert client.post(url, {"skip_bad_rows": "1"}).status_code == 302
    html = client.get(url).content.decode()
    assert "2 orders (2 new, 0 already known), 2 lines, 2 new customers, 2 rows skipped." in html
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["W2", "W3"]


def test_skipping_chosen_at_upload_enables_the_import_button(manager, web_as, store):
    client = web_as(manager)
    response = start(client, store, text=BAD, skip_bad_rows="1")
    html = client.get(response["Location"]).content.decode()
    assert 'id="import-commit" :disabled="!skip">' in html


def test_the_same_file_imported_twice_adds_no_orders(manager, web_as, store):
    client = web_as(manager)
    start(client, store)
    first = ImportJob.objects.get()
    client.post(reverse("commerce:order_import_job", args=[first.pk]))
    before = counts()

    start(client, store)
    second = ImportJob.objects.exclude(pk=first.pk).get()
    url = reverse("commerce:order_import_job", args=[second.pk])
    html = client.get(url).content.decode()
    assert '<div class="n">0</div><div class="l">New orders</div>' in html
    assert '<div class="n">3</div><div class="l">Already imported</div>' in html
    assert '<div class="n">0</div><div class="l">New customers to create</div>' in html

    client.post(url)
    second.refresh_from_db()
    assert second.status == "done"
    assert second.message.startswith("3 orders (0 new, 3 already known)")
    assert counts() == before


def test_a_file_with_a_store_column_needs_no_store(manager, web_as, store):
    text = GOOD.replace("Order ID,", "Store,Order ID,").replace("\nW", "\ntmall-main,W")
    client = web_as(manager)
    response = start(client, None, text=text)
    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert (job.status, job.mapping["__store__"], job.errors) == ("validated", None, [])


@pytest.mark.parametrize(
    ("text", "store_given", "message"),
    [
        (GOOD, False, "Choose the store the orders belong to, or add a Store column."),
        ("Name,Phone\nx,1\n", True, "The file has no order number column (Order ID / 订单号)."),
        ("", True, "The file is empty."),
    ],
)
def test_an_unusable_upload_is_refused_on_the_form(
    manager, web_as, store, text, store_given, message
):
    response = start(web_as(manager), store if store_given else None, text=text)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert ImportJob.objects.count() == 0
    assert counts() == (0, 0, 0, 0, 0)


def test_an_import_is_seen_by_its_creator_and_admins_only(
    manager, bob, admin_user, web_as, store, client
):
    start(web_as(manager), store)
    job = ImportJob.objects.get()
    url = reverse("commerce:order_import_job", args=[job.pk])
    client.force_login(admin_user)
    assert client.get(url).status_code == 200
    client.force_login(bob)
    assert client.get(url).status_code == 403  # a sales rep may not import at all


def test_another_importer_gets_404_and_the_customer_import_does_not_see_it(
    manager, users_by_role, web_as, store, client
):
    start(web_as(manager), store)
    job = ImportJob.objects.get()
    client.force_login(users_by_role["marketing"])
    assert client.get(reverse("commerce:order_import_job", args=[job.pk])).status_code == 404
    client.force_login(manager)
    assert client.get(reverse("customers:import_job", args=[job.pk])).status_code == 404
    assert "orders.csv" not in client.get(reverse("customers:import")).content.decode()
    assert "orders.csv" in client.get(reverse("commerce:order_import")).content.decode()


def test_a_large_file_runs_on_the_worker_with_progress_polled(
    manager, web_as, store, settings, django_capture_on_commit_callbacks
):
    settings.IMPORT_BACKGROUND_ROWS = 2
    client = web_as(manager)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = start(client, store)
    job = ImportJob.objects.get()
    url = reverse("commerce:order_import_job", args=[job.pk])
    assert job.status == "pending"

    html = client.get(response["Location"]).content.decode()
    assert f'hx-get="{url}?partial=1" hx-trigger="every 1s"' in html
    partial = client.get(url, {"partial": "1"}, headers={"HX-Request": "true"})
    assert 'id="import-progress"' in partial.content.decode()

    for callback in callbacks:  # the worker (immediate backend in tests) checks the file
        callback()
    job.refresh_from_db()
    assert (job.status, job.processed_rows) == ("validated", 4)
    done = client.get(url, {"partial": "1"}, headers={"HX-Request": "true"})
    assert done["HX-Refresh"] == "true"

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url).status_code == 302
    job.refresh_from_db()
    assert job.status == "done"
    assert counts()[:2] == (3, 4)


def test_progress_is_written_on_the_job_while_rows_are_checked(manager, store, monkeypatch):
    from guanxi.commerce import import_jobs, importing

    seen = []
    real = import_jobs._progress_writer

    def spy(job):
        write = real(job)

        def recording(done):
            write(done)
            seen.append(ImportJob.objects.get(pk=job.pk).processed_rows)

        return recording

    monkeypatch.setattr(importing, "PROGRESS_EVERY", 2)
    monkeypatch.setattr(import_jobs, "_progress_writer", spy)
    job = import_jobs.order_import_start(
        actor=manager, fileobj=upload(GOOD), filename="orders.csv", store=store
    )
    import_jobs.order_import_check(job=job)

    assert seen == [2, 4, 4]


def test_a_job_is_run_once_even_if_the_task_comes_twice(manager, store):
    from guanxi.commerce import import_jobs, tasks

    job = import_jobs.order_import_start(
        actor=manager, fileobj=upload(GOOD), filename="orders.csv", store=store
    )
    assert tasks.run_order_import.call(job.pk) == "done"
    before = counts()
    assert tasks.run_order_import.call(job.pk) == "done"  # a late duplicate finds it done
    assert tasks.check_order_import.call(job.pk) == "done"
    assert counts() == before
    assert AuditEntry.objects.filter(action="import", object_id=job.pk).count() == 1
