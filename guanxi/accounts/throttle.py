"""Login throttling by account + IP address.

A pair (username, IP) is locked once it has ``LOGIN_MAX_FAILURES`` failures within the
last ``LOGIN_LOCK_MINUTES``. While locked, the password is not even checked, and those
attempts are not counted, so the lock lifts on its own when the window has passed.
Another IP address is not affected, so an attacker cannot lock a user out everywhere.
"""

import dataclasses
import datetime
import math

from django.conf import settings
from django.utils import timezone

from guanxi.accounts.models import LoginFailure


@dataclasses.dataclass(frozen=True)
class Lock:
    until: datetime.datetime

    @property
    def minutes_left(self) -> int:
        seconds = (self.until - timezone.now()).total_seconds()
        return max(1, math.ceil(seconds / 60))


def normalize_username(username: str) -> str:
    return (username or "").strip().lower()[:150]


def client_ip(request) -> str | None:
    """The client's address. ``X-Forwarded-For`` is trusted only for the number of
    proxies in ``settings.GUANXI_TRUSTED_PROXIES`` (default 0), since anyone can send it."""
    proxies = getattr(settings, "GUANXI_TRUSTED_PROXIES", 0)
    if proxies:
        forwarded = [
            p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()
        ]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR") or None


def _window_start() -> datetime.datetime:
    return timezone.now() - datetime.timedelta(minutes=settings.LOGIN_LOCK_MINUTES)


def lock_status(username: str, ip: str | None) -> Lock | None:
    """The lock on this pair, or None when a login may be tried."""
    limit = settings.LOGIN_MAX_FAILURES
    recent = list(
        LoginFailure.objects.filter(
            username=normalize_username(username), ip=ip, at__gt=_window_start()
        )
        .order_by("-at")
        .values_list("at", flat=True)[:limit]
    )
    if len(recent) < limit:
        return None
    # Unlocked when the oldest of the last ``limit`` failures leaves the window.
    return Lock(until=recent[-1] + datetime.timedelta(minutes=settings.LOGIN_LOCK_MINUTES))


def record_failure(username: str, ip: str | None) -> Lock | None:
    LoginFailure.objects.create(username=normalize_username(username), ip=ip, at=timezone.now())
    # Old rows are of no further use; keep the table small.
    LoginFailure.objects.filter(
        username=normalize_username(username), ip=ip, at__lte=_window_start()
    ).delete()
    return lock_status(username, ip)


def clear_failures(username: str, ip: str | None = None, *, everywhere: bool = False) -> None:
    """Forget failures for the pair (after a successful login), or for every address
    (after the password was reset by e-mail)."""
    qs = LoginFailure.objects.filter(username=normalize_username(username))
    if not everywhere:
        qs = qs.filter(ip=ip)
    qs.delete()
