"""Roles: what each one may see (scope) and do (actions).

Roles are fixed in code so that the permission matrix can be tested exhaustively;
a user has exactly one. ``require`` is what services call before they write.
"""

import dataclasses
import enum

from django.utils.translation import gettext_lazy as _


class Scope(enum.StrEnum):
    OWN = "own"
    TEAM = "team"
    ALL = "all"


class Action(enum.StrEnum):
    VIEW = "view"
    CREATE = "create"
    CHANGE = "change"
    DELETE = "delete"
    ASSIGN = "assign"  # change a record's owner or team
    EXPORT = "export"
    IMPORT = "import"
    MERGE = "merge"
    MANAGE_USERS = "manage_users"
    MANAGE_SETTINGS = "manage_settings"  # custom fields, tags
    # Refit the analytics models (CLV): heavy on a large shop, and it changes every
    # customer's predicted figures, though no business record.
    REFIT_MODELS = "refit_models"
    SET_TARGETS = "set_targets"  # monthly sales targets (of the users and teams one sees)


@dataclasses.dataclass(frozen=True)
class Role:
    key: str
    label: object
    scope: Scope
    actions: frozenset[Action]

    def can(self, action: Action | str) -> bool:
        return Action(action) in self.actions


A = Action
ROLES: dict[str, Role] = {
    role.key: role
    for role in [
        Role("admin", _("Administrator"), Scope.ALL, frozenset(Action)),
        Role(
            "manager",
            _("Sales manager"),
            Scope.TEAM,
            frozenset(
                {
                    A.VIEW,
                    A.CREATE,
                    A.CHANGE,
                    A.DELETE,
                    A.ASSIGN,
                    A.EXPORT,
                    A.IMPORT,
                    A.MERGE,
                    A.SET_TARGETS,
                }
            ),
        ),
        Role("sales", _("Sales rep"), Scope.OWN, frozenset({A.VIEW, A.CREATE, A.CHANGE, A.EXPORT})),
        Role("service", _("Service agent"), Scope.ALL, frozenset({A.VIEW, A.CHANGE})),
        Role(
            "marketing",
            _("Marketing"),
            Scope.ALL,
            frozenset({A.VIEW, A.CHANGE, A.EXPORT, A.IMPORT}),
        ),
        Role(
            "analyst",
            _("Analyst (read-only)"),
            Scope.ALL,
            frozenset({A.VIEW, A.EXPORT, A.REFIT_MODELS}),
        ),
    ]
}
ROLE_CHOICES = [(role.key, role.label) for role in ROLES.values()]
NO_ROLE = Role("none", _("No access"), Scope.OWN, frozenset())


def role_of(user) -> Role:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return NO_ROLE
    return ROLES.get(user.role, NO_ROLE)


def can(user, action: Action | str) -> bool:
    return role_of(user).can(action)


def require(user, action: Action | str) -> None:
    from guanxi.core.errors import PermissionDenied

    if not can(user, action):
        raise PermissionDenied()
