"""Storing one gateway page: messages, quarantine, consent, reports, outbox and cursor.

Everything a page causes is written in one transaction together with the cursor that follows
it, so a crash either keeps the whole page or none of it, and the re-fetched page is
deduplicated on the gateway's message id.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from outagedesk.domain.keywords import Classifier, MessageKind
from outagedesk.domain.reports import (
    ReportState,
    ResolvedLevel,
    choose_link,
    idempotency_key,
    oms_payload,
)
from outagedesk.gateway.contract import GatewayMessage, Page
from outagedesk.store.links import link_targets
from outagedesk.store.models import (
    ConsentRecord,
    GatewayCursor,
    InboundMessage,
    OutboxTask,
    QuarantinedMessage,
    Report,
    utcnow,
)

OMS_TASK = "oms"
ALL_KEYWORDS = "*"


@dataclass(frozen=True, slots=True)
class IngestPolicy:
    classifier: Classifier
    hold_unlinked: bool = False
    taken_by: str = "outagedesk"


@dataclass(slots=True)
class IngestResult:
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    message_ids: list[int] = field(default_factory=list)
    report_ids: list[int] = field(default_factory=list)
    unlinked: int = 0
    forwardable: int = 0


def load_cursor(session: Session, gateway: str) -> str | None:
    row = session.get(GatewayCursor, gateway)
    return row.cursor if row else None


def new_report_id() -> str:
    return f"r-{uuid.uuid4().hex[:16]}"


def _rfc3339(msg: GatewayMessage) -> str:
    return msg.received_at.isoformat().replace("+00:00", "Z")


def ingest_page(session: Session, gateway: str, page: Page, policy: IngestPolicy) -> IngestResult:
    """Store ``page`` and its cursor; the caller's session commits nothing: we do, once."""
    result = IngestResult()
    fresh: dict[str, GatewayMessage] = {}
    for msg in page.messages:
        fresh.setdefault(msg.id, msg)
    result.duplicates = len(page.messages) - len(fresh)
    if fresh:
        known = session.scalars(
            select(InboundMessage.gateway_message_id).where(
                InboundMessage.gateway_message_id.in_(fresh)
            )
        ).all()
        for ident in known:
            del fresh[ident]
        result.duplicates += len(known)

    _quarantine(session, page, result)

    rows: list[tuple[GatewayMessage, InboundMessage]] = []
    for msg in fresh.values():
        verdict = policy.classifier.classify(msg.body)
        row = InboundMessage(
            gateway_message_id=msg.id,
            phone=msg.phone,
            to=msg.to,
            body=msg.body,
            received_at=msg.received_at,
            carrier=msg.carrier,
            gateway_keyword=msg.keyword,
            tags=list(msg.tags),
            kind=verdict.kind.value,
            keyword=verdict.keyword,
            remarks=verdict.remarks,
            revocation_suspected=verdict.revocation_suspected,
            raw=msg.raw,
        )
        rows.append((msg, row))
    session.add_all(row for _, row in rows)
    session.flush()
    result.stored = len(rows)
    result.message_ids = [row.id for _, row in rows]

    outage_rows = [(m, r) for m, r in rows if r.kind == MessageKind.OUTAGE]
    targets = link_targets(session, {r.phone for _, r in outage_rows})
    reports: list[tuple[Report, dict[str, object] | None]] = []
    for msg, row in rows:
        _record_consent(session, msg, row)
        if row.kind != MessageKind.OUTAGE:
            continue
        found = targets.get(row.phone, [])
        link = choose_link(found)
        urgent = any(t.life_support for t in found)
        hold = link is None and policy.hold_unlinked
        report = Report(
            report_id=new_report_id(),
            message_id=row.id,
            phone=row.phone,
            received_at=row.received_at,
            remarks=row.remarks,
            revision=1,
            state=(ReportState.HELD if hold else ReportState.QUEUED).value,
            account_number=link.account_number if link else None,
            service_location_id=link.service_location_id if link else None,
            meter_id=link.meter_id if link else None,
            resolved_level=(link.resolved_level if link else ResolvedLevel.UNRESOLVED).value,
            priority="Urgent" if urgent else "Normal",
        )
        payload = None
        if not hold:
            payload = oms_payload(
                report_id=report.report_id,
                revision=1,
                message_id=msg.id,
                phone=row.phone,
                received_at=_rfc3339(msg),
                short_code=row.to,
                keyword=row.keyword,
                body=row.body,
                remarks=row.remarks,
                link=link,
                tags=list(msg.tags),
                taken_by=policy.taken_by,
                urgent=urgent,
            )
        if link is None:
            result.unlinked += 1
        reports.append((report, payload))
    session.add_all(report for report, _ in reports)
    session.flush()
    tasks = [
        OutboxTask(
            kind=OMS_TASK,
            idempotency_key=idempotency_key(report.report_id, 1),
            report_pk=report.id,
            payload=payload,
        )
        for report, payload in reports
        if payload is not None
    ]
    session.add_all(tasks)
    result.forwardable = len(tasks)
    result.report_ids = [report.id for report, _ in reports]

    cursor_row = session.get(GatewayCursor, gateway)
    if cursor_row is None:
        session.add(GatewayCursor(gateway=gateway, cursor=page.next_cursor))
    elif page.next_cursor is not None:
        cursor_row.cursor = page.next_cursor
        cursor_row.updated_at = utcnow()
    session.commit()
    return result


def _quarantine(session: Session, page: Page, result: IngestResult) -> None:
    if not page.rejected:
        return
    by_hash = {hashlib.sha256(rej.raw_text.encode()).hexdigest(): rej for rej in page.rejected}
    known = session.scalars(
        select(QuarantinedMessage.raw_sha256).where(QuarantinedMessage.raw_sha256.in_(by_hash))
    ).all()
    for digest in known:
        del by_hash[digest]
    session.add_all(
        QuarantinedMessage(
            raw_sha256=digest,
            raw=rej.raw_text,
            reason=rej.reason,
            gateway_message_id=rej.message_id,
        )
        for digest, rej in by_hash.items()
    )
    result.quarantined = len(by_hash)


def _record_consent(session: Session, msg: GatewayMessage, row: InboundMessage) -> None:
    """Texting a keyword opts the number in to it; opt-out words opt out of every keyword."""
    kind = row.kind
    if kind == MessageKind.UNKNOWN or row.keyword is None:
        return
    if kind == MessageKind.OPT_OUT:
        keyword, opted_in = ALL_KEYWORDS, False
    elif kind == MessageKind.OPT_IN:
        keyword, opted_in = ALL_KEYWORDS, True
    else:
        keyword, opted_in = row.keyword, True
    session.add(
        ConsentRecord(
            phone=row.phone,
            keyword=keyword,
            opted_in=opted_in,
            at=msg.received_at,
            how="keyword_text",
            message_pk=row.id,
            tags=list(msg.tags),
        )
    )
