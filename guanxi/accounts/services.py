"""Every write to users, teams, API tokens and one's own profile and password.

The pages and the API hand plain dicts to these functions, so a value is accepted or
refused the same way wherever it comes from. Each one checks the actor's permission,
validates everything before writing, runs in one transaction and writes the audit log.
Passwords and password hashes never reach the audit log.
"""

import zoneinfo

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.accounts import throttle
from guanxi.accounts.models import ApiToken, Team, User
from guanxi.accounts.roles import ROLES, Action, require, role_of
from guanxi.core import audit
from guanxi.core.errors import PermissionDenied, ValidationFailed
from guanxi.core.normalize import InvalidValue, normalize_email, normalize_phone

USER_AUDITED_FIELDS = [
    "username",
    "email",
    "display_name",
    "role",
    "team",
    "phone",
    "language",
    "time_zone",
    "is_active",
]
TEAM_AUDITED_FIELDS = ["name", "manager"]
PROFILE_FIELDS = {"display_name", "email", "phone", "language", "time_zone"}
USER_FIELDS = PROFILE_FIELDS | {"username", "role", "team", "is_active", "password"}
PASSWORD_NOTE = "password changed"


class _Errors(dict):
    def add(self, key: str, message) -> None:
        self.setdefault(key, []).append(str(message))


def _text(data: dict, key: str) -> str:
    value = data.get(key)
    return "" if value is None else str(value).strip()


def _team(raw) -> Team | None:
    if raw in (None, "", 0):
        return None
    if isinstance(raw, Team):
        return raw
    try:
        return Team.objects.get(pk=int(raw))
    except (ValueError, TypeError, Team.DoesNotExist) as exc:
        raise InvalidValue(_("There is no team “%(value)s”.") % {"value": raw}) from exc


def _active_user(raw) -> User | None:
    if raw in (None, "", 0):
        return None
    if isinstance(raw, User):
        raw = raw.pk
    try:
        return User.objects.get(pk=int(raw), is_active=True)
    except (ValueError, TypeError, User.DoesNotExist) as exc:
        raise InvalidValue(_("There is no active user “%(value)s”.") % {"value": raw}) from exc


def _bool(raw) -> bool:
    if isinstance(raw, bool):
        return raw
    if str(raw).strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if str(raw).strip().lower() in {"0", "false", "no", "off", ""}:
        return False
    raise InvalidValue(_("Enter yes or no."))


def clean_user_input(
    data: dict, *, instance: User | None = None, allowed: set[str] = USER_FIELDS
) -> tuple[dict, dict]:
    """Validate and normalise the keys of ``data`` that are in ``allowed``.

    Returns (cleaned values, field errors). For a new user (no ``instance``) the
    username, role and password are required. The password comes back in plain text
    under ``password`` (it is hashed by ``set_password``, never stored as is)."""
    creating = instance is None
    errors = _Errors()
    cleaned: dict = {}
    unknown = sorted(set(data) - allowed)
    for key in unknown:
        errors.add(key, _("This field cannot be changed here."))

    def present(key: str) -> bool:
        return key in allowed and (key in data or (creating and key in {"username", "role"}))

    if present("username"):
        username = _text(data, "username")
        if not username:
            errors.add("username", _("This field is required."))
        elif len(username) > 150:
            errors.add("username", _("At most %(limit)d characters.") % {"limit": 150})
        else:
            try:
                UnicodeUsernameValidator()(username)
            except ValidationError as exc:
                for message in exc.messages:
                    errors.add("username", message)
            taken = User.objects.filter(username__iexact=username)
            if instance is not None:
                taken = taken.exclude(pk=instance.pk)
            if taken.exists():
                errors.add("username", _("A user with this username already exists."))
        cleaned["username"] = username
    if present("display_name"):
        display_name = _text(data, "display_name")
        if len(display_name) > 100:
            errors.add("display_name", _("At most %(limit)d characters.") % {"limit": 100})
        cleaned["display_name"] = display_name
    if present("email"):
        try:
            cleaned["email"] = normalize_email(_text(data, "email"))
        except InvalidValue as exc:
            errors.add("email", exc)
    if present("phone"):
        try:
            cleaned["phone"] = normalize_phone(_text(data, "phone"))
        except InvalidValue as exc:
            errors.add("phone", exc)
    if present("role"):
        role = _text(data, "role")
        if not role:
            errors.add("role", _("This field is required."))
        elif role not in ROLES:
            errors.add(
                "role",
                _("“%(value)s” is not one of: %(choices)s.")
                % {"value": role, "choices": ", ".join(ROLES)},
            )
        cleaned["role"] = role
    if present("team"):
        try:
            cleaned["team"] = _team(data.get("team"))
        except InvalidValue as exc:
            errors.add("team", exc)
    if present("language"):
        language = _text(data, "language").lower()
        codes = [code for code, _name in settings.LANGUAGES]
        if language and language not in codes:
            errors.add(
                "language",
                _("“%(value)s” is not one of: %(choices)s.")
                % {"value": language, "choices": ", ".join(codes)},
            )
        cleaned["language"] = language
    if present("time_zone"):
        tz = _text(data, "time_zone")
        if tz:
            try:
                zoneinfo.ZoneInfo(tz)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                errors.add("time_zone", _("“%(value)s” is not a time zone.") % {"value": tz})
        cleaned["time_zone"] = tz
    if present("is_active"):
        try:
            cleaned["is_active"] = _bool(data.get("is_active"))
        except InvalidValue as exc:
            errors.add("is_active", exc)
    password = data.get("password") if "password" in allowed else None
    if creating and "password" in allowed and not password:
        errors.add("password", _("This field is required."))
    elif password:
        # Judge the password against the user as it will be (similarity to names).
        candidate = User(
            username=cleaned.get("username", getattr(instance, "username", "")),
            email=cleaned.get("email", getattr(instance, "email", "")),
            display_name=cleaned.get("display_name", getattr(instance, "display_name", "")),
        )
        try:
            password_validation.validate_password(str(password), user=candidate)
        except ValidationError as exc:
            for message in exc.messages:
                errors.add("password", message)
        cleaned["password"] = str(password)
    return cleaned, dict(errors)


