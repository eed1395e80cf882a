"""Shared fixtures. Personas: alice (sales, team East) owns records; bob is her
team-mate; charlie is in another team (West). One user per role besides."""

import email
import email.policy
import logging
import socket

import pytest
from aiosmtpd.controller import Controller
from django.test import Client
from django.utils import translation

from guanxi.accounts.models import ApiToken, Team, User

PASSWORD = "Correct-Horse-42"


@pytest.fixture(autouse=True)
def _english_by_default():
    """Each test starts in the test default language (en), whatever an earlier test in
    the same worker activated."""
    translation.activate("en")
    yield
    translation.deactivate()


def make_user(username, role, team=None, **extra):
    return User.objects.create_user(
        username=username,
        password=PASSWORD,
        role=role,
        team=team,
        email=f"{username}@example.com",
        **extra,
    )


@pytest.fixture
def east(db):
    return Team.objects.create(name="East")


@pytest.fixture
def west(db):
    return Team.objects.create(name="West")


@pytest.fixture
def alice(east):
    return make_user("alice", "sales", east)


@pytest.fixture
def bob(east):
    return make_user("bob", "sales", east)


@pytest.fixture
def charlie(west):
    return make_user("charlie", "sales", west)


@pytest.fixture
def admin_user(east):
    return make_user("root", "admin", east)


@pytest.fixture
def manager(east):
    return make_user("mona", "manager", east)


@pytest.fixture
def users_by_role(east):
    return {
        role: make_user(f"u_{role}", role, east)
        for role in ["admin", "manager", "sales", "service", "marketing", "analyst"]
    }


def token_for(user) -> str:
    raw, prefix, digest = ApiToken.generate()
    ApiToken.objects.create(user=user, name="test", prefix=prefix, digest=digest)
    return raw


class ApiClient:
    """Calls /api/v1 with a Bearer token, JSON in and out."""

    def __init__(self, user):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token_for(user)}"}

    def _call(self, method, path, data=None, **params):
        url = f"/api/v1{path}"
        fn = getattr(self.client, method)
        if method in ("get", "delete"):
            return (
                fn(url, params or None, headers=self.headers)
                if method == "get"
                else fn(url, headers=self.headers)
            )
        return fn(url, data or {}, content_type="application/json", headers=self.headers)

    def get(self, path, **params):
        return self._call("get", path, **params)

    def post(self, path, data=None):
        return self._call("post", path, data)

    def patch(self, path, data=None):
        return self._call("patch", path, data)

    def put(self, path, data=None):
        return self._call("put", path, data)

    def delete(self, path):
        return self._call("delete", path)


@pytest.fixture
def api_as():
    return ApiClient


@pytest.fixture
def web_as(client):
    def login(user):
        client.force_login(user)
        return client

    return login


# A real SMTP server (aiosmtpd) ---------------------------------------------------------


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
