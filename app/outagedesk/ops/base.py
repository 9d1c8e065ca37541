"""Who is acting, what their role lets them do, and the error an operation raises.

Permissions are checked here, in the operation layer, so that the window, the headless
commands and any script meet the same rules; hiding a button is only a courtesy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from outagedesk.store.audit_refs import add_audit_entry
from outagedesk.store.models import AuditEntry, utcnow


class OperationError(Exception):
    """The operation was refused; the message says why in words a dispatcher understands."""


class PermissionDenied(OperationError):
    """The person's role does not allow the operation."""


class Role(StrEnum):
    DISPATCHER = "dispatcher"
    SUPERVISOR = "supervisor"
    TRAINER = "trainer"
    ADMIN = "admin"


class Permission(StrEnum):
    LINK = "link numbers and re-send reports"
    OPT_OUT = "force opt-outs"
    EDIT_LINKS = "edit, move and delete links"
    REVIEW_LINKS = "review dispatchers' links"
    IMPORT_LINKS = "import and correct links and the account directory"
    VIEW_AUDIT = "read the audit trail"
    MANAGE_PEOPLE = "manage people and service tokens"
    MANAGE_SETTINGS = "change settings and reply templates"
    RUN_TRAINING = "run training mode"


_DISPATCH = frozenset({Permission.LINK, Permission.OPT_OUT})
_SUPERVISE = _DISPATCH | {
    Permission.EDIT_LINKS,
    Permission.REVIEW_LINKS,
    Permission.IMPORT_LINKS,
    Permission.VIEW_AUDIT,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.DISPATCHER: _DISPATCH,
    Role.SUPERVISOR: _SUPERVISE,
    # Trainers act as dispatchers inside training mode, which runs on its own database.
    Role.TRAINER: _DISPATCH | {Permission.RUN_TRAINING},
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    desk: str
    role: Role

    @property
    def taken_by(self) -> str:
        return f"{self.desk}/{self.name}"

    def may(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]


def require(actor: Actor, permission: Permission) -> None:
    """Raise PermissionDenied, naming what is missing, unless ``actor`` may do it."""
    if not actor.may(permission):
        raise PermissionDenied(
            f"{actor.name} ({actor.role.value}) may not {permission.value}; "
            "ask a supervisor or an administrator"
        )


def audit(
    session: Session,
    actor: Actor,
    action: str,
    subject: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    *,
    about: Iterable[str] = (),
) -> None:
    """Add the audit row of a change to the session (written at its next flush, with the
    change, so in the same transaction), with the refs the Audit screen finds it by: the
    subject, the strings inside before/after, and ``about`` (phones, accounts the change
    touched that before/after do not list)."""
    entry = AuditEntry(
        at=utcnow(),
        actor=actor.name,
        desk=actor.desk,
        action=action,
        subject=subject[:200],
        before=before,
        after=after,
    )
    add_audit_entry(session, entry, about)
