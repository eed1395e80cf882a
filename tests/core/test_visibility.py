"""visibility_q / visible_to / can_see: who sees which records, for every scope."""

import pytest
from django.contrib.auth.models import AnonymousUser

from guanxi.core.visibility import can_see, visibility_q, visible_to
from guanxi.customers.models import Contact, Customer
from tests.conftest import make_user


@pytest.fixture
def records(alice, bob, charlie, east):
    def make(name, owner, team):
        return Customer.objects.create(name=name, owner=owner, team=team, kind="company")

    return {
        "alice": make("alice's", alice, east),
        "bob": make("bob's", bob, east),
        "charlie": make("charlie's", charlie, charlie.team),
        "east_unowned": make("East, no owner", None, east),
        "orphan": make("no owner, no team", None, None),
    }


def seen(user, records):
    names = {c.pk: key for key, c in records.items()}
    return sorted(
        names[pk] for pk in visible_to(user, Customer.objects.all()).values_list("pk", flat=True)
    )


ALL = ["alice", "bob", "charlie", "east_unowned", "orphan"]


@pytest.mark.django_db
class TestScopes:
    def test_own_scope_sees_only_own_records(self, alice, records):
        assert seen(alice, records) == ["alice"]

    def test_team_scope_sees_own_and_team_records(self, manager, records, east):
        mine = Customer.objects.create(name="mona's", owner=manager, team=east)
        records = {**records, "mona": mine}
        assert seen(manager, records) == ["alice", "bob", "east_unowned", "mona"]

    @pytest.mark.parametrize("role", ["admin", "service", "marketing", "analyst"])
    def test_all_scope_sees_everything(self, role, users_by_role, records):
        assert seen(users_by_role[role], records) == ALL

    def test_a_team_scope_user_without_team_sees_only_own(self, records):
        loner = make_user("loner", "manager", None)
        mine = Customer.objects.create(name="loner's", owner=loner, team=None)
        records = {**records, "loner": mine}
        # Not the records without a team: "no team" is not a team.
        assert seen(loner, records) == ["loner"]

    def test_an_own_scope_user_without_team_sees_only_own(self, records):
        loner = make_user("loner", "sales", None)
        assert seen(loner, records) == []

    def test_an_inactive_user_sees_nothing(self, alice, users_by_role, records):
        admin = users_by_role["admin"]
        for user in (alice, admin):
            user.is_active = False
            user.save()
            assert seen(user, records) == []
            assert not any(can_see(user, c) for c in records.values())

    @pytest.mark.parametrize("user", [None, AnonymousUser()])
    def test_nobody_sees_nothing(self, user, records):
        assert seen(user, records) == []
        assert not any(can_see(user, c) for c in records.values())

    def test_an_unknown_role_sees_only_own_records(self, east, records):
        odd = make_user("odd", "wizard", east)
        mine = Customer.objects.create(name="odd's", owner=odd, team=east)
        assert seen(odd, {**records, "odd": mine}) == ["odd"]

    def test_contacts_follow_their_company(self, alice, charlie, records):
        Contact.objects.create(customer=records["alice"], name="A1")
        Contact.objects.create(customer=records["charlie"], name="C1")
        visible = visible_to(alice, Contact.objects.all(), prefix="customer__")
        assert list(visible.values_list("name", flat=True)) == ["A1"]
        q = visibility_q(charlie, Contact, prefix="customer__")
        assert list(Contact.objects.filter(q).values_list("name", flat=True)) == ["C1"]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["admin", "manager", "sales", "service", "marketing", "analyst"])
def test_can_see_agrees_with_visibility_q_for_every_record(role, users_by_role, records):
    user = users_by_role[role]
    by_query = set(visible_to(user, Customer.objects.all()).values_list("pk", flat=True))
    by_record = {c.pk for c in records.values() if can_see(user, c)}
    assert by_record == by_query
    assert all(isinstance(can_see(user, c), bool) for c in records.values())
