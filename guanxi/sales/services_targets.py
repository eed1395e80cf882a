"""Monthly sales targets: set (create or replace) and remove, for a user or a team.

Who may set a target: a role with ``set_targets`` (admin, manager), for a subject inside
their scope — a manager for their own team and its members, an admin for anyone.
"""

import datetime
from decimal import Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from guanxi.accounts.models import Team
from guanxi.accounts.roles import Action, Scope, require, role_of
from guanxi.core import audit, events
from guanxi.core.errors import NotFound, PermissionDenied, ValidationFailed
from guanxi.sales.models import SalesTarget

MAX_AMOUNT = Decimal("999999999999.99")


def parse_month(value) -> datetime.date:
    """``2026-11`` or ``2026-11-01`` (any day: the month is what counts) → 2026-11-01."""
    if isinstance(value, datetime.date):
        return value.replace(day=1)
    text = str(value or "").strip()
    try:
        if len(text) == 7:
            return datetime.date.fromisoformat(text + "-01")
        return datetime.date.fromisoformat(text).replace(day=1)
    except ValueError:
        raise ValidationFailed({"month": [_("Enter a month as YYYY-MM, e.g. 2026-11.")]}) from None


def subject_allowed(actor, *, user=None, team=None) -> bool:
    """Whether ``actor`` may see (and, with ``set_targets``, set) the figures of ``user``
    or ``team``: own figures always; a team's members and the team itself for a manager
    of that team; everyone for a role that sees all records."""
    scope = role_of(actor).scope
    if scope == Scope.ALL:
        return True
    if user is not None:
        if user.pk == actor.pk:
            return True
        return scope == Scope.TEAM and bool(actor.team_id) and user.team_id == actor.team_id
    if team is not None:
        return scope == Scope.TEAM and team.pk == actor.team_id
    return False


def resolve_subject(actor, *, user_id=None, team_id=None):
    """(user, team) from ids, checked against what ``actor`` may see: hidden → 404."""
    if user_id and team_id:
        raise ValidationFailed({"team": [_("Choose a user or a team, not both.")]})
    user = team = None
    if user_id:
        user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
        if user is None or not subject_allowed(actor, user=user):
            raise NotFound()
    if team_id:
        team = Team.objects.filter(pk=team_id).first()
        if team is None or not subject_allowed(actor, team=team):
            raise NotFound()
    return user, team


def _clean_numbers(data: dict) -> tuple[Decimal, int]:
    errors: dict = {}
    amount = Decimal(0)
    deals = 0
    try:
        amount = Decimal(str(data.get("amount", 0) or 0))
        if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
            raise InvalidOperation
        amount = amount.quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        errors["amount"] = [_("Enter an amount of 0 or more.")]
    try:
        deals = int(data.get("won_deals", 0) or 0)
        if deals < 0 or deals > 1_000_000:
            raise ValueError
    except (TypeError, ValueError):
        errors["won_deals"] = [_("Enter a whole number of 0 or more.")]
    if errors:
        raise ValidationFailed(errors)
    return amount, deals


@transaction.atomic
def target_set(actor, data: dict) -> SalesTarget:
    """Create or replace the target of ``data['user']`` or ``data['team']`` for
    ``data['month']``."""
    require(actor, Action.SET_TARGETS)
    month = parse_month(data.get("month"))
    if not data.get("user") and not data.get("team"):
        raise ValidationFailed({"user": [_("Choose a user or a team.")]})
    user, team = resolve_subject(actor, user_id=data.get("user"), team_id=data.get("team"))
    if user is not None and user.pk == actor.pk and role_of(actor).scope != Scope.ALL:
        # A manager does not set their own personal target: their manager (an admin) does.
        raise PermissionDenied(_("Your own target is set by an administrator."))
    amount, deals = _clean_numbers(data)
    target = SalesTarget.objects.select_for_update().filter(month=month, user=user, team=team)
    target = target.first()
    if target is None:
        target = SalesTarget.objects.create(
            month=month, user=user, team=team, amount=amount, won_deals=deals
        )
        audit.record(
            actor=actor,
            action="create",
            instance=target,
            object_repr=_target_repr(target),
            changes={"amount": [None, str(amount)], "won_deals": [None, deals]},
        )
    else:
        before = {"amount": str(target.amount), "won_deals": target.won_deals}
        target.amount, target.won_deals = amount, deals
        target.save(update_fields=["amount", "won_deals"])
        changes = audit.diff(before, {"amount": str(amount), "won_deals": deals})
        if changes:
            audit.record(
                actor=actor,
                action="update",
                instance=target,
                object_repr=_target_repr(target),
                changes=changes,
            )
    events.emit(
        "target.set",
        actor=actor,
        instance=target,
        payload={"month": month.isoformat(), "amount": str(amount), "won_deals": deals},
    )
    return target


@transaction.atomic
def target_delete(actor, target_id: int) -> None:
    require(actor, Action.SET_TARGETS)
    target = SalesTarget.objects.select_related("user", "team").filter(pk=target_id).first()
    if target is None or not subject_allowed(actor, user=target.user, team=target.team):
        raise NotFound()
    audit.record(actor=actor, action="delete", instance=target, object_repr=_target_repr(target))
    target.delete()


def _target_repr(target: SalesTarget) -> str:
    who = target.user.get_username() if target.user_id else str(target.team)
    return f"{target.month:%Y-%m} {who}"
