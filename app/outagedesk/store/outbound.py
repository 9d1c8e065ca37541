"""Outbound texts: the single path every text to a customer takes, and its consent guard.

A text is checked when it is queued and again when it is claimed for sending, because a STOP
may arrive in between: the guard in :func:`outagedesk.domain.consent.may_send` is applied at
both points and nowhere else is a text sent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from outagedesk.domain.consent import ConsentState, Purpose, may_send, replay
from outagedesk.store.leases import FINISH, OUTBOX, RELEASE, RETRY, lease_due, retry_params
from outagedesk.store.models import Base, ConsentRecord, OutboundText, OutboxTask, utcnow

TEXTS = Base.metadata.tables[OutboundText.__tablename__]

SMS_TASK = "sms"
GATEWAY_OPT_OUT_TASK = "gw_optout"
"""A forced opt-out to pass on to the gateway's registry."""


class TextState:
    QUEUED = "queued"
    SENT = "sent"
    BLOCKED = "blocked"
    """The guard refused it: the number had opted out."""
    REFUSED = "refused"
    """The gateway refused it (409 opted_out or 422)."""


def consent_states(
    session: Session, phones: Collection[str], *, before_messages: Collection[int] = ()
) -> dict[str, ConsentState]:
    """Current consent of each phone, or as it stood before the given inbound messages."""
    if not phones:
        return {}
    query = (
        select(ConsentRecord.phone, ConsentRecord.keyword, ConsentRecord.opted_in)
        .where(ConsentRecord.phone.in_(phones))
        .order_by(ConsentRecord.id)
    )
    if before_messages:
        query = query.where(
            ConsentRecord.message_pk.is_(None) | ConsentRecord.message_pk.not_in(before_messages)
        )
    rows = session.execute(query).all()
    history: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for phone, keyword, opted_in in rows:
        history[phone].append((keyword, opted_in))
    return {phone: replay(history.get(phone, ())) for phone in phones}


def text_key(in_reply_to: str | None, purpose: Purpose, extra: str = "") -> str:
    """One text per inbound message and purpose; free-standing texts name their own ``extra``."""
    return f"{in_reply_to or '-'}:{purpose.value}{':' + extra if extra else ''}"


