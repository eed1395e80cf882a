"""The private iCalendar feed: a tokenised address without login, only a digest stored,
regenerating revokes the old address; the text is valid RFC 5545 — read back with a
small strict parser (CRLF only, lines ≤ 75 octets, unfolding, unescaping, required
properties, UTC times)."""

import datetime
import re

import pytest

from guanxi.sales import ical
from guanxi.sales import services_followup as svc
from guanxi.sales.models import CalendarFeed, Task
from tests.sales.test_followup_support import make_customer

pytestmark = pytest.mark.django_db


def parse_ics(data: bytes) -> list[dict]:
    """Strict enough for our feed: returns the VEVENTs as {name: value} (unescaped)."""
    text = data.decode("utf-8")
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", ""), "bare LF"
    assert "\r" not in text.replace("\r\n", ""), "bare CR"
    physical = text[:-2].split("\r\n")
    for line in physical:
        assert len(line.encode("utf-8")) <= 75, f"line longer than 75 octets: {line!r}"
    logical: list[str] = []
    for line in physical:
        if line.startswith((" ", "\t")):
            assert logical, "continuation before any line"
            logical[-1] += line[1:]
        else:
            logical.append(line)
    assert logical[0] == "BEGIN:VCALENDAR" and logical[-1] == "END:VCALENDAR"
    events, current, top = [], None, {}
    for line in logical:
        name, sep, value = line.partition(":")
        assert sep, f"no colon: {line!r}"
        assert re.fullmatch(r"[A-Z0-9-]+(;[A-Z0-9-]+=[^;:]+)*", name), name
        key = name.split(";")[0]
        if line == "BEGIN:VEVENT":
            assert current is None
            current = {}
        elif line == "END:VEVENT":
            for required in ("UID", "DTSTAMP", "DTSTART", "SUMMARY"):
                assert required in current, required
            events.append(current)
            current = None
        elif current is not None:
            assert key not in current, f"repeated {key}"
            current[key] = unescape(value)
        else:
            top[key] = value
    assert top["VERSION"] == "2.0" and top["PRODID"]
    return events


def unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        c = value[i]
        if c == "\\":
            nxt = value[i + 1]
            assert nxt in "\\;,nN", f"bad escape \\{nxt}"
            out.append("\n" if nxt in "nN" else nxt)
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def utc_time(value: str) -> datetime.datetime:
    assert re.fullmatch(r"\d{8}T\d{6}Z", value), value
    return datetime.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)


def test_fold_never_splits_a_utf8_character():
    line = "SUMMARY:" + "回访客户，确认报价；" * 20
    folded = ical.fold(line)
    for part in folded.split("\r\n"):
        assert len(part.encode("utf-8")) <= 75
        part.encode("utf-8").decode("utf-8")
    assert folded.replace("\r\n ", "") == line


def test_escape():
    assert ical.escape_text("a,b;c\\d\ne") == "a\\,b\\;c\\\\d\\ne"


def test_feed_by_token_without_login(client, alice, bob):
    customer = make_customer(alice, name="上海某某科技有限公司")
    long_title = "给客户回电话，确认报价; 以及合同条款\\附件 " * 4
    task = Task.objects.create(
        title=long_title[:200],
        notes="第一行\n第二行, with a comma",
        due_at=datetime.datetime(
            2026, 5, 4, 9, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=8))
        ),
        owner=alice,
        customer=customer,
        priority="urgent",
    )
    Task.objects.create(title="done", due_at=task.due_at, owner=alice, status="done")
    Task.objects.create(title="bob's", due_at=task.due_at, owner=bob)
    token = svc.calendar_feed_regenerate(user=alice)
    feed = CalendarFeed.objects.get(user=alice)
    assert token not in feed.digest and feed.digest == CalendarFeed.digest_of(token)

    r = client.get(f"/sales/calendar/{token}.ics")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/calendar")
    [event] = parse_ics(r.content)
    assert event["SUMMARY"] == long_title[:200]
    assert event["UID"] == f"task-{task.pk}@127.0.0.1"
    assert utc_time(event["DTSTART"]) == datetime.datetime(2026, 5, 4, 1, 30, tzinfo=datetime.UTC)
    assert utc_time(event["DTEND"]) - utc_time(event["DTSTART"]) == datetime.timedelta(minutes=30)
    utc_time(event["DTSTAMP"])
    assert event["PRIORITY"] == "1"
    assert "第一行\n第二行, with a comma" in event["DESCRIPTION"]
    assert "上海某某科技有限公司" in event["DESCRIPTION"]

    # Regenerating revokes the old address; an unknown token is a 404.
    new_token = svc.calendar_feed_regenerate(user=alice)
    assert client.get(f"/sales/calendar/{token}.ics").status_code == 404
    assert client.get(f"/sales/calendar/{new_token}.ics").status_code == 200
    assert client.get("/sales/calendar/nope.ics").status_code == 404
    # A deactivated user's feed stops working.
    alice.is_active = False
    alice.save()
    assert client.get(f"/sales/calendar/{new_token}.ics").status_code == 404


def test_empty_feed_is_valid(client, alice):
    token = svc.calendar_feed_regenerate(user=alice)
    r = client.get(f"/sales/calendar/{token}.ics")
    assert parse_ics(r.content) == []


def test_calendar_page_shows_the_address_once(web_as, alice):
    client = web_as(alice)
    r = client.get("/sales/calendar/")
    assert r.status_code == 200 and b"Create my calendar address" in r.content
    r = client.post("/sales/calendar/", {"action": "regenerate"})
    match = re.search(rb"http://testserver/sales/calendar/([A-Za-z0-9_-]+)\.ics", r.content)
    assert match, r.content[:2000]
    assert CalendarFeed.objects.get(user=alice).digest == CalendarFeed.digest_of(
        match.group(1).decode()
    )
    again = client.get("/sales/calendar/")
    assert match.group(1) not in again.content and b"Make a new address" in again.content
    r = client.post("/sales/calendar/", {"action": "revoke"})
    assert r.status_code == 302 and not CalendarFeed.objects.filter(user=alice).exists()
