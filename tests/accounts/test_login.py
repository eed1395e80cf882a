"""Logging in and out: throttling by account + IP, cookies, CSRF, language."""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from guanxi.accounts.models import ApiToken, LoginFailure, User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
LOGIN = "/accounts/login/"


def attempt(client, username, password, ip="10.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def fail_times(client, n, username="alice", ip="10.0.0.1"):
    for _ in range(n):
        response = attempt(client, username, "wrong-password", ip)
        assert response.status_code == 200
    return response


def test_the_login_url_keeps_its_name():
    assert reverse("accounts:login") == LOGIN
    assert reverse("accounts:logout") == "/accounts/logout/"
    assert reverse("accounts:users") == "/accounts/users/"


def test_the_login_page_renders_with_a_reset_link(client):
    response = client.get(LOGIN)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="username"' in body and 'name="password"' in body
    assert 'name="csrfmiddlewaretoken"' in body
    assert reverse("accounts:password_reset") in body
    assert 'name="viewport"' in body


def test_right_password_logs_in_and_redirects_to_the_dashboard(client, alice):
    response = attempt(client, "alice", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("web:dashboard")
    assert logged_in(client)


def test_a_wrong_password_is_refused_and_counted(client, alice):
    response = attempt(client, "alice", "nope")
    assert response.status_code == 200
    assert not logged_in(client)
    assert 'id="login-error"' in response.content.decode()
    assert list(LoginFailure.objects.values_list("username", "ip")) == [("alice", "10.0.0.1")]


def test_five_failures_lock_the_pair_and_the_page_says_for_how_long(client, alice, clock):
    response = fail_times(client, settings.LOGIN_MAX_FAILURES)
    body = response.content.decode()
    assert 'id="login-locked"' in body
    assert "locked on this device for 15 more minutes" in body
    assert LoginFailure.objects.count() == 5


def test_while_locked_even_the_right_password_is_refused(client, alice, clock):
    fail_times(client, 5)
    clock.advance(minutes=1)
    response = attempt(client, "alice", PASSWORD)
    assert response.status_code == 200
    assert not logged_in(client)
    body = response.content.decode()
    assert 'id="login-locked"' in body
    assert "for 14 more minutes" in body
    # Attempts while locked are not checked nor counted, so the lock ends on time.
    assert LoginFailure.objects.count() == 5


def test_four_failures_do_not_lock(client, alice):
    fail_times(client, 4)
    assert attempt(client, "alice", PASSWORD).status_code == 302
    assert logged_in(client)


def test_a_successful_login_clears_the_failures(client, alice):
    fail_times(client, 4)
    attempt(client, "alice", PASSWORD)
    assert LoginFailure.objects.count() == 0
    client.logout()
    # Four more failures are again not enough to lock.
    fail_times(client, 4)
    assert attempt(client, "alice", PASSWORD).status_code == 302


def test_another_ip_address_is_not_locked(client, alice):
    fail_times(client, 5, ip="10.0.0.1")
    other = Client()
    assert attempt(other, "alice", PASSWORD, ip="10.0.0.2").status_code == 302
    assert logged_in(other)
    # ... and the first address stays locked.
    assert 'id="login-locked"' in attempt(client, "alice", PASSWORD).content.decode()


def test_another_account_from_the_same_ip_is_not_locked(client, alice, bob):
    fail_times(client, 5, username="alice")
    assert attempt(client, "bob", PASSWORD).status_code == 302


def test_the_username_is_counted_without_regard_to_case(client, alice):
    for name in ["Alice", "ALICE", "alice ", "aLiCe", "alice"]:
        attempt(client, name, "wrong")
    assert 'id="login-locked"' in attempt(client, "alice", PASSWORD).content.decode()


def test_the_lock_lifts_after_the_lock_minutes(client, alice, clock):
    fail_times(client, 5)
    clock.advance(minutes=14, seconds=59)
    assert attempt(client, "alice", PASSWORD).status_code == 200
    assert "for 1 more minute." in attempt(client, "alice", PASSWORD).content.decode()
    clock.advance(seconds=2)
    assert attempt(client, "alice", PASSWORD).status_code == 302
    assert logged_in(client)


def test_failures_spread_over_more_than_the_window_do_not_lock(client, alice, clock):
    fail_times(client, 4)
    clock.advance(minutes=16)
    fail_times(client, 1)
    assert attempt(client, "alice", PASSWORD).status_code == 302


def test_an_inactive_user_cannot_log_in(client, alice):
    alice.is_active = False
    alice.save()
    assert attempt(client, "alice", PASSWORD).status_code == 200
    assert not logged_in(client)


def test_logout_is_by_post_only(client, alice):
    client.force_login(alice)
    assert client.get("/accounts/logout/").status_code == 405
    assert logged_in(client)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert not logged_in(client)


def test_the_users_language_is_activated_on_login(client, alice):
    alice.language = "zh-hans"
    alice.save()
    response = attempt(client, "alice", PASSWORD)
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    follow = client.get(reverse("accounts:profile"))
    assert follow.content.decode().startswith("<!doctype html>")
    assert '<html lang="zh-hans">' in follow.content.decode()


def test_no_language_cookie_when_the_user_has_none(client, alice):
    response = attempt(client, "alice", PASSWORD)
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies


class TestSessionSecurity:
    def test_session_and_csrf_cookies_are_httponly_and_samesite(self):
        assert settings.SESSION_COOKIE_HTTPONLY is True
        assert settings.SESSION_COOKIE_SAMESITE == "Lax"
        assert settings.CSRF_COOKIE_HTTPONLY is True
        assert settings.CSRF_COOKIE_SAMESITE == "Lax"
        assert settings.X_FRAME_OPTIONS == "DENY"

    def test_the_session_cookie_set_at_login_is_httponly_and_lax(self, client, alice):
        response = attempt(client, "alice", PASSWORD)
        cookie = response.cookies[settings.SESSION_COOKIE_NAME]
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Lax"

    def test_a_login_post_without_csrf_token_is_refused(self, alice):
        client = Client(enforce_csrf_checks=True)
        response = attempt(client, "alice", PASSWORD)
        assert response.status_code == 403
        assert not logged_in(client)
        assert LoginFailure.objects.count() == 0

    def test_a_login_post_with_the_csrf_token_works(self, alice):
        client = Client(enforce_csrf_checks=True)
        client.get(LOGIN)
        token = client.cookies[settings.CSRF_COOKIE_NAME].value
        response = client.post(
            LOGIN, {"username": "alice", "password": PASSWORD, "csrfmiddlewaretoken": token}
        )
        assert response.status_code == 302

    @pytest.mark.parametrize(
        "url, data",
        [
            ("/accounts/tokens/", {"name": "x"}),
            ("/accounts/profile/", {"display_name": "Hacked"}),
            ("/accounts/password/", {"old_password": PASSWORD, "new_password1": "x"}),
            ("/accounts/users/new/", {"username": "mallory", "role": "admin"}),
            ("/accounts/teams/new/", {"name": "Evil"}),
            ("/accounts/logout/", {}),
            ("/accounts/password/reset/", {"email": "root@example.com"}),
        ],
    )
    def test_every_form_refuses_a_post_without_csrf_token(self, admin_user, url, data):
        client = Client(enforce_csrf_checks=True)
        client.force_login(admin_user)
        users_before = list(User.objects.values_list("username", "display_name", "password"))
        response = client.post(url, data)
        assert response.status_code == 403
        assert list(User.objects.values_list("username", "display_name", "password")) == (
            users_before
        )
        assert ApiToken.objects.count() == 0
        assert logged_in(client)
