"""Fixtures for the accounts tests: a real SMTP server and a clock we can move."""

import datetime
import email
import email.policy
import logging
import socket

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone


class Mailbox:
    """Keeps every message the SMTP server receives."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    @property
    def messages(self):
        return [
            email.message_from_bytes(e.original_content or e.content, policy=email.policy.default)
            for e in self.envelopes
        ]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server(settings):
    """An SMTP server on 127.0.0.1, with Django sending real SMTP to it."""
    mailbox = Mailbox()
    # aiosmtpd logs each connection at INFO from its own thread, sometimes after pytest
    # has closed the stream it captured ("I/O operation on closed file").
    log = logging.getLogger("mail.log")
    level = log.level
    log.setLevel(logging.WARNING)
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    try:
        yield mailbox
    finally:
        controller.stop()
        log.setLevel(level)


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
