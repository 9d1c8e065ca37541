"""Reading and exporting the audit trail: supervisors and administrators only.

The Audit screen and ``outagedesk audit export`` call these, so both meet the same rule. There
is nothing here to edit or delete a row: the application offers no way to, and the database
refuses it anyway (migration 0003).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from sqlalchemy.orm import Session

from outagedesk.ops.base import Actor, Permission, require
from outagedesk.store.audit import (
    PAGE_SIZE,
    AuditQuery,
    AuditRow,
    distinct_actions,
    distinct_people,
    export_audit_csv,
    page_audit,
)


@dataclass(frozen=True, slots=True)
class AuditChoices:
    """What the filter lists offer: everyone and every action the log holds."""

    people: list[str]
    actions: list[str]


def audit_choices(session: Session, actor: Actor) -> AuditChoices:
    """The first read of the Audit screen; refuses (PermissionDenied) whoever may not read it."""
    require(actor, Permission.VIEW_AUDIT)
    return AuditChoices(distinct_people(session), distinct_actions(session))


def audit_page(
    session: Session,
    actor: Actor,
    query: AuditQuery,
    before_id: int | None = None,
    limit: int = PAGE_SIZE,
) -> list[AuditRow]:
    require(actor, Permission.VIEW_AUDIT)
    return page_audit(session, query, before_id, limit)


def export_audit(session: Session, actor: Actor, query: AuditQuery, out: TextIO) -> int:
    require(actor, Permission.VIEW_AUDIT)
    return export_audit_csv(session, query, out)


def export_audit_file(session: Session, actor: Actor, query: AuditQuery, path: Path) -> int:
    """Export to ``path``: written beside it and renamed when complete, so a refused or failed
    export leaves no file that looks finished. Returns the number of rows."""
    require(actor, Permission.VIEW_AUDIT)
    fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            count = export_audit_csv(session, query, out)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return count


__all__ = ["AuditChoices", "audit_choices", "audit_page", "export_audit", "export_audit_file"]
