"""What an audit row is about, and writing audit rows in bulk together with it.

The Audit screen finds a phone or an account in the subject of a row or as a whole string
anywhere inside its before/after JSON (account 1003 never matches 10031). Searching the JSON
text means reading every row; instead each row gets its refs, written with it in
``audit_refs``: the subject and every string value inside before/after (dict keys are field
names, not values, and are left out). A phone or an account filter is then one index range
scan on ``(ref, audit_id)``. Every string is kept rather than the values under a list of
known keys, so that a value an operation writes under a new key is still found.

Every writer of audit rows goes through here: :func:`add_audit_entry` for the ORM
(``ops.base.audit()``), :func:`insert_audit_rows` for Core bulk inserts (the directory import,
tests, benchmarks).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection, event, insert, text
from sqlalchemy.orm import Session

from outagedesk.store.models import AuditEntry, AuditRef

REF_LENGTH = 200
"""Longer strings (free-text reasons, file paths) are no phone or account: not kept."""
_PENDING = "outagedesk.audit_refs.pending"
"""``session.info`` key: rows added to the session whose refs the next flush writes."""


_PG_INSERT_REFS = text(
    "INSERT INTO audit_refs (ref, audit_id) "
    "SELECT * FROM unnest(CAST(:refs AS varchar[]), CAST(:ids AS bigint[]))"
)


def refs_of(subject: str, before: object, after: object, about: Iterable[str] = ()) -> list[str]:
    """The distinct non-empty strings of at most ``REF_LENGTH`` characters among the subject,
    the values (at any depth) of ``before`` and ``after`` and ``about`` (what a row is about
    but does not spell out, such as the links a file upload changed), in the order met."""
    found: dict[str, None] = {}
    pending: list[object] = [list(about), after, before, subject]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if 0 < len(value) <= REF_LENGTH:
                found[value] = None
        elif isinstance(value, Mapping):
            pending.extend(reversed(list(value.values())))
        elif isinstance(value, list | tuple):
            pending.extend(reversed(value))
    return list(found)


def add_audit_entry(session: Session, entry: AuditEntry, about: Iterable[str] = ()) -> None:
    """Add ``entry`` to ``session``; its refs (``about`` included) are written by the flush
    that inserts it, so in its transaction, whenever the caller flushes or commits."""
    session.add(entry)
    refs = refs_of(entry.subject, entry.before, entry.after, about)
    session.info.setdefault(_PENDING, []).append((entry, refs))


# Core inserts after the flush rather than ORM objects: an upload's refs can be 100,000 values,
# which the unit of work takes a minute over.
@event.listens_for(Session, "after_flush")
def _write_pending_refs(session: Session, _context: object) -> None:
    pending: list[tuple[AuditEntry, list[str]]] = session.info.pop(_PENDING, [])
    flushed: list[tuple[str, int]] = []
    waiting: list[tuple[AuditEntry, list[str]]] = []
    for entry, refs in pending:
        if entry not in session:
            continue  # its savepoint was rolled back: the row is not written
        audit_id = cast("int | None", entry.id)  # None until a flush inserts the row
        if audit_id is None:
            waiting.append((entry, refs))
        else:
            flushed += [(ref, audit_id) for ref in refs]
    if waiting:
        session.info[_PENDING] = waiting
    _write_refs(session.connection(), flushed)


@event.listens_for(Session, "after_rollback")
def _forget_pending_refs(session: Session) -> None:
    # Rows added but never written are gone with the transaction, and so are their refs.
    session.info.pop(_PENDING, None)


def insert_audit_rows(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert audit rows (``AuditEntry`` column values) and their refs in the caller's
    transaction; returns the new rows' ids, in the order of ``rows``."""
    if not rows:
        return []
    inserted = conn.execute(
        insert(AuditEntry).returning(AuditEntry.id, sort_by_parameter_order=True), list(rows)
    )
    ids = list(inserted.scalars())
    _write_refs(
        conn,
        [
            (ref, audit_id)
            for audit_id, row in zip(ids, rows, strict=True)
            for ref in refs_of(row.get("subject", ""), row.get("before"), row.get("after"))
        ],
    )
    return ids


def _write_refs(conn: Connection, refs: Sequence[tuple[str, int]]) -> None:
    """Insert ``(ref, audit_id)`` pairs of rows written in the same transaction."""
    if not refs:
        return
    if conn.dialect.name == "postgresql":
        # One statement for the lot: an executemany sends (and checks) a row at a time.
        found, ids = zip(*refs, strict=True)
        conn.execute(_PG_INSERT_REFS, {"refs": list(found), "ids": list(ids)})
    else:
        conn.execute(insert(AuditRef), [{"ref": ref, "audit_id": i} for ref, i in refs])


__all__ = ["REF_LENGTH", "add_audit_entry", "insert_audit_rows", "refs_of"]
