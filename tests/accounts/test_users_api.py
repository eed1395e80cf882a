"""Users, teams and /me over the API: administrators only, audited, bad input → 422."""

import json

import pytest
from django.test import Client

from guanxi.accounts.models import ApiToken, Team, User
from guanxi.core.models import AuditEntry

pytestmark = pytest.mark.django_db
NON_ADMIN_ROLES = ["manager", "sales", "service", "marketing", "analyst"]
GOOD_PASSWORD = "Lotus-Harbor-2231"


def accounts_state() -> dict:
    """Every row the users and teams API could write."""
    return {
        "users": list(
            User.objects.order_by("pk").values_list(
                "pk",
                "username",
                "display_name",
                "email",
                "role",
                "team_id",
                "is_active",
                "password",
                "language",
                "time_zone",
            )
        ),
        "teams": list(Team.objects.order_by("pk").values_list("pk", "name", "manager_id")),
        "audit": AuditEntry.objects.count(),
    }


def new_user(**extra):
    data = {
        "username": "dora",
        "display_name": "Dora Wang",
        "email": "Dora@Example.com",
        "role": "service",
        "password": GOOD_PASSWORD,
    }
    data.update(extra)
    return data


class TestPermissions:
    @pytest.mark.parametrize("role", NON_ADMIN_ROLES)
    def test_non_admins_get_403_on_every_users_and_teams_endpoint(
        self, api_as, users_by_role, west, alice, role
    ):
        api = api_as(users_by_role[role])
        before = accounts_state()
        calls = [
            api.get("/users"),
            api.get(f"/users/{alice.pk}"),
            api.post("/users", new_user()),
            api.patch(f"/users/{alice.pk}", {"role": "admin"}),
            api.post(f"/users/{alice.pk}/deactivate"),
            api.patch(f"/users/{users_by_role[role].pk}", {"role": "admin"}),
            api.get("/teams"),
            api.get(f"/teams/{west.pk}"),
            api.post("/teams", {"name": "North"}),
            api.patch(f"/teams/{west.pk}", {"name": "Far West"}),
            api.delete(f"/teams/{west.pk}"),
        ]
        assert [r.status_code for r in calls] == [403] * len(calls)
        assert {r.json()["code"] for r in calls} == {"permission_denied"}
        assert accounts_state() == before

    def test_anonymous_callers_get_401(self, alice):
        before = accounts_state()
        client = Client()
        assert client.get("/api/v1/users").status_code == 401
        response = client.post("/api/v1/users", new_user(), content_type="application/json")
        assert response.status_code == 401
        assert accounts_state() == before


class TestMe:
    @pytest.mark.parametrize("role", ["admin", *NON_ADMIN_ROLES])
    def test_every_role_can_read_itself(self, api_as, users_by_role, east, role):
        user = users_by_role[role]
        response = api_as(user).get("/me")
        assert response.status_code == 200
        assert response.json() == {
            "id": user.pk,
            "username": f"u_{role}",
            "display_name": "",
            "email": f"u_{role}@example.com",
            "role": role,
            "role_label": str(user.role_obj.label),
            "team": {"id": east.pk, "name": "East"},
            "language": "",
            "time_zone": "",
        }

    def test_one_can_change_ones_own_preferences(self, api_as, alice):
        response = api_as(alice).patch(
            "/me", {"display_name": "Alice Li", "language": "zh-hans", "time_zone": "Europe/Berlin"}
        )
        assert response.status_code == 200
        alice.refresh_from_db()
        assert (alice.display_name, alice.language, alice.time_zone) == (
            "Alice Li",
            "zh-hans",
            "Europe/Berlin",
        )
        entry = AuditEntry.objects.get(model="accounts.user", object_id=alice.pk)
        assert entry.changes == {
            "display_name": ["", "Alice Li"],
            "language": ["", "zh-hans"],
            "time_zone": ["", "Europe/Berlin"],
        }

    def test_one_cannot_change_ones_own_role_through_me(self, api_as, alice):
        before = accounts_state()
        response = api_as(alice).patch("/me", {"role": "admin"})
        # The schema drops unknown fields: nothing to change, nothing written.
        assert response.status_code == 200
        assert response.json()["role"] == "sales"
        assert accounts_state() == before

    def test_bad_preferences_are_refused(self, api_as, alice):
        before = accounts_state()
        response = api_as(alice).patch("/me", {"language": "fr", "time_zone": "Mars/Olympus"})
        assert response.status_code == 422
        assert set(response.json()["errors"]) == {"language", "time_zone"}
        assert accounts_state() == before