def _would_leave_no_admin(user: User, cleaned: dict) -> bool:
    """True when this change removes the last active administrator."""
    if not (user.is_active and user.role == "admin"):
        return False
    stays_admin = cleaned.get("role", user.role) == "admin" and cleaned.get("is_active", True)
    if stays_admin:
        return False
    return not User.objects.filter(role="admin", is_active=True).exclude(pk=user.pk).exists()


# Users


@transaction.atomic
def user_create(*, actor, data: dict) -> User:
    require(actor, Action.MANAGE_USERS)
    cleaned, errors = clean_user_input(data, allowed=USER_FIELDS - {"is_active"})
    if errors:
        raise ValidationFailed(errors)
    password = cleaned.pop("password")
    user = User(**cleaned)
    user.set_password(password)
    user.save()
    state = audit.snapshot(user, USER_AUDITED_FIELDS)
    audit.record(
        actor=actor,
        action="create",
        instance=user,
        model="accounts.user",
        changes={k: [None, v] for k, v in state.items() if v not in (None, "")},
        note=PASSWORD_NOTE,
    )
    return user


@transaction.atomic
def user_update(*, actor, user: User, data: dict) -> User:
    """Change a user's fields; ``password`` sets a new one (admins helping a user)."""
    require(actor, Action.MANAGE_USERS)
    cleaned, errors = clean_user_input(data, instance=user)
    if user.pk == actor.pk and cleaned.get("is_active") is False:
        errors.setdefault("is_active", []).append(_("You cannot deactivate yourself."))
    elif _would_leave_no_admin(user, cleaned):
        key = "is_active" if cleaned.get("is_active") is False else "role"
        errors.setdefault(key, []).append(_("There must be at least one active administrator."))
    if errors:
        raise ValidationFailed(errors)
    before = audit.snapshot(user, USER_AUDITED_FIELDS)
    password = cleaned.pop("password", None)
    for key, value in cleaned.items():
        setattr(user, key, value)
    fields = list(cleaned)
    if password:
        user.set_password(password)
        fields.append("password")
    if fields:
        user.save(update_fields=fields)
    changes = audit.diff(before, audit.snapshot(user, USER_AUDITED_FIELDS))
    if changes or password:
        audit.record(
            actor=actor,
            action="update",
            instance=user,
            model="accounts.user",
            changes=changes,
            note=PASSWORD_NOTE if password else "",
        )
    return user


def user_deactivate(*, actor, user: User) -> User:
    """Users are never deleted: their records, audit entries and history keep them."""
    return user_update(actor=actor, user=user, data={"is_active": False})


# Teams


def clean_team_input(data: dict, *, instance: Team | None = None) -> tuple[dict, dict]:
    creating = instance is None
    errors = _Errors()
    cleaned: dict = {}
    for key in sorted(set(data) - {"name", "manager"}):
        errors.add(key, _("This field cannot be changed here."))
    if "name" in data or creating:
        name = _text(data, "name")
        if not name:
            errors.add("name", _("This field is required."))
        elif len(name) > 100:
            errors.add("name", _("At most %(limit)d characters.") % {"limit": 100})
        else:
            taken = Team.objects.filter(name__iexact=name)
            if instance is not None:
                taken = taken.exclude(pk=instance.pk)
            if taken.exists():
                errors.add("name", _("A team with this name already exists."))
        cleaned["name"] = name
    if "manager" in data:
        try:
            cleaned["manager"] = _active_user(data.get("manager"))
        except InvalidValue as exc:
            errors.add("manager", exc)
    return cleaned, dict(errors)


@transaction.atomic
def team_create(*, actor, data: dict) -> Team:
    require(actor, Action.MANAGE_USERS)
    cleaned, errors = clean_team_input(data)
    if errors:
        raise ValidationFailed(errors)
    team = Team.objects.create(**cleaned)
    state = audit.snapshot(team, TEAM_AUDITED_FIELDS)
    audit.record(
        actor=actor,
        action="create",
        instance=team,
        model="accounts.team",
        changes={k: [None, v] for k, v in state.items() if v not in (None, "")},
    )
    return team


