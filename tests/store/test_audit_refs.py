"""Audit refs: what a row is about, written with it, kept append-only, and what a phone or an
account page reads (an index range scan, not the JSON of every row)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import event, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from outagedesk.ops.base import Actor, Role, audit
from outagedesk.store.audit import AuditQuery, page_audit
from outagedesk.store.audit_refs import REF_LENGTH, insert_audit_rows, refs_of
from outagedesk.store.db import alembic_config, current_revision, head_revision, migrate
from outagedesk.store.models import AuditEntry, AuditRef

from dbsupport import DbUnderTest

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
PHONE = "+15055550123"
REFUSAL = "audit rows cannot be changed or deleted"


def row(n: int, subject: str, before: Any = None, after: Any = None, actor: str = "alice") -> Any:
    return {
        "at": T0 + timedelta(seconds=n),
        "actor": actor,
        "desk": "desk-1",
        "action": "link_add",
        "subject": subject,
        "before": before,
        "after": after,
    }


def stored_refs(s: Session) -> dict[int, set[str]]:
    found: dict[int, set[str]] = defaultdict(set)
    for audit_id, ref in s.execute(select(AuditRef.audit_id, AuditRef.ref)):
        found[audit_id].add(ref)
    return dict(found)


def test_refs_are_the_subject_and_the_strings_inside_before_and_after() -> None:
    before = {"links": [{"id": 7, "phone": PHONE, "account_number": "1003", "reviewed": True}]}
    after = {
        "links": [{"phone": PHONE, "account_number": "2001", "service_location_id": None}],
        "keywords": {"OUT": False},  # keys are field names: "OUT" is no ref
        "nested": [["deep", ["deeper"]], 3.5],
    }
    assert refs_of(PHONE, before, after) == [PHONE, "1003", "2001", "deep", "deeper"]


def test_refs_leave_out_empty_and_long_strings_and_repeat_nothing() -> None:
    longest = "x" * REF_LENGTH
    assert refs_of("", {"a": "", "b": longest + "y", "c": longest}, None) == [longest]
    assert refs_of("1003", {"account_number": "1003"}, {"account_number": "1003"}) == ["1003"]
    assert refs_of("", None, None) == []
    assert refs_of("f.csv", None, {"rows": 5}, about=["+15055550111", "A-1", "f.csv"]) == [
        "f.csv",
        "+15055550111",
        "A-1",
    ]


def test_bulk_insert_writes_rows_and_refs_in_order(db: DbUnderTest) -> None:
    rows = [row(n, f"s-{n}", None, {"account_number": f"{1000 + n % 3}"}) for n in range(30)]
    with db.engine.begin() as conn:
        assert insert_audit_rows(conn, []) == []
        ids = insert_audit_rows(conn, rows)
    assert len(ids) == 30
    with db.sessions() as s:
        subjects = {
            i: subject for i, subject in s.execute(select(AuditEntry.id, AuditEntry.subject))
        }
        refs = stored_refs(s)
    assert [subjects[i] for i in ids] == [f"s-{n}" for n in range(30)]
    assert [refs[i] for i in ids] == [{f"s-{n}", f"{1000 + n % 3}"} for n in range(30)]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_refs SET ref = '+15055550199'",
        "DELETE FROM audit_refs",
        "INSERT INTO audit_refs (ref, audit_id) VALUES ('+15055550199', 999)",
    ],
)
def test_refs_cannot_be_changed_deleted_or_made_up(db: DbUnderTest, statement: str) -> None:
    with db.engine.begin() as conn:
        insert_audit_rows(conn, [row(0, PHONE, None, {"account_number": "1003"})])
    with db.sessions() as s:
        kept = stored_refs(s)
    # A ref must name an audit row: the made-up one breaks the foreign key.
    refusal = "FOREIGN KEY|foreign key" if statement.startswith("INSERT") else REFUSAL
    with db.engine.begin() as conn, pytest.raises(DBAPIError, match=refusal):
        conn.execute(text(statement))
    with db.sessions() as s:
        assert stored_refs(s) == kept
        assert [r.subject for r in page_audit(s, AuditQuery(account="1003"))] == [PHONE]


def test_phone_pages_have_no_gaps_and_respect_the_other_filters(db: DbUnderTest) -> None:
    people = ("alice", "bob", "carol")
    rows = [
        row(n, PHONE if n % 2 else "r-x", None, {"phone": PHONE, "n": f"{n}"}, people[n % 3])
        for n in range(253)
    ]
    rows += [row(253 + n, "+15055550144", None, {"account_number": "1003"}) for n in range(5)]
    with db.engine.begin() as conn:
        insert_audit_rows(conn, rows)
    for query, expected in (
        (AuditQuery(phone="505 555 0123"), 253),
        (AuditQuery(phone="505 555 0123", person="bob"), 84),
        (AuditQuery(phone="505 555 0123", account="17"), 1),
        (AuditQuery(phone="505 555 0123", account="1003"), 0),
        (AuditQuery(account="1003", person="alice"), 5),
    ):
        seen: list[int] = []
        before: int | None = None
        with db.sessions() as s:
            for _ in range(100):  # bounded: 253 rows in pages of 20 take 13 pages
                page = page_audit(s, query, before, 20)
                seen += [r.id for r in page]
                if len(page) < 20:
                    break
                before = page[-1].id
            assert [r.id for r in page_audit(s, query, None, 1000)] == seen, query
        assert len(seen) == len(set(seen)) == expected, query
        assert seen == sorted(seen, reverse=True)


def test_a_phone_page_walks_the_refs_key_on_sqlite(sqlite_db: DbUnderTest) -> None:
    engine = sqlite_db.engine
    with engine.begin() as conn:
        insert_audit_rows(
            conn, [row(n, PHONE, None, {"account_number": "1003"}) for n in range(50)]
        )
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        statements.append((statement, params))

    for query in (
        AuditQuery(phone=PHONE),
        AuditQuery(phone=PHONE, account="1003", person="alice", action="link_add"),
    ):
        statements.clear()
        event.listen(engine, "before_cursor_execute", record)
        try:
            with sqlite_db.sessions() as s:
                assert len(page_audit(s, query, 40, 20)) == 20
        finally:
            event.remove(engine, "before_cursor_execute", record)
        [(statement, params)] = [(q, p) for q, p in statements if "audit_refs" in q]
        with engine.connect() as conn:
            plan = [
                str(step[-1])
                for step in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
            ]
        # The page is the ref's keys read downwards, each other filter a look-up by key:
        # no table or index is scanned, whatever the size of the log.
        assert any("USING PRIMARY KEY (ref=? AND audit_id<?)" in step for step in plan), plan
        assert not [step for step in plan if step.startswith("SCAN")], plan


def test_the_migration_fills_refs_for_rows_written_before_it(db: DbUnderTest) -> None:
    """Rows written at revision 0004 (no refs yet) are found by phone and account after the
    upgrade, in batches, with the refs the application writes for new rows."""
    command.downgrade(alembic_config(db.engine), "0004")
    assert current_revision(db.engine) == "0004"
    rows = [
        row(n, PHONE if n % 2 else "r-x", None, {"account_number": f"{1000 + n % 7}"})
        for n in range(5003)  # crosses the migration's batches of 5,000 rows
    ]
    rows[-1] = row(5002, "+15055550144", {"links": [{"phone": PHONE, "account_number": "1003"}]})
    with db.engine.begin() as conn:
        conn.execute(insert(AuditEntry), rows)
    migrate(db.engine)
    assert current_revision(db.engine) == head_revision(db.engine)
    with db.sessions() as s:
        entries = s.execute(
            select(AuditEntry.id, AuditEntry.subject, AuditEntry.before, AuditEntry.after)
        ).all()
        refs = stored_refs(s)
        newest = page_audit(s, AuditQuery(phone=PHONE), None, 3)
        by_account = page_audit(s, AuditQuery(account="1003"), None, 1000)
    assert len(entries) == 5003
    assert {e.id: set(refs_of(e.subject, e.before, e.after)) for e in entries} == refs
    assert [r.subject for r in newest] == ["+15055550144", PHONE, PHONE]
    # n % 7 == 3 for 715 of the first 5,002 rows, and the last row's before.
    assert len(by_account) == 716
    with db.engine.begin() as conn, pytest.raises(DBAPIError, match=REFUSAL):
        conn.execute(text("DELETE FROM audit_refs"))


ACTOR = Actor("alice", "desk-1", Role.SUPERVISOR)


def test_orm_rows_get_their_refs_at_the_flush_and_lose_them_with_a_rollback(
    db: DbUnderTest,
) -> None:
    many = [f"A-{n}" for n in range(5000)]
    with db.sessions() as s:
        audit(s, ACTOR, "link_add", PHONE, None, {"account_number": "gone"})
        s.flush()
        s.rollback()
        audit(s, ACTOR, "link_add", PHONE, None, {"account_number": "never flushed"})
        s.rollback()
        with s.begin_nested():
            audit(s, ACTOR, "link_add", PHONE, None, {"account_number": "kept"})
            s.flush()
            inner = s.begin_nested()
            audit(s, ACTOR, "link_add", PHONE, None, {"account_number": "inner"})
            s.flush()
            inner.rollback()
        audit(s, ACTOR, "links_upload", "f.csv", None, {"rows": 1}, about=many)
        s.commit()
    with db.sessions() as s:
        refs = stored_refs(s)
        rows = s.execute(select(AuditEntry.id, AuditEntry.subject))
        subjects = {audit_id: subject for audit_id, subject in rows}
    assert sorted(subjects.values()) == [PHONE, "f.csv"]
    by_subject = {subjects[i]: found for i, found in refs.items()}
    assert by_subject == {PHONE: {PHONE, "kept"}, "f.csv": {"f.csv", *many}}