class TestUsersAdmin:
    def test_an_admin_creates_a_user_who_can_then_log_in(self, api_as, admin_user, west):
        response = api_as(admin_user).post("/users", new_user(team=west.pk))
        assert response.status_code == 201
        body = response.json()
        assert "password" not in body
        assert body["username"] == "dora" and body["email"] == "dora@example.com"
        assert body["team"] == {"id": west.pk, "name": "West"}
        dora = User.objects.get(username="dora")
        assert dora.role == "service" and dora.is_active
        assert dora.check_password(GOOD_PASSWORD)
        client = Client()
        login = client.post("/accounts/login/", {"username": "dora", "password": GOOD_PASSWORD})
        assert login.status_code == 302

    def test_creating_a_user_is_audited_without_the_password(self, api_as, admin_user, west):
        api_as(admin_user).post("/users", new_user(team=west.pk))
        dora = User.objects.get(username="dora")
        entry = AuditEntry.objects.get(model="accounts.user", object_id=dora.pk)
        assert (entry.action, entry.actor, entry.note) == ("create", admin_user, "password changed")
        assert entry.changes == {
            "username": [None, "dora"],
            "email": [None, "dora@example.com"],
            "display_name": [None, "Dora Wang"],
            "role": [None, "service"],
            "team": [None, "West"],
            "is_active": [None, True],
        }
        text = json.dumps(entry.changes)
        assert dora.password not in text and GOOD_PASSWORD not in text

    def test_an_admin_changes_role_and_team_and_it_is_audited(
        self, api_as, admin_user, alice, west
    ):
        response = api_as(admin_user).patch(
            f"/users/{alice.pk}", {"role": "manager", "team": west.pk}
        )
        assert response.status_code == 200
        alice.refresh_from_db()
        assert (alice.role, alice.team) == ("manager", west)
        entry = AuditEntry.objects.get(model="accounts.user", object_id=alice.pk)
        assert entry.changes == {"role": ["sales", "manager"], "team": ["East", "West"]}

    def test_an_admin_can_set_a_new_password_and_it_is_not_audited(self, api_as, admin_user, alice):
        response = api_as(admin_user).patch(f"/users/{alice.pk}", {"password": GOOD_PASSWORD})
        assert response.status_code == 200
        alice.refresh_from_db()
        assert alice.check_password(GOOD_PASSWORD)
        entry = AuditEntry.objects.get(model="accounts.user", object_id=alice.pk)
        assert entry.changes == {} and entry.note == "password changed"

    def test_deactivating_keeps_the_user_and_stops_login_and_tokens(
        self, api_as, admin_user, alice
    ):
        alice_api = api_as(alice)
        response = api_as(admin_user).post(f"/users/{alice.pk}/deactivate")
        assert response.status_code == 200
        assert response.json()["is_active"] is False
        alice.refresh_from_db()
        assert alice.is_active is False
        assert alice_api.get("/me").status_code == 401
        entry = AuditEntry.objects.get(model="accounts.user", object_id=alice.pk)
        assert entry.changes == {"is_active": [True, False]}

    def test_there_is_no_hard_delete(self, api_as, admin_user, alice):
        response = api_as(admin_user).delete(f"/users/{alice.pk}")
        assert response.status_code == 405
        assert User.objects.filter(pk=alice.pk, is_active=True).exists()

    def test_an_admin_cannot_deactivate_themself(self, api_as, admin_user):
        before = accounts_state()
        api = api_as(admin_user)
        response = api.post(f"/users/{admin_user.pk}/deactivate")
        assert response.status_code == 422
        assert response.json()["errors"] == {"is_active": ["You cannot deactivate yourself."]}
        assert accounts_state() == before

    def test_the_last_active_admin_cannot_be_demoted(self, api_as, admin_user):
        before = accounts_state()
        response = api_as(admin_user).patch(f"/users/{admin_user.pk}", {"role": "sales"})
        assert response.status_code == 422
        assert response.json()["errors"] == {
            "role": ["There must be at least one active administrator."]
        }
        assert accounts_state() == before

    def test_an_admin_can_be_demoted_when_another_remains(self, api_as, admin_user, east):
        other = User.objects.create_user("root2", password="x", role="admin", team=east)
        assert (
            api_as(admin_user).patch(f"/users/{other.pk}", {"role": "analyst"}).status_code == 200
        )

    def test_the_list_filters_by_role_team_and_status(
        self, api_as, admin_user, alice, bob, charlie, west
    ):
        api = api_as(admin_user)
        bob.is_active = False
        bob.save()
        names = lambda r: [u["username"] for u in r.json()]  # noqa: E731
        assert names(api.get("/users")) == ["alice", "charlie", "root", "bob"]
        assert names(api.get("/users", team=west.pk)) == ["charlie"]
        assert names(api.get("/users", role="admin")) == ["root"]
        assert names(api.get("/users", active="false")) == ["bob"]
        assert names(api.get("/users", q="ali")) == ["alice"]

    def test_an_unknown_user_is_404(self, api_as, admin_user):
        assert api_as(admin_user).get("/users/99999").status_code == 404