@transaction.atomic
def team_update(*, actor, team: Team, data: dict) -> Team:
    require(actor, Action.MANAGE_USERS)
    cleaned, errors = clean_team_input(data, instance=team)
    if errors:
        raise ValidationFailed(errors)
    before = audit.snapshot(team, TEAM_AUDITED_FIELDS)
    for key, value in cleaned.items():
        setattr(team, key, value)
    if cleaned:
        team.save(update_fields=list(cleaned))
    changes = audit.diff(before, audit.snapshot(team, TEAM_AUDITED_FIELDS))
    if changes:
        audit.record(
            actor=actor, action="update", instance=team, model="accounts.team", changes=changes
        )
    return team


@transaction.atomic
def team_delete(*, actor, team: Team) -> None:
    """Only an empty team can go: members and records must be moved first."""
    require(actor, Action.MANAGE_USERS)
    if team.members.exists():
        raise ValidationFailed({"team": [_("Move the team's members to another team first.")]})
    state = audit.snapshot(team, TEAM_AUDITED_FIELDS)
    pk, label = team.pk, str(team)
    try:
        with transaction.atomic():
            team.delete()
    except ProtectedError as exc:
        raise ValidationFailed(
            {"team": [_("Records still belong to this team; move them first.")]}
        ) from exc
    audit.record(
        actor=actor,
        action="delete",
        model="accounts.team",
        object_id=pk,
        object_repr=label,
        changes={k: [v, None] for k, v in state.items() if v not in (None, "")},
    )


# One's own profile and password


def _require_active(actor) -> None:
    if role_of(actor).key == "none":
        raise PermissionDenied()


@transaction.atomic
def profile_update(*, actor, data: dict) -> User:
    """A user changes their own display name, e-mail, phone, language and time zone."""
    _require_active(actor)
    user = User.objects.select_for_update().get(pk=actor.pk)
    cleaned, errors = clean_user_input(data, instance=user, allowed=PROFILE_FIELDS)
    if errors:
        raise ValidationFailed(errors)
    before = audit.snapshot(user, USER_AUDITED_FIELDS)
    for key, value in cleaned.items():
        setattr(user, key, value)
        setattr(actor, key, value)
    if cleaned:
        user.save(update_fields=list(cleaned))
    changes = audit.diff(before, audit.snapshot(user, USER_AUDITED_FIELDS))
    if changes:
        audit.record(
            actor=actor, action="update", instance=user, model="accounts.user", changes=changes
        )
    return user


@transaction.atomic
def password_change(*, actor, old_password: str, new_password: str) -> User:
    _require_active(actor)
    errors = _Errors()
    if not actor.check_password(old_password or ""):
        errors.add("old_password", _("Your old password was entered incorrectly."))
    try:
        password_validation.validate_password(new_password or "", user=actor)
    except ValidationError as exc:
        for message in exc.messages:
            errors.add("new_password", message)
    if errors:
        raise ValidationFailed(dict(errors))
    actor.set_password(new_password)
    actor.save(update_fields=["password"])
    audit.record(
        actor=actor, action="update", instance=actor, model="accounts.user", note=PASSWORD_NOTE
    )
    return actor


@transaction.atomic
def password_reset_completed(*, user: User) -> None:
    """After a password was set through an e-mailed link (the form saved it)."""
    throttle.clear_failures(user.username, everywhere=True)
    audit.record(
        actor=user,
        action="update",
        instance=user,
        model="accounts.user",
        note="password reset by e-mail",
    )


# API tokens


@transaction.atomic
def token_create(*, actor, name: str) -> tuple[ApiToken, str]:
    """A new token for the actor: (token, raw). The raw token is shown once and only
    its SHA-256 digest is kept."""
    _require_active(actor)
    name = (name or "").strip()
    if not name:
        raise ValidationFailed({"name": [_("This field is required.")]})
    if len(name) > 100:
        raise ValidationFailed({"name": [_("At most %(limit)d characters.") % {"limit": 100}]})
    raw, prefix, digest = ApiToken.generate()
    token = ApiToken.objects.create(user=actor, name=name, prefix=prefix, digest=digest)
    audit.record(
        actor=actor,
        action="create",
        instance=token,
        model="accounts.apitoken",
        changes={"name": [None, name], "prefix": [None, prefix]},
    )
    return token, raw


@transaction.atomic
def token_revoke(*, actor, token: ApiToken) -> ApiToken:
    """Revoke one's own token (an administrator may revoke anyone's). Idempotent."""
    _require_active(actor)
    if token.user_id != actor.pk:
        require(actor, Action.MANAGE_USERS)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(
            actor=actor,
            action="update",
            instance=token,
            model="accounts.apitoken",
            changes={"revoked_at": [None, token.revoked_at.isoformat()]},
        )
    return token
