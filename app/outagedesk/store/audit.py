"""Reading the audit trail: filtered keyset pages, the filters' choices, and the CSV export.

Rows come newest first, paged on the primary key (``id < before_id``), never with OFFSET, so a
page costs the same at the top and a million rows down. Person filters ride the ``(actor, id)``
index. A phone or an account matches the subject of a row or a whole string value anywhere
inside its before/after (account 1003 never matches 10031): both are among the row's refs
(``outagedesk.store.audit_refs``), so such a page walks the ``(ref, audit_id)`` key of
``audit_refs`` downwards and reads only the audit rows it names (see docs/performance.md).

Pure SQLAlchemy, no Qt; SQLite and PostgreSQL. Nothing here writes to the audit log: the
database refuses to update or delete its rows anyway.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple, TextIO, cast

from sqlalchemy import ColumnElement, Select, Text, exists, or_, select
from sqlalchemy import cast as sql_cast
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session, aliased

from outagedesk.domain.phones import normalize_phone
from outagedesk.gateway.contract import format_timestamp
from outagedesk.store.models import AuditEntry, AuditRef

_A = AuditEntry

PAGE_SIZE = 200
EXPORT_PAGE_SIZE = 2000
EXPORT_COLUMNS = ("at", "person", "desk", "action", "subject", "before", "after")
PREFIX_MARKS = ("_", "*")
"""An action filter ending in one of these is a prefix: ``link_`` or ``link*``."""


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """What to show; empty fields do not filter. Times: ``since`` ≤ at < ``until``."""

    person: str = ""
    action: str = ""
    """One action (``link_add``), or a prefix ending in ``_`` or ``*`` (``link_``)."""
    phone: str = ""
    """Any usual form; normalised to E.164 with ``region`` (a bad number raises ValueError)."""
    account: str = ""
    since: datetime | None = None
    until: datetime | None = None
    text: str = ""
    """Anywhere in person, desk, action, subject or the before/after JSON (any case)."""
    region: str = "US"

    @property
    def empty(self) -> bool:
        return not (
            self.person.strip()
            or self.action.strip()
            or self.phone.strip()
            or self.account.strip()
            or self.text.strip()
            or self.since
            or self.until
        )


class AuditRow(NamedTuple):
    id: int
    at: datetime
    person: str
    desk: str
    action: str
    subject: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def _json_text(column: Any) -> ColumnElement[str]:
    # The JSON is stored as text on both backends (json, not jsonb, on PostgreSQL), exactly as
    # json.dumps wrote it; CAST hands that text back.
    return cast(ColumnElement[str], sql_cast(column, Text))


def _text_match(session: Session, text: str) -> ColumnElement[bool]:
    # SQLite's LIKE already ignores ASCII case; PostgreSQL needs ILIKE.
    fold = session.get_bind().dialect.name != "sqlite"
    # Inside the JSON, text is escaped as json.dumps escapes it (quotes, backslashes, non-ASCII).
    in_json = json.dumps(text)[1:-1]
    columns: list[tuple[Any, str]] = [
        (_A.actor, text),
        (_A.desk, text),
        (_A.action, text),
        (_A.subject, text),
        (_json_text(_A.before), in_json),
        (_json_text(_A.after), in_json),
    ]
    return or_(
        *(
            column.icontains(needle, autoescape=True)
            if fold
            else column.contains(needle, autoescape=True)
            for column, needle in columns
        )
    )


def action_prefix(action: str) -> str | None:
    """The prefix an action filter asks for, or None when it names one action."""
    if action.endswith("*"):
        return action.rstrip("*")
    if action.endswith("_"):
        return action
    return None


class _Filter(NamedTuple):
    refs: list[str]
    """Values every matching row has among its refs (a phone, an account)."""
    terms: list[ColumnElement[bool]]
    """WHERE terms on audit_log."""


def _conditions(session: Session, query: AuditQuery) -> _Filter | None:
    """What ``query`` asks for; None when it cannot match anything."""
    refs: list[str] = []
    terms: list[ColumnElement[bool]] = []
    person = query.person.strip()
    if person:
        terms.append(_A.actor == person)
    action = query.action.strip()
    if action:
        prefix = action_prefix(action)
        if prefix is None:
            terms.append(_A.action == action)
        else:
            # The few distinct actions are known at once; an IN list uses the action index
            # where LIKE 'link\_%' ESCAPE '\' would not.
            names = [a for a in distinct_actions(session) if a.startswith(prefix)]
            if not names:
                return None
            terms.append(_A.action.in_(names))
    phone = query.phone.strip()
    if phone:
        refs.append(normalize_phone(phone, query.region))
    account = query.account.strip()
    if account and account not in refs:
        refs.append(account)
    if query.since is not None:
        terms.append(_A.at >= query.since)
    if query.until is not None:
        terms.append(_A.at < query.until)
    text = " ".join(query.text.split())
    if text:
        terms.append(_text_match(session, text))
    return _Filter(refs, terms)


def page_audit(
    session: Session, query: AuditQuery, before_id: int | None = None, limit: int = PAGE_SIZE
) -> list[AuditRow]:
    """Rows matching ``query`` with an id below ``before_id`` (all when None), newest first.

    The next page starts below the last row's id; a page shorter than ``limit`` is the last.
    """
    wanted = _conditions(session, query)
    if wanted is None or limit <= 0:
        return []
    ids = _page_ids(wanted, before_id, limit) if wanted.refs else _log_ids(wanted, before_id, limit)
    # The page's ids first, then its rows: when the filter only names indexed columns (person,
    # time, action), SQLite finds and sorts the ids in the index alone, instead of reading and
    # sorting whole rows (JSON included) that the page then drops.
    q = (
        select(_A.id, _A.at, _A.actor, _A.desk, _A.action, _A.subject, _A.before, _A.after)
        .where(_A.id.in_(ids.scalar_subquery()))
        .order_by(_A.id.desc())
    )
    return [AuditRow(*r) for r in session.execute(q).all()]


def _log_ids(wanted: _Filter, before_id: int | None, limit: int) -> Select[int]:
    ids = select(_A.id).where(*wanted.terms)
    if before_id is not None:
        ids = ids.where(_A.id < before_id)
    return ids.order_by(_A.id.desc()).limit(limit)


def _page_ids(wanted: _Filter, before_id: int | None, limit: int) -> Select[int]:
    """A page's ids driven by the first ref: a backward range scan of its ``(ref, audit_id)``
    keys. The other filters are correlated look-ups by primary key (EXISTS, not a join, so
    that no planner starts from, say, the person's index and sorts all of their rows)."""
    driver = aliased(AuditRef)
    ids = select(driver.audit_id).where(driver.ref == wanted.refs[0])
    if before_id is not None:
        ids = ids.where(driver.audit_id < before_id)
    for ref in wanted.refs[1:]:
        ids = ids.where(exists().where(AuditRef.ref == ref, AuditRef.audit_id == driver.audit_id))
    if wanted.terms:
        ids = ids.where(exists().where(_A.id == driver.audit_id, *wanted.terms))
    return ids.order_by(driver.audit_id.desc()).limit(limit)


def iter_audit(
    session: Session, query: AuditQuery, page_size: int = EXPORT_PAGE_SIZE
) -> Iterator[AuditRow]:
    """Every matching row, newest first, read a page at a time."""
    before: int | None = None
    while True:
        rows = page_audit(session, query, before, page_size)
        yield from rows
        if len(rows) < page_size:
            return
        before = rows[-1].id


_LOOSE_SCAN = """
WITH RECURSIVE seen(value) AS (
    SELECT min({column}) FROM audit_log
    UNION ALL
    SELECT (SELECT min({column}) FROM audit_log WHERE {column} > seen.value)
    FROM seen WHERE seen.value IS NOT NULL
)
SELECT value FROM seen WHERE value IS NOT NULL
"""


def _distinct(session: Session, column: Literal["actor", "action"]) -> list[str]:
    """The distinct values of an indexed column, one index seek per value (a loose index
    scan): milliseconds on a million rows, where SELECT DISTINCT reads the whole index."""
    values = session.scalars(sql_text(_LOOSE_SCAN.format(column=column)))
    return sorted(str(v) for v in values)


def distinct_people(session: Session) -> list[str]:
    """Everyone who has an audit row, sorted."""
    return _distinct(session, "actor")


def distinct_actions(session: Session) -> list[str]:
    """Every action the audit log holds, sorted."""
    return _distinct(session, "action")


def _json_cell(value: dict[str, Any] | None) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def export_audit_csv(
    session: Session, query: AuditQuery, out: TextIO, page_size: int = EXPORT_PAGE_SIZE
) -> int:
    """Write the rows matching ``query`` as CSV, newest first (as the screen shows them),
    a page at a time; returns how many rows were written."""
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for row in iter_audit(session, query, page_size):
        writer.writerow(
            [
                format_timestamp(row.at),
                row.person,
                row.desk,
                row.action,
                row.subject,
                _json_cell(row.before),
                _json_cell(row.after),
            ]
        )
        count += 1
    return count


__all__ = [
    "EXPORT_COLUMNS",
    "PAGE_SIZE",
    "AuditQuery",
    "AuditRow",
    "action_prefix",
    "distinct_actions",
    "distinct_people",
    "export_audit_csv",
    "iter_audit",
    "page_audit",
]
