"""Password reset by e-mail through a real SMTP server, and password change."""

import datetime
import json
import re

import pytest
from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.test import Client

from guanxi.accounts.models import LoginFailure
from guanxi.core.models import AuditEntry
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "Jade-Rabbit-9071"
LINK = re.compile(r"http://testserver(/accounts/reset/[^/\s]+/[^/\s]+/)")


def ask_for_reset(client, address="alice@example.com"):
    response = client.post("/accounts/password/reset/", {"email": address})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/reset/sent/"
    return response


def reset_link(message) -> str:
    body = message.get_body(preferencelist=("plain",)).get_content()
    found = LINK.findall(body)
    assert len(found) == 1, body
    return found[0]


def set_password_through(client, link, password=NEW_PASSWORD):
    response = client.get(link)
    # Django moves the token out of the URL into the session, then shows the form.
    assert response.status_code == 302
    form_url = response["Location"]
    assert form_url.endswith("/set-password/")
    page = client.get(form_url)
    assert 'name="new_password1"' in page.content.decode()
    return client.post(form_url, {"new_password1": password, "new_password2": password})


def can_log_in(username, password) -> bool:
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR="10.9.9.9"
    )
    return response.status_code == 302 and "_auth_user_id" in client.session


class TestResetByEmail:
    def test_the_whole_reset_goes_through_smtp(self, client, alice, smtp_server):
        ask_for_reset(client)

        assert len(smtp_server.envelopes) == 1
        envelope = smtp_server.envelopes[0]
        assert envelope.rcpt_tos == ["alice@example.com"]
        message = smtp_server.messages[0]
        assert message["To"] == "alice@example.com"
        assert message["Subject"] == "Reset your Guanxi password"
        assert "Your username: alice" in message.get_body(("plain",)).get_content()

        response = set_password_through(client, reset_link(message))
        assert response.status_code == 302
        assert response["Location"] == "/accounts/password/reset/done/"

        assert can_log_in("alice", NEW_PASSWORD)
        assert not can_log_in("alice", PASSWORD)

    def test_a_used_link_is_refused(self, client, alice, smtp_server):
        ask_for_reset(client)
        link = reset_link(smtp_server.messages[0])
        set_password_through(client, link)

        again = Client().get(link, follow=True)
        assert 'id="reset-invalid"' in again.content.decode()
        assert 'name="new_password1"' not in again.content.decode()

    def test_an_expired_link_is_refused_and_the_password_stays(
        self, client, alice, smtp_server, monkeypatch
    ):
        ask_for_reset(client)
        link = reset_link(smtp_server.messages[0])
        later = datetime.datetime.now() + datetime.timedelta(
            seconds=settings.PASSWORD_RESET_TIMEOUT + 60
        )
        monkeypatch.setattr(PasswordResetTokenGenerator, "_now", lambda self: later)

        response = client.get(link, follow=True)
        assert 'id="reset-invalid"' in response.content.decode()
        alice.refresh_from_db()
        assert alice.check_password(PASSWORD)

    def test_a_link_still_works_just_before_it_expires(
        self, client, alice, smtp_server, monkeypatch
    ):
        ask_for_reset(client)
        link = reset_link(smtp_server.messages[0])
        later = datetime.datetime.now() + datetime.timedelta(
            seconds=settings.PASSWORD_RESET_TIMEOUT - 60
        )
        monkeypatch.setattr(PasswordResetTokenGenerator, "_now", lambda self: later)
        assert set_password_through(client, link).status_code == 302

    def test_a_weak_new_password_is_refused(self, client, alice, smtp_server):
        ask_for_reset(client)
        response = set_password_through(client, reset_link(smtp_server.messages[0]), "12345678")
        assert response.status_code == 200
        assert "This password is entirely numeric." in response.content.decode()
        alice.refresh_from_db()
        assert alice.check_password(PASSWORD)

    def test_an_unknown_address_sends_nothing_and_reveals_nothing(self, client, smtp_server):
        response = ask_for_reset(client, "nobody@example.com")
        assert response["Location"] == "/accounts/password/reset/sent/"
        assert smtp_server.envelopes == []

    def test_an_inactive_user_gets_no_link(self, client, alice, smtp_server):
        alice.is_active = False
        alice.save()
        ask_for_reset(client)
        assert smtp_server.envelopes == []

    def test_a_reset_lifts_the_login_lock_and_is_audited(self, client, alice, smtp_server):
        for _ in range(5):
            client.post("/accounts/login/", {"username": "alice", "password": "x"})
        assert LoginFailure.objects.count() == 5
        ask_for_reset(client)
        set_password_through(client, reset_link(smtp_server.messages[0]))

        assert LoginFailure.objects.count() == 0
        entry = AuditEntry.objects.get(model="accounts.user", object_id=alice.pk)
        assert entry.note == "password reset by e-mail"
        alice.refresh_from_db()
        assert alice.password not in json.dumps(entry.changes)
        assert entry.changes == {}


class TestPasswordChange:
    URL = "/accounts/password/"

    def post(self, client, old, new1, new2=None):
        return client.post(
            self.URL,
            {"old_password": old, "new_password1": new1, "new_password2": new2 or new1},
        )

    def test_it_changes_the_password_and_keeps_the_session(self, web_as, alice):
        client = web_as(alice)
        response = self.post(client, PASSWORD, NEW_PASSWORD)
        assert response.status_code == 302
        assert response["Location"] == "/accounts/profile/"
        alice.refresh_from_db()
        assert alice.check_password(NEW_PASSWORD)
        assert client.get("/accounts/profile/").status_code == 200

    def test_it_is_audited_without_the_hash(self, web_as, alice):
        self.post(web_as(alice), PASSWORD, NEW_PASSWORD)
        alice.refresh_from_db()
        entry = AuditEntry.objects.get(model="accounts.user", object_id=alice.pk)
        assert (entry.action, entry.actor, entry.note) == ("update", alice, "password changed")
        assert entry.changes == {}
        assert alice.password not in json.dumps(entry.changes)

    def test_a_wrong_current_password_is_refused(self, web_as, alice):
        response = self.post(web_as(alice), "not-my-password", NEW_PASSWORD)
        assert response.status_code == 200
        assert "Your old password was entered incorrectly." in response.content.decode()
        alice.refresh_from_db()
        assert alice.check_password(PASSWORD)
        assert AuditEntry.objects.count() == 0

    @pytest.mark.parametrize(
        "weak, message",
        [
            ("12345678", "This password is entirely numeric."),
            ("short", "This password is too short."),
            ("password", "This password is too common."),
            ("alice-example", "The password is too similar to the"),
        ],
    )
    def test_a_weak_password_is_refused(self, web_as, alice, weak, message):
        response = self.post(web_as(alice), PASSWORD, weak)
        assert response.status_code == 200
        assert message in response.content.decode()
        alice.refresh_from_db()
        assert alice.check_password(PASSWORD)
        assert AuditEntry.objects.count() == 0

    def test_the_two_new_passwords_must_match(self, web_as, alice):
        response = self.post(web_as(alice), PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x")
        assert "The two passwords do not match." in response.content.decode()
        alice.refresh_from_db()
        assert alice.check_password(PASSWORD)

    def test_it_needs_a_login(self, client):
        response = client.get(self.URL)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
