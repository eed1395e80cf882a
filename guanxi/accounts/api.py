"""Me, API tokens, users and teams over /api/v1: parse → service/selector → schema.

Users and teams are for administrators (``manage_users``); everyone else gets 403 and
nothing changes. Tokens are each user's own; a new token is returned once, in full."""

import datetime

from ninja import Field, Query, Router, Schema, Status

from guanxi.accounts import selectors, services
from guanxi.accounts.roles import role_of

router = Router(tags=["accounts"])


class ErrorOut(Schema):
    code: str
    message: str
    errors: dict[str, list[str]] = {}


ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


class TeamRef(Schema):
    id: int
    name: str


class UserRef(Schema):
    id: int
    username: str
    display_name: str


class MeOut(Schema):
    id: int
    username: str
    display_name: str
    email: str
    role: str
    role_label: str
    team: TeamRef | None
    language: str
    time_zone: str

    @staticmethod
    def resolve_role_label(obj):
        return str(role_of(obj).label)


class ProfileIn(Schema):
    display_name: str | None = None
    email: str | None = None
    phone: str | None = None
    language: str | None = None
    time_zone: str | None = None


class UserOut(Schema):
    id: int
    username: str
    display_name: str
    email: str
    phone: str
    role: str
    team: TeamRef | None
    language: str
    time_zone: str
    is_active: bool
    last_login: datetime.datetime | None
    date_joined: datetime.datetime


class UserIn(Schema):
    username: str | None = None
    display_name: str | None = None
    email: str | None = None
    phone: str | None = None
    role: str | None = None
    team: int | str | None = None
    language: str | None = None
    time_zone: str | None = None
    password: str | None = Field(None, description="Initial or new password; never returned.")
    is_active: bool | None = None


class UserFilters(Schema):
    q: str | None = None
    role: str | None = None
    team: str | None = Field(None, description="Team id, or `none` for users without one.")
    active: bool | None = None


class TeamOut(Schema):
    id: int
    name: str
    manager: UserRef | None
    member_count: int = 0
    created_at: datetime.datetime


class TeamIn(Schema):
    name: str | None = None
    manager: int | None = None


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime.datetime
    last_used_at: datetime.datetime | None
    revoked_at: datetime.datetime | None


class TokenCreatedOut(TokenOut):
    token: str = Field(..., description="The full token. It is shown only this once.")


class TokenIn(Schema):
    name: str | None = None


def _payload(data: Schema) -> dict:
    return data.dict(exclude_unset=True)


# Me


@router.get("/me", response={200: MeOut, **ERRORS}, summary="The current user")
def me(request):
    return request.user


@router.patch("/me", response={200: MeOut, **ERRORS}, summary="Change my profile")
def update_me(request, data: ProfileIn):
    return services.profile_update(actor=request.user, data=_payload(data))


# Tokens


@router.get("/tokens", response={200: list[TokenOut], **ERRORS}, tags=["tokens"])
def list_tokens(request, include_revoked: bool = False):
    return list(selectors.token_list(user=request.user, include_revoked=include_revoked))


@router.post("/tokens", response={201: TokenCreatedOut, **ERRORS}, tags=["tokens"])
def create_token(request, data: TokenIn):
    token, raw = services.token_create(actor=request.user, name=data.name or "")
    token.token = raw
    return Status(201, token)


@router.delete("/tokens/{token_id}", response={204: None, **ERRORS}, tags=["tokens"])
def revoke_token(request, token_id: int):
    token = selectors.token_get_for_user(user=request.user, id=token_id)
    services.token_revoke(actor=request.user, token=token)
    return Status(204, None)


# Users (administrators)


@router.get("/users", response={200: list[UserOut], **ERRORS}, tags=["users"])
def list_users(request, filters: Query[UserFilters]):
    return list(selectors.user_list(actor=request.user, **filters.dict()))


@router.post("/users", response={201: UserOut, **ERRORS}, tags=["users"])
def create_user(request, data: UserIn):
    return Status(201, services.user_create(actor=request.user, data=_payload(data)))


@router.get("/users/{user_id}", response={200: UserOut, **ERRORS}, tags=["users"])
def get_user(request, user_id: int):
    return selectors.user_get_for_admin(actor=request.user, id=user_id)


@router.patch("/users/{user_id}", response={200: UserOut, **ERRORS}, tags=["users"])
def update_user(request, user_id: int, data: UserIn):
    user = selectors.user_get_for_admin(actor=request.user, id=user_id)
    return services.user_update(actor=request.user, user=user, data=_payload(data))


@router.post("/users/{user_id}/deactivate", response={200: UserOut, **ERRORS}, tags=["users"])
def deactivate_user(request, user_id: int):
    """Users are never deleted; a deactivated user can no longer log in or use tokens."""
    user = selectors.user_get_for_admin(actor=request.user, id=user_id)
    return services.user_deactivate(actor=request.user, user=user)


# Teams (administrators)


@router.get("/teams", response={200: list[TeamOut], **ERRORS}, tags=["users"])
def list_teams(request):
    return list(selectors.team_list(actor=request.user))


@router.post("/teams", response={201: TeamOut, **ERRORS}, tags=["users"])
def create_team(request, data: TeamIn):
    team = services.team_create(actor=request.user, data=_payload(data))
    return Status(201, selectors.team_get_for_admin(actor=request.user, id=team.pk))


@router.get("/teams/{team_id}", response={200: TeamOut, **ERRORS}, tags=["users"])
def get_team(request, team_id: int):
    return selectors.team_get_for_admin(actor=request.user, id=team_id)


@router.patch("/teams/{team_id}", response={200: TeamOut, **ERRORS}, tags=["users"])
def update_team(request, team_id: int, data: TeamIn):
    team = selectors.team_get_for_admin(actor=request.user, id=team_id)
    services.team_update(actor=request.user, team=team, data=_payload(data))
    return selectors.team_get_for_admin(actor=request.user, id=team_id)


@router.delete("/teams/{team_id}", response={204: None, **ERRORS}, tags=["users"])
def delete_team(request, team_id: int):
    """Only a team without members or records can be deleted."""
    team = selectors.team_get_for_admin(actor=request.user, id=team_id)
    services.team_delete(actor=request.user, team=team)
    return Status(204, None)
