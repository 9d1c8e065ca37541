"""A supervisor's edits of links: move, delete, approve, correct; optimistic locking.

Every edit names the version of the link it was made on. The UPDATE or DELETE only touches
a row still at that version, so when two desks edit the same link the second one changes
nothing and gets :class:`StaleLinkError` with the link as it is now: no update is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Executable, Table, delete, select, update
from sqlalchemy.orm import Session

from outagedesk.ops.base import Actor, OperationError, Permission, audit, require
from outagedesk.ops.resend import Resent, reports_to_resend, resend_reports
from outagedesk.store.mappings import MappingRow, mapping_rows
from outagedesk.store.models import PhoneLink, Report, ServiceLocation, utcnow

SUPERVISOR = "supervisor"

# (link id, the version the person saw)
LinkVersion = tuple[int, int]


class StaleLinkError(OperationError):
    """The link changed (or was deleted) since it was read; nothing was applied."""

    def __init__(self, message: str, current: MappingRow | None) -> None:
        super().__init__(message)
        self.current = current


@dataclass(frozen=True, slots=True)
class MappingChange:
    before: MappingRow
    after: MappingRow
    resent: list[Resent] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TicketedReport:
    """A report of the phone that already has a ticket: re-sent only when asked."""

    report_pk: int
    report_id: str
    ticket_id: str
    revision: int
    received_at: datetime
    account_number: str | None
    service_location_id: str | None


_LINKS = cast(Table, PhoneLink.__table__)


def _rowcount(session: Session, stmt: Executable) -> int:
    return int(cast(CursorResult[Any], session.execute(stmt)).rowcount)


def ticketed_reports(session: Session, phone: str) -> list[TicketedReport]:
    """The phone's reports that have a ticket, oldest first: what a correction offers to
    re-send as a new revision (the OMS decides what to do with the ticket)."""
    reports = session.scalars(
        select(Report)
        .where(Report.phone == phone, Report.ticket_id.is_not(None))
        .order_by(Report.received_at, Report.id)
    )
    return [
        TicketedReport(
            report_pk=r.id,
            report_id=r.report_id,
            ticket_id=r.ticket_id or "",
            revision=r.revision,
            received_at=r.received_at,
            account_number=r.account_number,
            service_location_id=r.service_location_id,
        )
        for r in reports
    ]


def describe_target(account_number: str, location_id: str | None) -> str:
    if location_id is None:
        return f"{account_number} (all locations)"
    return f"{account_number} / {location_id}"


def _stale(session: Session, link_id: int) -> StaleLinkError:
    """Undo whatever this transaction did, and say what the link is now."""
    session.rollback()
    found = mapping_rows(session, [link_id])
    session.rollback()  # end the read: an SQLite transaction holds the write lock
    if not found:
        return StaleLinkError(
            "Someone removed this link a moment ago. Your change was not applied.", None
        )
    current = found[0]
    who, when = current.created_by, current.created_at
    if current.reviewed_at is not None and current.reviewed_at > when:
        who, when = current.reviewed_by or who, current.reviewed_at
    return StaleLinkError(
        "Someone changed this link a moment ago: it now points to "
        f"{describe_target(current.account_number, current.service_location_id)} "
        f"(by {who} at {when.astimezone():%H:%M}). Your change was not applied.",
        current,
    )


def _snapshot(row: MappingRow) -> dict[str, object]:
    return {
        "id": row.link_id,
        "phone": row.phone,
        "account_number": row.account_number,
        "service_location_id": row.service_location_id,
        "source": row.source,
        "version": row.version,
    }


def _read(session: Session, link_id: int, expected_version: int) -> MappingRow:
    found = mapping_rows(session, [link_id])
    if not found or found[0].version != expected_version:
        raise _stale(session, link_id)
    return found[0]


def _check_target(
    session: Session, phone: str, link_id: int, account_number: str, location_id: str | None
) -> None:
    locations = session.execute(
        select(ServiceLocation.service_location_id, ServiceLocation.removed_at).where(
            ServiceLocation.account_number == account_number
        )
    ).all()
    if not locations:
        raise OperationError(f"account {account_number} is not in the account directory")
    if location_id is not None:
        removed = {location: at is not None for location, at in locations}
        if location_id not in removed:
            raise OperationError(
                f"service location {location_id} does not belong to account {account_number}"
            )
        if removed[location_id]:
            raise OperationError(
                f"service location {location_id} was removed from the account directory"
            )
    same_location = (
        PhoneLink.service_location_id.is_(None)
        if location_id is None
        else PhoneLink.service_location_id == location_id
    )
    twin = session.scalar(
        select(PhoneLink.id).where(
            PhoneLink.phone == phone,
            PhoneLink.account_number == account_number,
            same_location,
            PhoneLink.id != link_id,
        )
    )
    if twin is not None:
        raise OperationError(
            f"{phone} is already linked to {describe_target(account_number, location_id)} "
            f"(link {twin}); delete this link instead of moving it there"
        )


def _move(
    session: Session,
    actor: Actor,
    link_id: int,
    expected_version: int,
    account_number: str,
    location_id: str | None,
    *,
    resend_ticketed: bool,
    action: str,
) -> MappingChange:
    before = _read(session, link_id, expected_version)
    target = describe_target(account_number, location_id)
    try:
        if (before.account_number, before.service_location_id) == (account_number, location_id):
            raise OperationError(f"the link already points to {target}; nothing to change")
        _check_target(session, before.phone, link_id, account_number, location_id)
    except OperationError:
        session.rollback()
        raise
    now = utcnow()
    moved = _rowcount(
        session,
        update(_LINKS)
        .where(_LINKS.c.id == link_id, _LINKS.c.version == expected_version)
        .values(
            account_number=account_number,
            service_location_id=location_id,
            source=SUPERVISOR,
            created_by=actor.name,
            desk=actor.desk,
            created_at=now,
            reviewed=True,
            reviewed_by=actor.name,
            reviewed_at=now,
            version=_LINKS.c.version + 1,
        ),
    )
    if moved != 1:
        raise _stale(session, link_id)
    after = mapping_rows(session, [link_id])[0]
    changed = ({"link": _snapshot(before)}, {"link": _snapshot(after)})
    audit(session, actor, action, before.phone, *changed)
    pending = reports_to_resend(session, phone=before.phone, unticketed_only=not resend_ticketed)
    resent = resend_reports(session, actor, pending, include_ticketed=resend_ticketed, commit=False)
    session.commit()
    return MappingChange(before, after, resent)


def move_link(
    session: Session,
    actor: Actor,
    link_id: int,
    expected_version: int,
    account_number: str,
    location_id: str | None,
    *,
    resend_ticketed: bool = False,
) -> MappingChange:
    """Point a link at another account or location; one transaction, audited.

    The link becomes the actor's (source "supervisor", reviewed by them). The phone's reports
    without a ticket go to the OMS again as a new revision with the corrected location, and
    with ``resend_ticketed`` the ticketed ones too. Raises :class:`StaleLinkError` when the
    link is no longer at ``expected_version``, OperationError when the target is not in the
    directory or the phone is already linked there.
    """
    require(actor, Permission.EDIT_LINKS)
    return _move(
        session,
        actor,
        link_id,
        expected_version,
        account_number,
        location_id,
        resend_ticketed=resend_ticketed,
        action="link_move",
    )


def correct_and_approve(
    session: Session,
    actor: Actor,
    link_id: int,
    expected_version: int,
    account_number: str,
    location_id: str | None,
    *,
    resend_ticketed: bool = False,
) -> MappingChange:
    """The review queue's "correct": a move that also approves the link, in one
    transaction."""
    require(actor, Permission.REVIEW_LINKS)
    require(actor, Permission.EDIT_LINKS)
    return _move(
        session,
        actor,
        link_id,
        expected_version,
        account_number,
        location_id,
        resend_ticketed=resend_ticketed,
        action="link_correct",
    )


def _each(
    session: Session,
    actor: Actor,
    links: Sequence[LinkVersion],
    action: str,
    change: Callable[[int, int], int],
    after: Callable[[MappingRow], dict[str, object] | None],
) -> int:
    """Apply ``change(link_id, version)`` (its row count) to every link, or to none."""
    rows = {row.link_id: row for row in mapping_rows(session, [i for i, _ in links])}
    for link_id, version in links:
        row = rows.get(link_id)
        if row is None or row.version != version or change(link_id, version) != 1:
            raise _stale(session, link_id)
        audit(session, actor, action, row.phone, {"link": _snapshot(row)}, after(row))
    session.commit()
    return len(links)


def delete_links(session: Session, actor: Actor, links: Sequence[LinkVersion]) -> int:
    """Delete links, each at the version the person saw; all or nothing, one transaction,
    an audit row per link. Raises :class:`StaleLinkError` naming the first changed link."""
    require(actor, Permission.EDIT_LINKS)

    def remove(link_id: int, version: int) -> int:
        stmt = delete(_LINKS).where(_LINKS.c.id == link_id, _LINKS.c.version == version)
        return _rowcount(session, stmt)

    return _each(session, actor, links, "link_remove", remove, lambda _row: None)


def approve_links(session: Session, actor: Actor, links: Sequence[LinkVersion]) -> int:
    """Mark dispatchers' links reviewed; all or nothing, as :func:`delete_links`."""
    require(actor, Permission.REVIEW_LINKS)
    now = utcnow()

    def approve(link_id: int, version: int) -> int:
        stmt = (
            update(_LINKS)
            .where(_LINKS.c.id == link_id, _LINKS.c.version == version)
            .values(
                reviewed=True,
                reviewed_by=actor.name,
                reviewed_at=now,
                version=_LINKS.c.version + 1,
            )
        )
        return _rowcount(session, stmt)

    def approved(row: MappingRow) -> dict[str, object]:
        return {"link": {**_snapshot(row), "version": row.version + 1, "reviewed": True}}

    return _each(session, actor, links, "link_approve", approve, approved)
