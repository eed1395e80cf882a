"""Reads of users, teams and tokens. Users and teams are for administrators only;
tokens are read by their owner."""

from django.db.models import Count, F, Q, QuerySet

from guanxi.accounts.models import ApiToken, Team, User
from guanxi.accounts.roles import Action, require
from guanxi.core.errors import NotFound


def user_list(
    *,
    actor,
    q: str | None = None,
    role: str | None = None,
    team: int | str | None = None,
    active: bool | None = None,
) -> QuerySet[User]:
    require(actor, Action.MANAGE_USERS)
    qs = User.objects.select_related("team").order_by("-is_active", "username")
    if q:
        q = q.strip()
        qs = qs.filter(
            Q(username__icontains=q) | Q(display_name__icontains=q) | Q(email__icontains=q)
        )
    if role:
        qs = qs.filter(role=role)
    if team not in (None, ""):
        qs = qs.filter(team__isnull=True) if str(team) == "none" else qs.filter(team_id=team)
    if active is not None:
        qs = qs.filter(is_active=active)
    return qs


def user_get_for_admin(*, actor, id: int) -> User:
    require(actor, Action.MANAGE_USERS)
    found = User.objects.select_related("team").filter(pk=id).first()
    if found is None:
        raise NotFound()
    return found


def team_list(*, actor) -> QuerySet[Team]:
    require(actor, Action.MANAGE_USERS)
    return (
        Team.objects.select_related("manager")
        .annotate(member_count=Count("members", filter=Q(members__is_active=True)))
        .order_by("name")
    )


def team_get_for_admin(*, actor, id: int) -> Team:
    require(actor, Action.MANAGE_USERS)
    found = team_list(actor=actor).filter(pk=id).first()
    if found is None:
        raise NotFound()
    return found


def active_users_for_choice(*, actor) -> QuerySet[User]:
    """Active users, for the team manager picker."""
    require(actor, Action.MANAGE_USERS)
    return User.objects.filter(is_active=True).order_by("username")


def token_list(*, user, include_revoked: bool = True) -> QuerySet[ApiToken]:
    qs = ApiToken.objects.filter(user=user).order_by(
        F("revoked_at").asc(nulls_first=True), "-created_at"
    )
    return qs if include_revoked else qs.filter(revoked_at__isnull=True)


def token_get_for_user(*, user, id: int) -> ApiToken:
    """One of the user's own tokens, or NotFound (never someone else's)."""
    found = ApiToken.objects.filter(user=user, pk=id).first()
    if found is None:
        raise NotFound()
    return found
