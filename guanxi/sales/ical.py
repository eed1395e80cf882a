"""A user's open tasks as an iCalendar (RFC 5545) feed that calendar apps subscribe to.

Each task is a VEVENT (calendar apps show events; many ignore VTODO) starting at its due
time, in UTC, lasting ``EVENT_MINUTES``. Lines end with CRLF and are folded at 75 octets
without splitting a UTF-8 character; text values are escaped (backslash, semicolon,
comma, newline).
"""

import datetime

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from guanxi.sales.models import Task

EVENT_MINUTES = 30
MAX_TASKS = 2000
PRODID = "-//Guanxi CRM//Tasks//EN"
# RFC 5545 PRIORITY: 1 highest … 9 lowest.
PRIORITY = {"urgent": 1, "high": 3, "normal": 5, "low": 9}


def escape_text(value: str) -> str:
    return (
        str(value)
        .replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\r", "\\n")
        .replace("\n", "\\n")
    )


def fold(line: str) -> str:
    """Fold a content line into chunks of at most 75 octets (continuations start with a
    space, which counts), never inside a UTF-8 sequence."""
    out: list[str] = []
    current, size, limit = [], 0, 75
    for char in line:
        n = len(char.encode("utf-8"))
        if size + n > limit:
            out.append("".join(current))
            current, size, limit = [" "], 1, 75
        current.append(char)
        size += n
    out.append("".join(current))
    return "\r\n".join(out)


def utc(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def _uid_host() -> str:
    base = settings.GUANXI_BASE_URL.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return base or "guanxi"


def task_lines(task: Task, *, stamp: str, base_url: str) -> list[str]:
    url = base_url + reverse("sales:task_detail", args=[task.pk])
    description = task.notes
    if task.customer_id:
        description = f"{task.customer}\n{description}".strip()
    lines = [
        "BEGIN:VEVENT",
        f"UID:task-{task.pk}@{_uid_host()}",
        f"DTSTAMP:{stamp}",
        f"DTSTART:{utc(task.due_at)}",
        f"DTEND:{utc(task.due_at + datetime.timedelta(minutes=EVENT_MINUTES))}",
        f"LAST-MODIFIED:{utc(task.updated_at)}",
        f"SUMMARY:{escape_text(task.title)}",
        f"PRIORITY:{PRIORITY.get(task.priority, 5)}",
        f"URL:{url}",
        "STATUS:CONFIRMED",
        "TRANSP:TRANSPARENT",
    ]
    if description:
        lines.append(f"DESCRIPTION:{escape_text(description + chr(10) + url)}")
    else:
        lines.append(f"DESCRIPTION:{escape_text(url)}")
    lines.append("END:VEVENT")
    return lines


def feed_for(user, *, name: str) -> bytes:
    """The iCalendar text of ``user``'s open tasks (soonest first)."""
    tasks = (
        Task.objects.filter(owner=user, status=Task.Status.OPEN)
        .select_related("customer")
        .order_by("due_at", "id")[:MAX_TASKS]
    )
    stamp = utc(timezone.now())
    base_url = settings.GUANXI_BASE_URL.rstrip("/")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(name)}",
        "X-PUBLISHED-TTL:PT15M",
        "REFRESH-INTERVAL;VALUE=DURATION:PT15M",
    ]
    for task in tasks:
        lines.extend(task_lines(task, stamp=stamp, base_url=base_url))
    lines.append("END:VCALENDAR")
    return ("\r\n".join(fold(line) for line in lines) + "\r\n").encode("utf-8")
