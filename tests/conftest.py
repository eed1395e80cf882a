"""Shared fixtures. Personas: alice (sales, team East) owns records; bob is her
team-mate; charlie is in another team (West). One user per role besides."""

import pytest
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
