"""The debrief of a training session: how the unlinked reports were handled.

For each report that arrived from an unlinked number since the run started: when a person
linked the number (audit rows ``link_add`` / ``link_move``), to which account, and whether that
is the account the scenario expected. Also the opt-outs the scenario expected but nobody
recorded.
"""

from __future__ import annotations

import csv
import statistics
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from outagedesk.domain.phones import InvalidPhoneError, normalize_phone
from outagedesk.domain.reports import ResolvedLevel, idempotency_key
from outagedesk.gateway.contract import format_timestamp
from outagedesk.store.models import AuditEntry, ConsentRecord, InboundMessage, OutboxTask, Report
from outagedesk.training.record import chunked
from outagedesk.training.scenario import Scenario

LINK_ACTIONS = ("link_add", "link_move")
CSV_HEADER = (
    "section",
    "report_id",
    "phone",
    "received_at",
    "linked_at",
    "seconds_to_link",
    "linked_account",
    "expected_account",
    "outcome",
    "text",
)

Outcome = Literal["linked", "wrong_account", "never_handled"]


@dataclass(frozen=True, slots=True)
class DebriefRow:
    report_id: str
    phone: str
    received_at: datetime
    linked_at: datetime | None
    seconds_to_link: float | None
    linked_account: str | None
    expected_account: str | None
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class MissedOptOut:
    phone: str
    body: str
    offset: float


@dataclass(frozen=True, slots=True)
class Debrief:
    since: datetime
    rows: tuple[DebriefRow, ...]
    missed_opt_outs: tuple[MissedOptOut, ...]
    median_seconds: float | None
    """Median time to link over the linked reports (right or wrong account)."""
    worst_seconds: float | None
    linked: int
    wrong_account: int
    never_handled: int

    @property
    def unlinked_reports(self) -> int:
        return len(self.rows)


def _phone(raw: str) -> str:
    try:
        return normalize_phone(raw)
    except InvalidPhoneError:
        return raw


def _expected_accounts(scenario: Scenario) -> dict[str, str]:
    expected: dict[str, str] = {}
    for message in scenario.messages:
        if message.expect_account is not None:
            expected.setdefault(_phone(message.sender), message.expect_account)
    return expected


def _unlinked_at_creation(session: Session, reports: list[Report]) -> list[Report]:
    """Reports whose first revision went out unresolved, or was held for want of a link.

    The report row itself shows the latest revision; the first one's payload is in the outbox.
    """
    keys = {idempotency_key(r.report_id, 1): r for r in reports}
    first: dict[str, Any] = {}
    for chunk in chunked(list(keys)):
        for key, payload in session.execute(
            select(OutboxTask.idempotency_key, OutboxTask.payload).where(
                OutboxTask.idempotency_key.in_(chunk)
            )
        ):
            first[key] = payload
    unresolved = ResolvedLevel.UNRESOLVED.value
    # No first revision in the outbox: the report was held, which happens only when unlinked.
    return [
        report
        for key, report in keys.items()
        if key not in first or first[key].get("resolved_level") == unresolved
    ]


def _link_events(
    session: Session, phones: set[str], since: datetime
) -> dict[str, list[tuple[datetime, str | None]]]:
    """(when, account linked to) per phone, oldest first, from the audit trail."""
    events: dict[str, list[tuple[datetime, str | None]]] = {}
    if not phones:
        return events
    rows = [
        row
        for chunk in chunked(sorted(phones))
        for row in session.execute(
            select(AuditEntry.id, AuditEntry.subject, AuditEntry.at, AuditEntry.after).where(
                AuditEntry.action.in_(LINK_ACTIONS),
                AuditEntry.at >= since,
                AuditEntry.subject.in_(chunk),
            )
        )
    ]
    for _, phone, at, after in sorted(rows, key=lambda row: row[0]):
        links = (after or {}).get("links") or []
        # The link just made is the last one listed after the change.
        account = links[-1].get("account_number") if links else None
        events.setdefault(phone, []).append((at, account))
    return events


