"""End-to-end tests: Debian's Chromium driven by Playwright against a live server."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls
# (fixtures, assertions) are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("GUANXI_CHROMIUM", "/usr/bin/chromium")
SCREENS = Path(os.environ.get("GUANXI_SCREENS", "/tmp/guanxi-screens"))
VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 375, "height": 812}}
# A phone's user agent: SortableJS (the pipeline board) picks its touch and auto-scroll
# code by user agent, as pages may.
PHONE_USER_AGENT = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Mobile Safari/537.36"
)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request):
    return request.param


@pytest.fixture
def page(browser, viewport):
    context = browser.new_context(
        viewport=VIEWPORTS[viewport],
        locale="zh-CN",
        is_mobile=viewport == "phone",
        has_touch=viewport == "phone",
        **({"user_agent": PHONE_USER_AGENT} if viewport == "phone" else {}),
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


SETTLE_CHARTS = """() => {
  const els = [...document.querySelectorAll("[data-chart]")];
  if (!els.length || !window.echarts) return !els.length;
  const charts = els.map((el) => echarts.getInstanceByDom(el));
  if (charts.some((c) => !c)) return false;
  charts.forEach((c) => c.setOption({ animation: false }));  // jump to the final frame
  return true;
}"""


def screenshot(page, name: str) -> Path:
    SCREENS.mkdir(parents=True, exist_ok=True)
    if page.locator("[data-chart]").count():
        page.wait_for_function(SETTLE_CHARTS)
    path = SCREENS / f"{name}.png"
    for attempt in range(3):
        try:
            page.screenshot(path=str(path), full_page=True)
            break
        except PlaywrightError as exc:
            # Headless Chromium now and then fails a full-page capture on a busy machine
            # ("Unable to capture screenshot"); the page itself is fine, so try again.
            if "Unable to capture screenshot" not in str(exc) or attempt == 2:
                raise
            page.wait_for_timeout(500)
    return path


def login(page, live_server, username, password):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


def make_customer(actor, name: str, **data):
    """A customer written through the service, as the forms and the API do."""
    from guanxi.customers import services

    return services.customer_create(actor=actor, data={"name": name, **data})


def open_nav(page, viewport):
    """On the phone the main navigation sits behind the ☰ button."""
    if viewport == "phone":
        page.click("button.menu-toggle")
    return page.locator("#mainnav")


def overflow(page, width: int) -> int:
    """How many CSS pixels the page is wider than a screen ``width`` wide (0 if it fits)."""
    return max(0, page.evaluate("document.documentElement.scrollWidth") - width)


def login_as(page, live_server, user, path: str = "/"):
    """Skip the login form (tested on its own): put a session cookie in the browser."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    if path is not None:
        page.goto(f"{live_server.url}{path}")


def zh(msgid: str) -> str:
    """What a page in Chinese shows for ``msgid`` (the msgid itself until translated)."""
    from django.utils import translation

    with translation.override("zh-hans"):
        return translation.gettext(msgid)
