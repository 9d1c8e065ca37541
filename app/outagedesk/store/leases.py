"""Leasing outbox tasks and closing them: the statements the OMS forwarder and the text sender
share. Each runs once over a whole batch (one round trip, or one ``executemany``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Update, bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from outagedesk.domain.backoff import backoff_delay
from outagedesk.store.models import Base, OutboxTask

OUTBOX = Base.metadata.tables[OutboxTask.__tablename__]


def _attempt_counted(**values: Any) -> Update:
    """An attempt ends: the lease is dropped, the attempt counted, its error kept."""
    return (
        update(OUTBOX)
        .where(OUTBOX.c.id == bindparam("task_id"))
        .values(
            lease_until=None,
            lease_owner=None,
            attempts=OUTBOX.c.attempts + 1,
            last_error=bindparam("error"),
            **values,
        )
    )


FINISH = _attempt_counted(done=True, finished_at=bindparam("at"))
"""Parameters: ``task_id``, ``at``, ``error``."""

RETRY = _attempt_counted(next_attempt_at=bindparam("due"))
"""Parameters: ``task_id``, ``due``, ``error``; see :func:`retry_params`."""


def retry_params(
    task_id: int,
    attempts: int,
    now: datetime,
    error: str | None,
    retry_after: float | None = None,
    cap: float = 60.0,
) -> dict[str, Any]:
    """:data:`RETRY` parameters for a failed attempt: the server's ``Retry-After`` if it gave
    one, else backoff on the count. ``attempts`` is the count as claimed: the lease kept
    everyone else off the task, so this attempt is the next one."""
    delay = retry_after or backoff_delay(attempts + 1, cap=cap)
    return {"task_id": task_id, "due": now + timedelta(seconds=max(delay, 0.05)), "error": error}


RELEASE = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("task_id"))
    .values(lease_until=None, lease_owner=None)
)
"""Give a task back untouched, no attempt counted. Parameter: ``task_id``."""


def lease_due(
    session: Session,
    kind: str,
    limit: int,
    lease_seconds: float,
    owner: str,
    now: datetime,
    *columns: ColumnElement[Any],
) -> list[Any]:
    """Lease up to ``limit`` due tasks of ``kind``; rows of the id and ``columns``, oldest first.

    One statement chooses, leases and returns them; SKIP LOCKED lets several desks share a
    PostgreSQL database. The caller commits.
    """
    due = (
        select(OUTBOX.c.id)
        .where(
            OUTBOX.c.done.is_(False),
            OUTBOX.c.kind == kind,
            OUTBOX.c.next_attempt_at <= now,
            (OUTBOX.c.lease_until.is_(None)) | (OUTBOX.c.lease_until < now),
        )
        .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = session.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id.in_(due.scalar_subquery()))
        .values(lease_until=now + timedelta(seconds=lease_seconds), lease_owner=owner)
        .returning(OUTBOX.c.id, *columns)
    ).all()
    # RETURNING comes in no promised order; the id is the order of queuing.
    return sorted(rows, key=lambda row: row[0])