def _missed_opt_outs(session: Session, scenario: Scenario, since: datetime) -> list[MissedOptOut]:
    wanted = [m for m in scenario.messages if m.expect_opt_out]
    if not wanted:
        return []
    phones = sorted({_phone(m.sender) for m in wanted})
    received: set[tuple[str, str]] = set()
    opted_out: set[str] = set()
    for chunk in chunked(phones):
        received.update(
            (phone, body)
            for phone, body in session.execute(
                select(InboundMessage.phone, InboundMessage.body).where(
                    InboundMessage.received_at >= since, InboundMessage.phone.in_(chunk)
                )
            )
        )
        opted_out.update(
            session.scalars(
                select(ConsentRecord.phone).where(
                    ConsentRecord.at >= since,
                    ConsentRecord.opted_in.is_(False),
                    ConsentRecord.phone.in_(chunk),
                )
            )
        )
    return [
        MissedOptOut(_phone(m.sender), m.body, m.offset)
        for m in wanted
        # Only texts that have arrived in this run count; a later opt-out still counts.
        if (_phone(m.sender), m.body) in received and _phone(m.sender) not in opted_out
    ]


def compute_debrief(session: Session, scenario: Scenario, since: datetime) -> Debrief:
    """The debrief of the reports received since ``since`` (the run's start)."""
    reports = list(
        session.scalars(
            select(Report)
            .where(Report.received_at >= since)
            .order_by(Report.received_at, Report.id)
        )
    )
    unlinked = _unlinked_at_creation(session, reports)
    expected = _expected_accounts(scenario)
    events = _link_events(session, {r.phone for r in unlinked}, since)
    rows: list[DebriefRow] = []
    for report in unlinked:
        link = next(
            (
                (at, account)
                for at, account in events.get(report.phone, [])
                if at >= report.received_at
            ),
            None,
        )
        want = expected.get(report.phone)
        if link is None:
            rows.append(
                DebriefRow(
                    report.report_id, report.phone, report.received_at, None, None, None, want,
                    "never_handled",
                )
            )  # fmt: skip
            continue
        at, account = link
        outcome: Outcome = "wrong_account" if want is not None and account != want else "linked"
        rows.append(
            DebriefRow(
                report.report_id, report.phone, report.received_at, at,
                (at - report.received_at).total_seconds(), account, want, outcome,
            )
        )  # fmt: skip
    times = [r.seconds_to_link for r in rows if r.seconds_to_link is not None]
    return Debrief(
        since=since,
        rows=tuple(rows),
        missed_opt_outs=tuple(_missed_opt_outs(session, scenario, since)),
        median_seconds=statistics.median(times) if times else None,
        worst_seconds=max(times) if times else None,
        linked=sum(1 for r in rows if r.outcome == "linked"),
        wrong_account=sum(1 for r in rows if r.outcome == "wrong_account"),
        never_handled=sum(1 for r in rows if r.outcome == "never_handled"),
    )


def _cell(text: str) -> str:
    # A customer's text must not run as a formula when the file is opened in a spreadsheet.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _when(moment: datetime | None) -> str:
    return format_timestamp(moment) if moment is not None else ""


def write_debrief_csv(debrief: Debrief, out: Path | TextIO) -> int:
    """One line per unlinked report, then one per missed opt-out; returns the data lines."""
    if isinstance(out, Path):
        with out.open("w", encoding="utf-8", newline="") as handle:
            return write_debrief_csv(debrief, handle)
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for row in debrief.rows:
        seconds = f"{row.seconds_to_link:.1f}" if row.seconds_to_link is not None else ""
        writer.writerow(
            (
                "report", row.report_id, row.phone, _when(row.received_at), _when(row.linked_at),
                seconds, row.linked_account or "", row.expected_account or "", row.outcome, "",
            )
        )  # fmt: skip
    for missed in debrief.missed_opt_outs:
        writer.writerow(
            ("opt_out", "", missed.phone, "", "", "", "", "", "missed_opt_out", _cell(missed.body))
        )
    return len(debrief.rows) + len(debrief.missed_opt_outs)
