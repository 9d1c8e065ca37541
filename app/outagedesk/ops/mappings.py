"""A supervisor's edits of links: move, delete, approve, correct; optimistic locking.

Every edit names the version of the link it was made on. The UPDATE or DELETE only touches
a row still at that version, so when two desks edit the same link the second one changes
nothing and gets :class:`StaleLinkError` with the link as it is now: no update is lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from outagedesk.ops.base import Actor, OperationError
from outagedesk.ops.resend import Resent
from outagedesk.store.mappings import MappingRow

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


def ticketed_reports(session: Session, phone: str) -> list[TicketedReport]:
    raise NotImplementedError


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
    raise NotImplementedError


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
    raise NotImplementedError


def delete_links(session: Session, actor: Actor, links: Sequence[LinkVersion]) -> int:
    raise NotImplementedError


def approve_links(session: Session, actor: Actor, links: Sequence[LinkVersion]) -> int:
    raise NotImplementedError
