"""The application cannot rewrite history: the database refuses UPDATE and DELETE on audit rows."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from outagedesk.ops.base import Actor, Role, audit
from outagedesk.store.models import AuditEntry

from dbsupport import DbUnderTest

REFUSAL = "audit rows cannot be changed or deleted"


def _orm_edit(s: Session) -> None:
    entry = s.scalars(select(AuditEntry)).one()
    entry.after = {"links": []}
    entry.actor = "mallory"
    s.commit()


def _orm_delete(s: Session) -> None:
    s.delete(s.scalars(select(AuditEntry)).one())
    s.commit()


def _bulk_update(s: Session) -> None:
    s.execute(update(AuditEntry).values(actor="mallory"))
    s.commit()


def _bulk_delete(s: Session) -> None:
    s.execute(delete(AuditEntry))
    s.commit()


def _raw_update(s: Session) -> None:
    s.execute(text("UPDATE audit_log SET subject = '+15055550199'"))
    s.commit()


def _raw_delete(s: Session) -> None:
    s.execute(text("DELETE FROM audit_log"))
    s.commit()


ATTEMPTS: dict[str, Callable[[Session], None]] = {
    "orm-edit": _orm_edit,
    "orm-delete": _orm_delete,
    "bulk-update": _bulk_update,
    "bulk-delete": _bulk_delete,
    "raw-update": _raw_update,
    "raw-delete": _raw_delete,
}


def snapshot(db: DbUnderTest) -> list[tuple[object, ...]]:
    with db.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT id, at, actor, desk, action, subject, "
                    "CAST(before AS TEXT), CAST(after AS TEXT) FROM audit_log ORDER BY id"
                )
            )
        ]


@pytest.mark.parametrize("attempt", list(ATTEMPTS))
def test_audit_rows_cannot_be_updated_or_deleted(db: DbUnderTest, attempt: str) -> None:
    with db.sessions() as s:
        audit(
            s,
            Actor("alice", "desk-1", Role.DISPATCHER),
            "link_add",
            "+15055550123",
            {"links": []},
            {"links": [{"account_number": "1003"}]},
        )
        s.commit()
    kept = snapshot(db)
    assert len(kept) == 1

    with db.sessions() as s, pytest.raises(DBAPIError, match=REFUSAL):
        ATTEMPTS[attempt](s)

    assert snapshot(db) == kept


def test_appending_still_works(db: DbUnderTest) -> None:
    actor = Actor("bob", "desk-2", Role.SUPERVISOR)
    for n in range(3):
        with db.sessions() as s:
            audit(s, actor, "report_resend", f"r-{n}", None, {"revision": n + 2})
            s.commit()
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 3
