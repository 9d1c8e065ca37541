"""Force opt-out (there is deliberately no force opt-in), consent history and its export."""

from __future__ import annotations

import csv
from datetime import datetime
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from outagedesk.domain.consent import ALL_KEYWORDS
from outagedesk.gateway.contract import format_timestamp
from outagedesk.ops.base import Actor, OperationError, Permission, audit, require
from outagedesk.store.models import ConsentRecord, InboundMessage, OutboxTask, utcnow
from outagedesk.store.outbound import GATEWAY_OPT_OUT_TASK, consent_states


def force_opt_out(
    session: Session, actor: Actor, phone: str, keyword: str | None, reason: str
) -> ConsentRecord:
    """Opt ``phone`` out of ``keyword`` (None: every keyword); recorded, audited and passed on
    to the gateway through the outbox. Only the customer can opt back in."""
    require(actor, Permission.OPT_OUT)
    if not reason.strip():
        raise OperationError("a reason is required to force an opt-out")
    keyword = keyword.strip().upper() if keyword else None
    before = consent_states(session, [phone])[phone]
    now = utcnow()
    record = ConsentRecord(
        phone=phone,
        keyword=keyword or ALL_KEYWORDS,
        opted_in=False,
        at=now,
        how="forced",
        actor=actor.name,
        tags=[],
    )
    session.add(record)
    session.flush()
    session.add(
        OutboxTask(
            kind=GATEWAY_OPT_OUT_TASK,
            idempotency_key=f"optout:{record.id}",
            payload={"phone": phone, "keyword": keyword},
            next_attempt_at=now,
            created_at=now,
        )
    )
    after = consent_states(session, [phone])[phone]
    audit(
        session,
        actor,
        "consent_force_opt_out",
        phone,
        {"keywords": before.keywords, "all": before.default},
        {"keywords": after.keywords, "all": after.default, "reason": reason.strip()},
    )
    session.commit()
    return record


def consent_history(session: Session, phone: str) -> list[ConsentRecord]:
    return list(
        session.scalars(
            select(ConsentRecord).where(ConsentRecord.phone == phone).order_by(ConsentRecord.id)
        )
    )


EXPORT_COLUMNS = (
    "at",
    "phone",
    "keyword",
    "state",
    "how",
    "actor",
    "message_id",
    "message",
    "tags",
)


def export_consent_csv(
    session: Session,
    actor: Actor,
    out: TextIO,
    start: datetime | None = None,
    end: datetime | None = None,
) -> int:
    """Write the consent records of [start, end) as CSV for an audit; returns the row count."""
    require(actor, Permission.VIEW_AUDIT)
    query = (
        select(ConsentRecord, InboundMessage.gateway_message_id, InboundMessage.body)
        .outerjoin(InboundMessage, InboundMessage.id == ConsentRecord.message_pk)
        .order_by(ConsentRecord.at, ConsentRecord.id)
    )
    if start is not None:
        query = query.where(ConsentRecord.at >= start)
    if end is not None:
        query = query.where(ConsentRecord.at < end)
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for record, message_id, body in session.execute(query.execution_options(yield_per=1000)):
        writer.writerow(
            [
                format_timestamp(record.at),
                record.phone,
                "all" if record.keyword == ALL_KEYWORDS else record.keyword,
                "opted_in" if record.opted_in else "opted_out",
                record.how,
                record.actor or "",
                message_id or "",
                body or "",
                ";".join(record.tags or []),
            ]
        )
        count += 1
    return count
