"""Fixtures for the accounts tests: a clock we can move (the SMTP server is in
tests/conftest.py)."""

import datetime

import pytest
from django.utils import timezone


class Clock:
    def __init__(self, monkeypatch):
        self.now = timezone.now()
        monkeypatch.setattr(timezone, "now", lambda: self.now)

    def advance(self, **delta):
        self.now += datetime.timedelta(**delta)


@pytest.fixture
def clock(monkeypatch):
    """Freezes django.utils.timezone.now; ``clock.advance(minutes=15)`` moves it."""
    return Clock(monkeypatch)