class TestUsersBadInput:
    @pytest.mark.parametrize(
        "data, errors",
        [
            (
                new_user(username="Alice"),
                {"username": ["A user with this username already exists."]},
            ),
            (
                new_user(role="overlord"),
                {
                    "role": [
                        "“overlord” is not one of: admin, manager, sales, service, marketing, "
                        "analyst."
                    ]
                },
            ),
            (new_user(password="80417263"), {"password": ["This password is entirely numeric."]}),
            (
                new_user(password="short"),
                {
                    "password": [
                        "This password is too short. It must contain at least 8 characters."
                    ]
                },
            ),
            (
                new_user(password=None),
                {"password": ["This field is required."]},
            ),
            (new_user(username=""), {"username": ["This field is required."]}),
            (
                new_user(email="not-an-email"),
                {"email": ["“not-an-email” is not a valid e-mail address."]},
            ),
            (new_user(team=98765), {"team": ["There is no team “98765”."]}),
            (new_user(language="fr"), {"language": ["“fr” is not one of: zh-hans, en."]}),
            (new_user(time_zone="Moon/Base"), {"time_zone": ["“Moon/Base” is not a time zone."]}),
            (new_user(is_active=False), {"is_active": ["This field cannot be changed here."]}),
        ],
    )
    def test_bad_input_is_refused_with_field_errors_and_nothing_written(
        self, api_as, admin_user, alice, data, errors
    ):
        api = api_as(admin_user)
        before = accounts_state()
        tokens = ApiToken.objects.count()
        response = api.post("/users", data)
        assert response.status_code == 422
        assert response.json()["code"] == "validation_error"
        assert response.json()["errors"] == errors
        assert accounts_state() == before
        assert ApiToken.objects.count() == tokens

    def test_several_problems_are_reported_together(self, api_as, admin_user, alice):
        response = api_as(admin_user).post(
            "/users", new_user(username="alice", role="boss", password="123")
        )
        assert response.status_code == 422
        assert set(response.json()["errors"]) == {"username", "role", "password"}

    def test_a_password_like_the_e_mail_address_is_refused(self, api_as, admin_user):
        response = api_as(admin_user).post("/users", new_user(password="dora@example"))
        assert response.status_code == 422
        assert "password" in response.json()["errors"]
        assert not User.objects.filter(username="dora").exists()

    def test_renaming_to_a_taken_username_is_refused(self, api_as, admin_user, alice, bob):
        before = accounts_state()
        response = api_as(admin_user).patch(f"/users/{bob.pk}", {"username": "ALICE"})
        assert response.status_code == 422
        assert response.json()["errors"] == {
            "username": ["A user with this username already exists."]
        }
        assert accounts_state() == before


class TestTeamsAdmin:
    def test_create_update_and_list_teams(self, api_as, admin_user, manager, east):
        api = api_as(admin_user)
        created = api.post("/teams", {"name": "North", "manager": manager.pk})
        assert created.status_code == 201
        body = created.json()
        assert body["name"] == "North" and body["member_count"] == 0
        assert body["manager"] == {"id": manager.pk, "username": "mona", "display_name": ""}

        changed = api.patch(f"/teams/{body['id']}", {"name": "North-East", "manager": None})
        assert changed.status_code == 200
        assert changed.json()["manager"] is None

        listed = {t["name"]: t["member_count"] for t in api.get("/teams").json()}
        assert listed == {"East": 2, "North-East": 0}

        entries = AuditEntry.objects.filter(model="accounts.team", object_id=body["id"])
        assert [(e.action, e.changes) for e in entries.order_by("id")] == [
            ("create", {"name": [None, "North"], "manager": [None, "mona"]}),
            ("update", {"name": ["North", "North-East"], "manager": ["mona", None]}),
        ]

    @pytest.mark.parametrize(
        "data, errors",
        [
            ({"name": "east"}, {"name": ["A team with this name already exists."]}),
            ({"name": ""}, {"name": ["This field is required."]}),
            ({"name": "x" * 101}, {"name": ["At most 100 characters."]}),
            (
                {"name": "South", "manager": 424242},
                {"manager": ["There is no active user “424242”."]},
            ),
        ],
    )
    def test_bad_team_input_is_refused(self, api_as, admin_user, east, data, errors):
        before = accounts_state()
        response = api_as(admin_user).post("/teams", data)
        assert response.status_code == 422
        assert response.json()["errors"] == errors
        assert accounts_state() == before

    def test_an_empty_team_can_be_deleted_and_it_is_audited(self, api_as, admin_user, west):
        assert api_as(admin_user).delete(f"/teams/{west.pk}").status_code == 204
        assert not Team.objects.filter(pk=west.pk).exists()
        entry = AuditEntry.objects.get(model="accounts.team", object_id=west.pk)
        assert (entry.action, entry.changes) == ("delete", {"name": ["West", None]})

    def test_a_team_with_members_cannot_be_deleted(self, api_as, admin_user, charlie, west):
        before = accounts_state()
        response = api_as(admin_user).delete(f"/teams/{west.pk}")
        assert response.status_code == 422
        assert response.json()["errors"] == {
            "team": ["Move the team's members to another team first."]
        }
        assert accounts_state() == before
