"""Storing one gateway page: messages, quarantine, consent, reports, outbox and cursor.

Everything a page causes is written in one transaction together with the cursor that follows
it, so a crash either keeps the whole page or none of it, and the re-fetched page is
deduplicated on the gateway's message id.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, literal, select, update
from sqlalchemy.orm import Session

from outagedesk.domain.consent import ALL_KEYWORDS, ConsentState, Purpose, may_send
from outagedesk.domain.keywords import Classification, Classifier, MessageKind
from outagedesk.domain.replies import ReplyPolicy
from outagedesk.domain.reports import (
    Priority,
    ReportState,
    ResolvedLevel,
    choose_link,
    idempotency_key,
    oms_payload,
)
from outagedesk.gateway.contract import GatewayMessage, Page, format_timestamp
from outagedesk.store.bulk import BulkInsert
from outagedesk.store.links import link_targets
from outagedesk.store.models import (
    Base,
    ConsentRecord,
    GatewayCursor,
    InboundMessage,
    OutboundText,
    OutboxTask,
    QuarantinedMessage,
    Report,
    utcnow,
)
from outagedesk.store.outbound import consent_states, text_key, text_rows

OMS_TASK = "oms"
HISTORY_DEPENDENT_REPLIES = frozenset({Purpose.UNKNOWN_HINT, Purpose.OPT_OUT_CONFIRMATION})

# Core tables, not ORM classes: the ORM's bulk path splits batches whenever a value is None
# and then re-joins the RETURNING rows, which turns a page into thousands of statements.
MESSAGES = Base.metadata.tables[InboundMessage.__tablename__]
REPORTS = Base.metadata.tables[Report.__tablename__]
OUTBOX = Base.metadata.tables[OutboxTask.__tablename__]
CONSENT = Base.metadata.tables[ConsentRecord.__tablename__]
TEXTS = Base.metadata.tables[OutboundText.__tablename__]

_INSERT_MESSAGES = BulkInsert(
    MESSAGES,
    (
        "gateway_message_id", "phone", "to", "body", "received_at", "stored_at", "carrier",
        "gateway_keyword", "tags", "kind", "keyword", "remarks", "revocation_suspected", "raw",
    ),
    returning=("gateway_message_id", "id"),
)  # fmt: skip
_INSERT_CONSENT = BulkInsert(
    CONSENT, ("phone", "keyword", "opted_in", "at", "how", "message_pk", "actor", "tags")
)
_INSERT_REPORTS = BulkInsert(
    REPORTS,
    (
        "report_id", "message_id", "phone", "received_at", "remarks", "revision", "state",
        "account_number", "service_location_id", "meter_id", "resolved_level", "priority",
        "updated_at",
    ),
    returning=("report_id", "id"),
)  # fmt: skip
_TASK_COLUMNS = (
    "kind", "idempotency_key", "report_pk", "payload", "done", "attempts", "next_attempt_at",
    "created_at",
)  # fmt: skip
_INSERT_TASKS = BulkInsert(OUTBOX, _TASK_COLUMNS)
_INSERT_TEXT_TASKS = BulkInsert(OUTBOX, (*_TASK_COLUMNS, "outbound_pk"))
_INSERT_TEXTS = BulkInsert(
    TEXTS,
    (
        "phone", "body", "purpose", "keyword", "in_reply_to", "idempotency_key", "state",
        "detail", "gateway_id", "created_at", "sent_at",
    ),
    returning=("idempotency_key", "id"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class IngestPolicy:
    classifier: Classifier
    hold_unlinked: bool = False
    taken_by: str = "outagedesk"
    replies: ReplyPolicy | None = field(default_factory=ReplyPolicy)
    """Automatic replies; None sends none (a provider that answers everything itself)."""


@dataclass(slots=True)
class IngestResult:
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    message_ids: list[int] = field(default_factory=list)
    report_ids: list[int] = field(default_factory=list)
    unlinked: int = 0
    forwardable: int = 0
    replies: int = 0


def load_cursor(session: Session, gateway: str) -> str | None:
    row = session.get(GatewayCursor, gateway)
    return row.cursor if row else None


def new_report_id() -> str:
    return f"r-{uuid.uuid4().hex[:16]}"


def ingest_page(session: Session, gateway: str, page: Page, policy: IngestPolicy) -> IngestResult:
    """Store ``page`` and its cursor in one transaction, committed here.

    Rows go in as bulk inserts (not ORM objects one by one): a storm page of a thousand texts
    costs a few milliseconds instead of a few hundred.
    """
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

    messages = list(fresh.values())
    verdicts = [policy.classifier.classify(msg.body) for msg in messages]
    if messages:
        stored_at = utcnow()
        # RETURNING rows are matched by key: asking SQLite for them in parameter order would
        # make it insert one row per statement.
        returned = _INSERT_MESSAGES.execute(
            session,
            [
                {
                    "gateway_message_id": msg.id,
                    "phone": msg.phone,
                    "to": msg.to,
                    "body": msg.body,
                    "received_at": msg.received_at,
                    "stored_at": stored_at,
                    "carrier": msg.carrier,
                    "gateway_keyword": msg.keyword,
                    "tags": list(msg.tags),
                    "kind": verdict.kind.value,
                    "keyword": verdict.keyword,
                    "remarks": verdict.remarks,
                    "revocation_suspected": verdict.revocation_suspected,
                    "raw": msg.raw,
                }
                for msg, verdict in zip(messages, verdicts, strict=True)
            ],
        )
        pk_of: dict[str, int] = {key: pk for key, pk in returned}
        result.message_ids = [pk_of[msg.id] for msg in messages]
    result.stored = len(messages)

    consent = [
        record
        for msg, verdict, pk in zip(messages, verdicts, result.message_ids, strict=True)
        if (record := _consent_row(msg, verdict, pk)) is not None
    ]
    if consent:
        _INSERT_CONSENT.execute(session, consent)
    if policy.replies is not None:
        result.replies = _queue_replies(
            session, messages, verdicts, result.message_ids, policy.replies
        )

    outages = [
        (msg, verdict, pk)
        for msg, verdict, pk in zip(messages, verdicts, result.message_ids, strict=True)
        if verdict.kind is MessageKind.OUTAGE
    ]
    targets = link_targets(session, {msg.phone for msg, _, _ in outages})
    report_rows: list[dict[str, object]] = []
    payloads: list[dict[str, object] | None] = []
    now = utcnow()
    for msg, verdict, pk in outages:
        found = targets.get(msg.phone, [])
        link = choose_link(found)
        urgent = any(t.life_support for t in found)
        hold = link is None and policy.hold_unlinked
        report_id = new_report_id()
        report_rows.append(
            {
                "report_id": report_id,
                "message_id": pk,
                "phone": msg.phone,
                "received_at": msg.received_at,
                "remarks": verdict.remarks,
                "revision": 1,
                "state": (ReportState.HELD if hold else ReportState.QUEUED).value,
                "account_number": link.account_number if link else None,
                "service_location_id": link.service_location_id if link else None,
                "meter_id": link.meter_id if link else None,
                "resolved_level": (link.resolved_level if link else ResolvedLevel.UNRESOLVED).value,
                "priority": (Priority.URGENT if urgent else Priority.NORMAL).value,
                "updated_at": now,
            }
        )
        payloads.append(
            None
            if hold
            else oms_payload(
                report_id=report_id,
                revision=1,
                message_id=msg.id,
                phone=msg.phone,
                received_at=format_timestamp(msg.received_at),
                short_code=msg.to,
                keyword=verdict.keyword,
                body=msg.body,
                remarks=verdict.remarks,
                link=link,
                tags=list(msg.tags),
                taken_by=policy.taken_by,
                urgent=urgent,
            )
        )
        if link is None:
            result.unlinked += 1
    if report_rows:
        returned_reports = _INSERT_REPORTS.execute(session, report_rows)
        report_pk_of: dict[str, int] = {key: pk for key, pk in returned_reports}
        report_pks = [report_pk_of[str(row["report_id"])] for row in report_rows]
        result.report_ids = list(report_pks)
        tasks = [
            {
                "kind": OMS_TASK,
                "idempotency_key": idempotency_key(str(row["report_id"]), 1),
                "report_pk": report_pk,
                "payload": payload,
                "done": False,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for row, report_pk, payload in zip(report_rows, report_pks, payloads, strict=True)
            if payload is not None
        ]
        if tasks:
            _INSERT_TASKS.execute(session, tasks)
        result.forwardable = len(tasks)

    _save_cursor(session, gateway, page.next_cursor)
    session.commit()
    return result


def _save_cursor(session: Session, gateway: str, cursor: str | None) -> None:
    table = GatewayCursor.__table__
    updated = session.execute(
        update(GatewayCursor)
        .where(GatewayCursor.gateway == gateway)
        .values(
            cursor=func.coalesce(literal(cursor, type_=table.c.cursor.type), table.c.cursor),
            updated_at=utcnow(),
        )
        .returning(GatewayCursor.gateway)
    ).first()
    if updated is None:
        session.execute(insert(GatewayCursor).values(gateway=gateway, cursor=cursor))


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


def _queue_replies(
    session: Session,
    messages: list[GatewayMessage],
    verdicts: list[Classification],
    message_pks: list[int],
    policy: ReplyPolicy,
) -> int:
    """The automatic replies a page is owed, queued with it; consent is replayed in order, so
    a STOP and a later OUT in the same page are judged as the customer sent them."""
    wanted = [
        (msg, verdict, purpose)
        for msg, verdict in zip(messages, verdicts, strict=True)
        if (purpose := policy.reply_for(verdict.kind, verdict.revocation_suspected)) is not None
    ]
    if not wanted:
        return 0
    # A keyword text opts its number in to that keyword, so its own reply never depends on
    # the past: only a hint to unknown text and an opt-out confirmation ("was it already
    # out?") need the number's history. Those numbers' consent is read as it stood before
    # this page; every number's records in the page are then replayed in order.
    history_needed = {
        msg.phone for msg, _, purpose in wanted if purpose in HISTORY_DEPENDENT_REPLIES
    }
    states = consent_states(session, history_needed, before_messages=message_pks)
    for msg, _, _ in wanted:
        states.setdefault(msg.phone, ConsentState())
    owed: dict[str, Purpose | None] = {msg.id: purpose for msg, _, purpose in wanted}
    rows: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for msg, verdict in zip(messages, verdicts, strict=True):
        state = states.get(msg.phone)
        if state is None:
            continue
        already_out = state.opted_out_everywhere
        record = _consent_row(msg, verdict, 0)
        if record is not None:
            state.apply(str(record["keyword"]), bool(record["opted_in"]))
        purpose = owed.get(msg.id)
        if purpose is None:
            continue
        if purpose is Purpose.OPT_OUT_CONFIRMATION and already_out:
            continue  # exactly one confirmation per opt-out, not one per STOP
        if not may_send(state, verdict.keyword, purpose):
            continue
        rows.append(
            text_rows(
                phone=msg.phone,
                body=policy.render(purpose),
                purpose=purpose,
                keyword=verdict.keyword,
                in_reply_to=msg.id,
                key=text_key(msg.id, purpose),
            )
        )
    if not rows:
        return 0
    returned = _INSERT_TEXTS.execute(session, [text for text, _ in rows])
    pk_of: dict[str, int] = {key: pk for key, pk in returned}
    _INSERT_TEXT_TASKS.execute(
        session,
        [{**task, "outbound_pk": pk_of[str(text["idempotency_key"])]} for text, task in rows],
    )
    return len(rows)


def _consent_row(
    msg: GatewayMessage, verdict: Classification, message_pk: int
) -> dict[str, object] | None:
    """Texting a keyword opts the number in to it; opt-out words opt out of every keyword."""
    if verdict.kind is MessageKind.UNKNOWN or verdict.keyword is None:
        return None
    if verdict.kind is MessageKind.OPT_OUT:
        keyword, opted_in = ALL_KEYWORDS, False
    elif verdict.kind is MessageKind.OPT_IN:
        keyword, opted_in = ALL_KEYWORDS, True
    else:
        keyword, opted_in = verdict.keyword, True
    return {
        "phone": msg.phone,
        "keyword": keyword,
        "opted_in": opted_in,
        "at": msg.received_at,
        "how": "keyword_text",
        "message_pk": message_pk,
        "actor": None,
        "tags": list(msg.tags),
    }
