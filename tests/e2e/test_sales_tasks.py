"""Follow-up in Chromium at desktop and phone width: log an activity from the customer
360 page with a next follow-up date, see the task on "My tasks", mark it done with htmx,
see the reminder in the header bell; the needs-follow-up list, the calendar and the
notifications pages fit the phone screen. Screenshots in /tmp/guanxi-screens."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from guanxi.core.notify import notify
from guanxi.sales.models import Activity, Task
from tests.e2e.conftest import login_as, make_customer, open_nav, overflow, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
WIDTH = {"desktop": 1366, "phone": 375}


def test_log_activity_on_360_then_do_the_task(page, live_server, alice, viewport):
    alice.language = "zh-hans"
    alice.save()
    customer = make_customer(alice, "王芳", grade="A")
    login_as(page, live_server, alice, f"/customers/{customer.pk}/")
    card = page.locator("#fu-activity")
    expect(card.locator("select[name=kind]")).to_be_visible()  # loaded by htmx
    tomorrow = (timezone.localdate() + datetime.timedelta(days=1)).isoformat()
    card.locator("select[name=kind]").select_option("wechat")
    card.locator("input[name=subject]").fill("发了产品目录")
    card.locator("input[name=outcome]").fill("客户已读")
    card.locator("input[name=next_follow_up]").fill(tomorrow)
    card.locator("button[type=submit]").click()
    expect(page.locator("#fu-activity .msg")).to_contain_text(tomorrow)
    expect(page.locator("#fu-activity .fu-acts")).to_contain_text("发了产品目录")
    expect(page.locator("#timeline")).to_contain_text("发了产品目录")  # without a reload
    activity = Activity.objects.get()
    task = Task.objects.get(activity=activity)
    assert (activity.kind, activity.customer_id, task.owner_id) == ("wechat", customer.pk, alice.pk)
    assert overflow(page, WIDTH[viewport]) == 0
    screenshot(page, f"sales-followup-360-{viewport}")

    # The task is on "My tasks" (upcoming); reached from the navigation.
    nav = open_nav(page, viewport)
    nav.locator("a[href='/sales/tasks/']").click()
    row = page.locator(f"#task-{task.pk}")
    expect(page.locator("#upcoming")).to_contain_text("发了产品目录")
    assert overflow(page, WIDTH[viewport]) == 0
    screenshot(page, f"sales-followup-tasks-{viewport}")
    row.locator("form[action$='/done/'] button").click()
    expect(page.locator(f"#task-{task.pk} form[action$='/reopen/'] button")).to_be_visible()
    task.refresh_from_db()
    assert task.status == "done"


def test_bell_follow_up_list_calendar_notifications(page, live_server, alice, viewport):
    old = timezone.now() - datetime.timedelta(days=40)
    for i in range(3):
        c = make_customer(alice, f"久未联系客户{i}", grade="B")
        type(c).objects.filter(pk=c.pk).update(created_at=old)
    notify(alice, kind="task.reminder", title="Task due: 回访", url="/sales/tasks/")
    login_as(page, live_server, alice, "/sales/follow-up/")
    expect(page.locator(".fu-bell-count")).to_have_text("1")
    # The bell keeps the top bar on one line, on a phone too.
    bar = page.evaluate(
        "[...document.querySelectorAll('.topbar > .brand, .topbar > .usermenu')]"
        ".map(e => e.getBoundingClientRect().top)"
    )
    assert abs(bar[0] - bar[1]) < 20, bar
    expect(page.locator("table.fu-follow")).to_contain_text("久未联系客户0")
    assert overflow(page, WIDTH[viewport]) == 0
    screenshot(page, f"sales-followup-list-{viewport}")

    page.goto(f"{live_server.url}/sales/calendar/")
    page.locator("button[value=regenerate]").click()
    feed = page.locator("#feed-url")
    expect(feed).to_have_value(__import__("re").compile(r"/sales/calendar/[\w-]+\.ics$"))
    assert overflow(page, WIDTH[viewport]) == 0
    screenshot(page, f"sales-followup-calendar-{viewport}")
    ics = page.request.get(feed.input_value())
    assert ics.status == 200 and ics.text().startswith("BEGIN:VCALENDAR\r\n")

    page.locator(".fu-bell").click()
    page.wait_for_url(f"{live_server.url}/sales/notifications/")
    expect(page.locator(".fu-notes li.unread")).to_have_count(1)
    assert overflow(page, WIDTH[viewport]) == 0
    screenshot(page, f"sales-followup-notifications-{viewport}")
    page.locator("form[action='/sales/notifications/read/'] button").click()
    expect(page.locator(".fu-notes li.unread")).to_have_count(0)
    expect(page.locator(".fu-bell-count")).to_have_count(0)
