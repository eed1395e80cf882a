import re

import pytest
from playwright.sync_api import expect

from guanxi.customers.models import Customer, ImportJob
from tests.e2e.conftest import login_as, screenshot, zh

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CSV = (
    "姓名,手机,邮箱\n"
    "张伟,13812345678,zw@example.com\n"
    "李娜,abc,ln@example.com\n"
    "王芳,139 0000 1111,WF@Example.com\n"
).encode()


def upload(page, live_server, data: bytes, name="客户.csv"):
    page.goto(f"{live_server.url}/customers/import/")
    page.set_input_files("#id_file", files=[{"name": name, "mimeType": "text/csv", "buffer": data}])
    page.click("form[enctype='multipart/form-data'] button[type=submit]")
    page.wait_for_url(re.compile(r"/customers/import/\d+/$"))


def test_an_import_with_a_bad_row_writes_nothing_until_told_to_skip_or_corrected(
    page, live_server, manager, viewport
):
    login_as(page, live_server, manager, None)
    upload(page, live_server, CSV)

    # The Chinese headers were recognised.
    for i, target in enumerate(["name", "phone", "email"]):
        expect(page.locator(f"#import-mapping select[name=map_{i}]")).to_have_value(target)
    # The dry run names the row (the header is row 1), the column and the reason.
    errors = page.locator("#import-errors tbody tr")
    expect(errors).to_have_count(1)
    expect(errors.locator("td")).to_have_text(["3", "手机", re.compile("abc")])
    commit = page.locator("#import-commit")
    expect(commit).to_be_disabled()
    screenshot(page, f"import-report-{viewport}")

    # Even when the disabled button is forced, the server refuses and writes nothing.
    page.evaluate("document.getElementById('import-commit').disabled = false")
    commit.click()
    expect(page.locator("main .messages .msg.error")).to_have_text(
        zh("Some rows have errors: correct the file or skip bad rows.")
    )
    assert Customer.objects.count() == 0
    job = ImportJob.objects.get()
    assert (job.status, job.skipped_count) == ("validated", 1)

    page.check("input[name=skip_bad_rows]")
    expect(commit).to_be_enabled()
    commit.click()

    expect(page.locator("#import-result")).to_be_visible()
    expect(page.locator("#import-errors tbody tr td").first).to_have_text("3")
    screenshot(page, f"import-done-{viewport}")
    assert sorted(Customer.objects.values_list("name", "phone", "email", "owner")) == [
        ("张伟", "+8613812345678", "zw@example.com", manager.pk),
        ("王芳", "+8613900001111", "wf@example.com", manager.pk),
    ]
    job.refresh_from_db()
    assert (job.status, job.created_count, job.skipped_count) == ("done", 2, 1)

    # The bad row, corrected, imported on its own.
    upload(page, live_server, "姓名,手机,邮箱\n李娜,13700002222,ln@example.com\n".encode())
    expect(page.locator("#import-errors")).to_have_count(0)
    expect(page.locator("input[name=skip_bad_rows]")).to_have_count(0)
    page.click("#import-commit")
    expect(page.locator("#import-result")).to_be_visible()
    assert Customer.objects.get(name="李娜").phone == "+8613700002222"
    assert Customer.objects.count() == 3
