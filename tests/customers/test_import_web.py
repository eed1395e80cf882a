"""The import pages: upload → mapping and dry-run report → import → report."""

import csv
import io

from django.urls import reverse

from guanxi.customers.models import Customer, CustomField, ImportJob


def upload(name, rows):
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    file = io.BytesIO(out.getvalue().encode("utf-8"))
    file.name = name
    return file


ONE_BAD = [["姓名", "手机", "Shoe size"], ["张伟", "13800138001", "42"], ["李娜", "12345", "38"]]


def test_the_upload_page_offers_the_form_and_the_template(manager, web_as):
    page = web_as(manager).get(reverse("customers:import"))

    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="file"' in html and 'name="match_by"' in html and 'name="skip_bad_rows"' in html
    assert reverse("customers:import_template") in html


def test_a_sales_rep_gets_403_on_the_import_pages(alice, web_as):
    client = web_as(alice)
    assert client.get(reverse("customers:import")).status_code == 403
    response = client.post(reverse("customers:import"), {"file": upload("a.csv", ONE_BAD)})
    assert response.status_code == 403
    assert ImportJob.objects.count() == 0


def test_upload_shows_the_mapping_and_the_dry_run_report_with_import_disabled(manager, web_as):
    client = web_as(manager)
    response = client.post(
        reverse("customers:import"), {"file": upload("a.csv", ONE_BAD), "match_by": "phone"}
    )
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("customers:import_job", args=[job.pk])

    html = client.get(response["Location"]).content.decode()
    assert '<select name="map_0" aria-label="姓名">' in html
    assert '<option value="name" selected>Name</option>' in html
    assert '<option value="phone" selected>Phone</option>' in html
    assert 'Shoe size <span class="badge">not recognised</span>' in html
    assert "<td>3</td><td>手机</td><td>“12345” is not a valid phone number.</td>" in html
    assert 'id="import-commit" disabled' in html
    assert Customer.objects.count() == 0


def test_committing_with_bad_rows_is_refused_unless_skipping(manager, web_as):
    client = web_as(manager)
    client.post(reverse("customers:import"), {"file": upload("a.csv", ONE_BAD)})
    job = ImportJob.objects.get()
    url = reverse("customers:import_job", args=[job.pk])

    refused = client.post(url, {"action": "commit"})
    assert refused.status_code == 422
    assert "Some rows have errors: correct the file or skip bad rows." in refused.content.decode()
    assert Customer.objects.count() == 0

    done = client.post(url, {"action": "commit", "skip_bad_rows": "1"})
    assert done.status_code == 302
    html = client.get(url).content.decode()
    assert "1 created, 0 updated, 0 unchanged, 1 skipped." in html
    assert list(Customer.objects.values_list("name", flat=True)) == ["张伟"]


def test_changing_the_mapping_checks_the_file_again(manager, web_as):
    CustomField.objects.create(key="shoe", label="Shoe", type="number")
    client = web_as(manager)
    client.post(reverse("customers:import"), {"file": upload("a.csv", ONE_BAD)})
    job = ImportJob.objects.get()
    url = reverse("customers:import_job", args=[job.pk])

    response = client.post(
        url, {"action": "remap", "map_0": "name", "map_1": "", "map_2": "custom.shoe"}
    )

    assert response.status_code == 302
    job.refresh_from_db()
    assert job.mapping == {"姓名": "name", "手机": "", "Shoe size": "custom.shoe"}
    assert (job.status, job.skipped_count, job.created_count) == ("validated", 0, 2)
    client.post(url, {"action": "commit"})
    assert sorted(Customer.objects.values_list("custom__shoe", flat=True)) == [38, 42]


def test_the_job_page_polls_while_the_worker_runs_and_reloads_when_done(manager, web_as):
    client = web_as(manager)
    client.post(reverse("customers:import"), {"file": upload("a.csv", ONE_BAD)})
    job = ImportJob.objects.get()
    url = reverse("customers:import_job", args=[job.pk])
    ImportJob.objects.filter(pk=job.pk).update(status="running", processed_rows=1, total_rows=2)

    page = client.get(url).content.decode()
    assert 'hx-trigger="every 1s"' in page
    partial = client.get(url, {"partial": 1}, headers={"HX-Request": "true"})
    assert '<progress max="2" value="1"' in partial.content.decode()
    assert "1 of 2 rows (50%)" in partial.content.decode()

    ImportJob.objects.filter(pk=job.pk).update(status="done")
    finished = client.get(url, {"partial": 1}, headers={"HX-Request": "true"})
    assert finished["HX-Refresh"] == "true"


def test_another_users_job_is_not_found(manager, users_by_role, web_as):
    web_as(manager).post(reverse("customers:import"), {"file": upload("a.csv", ONE_BAD)})
    job = ImportJob.objects.get()
    other = users_by_role["marketing"]
    assert web_as(other).get(reverse("customers:import_job", args=[job.pk])).status_code == 404
