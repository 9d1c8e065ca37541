"""Bulk correction by file: preview by category, invalid rows, one transaction, export."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from outagedesk.ops.base import OperationError, PermissionDenied
from outagedesk.ops.bulk_links import (
    CorrectionFileError,
    Outcome,
    PlanOutdated,
    apply_corrections,
    export_links_csv,
    plan_corrections,
)
from outagedesk.ops.links import link_phone
from outagedesk.store.mappings import MappingQuery
from outagedesk.store.models import AuditEntry, PhoneLink

from dbsupport import DbUnderTest
from mappingsupport import DISPATCHER, LINKED, SUPERVISOR, load

GOOD = [
    "Action,phone,account_number,service_location_id,note",
    "add,+15055550111,A-200,,new whole-account link",
    "add,+15055550101,A-100,SL-100-1,already there",
    "move,(505) 555-0101,B-300,SL-300-1,drops A-100",
    "remove,+15755550102,A-200,SL-200-1,",
    "remove,+15755550102,A-200,SL-200-1,gone already",
    "move,5055550107,A-100,SL-100-2,new number: an add",
]
BAD = [
    "add,12,A-200,,",
    "add,+15055550112,Z-9,,",
    "add,+15055550112,A-200,SL-100-1,",
    "relink,+15055550112,A-200,,",
]


def write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "fix.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def links(db: DbUnderTest) -> set[tuple[str, str, str | None]]:
    with db.sessions() as s:
        rows = s.execute(
            select(PhoneLink.phone, PhoneLink.account_number, PhoneLink.service_location_id)
        )
        return {(p, a, loc) for p, a, loc in rows}


def test_the_preview_counts_each_category_and_writes_nothing(
    db: DbUnderTest, tmp_path: Path
) -> None:
    load(db)
    before = links(db)
    with db.sessions() as s:
        plan = plan_corrections(s, write(tmp_path, GOOD + BAD))
    assert links(db) == before
    assert [(r.line, r.outcome) for r in plan.rows] == [
        (2, Outcome.ADDED),
        (3, Outcome.UNCHANGED),
        (4, Outcome.MOVED),
        (5, Outcome.REMOVED),
        (6, Outcome.UNCHANGED),
        (7, Outcome.ADDED),
        (8, Outcome.INVALID),
        (9, Outcome.INVALID),
        (10, Outcome.INVALID),
        (11, Outcome.INVALID),
    ]
    assert plan.counts == {
        Outcome.ADDED: 2,
        Outcome.UNCHANGED: 2,
        Outcome.MOVED: 1,
        Outcome.REMOVED: 1,
        Outcome.INVALID: 4,
    }
    assert plan.rows[2].detail == "from A-100 / SL-100-1"
    reasons = [r.detail for r in plan.invalid]
    assert "not a valid phone number" in reasons[0]
    assert reasons[1] == "account Z-9 is not in the account directory"
    assert reasons[2] == "service location SL-100-1 does not belong to account A-200"
    assert "'relink' is not add, move or remove" in reasons[3]


def test_invalid_rows_block_the_apply_unless_skipped(db: DbUnderTest, tmp_path: Path) -> None:
    load(db)
    before = links(db)
    with db.sessions() as s:
        plan = plan_corrections(s, write(tmp_path, GOOD + BAD))
        with pytest.raises(OperationError, match="4 row"):
            apply_corrections(s, SUPERVISOR, plan)
        assert links(db) == before
        seen: list[tuple[int, int]] = []
        result = apply_corrections(
            s, SUPERVISOR, plan, lambda done, total: seen.append((done, total)), skip_invalid=True
        )
    assert (result.links_added, result.links_removed, result.rows_skipped) == (2, 2, 4)
    assert seen[-1] == (4, 4)
    assert links(db) == (before - {
        ("+15055550101", "A-100", "SL-100-1"),
        ("+15755550102", "A-200", "SL-200-1"),
    }) | {("+15055550111", "A-200", None), ("+15055550107", "A-100", "SL-100-2")}  # fmt: skip
    with db.sessions() as s:
        audits = s.scalars(select(AuditEntry).where(AuditEntry.action == "links_upload")).all()
        added = s.scalars(select(PhoneLink).where(PhoneLink.phone == "+15055550111")).one()
    assert len(audits) == 1
    assert audits[0].after is not None
    assert audits[0].after["sha256"] == plan.sha256
    assert audits[0].after["rows"]["invalid"] == 4
    assert (added.source, added.created_by, added.reviewed) == ("upload", "boss", True)


def test_apply_refuses_when_links_changed_after_the_preview(
    db: DbUnderTest, tmp_path: Path
) -> None:
    load(db)
    with db.sessions() as s:
        plan = plan_corrections(s, write(tmp_path, GOOD))
        link_phone(s, DISPATCHER, "+15055550101", "A-200", resend=False)
        before = links(db)
        with pytest.raises(PlanOutdated, match="preview the file again"):
            apply_corrections(s, SUPERVISOR, plan)
    assert links(db) == before


def test_only_people_who_may_import_apply(db: DbUnderTest, tmp_path: Path) -> None:
    load(db)
    with db.sessions() as s:
        plan = plan_corrections(s, write(tmp_path, GOOD))
        with pytest.raises(PermissionDenied, match=r"jdoe \(dispatcher\) may not import"):
            apply_corrections(s, DISPATCHER, plan)


def test_export_then_import_changes_nothing(db: DbUnderTest) -> None:
    load(db)
    out = io.StringIO()
    with db.sessions() as s:
        assert export_links_csv(s, SUPERVISOR, MappingQuery(), out) == 4
        plan = plan_corrections(s, io.StringIO(out.getvalue()))
    assert plan.counts == {Outcome.UNCHANGED: 4}
    assert (plan.removals, plan.additions) == ([], [])
    only = io.StringIO()
    with db.sessions() as s:
        assert export_links_csv(s, SUPERVISOR, MappingQuery(source="dispatcher"), only) == 1
    assert only.getvalue().splitlines()[1].startswith(f"{LINKED},A-100,SL-100-2,add,Ana Baca,")
    with db.sessions() as s, pytest.raises(PermissionDenied, match="may not import and correct"):
        export_links_csv(s, DISPATCHER, MappingQuery(), io.StringIO())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"phone,account_number,action\n", "no service_location_id column"),
        (b"", "is empty"),
        (
            b"phone,account_number,service_location_id,action\nadd,\xff,A,,\n",
            "fix.csv:2: not UTF-8",
        ),
    ],
)
def test_a_file_that_cannot_be_read_is_refused(
    db: DbUnderTest, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "fix.csv"
    path.write_bytes(content)
    with db.sessions() as s, pytest.raises(CorrectionFileError, match=message):
        plan_corrections(s, path)
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 0
