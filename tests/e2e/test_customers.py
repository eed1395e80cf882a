import re
from urllib.parse import quote_plus

import pytest
from playwright.sync_api import expect

from guanxi.customers.models import Customer
from tests.conftest import PASSWORD
from tests.e2e.conftest import login, login_as, make_customer, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_rep_creates_a_customer_and_sees_the_normalised_phone(page, live_server, alice, viewport):
    login(page, live_server, "alice", PASSWORD)
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")  # Accept-Language zh-CN
    page.goto(f"{live_server.url}/customers/new/")
    page.fill("input[name=name]", "张伟")
    page.fill("input[name=phone]", "abc")
    page.fill("input[name=tags]", "回头客")
    page.click("form.customer-form button[type=submit]")

    # A bad phone: the form comes back with the error beside the field and what was typed.
    expect(page.locator("#field-phone .errorlist")).to_contain_text("abc")
    expect(page.locator("input[name=name]")).to_have_value("张伟")
    assert page.url == f"{live_server.url}/customers/new/"
    assert Customer.objects.count() == 0

    page.fill("input[name=phone]", "138 1234 5678")
    page.click("form.customer-form button[type=submit]")

    page.wait_for_url(re.compile(r"/customers/\d+/$"))
    customer = Customer.objects.get()
    assert page.url == f"{live_server.url}/customers/{customer.pk}/"
    expect(page.locator("h1")).to_have_text("张伟")
    expect(page.locator("#profile a[href^='tel:']")).to_have_text("+8613812345678")
    expect(page.locator(".head-badges .tag")).to_have_text("回头客")
    assert (customer.name, customer.phone, customer.owner, customer.team) == (
        "张伟",
        "+8613812345678",
        alice,
        alice.team,
    )
    assert [t.name for t in customer.tags.all()] == ["回头客"]
    screenshot(page, f"detail-created-{viewport}")


@pytest.fixture
def search_people(alice):
    return {
        "zhang": make_customer(alice, "张伟", phone="13812345678"),
        "li": make_customer(alice, "李娜", phone="13900001111"),
    }


def rows(page):
    return page.locator("#results table.customers tbody tr td.primary a")


def test_the_list_finds_a_customer_by_pinyin_while_typing(page, live_server, alice, search_people):
    login_as(page, live_server, alice, "/customers/")
    expect(rows(page)).to_have_count(2)
    page.evaluate("window.__sameDocument = true")
    box = page.locator("#f-q")

    # Typed key by key and never submitted: htmx searches after a short pause.
    box.press_sequentially("zhangwei")
    expect(page).to_have_url(re.compile(r"[?&]q=zhangwei(&|$)"))
    expect(rows(page)).to_have_text(["张伟"])
    for text in ["zw", "张"]:
        box.fill(text)
        expect(page).to_have_url(re.compile(rf"[?&]q={re.escape(quote_plus(text))}(&|$)"))
        expect(rows(page)).to_have_text(["张伟"])
    box.fill("li")
    expect(rows(page)).to_have_text(["李娜"])
    box.fill("wangfang")
    expect(page.locator("#results .empty")).to_be_visible()
    expect(rows(page)).to_have_count(0)

    assert page.evaluate("window.__sameDocument") is True  # never a full page load


def test_a_rep_does_not_see_another_teams_customer(page, live_server, alice, charlie):
    mine = make_customer(alice, "张伟")
    theirs = make_customer(charlie, "赵敏")

    login_as(page, live_server, alice, "/customers/")
    expect(rows(page)).to_have_text(["张伟"])
    page.fill("#f-q", "赵")
    expect(page.locator("#results .empty")).to_be_visible()

    response = page.goto(f"{live_server.url}/customers/{theirs.pk}/")
    assert response.status == 404
    response = page.goto(f"{live_server.url}/customers/{theirs.pk}/edit/")
    assert response.status == 404
    response = page.goto(f"{live_server.url}/customers/{mine.pk}/")
    assert response.status == 200
    assert Customer.objects.get(pk=theirs.pk).name == "赵敏"
