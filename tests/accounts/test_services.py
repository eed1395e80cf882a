"""The account services and the throttle, called directly."""

import pytest
from django.test import RequestFactory

from guanxi.accounts import services, throttle
from guanxi.accounts.models import ApiToken, LoginFailure, Team, User
from guanxi.core.errors import PermissionDenied, ValidationFailed
from guanxi.core.models import AuditEntry
from tests.accounts.test_users_api import GOOD_PASSWORD, NON_ADMIN_ROLES, accounts_state

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", NON_ADMIN_ROLES)
def test_only_admins_may_call_the_user_and_team_services(users_by_role, east, role):
    actor = users_by_role[role]
    target = users_by_role["sales"]
    before = accounts_state()
    calls = [
        lambda: services.user_create(
            actor=actor, data={"username": "x", "role": "sales", "password": GOOD_PASSWORD}
        ),
        lambda: services.user_update(actor=actor, user=target, data={"role": "admin"}),
        lambda: services.user_update(actor=actor, user=actor, data={"role": "admin"}),
        lambda: services.user_deactivate(actor=actor, user=target),
        lambda: services.team_create(actor=actor, data={"name": "North"}),
        lambda: services.team_update(actor=actor, team=east, data={"name": "Mine"}),
        lambda: services.team_delete(actor=actor, team=east),
    ]
    for call in calls:
        with pytest.raises(PermissionDenied):
            call()
    assert accounts_state() == before


def test_a_deactivated_user_can_do_nothing(alice, admin_user):
    services.user_deactivate(actor=admin_user, user=alice)
    alice.refresh_from_db()
    with pytest.raises(PermissionDenied):
        services.token_create(actor=alice, name="x")
    with pytest.raises(PermissionDenied):
        services.profile_update(actor=alice, data={"display_name": "x"})
    assert ApiToken.objects.count() == 0


def test_the_profile_cannot_change_role_team_or_username(alice, west):
    before = accounts_state()
    with pytest.raises(ValidationFailed) as err:
        services.profile_update(
            actor=alice, data={"role": "admin", "team": west.pk, "username": "boss"}
        )
    assert err.value.field_errors == {
        "role": ["This field cannot be changed here."],
        "team": ["This field cannot be changed here."],
        "username": ["This field cannot be changed here."],
    }
    assert accounts_state() == before


def test_revoking_twice_writes_one_audit_entry(alice):
    token, _raw = services.token_create(actor=alice, name="x")
    first = services.token_revoke(actor=alice, token=token).revoked_at
    second = services.token_revoke(actor=alice, token=token).revoked_at
    assert first == second
    assert AuditEntry.objects.filter(model="accounts.apitoken", action="update").count() == 1


def test_one_cannot_revoke_another_users_token_but_an_admin_can(alice, bob, admin_user):
    token, _raw = services.token_create(actor=bob, name="x")
    with pytest.raises(PermissionDenied):
        services.token_revoke(actor=alice, token=token)
    token.refresh_from_db()
    assert token.revoked_at is None
    services.token_revoke(actor=admin_user, token=token)
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_a_new_user_never_gets_the_password_in_plain_text(admin_user):
    user = services.user_create(
        actor=admin_user, data={"username": "eve", "role": "analyst", "password": GOOD_PASSWORD}
    )
    stored = User.objects.values_list("password", flat=True).get(pk=user.pk)
    assert stored != GOOD_PASSWORD and stored.startswith("md5$")


def test_a_team_whose_records_remain_cannot_be_deleted(admin_user, west):
    from guanxi.customers.models import Customer

    Customer.objects.create(name="Kept", team=west)
    with pytest.raises(ValidationFailed) as err:
        services.team_delete(actor=admin_user, team=west)
    assert err.value.field_errors == {
        "team": ["Records still belong to this team; move them first."]
    }
    assert Team.objects.filter(pk=west.pk).exists()
    assert AuditEntry.objects.count() == 0


class TestThrottle:
    def test_the_pair_is_keyed_by_lower_case_username_and_ip(self, db):
        for _ in range(4):
            throttle.record_failure(" Alice ", "10.0.0.1")
        assert throttle.lock_status("alice", "10.0.0.1") is None
        lock = throttle.record_failure("ALICE", "10.0.0.1")
        assert lock is not None and lock.minutes_left == 15
        assert throttle.lock_status("alice", "10.0.0.2") is None
        assert throttle.lock_status("bob", "10.0.0.1") is None

    def test_old_failures_are_pruned(self, clock):
        throttle.record_failure("alice", "10.0.0.1")
        clock.advance(minutes=20)
        throttle.record_failure("alice", "10.0.0.1")
        assert LoginFailure.objects.count() == 1

    def test_forwarded_for_is_ignored_unless_proxies_are_trusted(self, settings):
        request = RequestFactory().get(
            "/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.7"
        )
        assert throttle.client_ip(request) == "192.0.2.1"
        settings.GUANXI_TRUSTED_PROXIES = 1
        assert throttle.client_ip(request) == "198.51.100.7"
