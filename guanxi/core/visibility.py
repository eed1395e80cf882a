"""Record-level visibility: the one place that turns (user, model) into a filter.

Every list, search, export, report and API endpoint reads business records through
``visible_to``; a role's scope decides whether the user sees their own records, their
team's or all of them.
"""

from django.db import models
from django.db.models import Q

from guanxi.accounts.roles import Scope, role_of


def visibility_q(user, model: type[models.Model] | None = None, *, prefix: str = "") -> Q:
    """The filter for the records of ``model`` that ``user`` may see.

    ``prefix`` points at the owned record from a related model, e.g. ``"customer__"``
    for contacts, whose visibility follows their company's.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])
    scope = role_of(user).scope
    if scope == Scope.ALL:
        return Q()
    own = Q(**{f"{prefix}owner_id": user.pk})
    if scope == Scope.TEAM and user.team_id:
        return own | Q(**{f"{prefix}team_id": user.team_id})
    return own


def visible_to(user, queryset: models.QuerySet, *, prefix: str = "") -> models.QuerySet:
    return queryset.filter(visibility_q(user, queryset.model, prefix=prefix))


def can_see(user, record, *, owner_attr: str = "owner_id", team_attr: str = "team_id") -> bool:
    """The same rule as ``visibility_q``, for one record already in memory."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    scope = role_of(user).scope
    if scope == Scope.ALL:
        return True
    if getattr(record, owner_attr) == user.pk:
        return True
    return bool(scope == Scope.TEAM and user.team_id and getattr(record, team_attr) == user.team_id)
