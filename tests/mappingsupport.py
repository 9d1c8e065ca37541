"""A small directory with links, and reports of a phone, for the Mappings operation tests."""

from __future__ import annotations

from sqlalchemy.orm import Session

from outagedesk.directory import import_directory_rows
from outagedesk.ops.base import Actor, Role
from outagedesk.ops.links import link_phone
from outagedesk.sim import DirectoryRow
from outagedesk.store.ingest import OMS_TASK
from outagedesk.store.models import InboundMessage, OutboxTask, Report, utcnow

from dbsupport import DbUnderTest

DISPATCHER = Actor("jdoe", "desk-3", Role.DISPATCHER)
SUPERVISOR = Actor("boss", "desk-1", Role.SUPERVISOR)
DIRECTORY = [
    DirectoryRow("A-100", "SL-100-1", "M-1", "Ana Baca", "1 Main St", ("+15055550101",), False),
    DirectoryRow("A-100", "SL-100-2", None, "Ana Baca", "2 Main St", (), False),
    DirectoryRow("A-200", "SL-200-1", None, "Ben Duran", "3 Oak Ave", ("+15755550102",), False),
    DirectoryRow("B-300", "SL-300-1", None, "Cy Diaz", "4 Elm Rd", ("+15055550101",), False),
]
LINKED = "+15055550106"
"""Linked by a dispatcher to A-100 / SL-100-2."""


def load(db: DbUnderTest) -> int:
    """The directory and one dispatcher's link; returns the link's id."""
    import_directory_rows(db.engine, DIRECTORY)
    with db.sessions() as s:
        return link_phone(s, DISPATCHER, LINKED, "A-100", "SL-100-2", resend=False).link_id


def sent_report(s: Session, phone: str, number: int, ticket: str | None) -> int:
    """A report already sent once to the OMS (with a ticket or without)."""
    now = utcnow()
    message = InboundMessage(
        gateway_message_id=f"g-{number}",
        phone=phone,
        to="80080",
        body="OUT",
        received_at=now,
        carrier=None,
        gateway_keyword="OUT",
        tags=[],
        kind="outage",
        keyword="OUT",
        remarks="",
        revocation_suspected=False,
        raw={},
    )
    s.add(message)
    s.flush()
    report = Report(
        report_id=f"r-{number}",
        message_id=message.id,
        phone=phone,
        received_at=now,
        revision=1,
        state="forwarded" if ticket else "unlinked",
        account_number=None,
        service_location_id=None,
        meter_id=None,
        resolved_level="Unresolved",
        priority="Normal",
        ticket_id=ticket,
        updated_at=now,
    )
    s.add(report)
    s.flush()
    s.add(
        OutboxTask(
            kind=OMS_TASK,
            idempotency_key=f"r-{number}.1",
            report_pk=report.id,
            payload={},
            done=True,
            created_at=now,
            next_attempt_at=now,
        )
    )
    s.commit()
    return report.id
