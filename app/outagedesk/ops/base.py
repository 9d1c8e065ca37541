"""Who is acting, and the error an operation raises for a person to read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from outagedesk.store.models import AuditEntry, utcnow


class OperationError(Exception):
    """The operation was refused; the message says why in words a dispatcher understands."""


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    desk: str

    @property
    def taken_by(self) -> str:
        return f"{self.desk}/{self.name}"


def audit(
    session: Session,
    actor: Actor,
    action: str,
    subject: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    session.add(
        AuditEntry(
            at=utcnow(),
            actor=actor.name,
            desk=actor.desk,
            action=action,
            subject=subject[:200],
            before=before,
            after=after,
        )
    )
