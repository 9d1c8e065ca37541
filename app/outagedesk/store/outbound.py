"""Outbound texts: the single path every text to a customer takes, and its consent guard.

A text is checked when it is queued and again when it is claimed for sending, because a STOP
may arrive in between: the guard in :func:`outagedesk.domain.consent.may_send` is applied at
both points and nowhere else is a text sent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from outagedesk.domain.backoff import backoff_delay
from outagedesk.domain.consent import ConsentState, Purpose, may_send, replay
from outagedesk.store.models import ConsentRecord, OutboundText, OutboxTask, utcnow

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
    task = {
        "kind": SMS_TASK,
        "idempotency_key": f"sms:{key}",
        "report_pk": None,
        "payload": {"to": phone, "body": body, "in_reply_to": in_reply_to, "idempotency_key": key},
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
    tasks = session.scalars(
        select(OutboxTask)
        .where(
            OutboxTask.done.is_(False),
            OutboxTask.kind == SMS_TASK,
            OutboxTask.next_attempt_at <= now,
            (OutboxTask.lease_until.is_(None)) | (OutboxTask.lease_until < now),
        )
        .order_by(OutboxTask.next_attempt_at, OutboxTask.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not tasks:
        session.commit()
        return []
    texts = {
        t.id: t
        for t in session.scalars(
            select(OutboundText).where(OutboundText.id.in_([t.outbound_pk for t in tasks]))
        )
    }
    states = consent_states(session, {t.phone for t in texts.values()})
    claimed: list[ClaimedText] = []
    lease = now + timedelta(seconds=lease_seconds)
    for task in tasks:
        assert task.outbound_pk is not None
        text = texts[task.outbound_pk]
        if not may_send(states[text.phone], text.keyword, Purpose(text.purpose)):
            text.state = TextState.BLOCKED
            text.detail = "the number opted out before it was sent"
            task.done = True
            task.finished_at = now
            task.last_error = text.detail
            continue
        task.lease_until = lease
        task.lease_owner = owner
        claimed.append(ClaimedText(task.id, text.id, task.payload, task.attempts))
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


def record_sends(session: Session, results: list[SendResult], retry_cap: float = 60.0) -> None:
    now = utcnow()
    tasks = {
        t.id: t
        for t in session.scalars(
            select(OutboxTask).where(OutboxTask.id.in_([r.text.task_id for r in results]))
        )
    }
    texts = {
        t.id: t
        for t in session.scalars(
            select(OutboundText).where(OutboundText.id.in_([r.text.outbound_pk for r in results]))
        )
    }
    for result in results:
        task, text = tasks[result.text.task_id], texts[result.text.outbound_pk]
        task.lease_until = None
        task.lease_owner = None
        if result.outcome == "auth":
            continue
        task.attempts += 1
        if result.outcome == "retry":
            delay = result.retry_after or backoff_delay(task.attempts, cap=retry_cap)
            task.next_attempt_at = now + timedelta(seconds=max(delay, 0.05))
            task.last_error = result.detail
            continue
        task.done = True
        task.finished_at = now
        text.detail = result.detail
        if result.outcome == "sent":
            text.state = TextState.SENT
            text.gateway_id = result.gateway_id
            text.sent_at = now
        else:
            text.state = TextState.REFUSED
            task.last_error = result.detail
    session.commit()
