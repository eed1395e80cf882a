import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import login_as, open_nav, zh

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_language_switchers_change_the_language_and_back(page, live_server, alice, viewport):
    html = page.locator("html")
    # Before logging in: the links under the login form.
    page.goto(f"{live_server.url}/accounts/login/")
    expect(html).to_have_attribute("lang", "zh-hans")
    page.click("form.auth-lang button[value=en]")
    expect(html).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Log in")
    page.click("form.auth-lang button[value=zh-hans]")
    expect(html).to_have_attribute("lang", "zh-hans")
    expect(page.locator("h1")).to_have_text(zh("Log in"))

    # Logged in: the select in the header.
    login_as(page, live_server, alice, "/customers/")
    customers_link = page.locator("#mainnav a[href='/customers/']")
    expect(html).to_have_attribute("lang", "zh-hans")
    expect(page.locator("h1")).to_have_text(zh("Customers"))

    page.select_option("header select[name=language]", "en")

    expect(html).to_have_attribute("lang", "en")
    assert page.url == f"{live_server.url}/customers/"  # the same page, now in English
    expect(page.locator("h1")).to_have_text("Customers")
    open_nav(page, viewport)
    expect(customers_link).to_be_visible()
    expect(customers_link).to_have_text("Customers")
    expect(page.locator("#f-q")).to_have_attribute(
        "placeholder", "Name, pinyin (zhangwei / zw), phone or e-mail"
    )
    page.goto(f"{live_server.url}/")  # the choice sticks to the next pages
    expect(html).to_have_attribute("lang", "en")
    expect(page.locator("h1").first).to_have_text("Dashboard")

    page.select_option("header select[name=language]", "zh-hans")

    expect(html).to_have_attribute("lang", "zh-hans")
    expect(page.locator("h1").first).to_have_text(zh("Dashboard"))
    open_nav(page, viewport)
    expect(customers_link).to_have_text(zh("Customers"))
