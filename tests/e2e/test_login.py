import pytest
from playwright.sync_api import expect

from guanxi.accounts.models import LoginFailure
from tests.conftest import PASSWORD
from tests.e2e.conftest import login, screenshot, zh

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_sales_rep_logs_in_and_sees_the_dashboard(page, live_server, alice, viewport):
    login(page, live_server, "alice", PASSWORD)
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("h1").first).to_have_text(zh("Dashboard"))
    screenshot(page, f"dashboard-{viewport}")


def submit(page, username, password):
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")


def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(
    page, live_server, alice, viewport
):
    page.goto(f"{live_server.url}/accounts/login/")
    for attempt in range(1, 5):
        submit(page, "alice", f"wrong-{attempt}")
        expect(page.locator("#login-error")).to_be_visible()
        expect(page.locator("#login-locked")).to_have_count(0)
    submit(page, "alice", "wrong-5")
    expect(page.locator("#login-locked")).to_be_visible()

    submit(page, "Alice", PASSWORD)

    locked = page.locator("#login-locked")
    expect(locked).to_contain_text(zh("Account locked"))
    expect(locked).to_contain_text("15")  # minutes left
    assert page.url == f"{live_server.url}/accounts/login/"
    expect(page.locator("header.topbar")).to_have_count(0)  # still logged out
    assert LoginFailure.objects.filter(username="alice").count() == 5
    screenshot(page, f"login-locked-{viewport}")
