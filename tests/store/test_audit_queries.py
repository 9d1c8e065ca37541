"""Audit trail queries: every filter, keyset paging, the filters' choices and the CSV export."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from outagedesk.domain.phones import InvalidPhoneError
from outagedesk.ops.base import Actor, Role
from outagedesk.ops.links import link_phone, unlink
from outagedesk.store.audit import (
    EXPORT_COLUMNS,
    AuditQuery,
    AuditRow,
    distinct_actions,
    distinct_people,
    export_audit_csv,
    iter_audit,
    page_audit,
)
from outagedesk.store.audit_refs import insert_audit_rows
from outagedesk.store.models import ServiceLocation

from dbsupport import DbUnderTest

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
PHONE = "+15055550123"
OTHER_PHONE = "+15055550144"


def entry(
    minute: int,
    actor: str,
    action: str,
    subject: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    desk: str = "desk-1",
) -> dict[str, Any]:
    return {
        "at": T0 + timedelta(minutes=minute),
        "actor": actor,
        "desk": desk,
        "action": action,
        "subject": subject,
        "before": before,
        "after": after,
    }


def add(db: DbUnderTest, rows: list[dict[str, Any]]) -> None:
    with db.engine.begin() as conn:
        insert_audit_rows(conn, rows)


def link_json(phone: str, account: str) -> dict[str, Any]:
    return {"links": [{"phone": phone, "account_number": account, "service_location_id": None}]}


@pytest.fixture
def seeded(db: DbUnderTest) -> DbUnderTest:
    """A small trail where each filter has exactly one right answer."""
    add(
        db,
        [
            # 1: a link of PHONE to account 1003 (phone is the subject, account inside JSON)
            entry(0, "alice", "link_add", PHONE, {"links": []}, link_json(PHONE, "1003")),
            # 2: another number to a longer account number that starts with 1003
            entry(1, "bob", "link_add", OTHER_PHONE, None, link_json(OTHER_PHONE, "10031")),
            # 3: a re-send whose subject is a report; the account is in the JSON only
            entry(
                2, "bob", "report_resend", "r-abc",
                {"r-abc": {"account_number": None, "state": "unlinked"}},
                {"r-abc": {"account_number": "1003", "state": "queued"}},
            ),
            # 4: a move of PHONE away from 1003: the phone and the account both in the JSON
            entry(
                3, "carol", "link_move", PHONE,
                link_json(PHONE, "1003"), link_json(PHONE, "2001"), desk="night desk",
            ),
            # 5: an import whose subject is the account itself
            entry(4, "import", "directory_import", "1003", None, {"rows": 5, "source": "file"}),
            # 6: a forced opt-out whose reason has wildcard characters and mixed case
            entry(
                5, "alice", "consent_force_opt_out", OTHER_PHONE,
                {"keywords": {}}, {"reason": "Asked By Phone: 100%_sure"},
            ),
            # 7: an action that looks like a prefix match only if "_" were a wildcard
            entry(6, "dave", "linkXadd", "+15055550177"),
        ],
    )  # fmt: skip
    return db


def ids(db: DbUnderTest, query: AuditQuery, limit: int = 100) -> list[int]:
    with db.sessions() as s:
        return [r.id for r in page_audit(s, query, None, limit)]


def subjects(db: DbUnderTest, query: AuditQuery) -> list[str]:
    with db.sessions() as s:
        return [f"{r.action}:{r.subject}" for r in page_audit(s, query, None, 100)]


def test_no_filter_lists_everything_newest_first(seeded: DbUnderTest) -> None:
    got = ids(seeded, AuditQuery())
    assert len(got) == 7
    assert got == sorted(got, reverse=True)
    with seeded.sessions() as s:
        newest = page_audit(s, AuditQuery(), None, 1)[0]
    assert isinstance(newest, AuditRow)
    assert (newest.person, newest.desk, newest.action) == ("dave", "desk-1", "linkXadd")
    assert newest.at == T0 + timedelta(minutes=6)


def test_person_filter_is_exact(seeded: DbUnderTest) -> None:
    assert subjects(seeded, AuditQuery(person="alice")) == [
        f"consent_force_opt_out:{OTHER_PHONE}",
        f"link_add:{PHONE}",
    ]
    assert subjects(seeded, AuditQuery(person="ali")) == []


def test_action_exact_and_prefix(seeded: DbUnderTest) -> None:
    assert subjects(seeded, AuditQuery(action="link_move")) == [f"link_move:{PHONE}"]
    assert subjects(seeded, AuditQuery(action="link")) == []
    for prefix in ("link_", "link_*"):
        got = subjects(seeded, AuditQuery(action=prefix))
        assert got == [f"link_move:{PHONE}", f"link_add:{OTHER_PHONE}", f"link_add:{PHONE}"]
    assert len(subjects(seeded, AuditQuery(action="link*"))) == 4
    assert subjects(seeded, AuditQuery(action="nothing_")) == []


def test_phone_in_any_form_matches_subject_and_json(seeded: DbUnderTest) -> None:
    for form in (PHONE, "505-555-0123", "(505) 555 0123", "15055550123"):
        assert subjects(seeded, AuditQuery(phone=form)) == [
            f"link_move:{PHONE}",
            f"link_add:{PHONE}",
        ], form
    # OTHER_PHONE is the subject of two rows and inside the JSON of one of them.
    assert subjects(seeded, AuditQuery(phone="5055550144")) == [
        f"consent_force_opt_out:{OTHER_PHONE}",
        f"link_add:{OTHER_PHONE}",
    ]


def test_a_bad_phone_is_refused(seeded: DbUnderTest) -> None:
    with seeded.sessions() as s, pytest.raises(InvalidPhoneError):
        page_audit(s, AuditQuery(phone="12"), None, 10)


def test_account_matches_subject_and_json_but_not_a_longer_number(seeded: DbUnderTest) -> None:
    assert subjects(seeded, AuditQuery(account="1003")) == [
        "directory_import:1003",
        f"link_move:{PHONE}",
        "report_resend:r-abc",
        f"link_add:{PHONE}",
    ]
    assert subjects(seeded, AuditQuery(account="10031")) == [f"link_add:{OTHER_PHONE}"]
    assert subjects(seeded, AuditQuery(account="100")) == []
    assert subjects(seeded, AuditQuery(account="2001")) == [f"link_move:{PHONE}"]


def test_time_range_is_since_inclusive_until_exclusive(seeded: DbUnderTest) -> None:
    q = AuditQuery(since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=4))
    assert subjects(seeded, q) == [f"link_move:{PHONE}", "report_resend:r-abc"]
    assert len(ids(seeded, AuditQuery(since=T0 + timedelta(minutes=6)))) == 1
    assert ids(seeded, AuditQuery(until=T0)) == []


def test_text_ignores_case_and_takes_wildcards_literally(seeded: DbUnderTest) -> None:
    assert subjects(seeded, AuditQuery(text="asked by PHONE")) == [
        f"consent_force_opt_out:{OTHER_PHONE}"
    ]
    assert subjects(seeded, AuditQuery(text="100%_sure")) == [
        f"consent_force_opt_out:{OTHER_PHONE}"
    ]
    assert subjects(seeded, AuditQuery(text="100%%")) == []
    assert subjects(seeded, AuditQuery(text="night DESK")) == [f"link_move:{PHONE}"]
    assert subjects(seeded, AuditQuery(text="r-ABC")) == ["report_resend:r-abc"]


def test_filters_combine(seeded: DbUnderTest) -> None:
    q = AuditQuery(person="bob", account="1003")
    assert subjects(seeded, q) == ["report_resend:r-abc"]
    q = AuditQuery(action="link_", phone=PHONE, until=T0 + timedelta(minutes=1))
    assert subjects(seeded, q) == [f"link_add:{PHONE}"]


def test_distinct_people_and_actions(seeded: DbUnderTest) -> None:
    with seeded.sessions() as s:
        assert distinct_people(s) == ["alice", "bob", "carol", "dave", "import"]
        assert distinct_actions(s) == [
            "consent_force_opt_out",
            "directory_import",
            "linkXadd",
            "link_add",
            "link_move",
            "report_resend",
        ]


def test_distinct_on_an_empty_log(db: DbUnderTest) -> None:
    with db.sessions() as s:
        assert distinct_people(s) == []
        assert distinct_actions(s) == []
        assert page_audit(s, AuditQuery(action="link_")) == []


def test_paging_has_no_gaps_or_duplicates(db: DbUnderTest) -> None:
    add(
        db,
        [
            entry(i, f"person{i % 3}", "link_add" if i % 2 else "report_resend", f"s-{i}")
            for i in range(253)
        ],
    )
    for query, expected in ((AuditQuery(), 253), (AuditQuery(person="person1"), 84)):
        seen: list[int] = []
        before: int | None = None
        with db.sessions() as s:
            for _ in range(100):  # bounded: 253 rows in pages of 20 take 13 pages
                page = page_audit(s, query, before, 20)
                seen += [r.id for r in page]
                if len(page) < 20:
                    break
                before = page[-1].id
            everything = [r.id for r in iter_audit(s, query, page_size=7)]
        assert len(seen) == expected
        assert len(set(seen)) == expected
        assert seen == sorted(seen, reverse=True)
        assert everything == seen
        with db.sessions() as s:
            rows = page_audit(s, query, None, 1000)
        assert [r.id for r in rows] == seen


def test_csv_export_writes_the_filtered_rows(seeded: DbUnderTest) -> None:
    out = io.StringIO()
    with seeded.sessions() as s:
        count = export_audit_csv(s, AuditQuery(account="1003"), out, page_size=2)
    assert count == 4
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    body = [dict(zip(EXPORT_COLUMNS, r, strict=True)) for r in rows[1:]]
    assert [r["action"] for r in body] == [
        "directory_import",
        "link_move",
        "report_resend",
        "link_add",
    ]
    move = body[1]
    assert move["at"] == "2026-11-24T10:03:00Z"
    assert (move["person"], move["desk"], move["subject"]) == ("carol", "night desk", PHONE)
    assert json.loads(move["before"]) == link_json(PHONE, "1003")
    assert json.loads(move["after"]) == link_json(PHONE, "2001")
    assert body[0]["before"] == ""


def test_csv_export_of_nothing_is_a_header(seeded: DbUnderTest) -> None:
    out = io.StringIO()
    with seeded.sessions() as s:
        assert export_audit_csv(s, AuditQuery(person="nobody"), out) == 0
    assert out.getvalue().strip() == ",".join(EXPORT_COLUMNS)


def test_rows_written_by_the_operations_are_found(db: DbUnderTest) -> None:
    """The JSON the ORM writes (not hand-made rows) is what the account filter reads."""
    with db.engine.begin() as conn:
        conn.execute(
            insert(ServiceLocation),
            [
                {"service_location_id": "SL-1", "account_number": "1003"},
                {"service_location_id": "SL-2", "account_number": "10031"},
            ],
        )
    supervisor = Actor("erin", "desk-9", Role.SUPERVISOR)
    with db.sessions() as s:
        outcome = link_phone(s, supervisor, PHONE, "10031", resend=False)
        link_phone(s, supervisor, PHONE, "1003", "SL-1", replace=[outcome.link_id], resend=False)
    with db.sessions() as s:
        unlink(s, supervisor, link_phone(s, supervisor, OTHER_PHONE, "10031").link_id)
    assert subjects(db, AuditQuery(account="1003")) == [f"link_move:{PHONE}"]
    assert subjects(db, AuditQuery(account="10031")) == [
        f"link_remove:{OTHER_PHONE}",
        f"link_add:{OTHER_PHONE}",
        f"link_move:{PHONE}",
        f"link_add:{PHONE}",
    ]
    assert subjects(db, AuditQuery(person="erin", phone="505 555 0123")) == [
        f"link_move:{PHONE}",
        f"link_add:{PHONE}",
    ]