def text_rows(
    *,
    phone: str,
    body: str,
    purpose: Purpose,
    keyword: str | None,
    in_reply_to: str | None,
    key: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The outbound row and its outbox task, for bulk inserts (the task's pk comes later)."""
    now = utcnow()
    text = {
        "phone": phone,
        "body": body,
        "purpose": purpose.value,
        "keyword": keyword,
        "in_reply_to": in_reply_to,
        "idempotency_key": key,
        "state": TextState.QUEUED,
        "detail": None,
        "gateway_id": None,
        "created_at": now,
        "sent_at": None,
    }
    task: dict[str, Any] = {
        "kind": SMS_TASK,
        "idempotency_key": f"sms:{key}",
        "report_pk": None,
        # What is sent is read from the text's row when it is claimed.
        "payload": {},
        "done": False,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    return text, task


def queue_text(
    session: Session,
    *,
    phone: str,
    body: str,
    purpose: Purpose,
    keyword: str | None,
    in_reply_to: str | None,
    key: str,
) -> OutboundText:
    """Queue one text (idempotent on ``key``); an opted-out number gets a blocked row instead."""
    existing = session.scalar(select(OutboundText).where(OutboundText.idempotency_key == key))
    if existing is not None:
        return existing
    state = consent_states(session, [phone])[phone]
    text_values, task_values = text_rows(
        phone=phone, body=body, purpose=purpose, keyword=keyword, in_reply_to=in_reply_to, key=key
    )
    text = OutboundText(**text_values)
    if not may_send(state, keyword, purpose):
        text.state = TextState.BLOCKED
        text.detail = "the number has opted out"
        session.add(text)
        session.flush()
        return text
    session.add(text)
    session.flush()
    session.add(OutboxTask(**task_values, outbound_pk=text.id))
    session.flush()
    return text


@dataclass(frozen=True, slots=True)
class ClaimedText:
    task_id: int
    outbound_pk: int
    payload: dict[str, Any]
    attempts: int


def claim_texts(
    session: Session, limit: int, lease_seconds: float, owner: str
) -> list[ClaimedText]:
    """Lease due texts, checking consent once more: a STOP that came after queuing wins."""
    now = utcnow()
    leased = lease_due(
        session, SMS_TASK, limit, lease_seconds, owner, now, OUTBOX.c.outbound_pk, OUTBOX.c.attempts
    )
    if not leased:
        session.commit()
        return []
    texts = {
        row.id: row
        for row in session.execute(
            select(
                TEXTS.c.id,
                TEXTS.c.phone,
                TEXTS.c.body,
                TEXTS.c.keyword,
                TEXTS.c.purpose,
                TEXTS.c.in_reply_to,
                TEXTS.c.idempotency_key,
            ).where(TEXTS.c.id.in_([outbound_pk for _, outbound_pk, _ in leased]))
        )
    }
    states = consent_states(session, {text.phone for text in texts.values()})
    claimed: list[ClaimedText] = []
    blocked: dict[int, int] = {}  # task id -> text id, for texts the guard now refuses
    for task_id, outbound_pk, attempts in leased:
        text = texts[outbound_pk]
        if not may_send(states[text.phone], text.keyword, Purpose(text.purpose)):
            blocked[task_id] = outbound_pk
            continue
        payload = {
            "to": text.phone,
            "body": text.body,
            "in_reply_to": text.in_reply_to,
            "idempotency_key": text.idempotency_key,
        }
        claimed.append(ClaimedText(task_id, outbound_pk, payload, attempts))
    if blocked:
        detail = "the number opted out before it was sent"
        # Closed unsent: no attempt is counted.
        session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id.in_(list(blocked)))
            .values(
                done=True, finished_at=now, last_error=detail, lease_until=None, lease_owner=None
            )
        )
        session.execute(
            update(TEXTS)
            .where(TEXTS.c.id.in_(list(blocked.values())))
            .values(state=TextState.BLOCKED, detail=detail)
        )
    session.commit()
    return claimed


@dataclass(frozen=True, slots=True)
class SendResult:
    text: ClaimedText
    outcome: str
    """``sent``, ``refused`` (final), ``retry`` or ``auth``."""
    gateway_id: str | None = None
    detail: str | None = None
    retry_after: float | None = None


_RECORD_TEXT = (
    update(TEXTS)
    .where(TEXTS.c.id == bindparam("text_id"))
    .values(
        state=bindparam("state"),
        detail=bindparam("detail"),
        gateway_id=bindparam("gateway_id"),
        sent_at=bindparam("sent_at"),
    )
)


def record_sends(session: Session, results: list[SendResult], retry_cap: float = 60.0) -> None:
    now = utcnow()
    released: list[dict[str, Any]] = []
    retried: list[dict[str, Any]] = []
    finished: list[dict[str, Any]] = []
    texts: list[dict[str, Any]] = []
    for result in results:
        task_id = result.text.task_id
        if result.outcome == "auth":
            released.append({"task_id": task_id})
        elif result.outcome == "retry":
            attempts = result.text.attempts
            retried.append(
                retry_params(task_id, attempts, now, result.detail, result.retry_after, retry_cap)
            )
        else:
            sent = result.outcome == "sent"
            error = None if sent else result.detail
            finished.append({"task_id": task_id, "at": now, "error": error})
            texts.append(
                {
                    "text_id": result.text.outbound_pk,
                    "state": TextState.SENT if sent else TextState.REFUSED,
                    "detail": result.detail,
                    "gateway_id": result.gateway_id if sent else None,
                    "sent_at": now if sent else None,
                }
            )
    for statement, rows in ((RELEASE, released), (RETRY, retried), (FINISH, finished)):
        if rows:
            session.execute(statement, rows)
    if texts:
        session.execute(_RECORD_TEXT, texts)
    session.commit()
