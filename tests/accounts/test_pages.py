"""The account pages: users & teams for administrators, profile for everyone."""

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from guanxi.accounts.models import Team, User
from guanxi.core.models import AuditEntry
from tests.accounts.test_users_api import GOOD_PASSWORD, NON_ADMIN_ROLES, accounts_state
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def user_form(**extra):
    data = {
        "username": "dora",
        "display_name": "Dora Wang",
        "email": "dora@example.com",
        "phone": "",
        "role": "service",
        "team": "",
        "language": "",
        "time_zone": "",
        "password": GOOD_PASSWORD,
    }
    data.update(extra)
    return data


class TestAdminPagesPermissions:
    @pytest.mark.parametrize("role", NON_ADMIN_ROLES)
    def test_non_admins_get_403_on_every_admin_page(self, web_as, users_by_role, west, role):
        client = web_as(users_by_role[role])
        target = users_by_role["sales"]
        before = accounts_state()
        gets = [
            "/accounts/users/",
            "/accounts/users/new/",
            f"/accounts/users/{target.pk}/",
            "/accounts/teams/",
            "/accounts/teams/new/",
            f"/accounts/teams/{west.pk}/",
        ]
        assert [client.get(url).status_code for url in gets] == [403] * len(gets)
        posts = [
            ("/accounts/users/new/", user_form()),
            (f"/accounts/users/{target.pk}/", user_form(username="hacked", role="admin")),
            (f"/accounts/users/{target.pk}/deactivate/", {}),
            ("/accounts/teams/new/", {"name": "North"}),
            (f"/accounts/teams/{west.pk}/", {"name": "Hacked"}),
        ]
        assert [client.post(url, data).status_code for url, data in posts] == [403] * len(posts)
        assert accounts_state() == before

    def test_anonymous_visitors_are_sent_to_log_in(self, client):
        response = client.get("/accounts/users/")
        assert response.status_code == 302
        assert response["Location"] == "/accounts/login/?next=/accounts/users/"

    def test_only_admins_see_users_and_teams_in_the_navigation(self, web_as, admin_user, alice):
        assert "/accounts/users/" in web_as(admin_user).get("/accounts/profile/").content.decode()
        assert "/accounts/users/" not in web_as(alice).get("/accounts/profile/").content.decode()


class TestUsersPages:
    def test_the_list_shows_role_team_and_status(self, web_as, admin_user, alice, charlie):
        charlie.is_active = False
        charlie.save()
        body = web_as(admin_user).get("/accounts/users/").content.decode()
        assert "alice" in body and "Sales rep" in body and "East" in body
        assert "charlie" not in body  # active users by default
        every = web_as(admin_user).get("/accounts/users/?active=all").content.decode()
        assert "charlie" in every and "deactivated" in every

    def test_the_list_does_not_grow_queries_with_users(self, web_as, admin_user, east, west):
        client = web_as(admin_user)
        client.get("/accounts/users/")
        with CaptureQueriesContext(connection) as few:
            client.get("/accounts/users/")
        for i in range(12):
            make_user(f"extra{i}", "sales", east if i % 2 else west)
        with CaptureQueriesContext(connection) as many:
            body = client.get("/accounts/users/").content.decode()
        assert "extra11" in body
        assert len(many) == len(few)

    def test_an_admin_creates_a_user_on_the_page(self, web_as, admin_user, west):
        response = web_as(admin_user).post("/accounts/users/new/", user_form(team=west.pk))
        assert response.status_code == 302
        assert response["Location"] == "/accounts/users/"
        dora = User.objects.get(username="dora")
        assert (dora.role, dora.team, dora.display_name) == ("service", west, "Dora Wang")
        assert dora.check_password(GOOD_PASSWORD)
        assert AuditEntry.objects.filter(model="accounts.user", object_id=dora.pk).count() == 1

    @pytest.mark.parametrize(
        "data, message",
        [
            (user_form(username="ALICE"), "A user with this username already exists."),
            (user_form(password="80417263"), "This password is entirely numeric."),
            (user_form(email="nope"), "is not a valid e-mail address."),
            (user_form(role="overlord"), "Select a valid choice."),
        ],
    )
    def test_bad_input_shows_the_error_and_writes_nothing(
        self, web_as, admin_user, alice, data, message
    ):
        client = web_as(admin_user)
        before = accounts_state()
        response = client.post("/accounts/users/new/", data)
        assert response.status_code == 200
        assert message in response.content.decode()
        assert accounts_state() == before

    def test_an_admin_edits_a_user(self, web_as, admin_user, alice, west):
        client = web_as(admin_user)
        page = client.get(f"/accounts/users/{alice.pk}/").content.decode()
        assert 'value="alice"' in page
        data = user_form(username="alice", role="manager", team=west.pk, password="")
        data["is_active"] = "on"
        response = client.post(f"/accounts/users/{alice.pk}/", data)
        assert response.status_code == 302
        alice.refresh_from_db()
        assert (alice.role, alice.team, alice.email) == ("manager", west, "dora@example.com")
        assert alice.check_password("Correct-Horse-42")  # empty password keeps the old one
        entry = AuditEntry.objects.get(model="accounts.user", object_id=alice.pk)
        assert entry.changes["role"] == ["sales", "manager"]
        assert entry.note == ""

    def test_an_admin_deactivates_a_user(self, web_as, admin_user, alice):
        response = web_as(admin_user).post(f"/accounts/users/{alice.pk}/deactivate/")
        assert response.status_code == 302
        alice.refresh_from_db()
        assert alice.is_active is False
        assert User.objects.filter(pk=alice.pk).exists()

    def test_an_admin_cannot_deactivate_themself_on_the_page(self, web_as, admin_user):
        client = web_as(admin_user)
        response = client.post(f"/accounts/users/{admin_user.pk}/deactivate/", follow=True)
        assert "You cannot deactivate yourself." in response.content.decode()
        admin_user.refresh_from_db()
        assert admin_user.is_active


