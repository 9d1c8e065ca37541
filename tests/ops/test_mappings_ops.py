"""Supervisors' link edits: move with re-sends, delete, approve, permissions, concurrent edits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from outagedesk.ops.base import Actor, OperationError, PermissionDenied, Role
from outagedesk.ops.mappings import (
    StaleLinkError,
    approve_links,
    correct_and_approve,
    delete_links,
    move_link,
    ticketed_reports,
)
from outagedesk.store.db import make_engine, session_factory
from outagedesk.store.mappings import mapping_rows, review_count
from outagedesk.store.models import (
    AuditEntry,
    OutboxTask,
    PhoneLink,
    Report,
    ServiceLocation,
    utcnow,
)

from dbsupport import DbUnderTest
from mappingsupport import LINKED, SUPERVISOR, load, sent_report


@pytest.fixture
def link_id(db: DbUnderTest) -> int:
    return load(db)


@pytest.fixture
def other_desk(db: DbUnderTest) -> Iterator[Engine]:
    """A second engine on the same database: another desk, its own connections."""
    engine = make_engine(db.url)
    yield engine
    engine.dispose()


def actions(s: Session) -> list[str]:
    return list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_a_move_relinks_and_resends_only_unticketed_reports(db: DbUnderTest, link_id: int) -> None:
    with db.sessions() as s:
        open_pk = sent_report(s, LINKED, 1, None)
        ticketed_pk = sent_report(s, LINKED, 2, "T-77")
        assert [(t.report_id, t.ticket_id) for t in ticketed_reports(s, LINKED)] == [
            ("r-2", "T-77")
        ]
        change = move_link(s, SUPERVISOR, link_id, 1, "A-200", "SL-200-1")
    assert (change.before.account_number, change.after.account_number) == ("A-100", "A-200")
    after = change.after
    assert (after.service_location_id, after.source, after.version) == ("SL-200-1", "supervisor", 2)
    assert (after.reviewed, after.reviewed_by, after.created_by) == (True, "boss", "boss")
    assert [(r.report_id, r.revision) for r in change.resent] == [("r-1", 2)]
    with db.sessions() as s:
        moved = s.get(Report, open_pk)
        kept = s.get(Report, ticketed_pk)
        assert moved is not None
        assert kept is not None
        assert (moved.revision, moved.account_number, moved.service_location_id) == (
            2,
            "A-200",
            "SL-200-1",
        )
        assert (kept.revision, kept.account_number) == (1, None)
        assert actions(s)[-2:] == ["link_move", "report_resend"]


def test_a_move_can_resend_ticketed_reports_as_a_new_revision(
    db: DbUnderTest, link_id: int
) -> None:
    with db.sessions() as s:
        ticketed_pk = sent_report(s, LINKED, 2, "T-77")
        change = move_link(s, SUPERVISOR, link_id, 1, "A-200", None, resend_ticketed=True)
    assert [(r.report_id, r.revision) for r in change.resent] == [("r-2", 2)]
    with db.sessions() as s:
        task = s.scalars(
            select(OutboxTask).where(
                OutboxTask.report_pk == ticketed_pk, OutboxTask.done.is_(False)
            )
        ).one()
        assert task.idempotency_key == "r-2.2"
        assert task.payload["account_number"] == "A-200"


@pytest.mark.parametrize(
    ("account", "location", "message"),
    [
        ("Z-999", None, "account Z-999 is not in the account directory"),
        ("A-200", "SL-100-1", "service location SL-100-1 does not belong to account A-200"),
        ("A-100", "SL-100-2", "the link already points to A-100 / SL-100-2"),
        ("A-100", "SL-100-1", "was removed from the account directory"),
    ],
)
def test_a_move_to_a_wrong_target_is_refused_and_changes_nothing(
    db: DbUnderTest, link_id: int, account: str, location: str | None, message: str
) -> None:
    with db.sessions() as s:
        s.execute(
            update(ServiceLocation)
            .where(ServiceLocation.service_location_id == "SL-100-1")
            .values(removed_at=utcnow())
        )
        s.commit()
        with pytest.raises(OperationError, match=message):
            move_link(s, SUPERVISOR, link_id, 1, account, location)
        assert mapping_rows(s, [link_id])[0].version == 1


def test_a_move_onto_an_identical_link_is_refused(db: DbUnderTest, link_id: int) -> None:
    with db.sessions() as s:
        twin = move_link(s, SUPERVISOR, link_id, 1, "A-200", None).after
        other = s.scalars(
            select(PhoneLink.id).where(
                PhoneLink.phone == "+15055550101", PhoneLink.account_number == "B-300"
            )
        ).one()
        with pytest.raises(OperationError, match=r"already linked to A-100 / SL-100-1 \(link"):
            move_link(s, SUPERVISOR, other, 1, "A-100", "SL-100-1")
        assert twin.version == 2


def calls(link_id: int) -> dict[str, Callable[[Session, Actor], Any]]:
    return {
        "move": lambda s, a: move_link(s, a, link_id, 1, "A-200", None),
        "correct": lambda s, a: correct_and_approve(s, a, link_id, 1, "A-200", None),
        "delete": lambda s, a: delete_links(s, a, [(link_id, 1)]),
        "approve": lambda s, a: approve_links(s, a, [(link_id, 1)]),
    }


@pytest.mark.parametrize("role", [Role.DISPATCHER, Role.TRAINER])
@pytest.mark.parametrize("operation", ["move", "correct", "delete", "approve"])
def test_only_supervisors_and_admins_edit_links(
    db: DbUnderTest, link_id: int, role: Role, operation: str
) -> None:
    with db.sessions() as s:
        with pytest.raises(PermissionDenied, match=f"pat \\({role.value}\\) may not"):
            calls(link_id)[operation](s, Actor("pat", "desk-9", role))
        assert mapping_rows(s, [link_id])[0].version == 1
        assert "link_move" not in actions(s)


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.ADMIN])
@pytest.mark.parametrize("operation", ["move", "correct", "delete", "approve"])
def test_supervisors_and_admins_may(
    db: DbUnderTest, link_id: int, role: Role, operation: str
) -> None:
    with db.sessions() as s:
        calls(link_id)[operation](s, Actor("pat", "desk-9", role))
        rows = mapping_rows(s, [link_id])
    assert rows == [] if operation == "delete" else rows[0].version == 2


def test_the_second_of_two_desks_editing_a_link_gets_the_current_value(
    db: DbUnderTest, link_id: int, other_desk: Engine
) -> None:
    mine, theirs = db.sessions(), session_factory(other_desk)()
    try:
        seen_by_them = mapping_rows(theirs, [link_id])[0]
        theirs.rollback()
        move_link(mine, SUPERVISOR, link_id, 1, "A-200", "SL-200-1")
        with pytest.raises(StaleLinkError) as refused:
            move_link(theirs, Actor("kim", "desk-2", Role.SUPERVISOR), link_id,
                      seen_by_them.version, "B-300", None)  # fmt: skip
        current = refused.value.current
        assert current is not None
        assert (current.account_number, current.version) == ("A-200", 2)
        assert str(refused.value).startswith(
            "Someone changed this link a moment ago: it now points to A-200 / SL-200-1 (by boss at "
        )
        assert str(refused.value).endswith("Your change was not applied.")
        with pytest.raises(StaleLinkError):
            delete_links(theirs, SUPERVISOR, [(link_id, 1)])
        with pytest.raises(StaleLinkError):
            approve_links(theirs, SUPERVISOR, [(link_id, 1)])
        delete_links(mine, SUPERVISOR, [(link_id, 2)])
        with pytest.raises(StaleLinkError, match="Someone removed this link") as gone:
            move_link(theirs, SUPERVISOR, link_id, 2, "B-300", None)
        assert gone.value.current is None
    finally:
        mine.close()
        theirs.close()
    with db.sessions() as s:
        assert actions(s).count("link_move") == 1
        assert actions(s).count("link_remove") == 1


def test_delete_is_all_or_nothing(db: DbUnderTest, link_id: int) -> None:
    with db.sessions() as s:
        others = list(s.scalars(select(PhoneLink.id).where(PhoneLink.id != link_id)))
        with pytest.raises(StaleLinkError):
            delete_links(s, SUPERVISOR, [(others[0], 1), (link_id, 7)])
        assert s.scalar(select(func.count()).select_from(PhoneLink)) == 4
        assert delete_links(s, SUPERVISOR, [(others[0], 1), (link_id, 1)]) == 2
        assert s.scalar(select(func.count()).select_from(PhoneLink)) == 2
        assert actions(s).count("link_remove") == 2


def test_approve_and_correct_empty_the_review_queue(db: DbUnderTest, link_id: int) -> None:
    with db.sessions() as s:
        assert review_count(s) == 1
        assert approve_links(s, SUPERVISOR, [(link_id, 1)]) == 1
        row = mapping_rows(s, [link_id])[0]
        assert (row.reviewed, row.reviewed_by, row.version, row.source) == (
            True,
            "boss",
            2,
            "dispatcher",
        )
        assert review_count(s) == 0
        change = correct_and_approve(s, SUPERVISOR, link_id, 2, "A-200", None)
        assert (change.after.reviewed, change.after.version) == (True, 3)
        assert actions(s)[-2:] == ["link_approve", "link_correct"]