class TestTeamsPages:
    def test_an_admin_creates_and_renames_a_team(self, web_as, admin_user, manager):
        client = web_as(admin_user)
        response = client.post("/accounts/teams/new/", {"name": "North", "manager": manager.pk})
        assert response.status_code == 302
        north = Team.objects.get(name="North")
        assert north.manager == manager
        response = client.post(f"/accounts/teams/{north.pk}/", {"name": "South", "manager": ""})
        assert response.status_code == 302
        north.refresh_from_db()
        assert (north.name, north.manager) == ("South", None)
        assert "South" in client.get("/accounts/teams/").content.decode()
        actions = AuditEntry.objects.filter(model="accounts.team", object_id=north.pk)
        assert sorted(actions.values_list("action", flat=True)) == ["create", "update"]

    def test_a_duplicate_team_name_is_shown_and_nothing_written(self, web_as, admin_user, east):
        before = accounts_state()
        response = web_as(admin_user).post("/accounts/teams/new/", {"name": "EAST"})
        assert response.status_code == 200
        assert "A team with this name already exists." in response.content.decode()
        assert accounts_state() == before


class TestProfilePage:
    def test_one_saves_display_name_language_and_time_zone(self, web_as, alice):
        client = web_as(alice)
        page = client.get("/accounts/profile/").content.decode()
        assert "Default (Asia/Shanghai)" in page
        response = client.post(
            "/accounts/profile/",
            {
                "display_name": "Alice Li",
                "email": "alice@example.com",
                "phone": "13812345678",
                "language": "zh-hans",
                "time_zone": "Asia/Tokyo",
            },
        )
        assert response.status_code == 302
        assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
        alice.refresh_from_db()
        assert (alice.display_name, alice.phone, alice.language, alice.time_zone) == (
            "Alice Li",
            "+8613812345678",
            "zh-hans",
            "Asia/Tokyo",
        )

    def test_bad_values_are_shown_and_nothing_written(self, web_as, alice):
        before = accounts_state()
        response = web_as(alice).post(
            "/accounts/profile/",
            {"display_name": "A", "email": "x@", "language": "", "time_zone": ""},
        )
        assert response.status_code == 200
        assert "is not a valid e-mail address." in response.content.decode()
        assert accounts_state() == before

    @pytest.mark.parametrize(
        "url", ["/accounts/profile/", "/accounts/password/", "/accounts/tokens/"]
    )
    def test_account_pages_work_for_every_role(self, web_as, users_by_role, url):
        for user in users_by_role.values():
            assert web_as(user).get(url).status_code == 200
