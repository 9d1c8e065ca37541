"""The delivery outbox: claim due tasks under a lease, record what the OMS answered."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from outagedesk.domain.reports import ReportState
from outagedesk.oms.webhook import OmsOutcome, OutcomeKind
from outagedesk.store.bulk import BulkInsert
from outagedesk.store.ingest import OMS_TASK
from outagedesk.store.leases import FINISH, OUTBOX, RETRY, lease_due, retry_params
from outagedesk.store.models import Base, OmsAttempt, OutboxTask, Report, utcnow

REPORTS = Base.metadata.tables[Report.__tablename__]
ATTEMPTS = Base.metadata.tables[OmsAttempt.__tablename__]
_INSERT_ATTEMPTS = BulkInsert(
    ATTEMPTS,
    ("report_pk", "revision", "idempotency_key", "at", "http_status", "outcome", "detail"),
)


@dataclass(frozen=True, slots=True)
class ClaimedTask:
    task_id: int
    report_pk: int | None
    idempotency_key: str
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True, slots=True)
class Delivery:
    task: ClaimedTask
    outcome: OmsOutcome


def claim_due(
    session: Session, limit: int, lease_seconds: float, owner: str = "", kind: str = OMS_TASK
) -> list[ClaimedTask]:
    """Lease up to ``limit`` due tasks. SKIP LOCKED lets several desks share a database."""
    rows = lease_due(
        session,
        kind,
        limit,
        lease_seconds,
        owner,
        utcnow(),
        OUTBOX.c.report_pk,
        OUTBOX.c.idempotency_key,
        OUTBOX.c.payload,
        OUTBOX.c.attempts,
    )
    session.commit()
    return [ClaimedTask(*row) for row in rows]


def release_leases(session: Session, owner: str | None) -> int:
    """Free the leases a crashed run left: the desk's own, or every one (``owner`` None) on a
    single-desk database, where nobody else can hold one."""
    query = select(OutboxTask.id).where(OutboxTask.lease_until.is_not(None))
    if owner is not None:
        query = query.where(OutboxTask.lease_owner == owner)
    ids = session.scalars(query).all()
    if ids:
        release(session, list(ids))
    return len(ids)


def release(session: Session, task_ids: list[int]) -> None:
    """Give tasks back untouched (forwarding paused): no attempt is counted."""
    session.execute(update(OutboxTask).where(OutboxTask.id.in_(task_ids)).values(lease_until=None))
    session.commit()


def record_deliveries(
    session: Session, deliveries: list[Delivery], retry_cap: float = 60.0
) -> list[int]:
    """Apply OMS answers to tasks and reports in one transaction; returns changed report pks.

    Credential refusals (401/403) are not answers about a report: the caller releases those.
    Each table gets one statement per kind of change, run over the whole batch.
    """
    now = utcnow()
    report_pks = [d.task.report_pk for d in deliveries if d.task.report_pk is not None]
    revisions: dict[int, int] = {
        pk: revision
        for pk, revision in session.execute(
            select(REPORTS.c.id, REPORTS.c.revision).where(REPORTS.c.id.in_(report_pks))
        )
    }
    attempts: list[dict[str, Any]] = []
    finished: list[dict[str, Any]] = []
    retried: list[dict[str, Any]] = []
    report_changes: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    changed: list[int] = []
    for delivery in deliveries:
        task, outcome = delivery.task, delivery.outcome
        assert task.report_pk is not None
        revision = int(task.payload.get("revision", 0))
        attempts.append(
            {
                "report_pk": task.report_pk,
                "revision": revision,
                "idempotency_key": task.idempotency_key,
                "at": now,
                "http_status": outcome.http_status,
                "outcome": outcome.kind.value,
                "detail": outcome.message or outcome.status,
            }
        )
        if outcome.kind in (OutcomeKind.TRANSIENT, OutcomeKind.AUTH):
            retried.append(
                retry_params(
                    task.task_id,
                    task.attempts,
                    now,
                    outcome.message,
                    outcome.retry_after,
                    retry_cap,
                )
            )
        else:
            error = None if outcome.kind == OutcomeKind.TICKET else outcome.message
            finished.append({"task_id": task.task_id, "at": now, "error": error})
        # A newer revision may already be queued: an answer about an old one only fills in
        # the ticket, it never moves the report's state backwards.
        current = revision == revisions[task.report_pk]
        values = _report_changes(outcome, current, now)
        if values:
            report_changes[tuple(values)].append({"report": task.report_pk, **values})
        changed.append(task.report_pk)
    _INSERT_ATTEMPTS.execute(session, attempts)
    if finished:
        session.execute(FINISH, finished)
    if retried:
        session.execute(RETRY, retried)
    for columns, rows in report_changes.items():
        statement = (
            update(REPORTS)
            .where(REPORTS.c.id == bindparam("report"))
            .values({column: bindparam(column) for column in columns})
        )
        session.execute(statement, rows)
    session.commit()
    return changed


def _report_changes(outcome: OmsOutcome, current: bool, now: datetime) -> dict[str, Any]:
    """The report columns an answer sets (none when it concerns an older revision only)."""
    if outcome.kind == OutcomeKind.TICKET:
        values: dict[str, Any] = {"ticket_id": outcome.ticket_id, "oms_status": outcome.status}
        if current:
            values.update(state=ReportState.FORWARDED.value, oms_message=None)
    elif not current:
        return {}
    elif outcome.kind == OutcomeKind.NOT_FOUND:
        values = {
            "state": ReportState.UNLINKED.value,
            "oms_status": outcome.kind.value,
            "oms_message": outcome.message,
        }
    elif outcome.kind == OutcomeKind.REJECTED:
        values = {
            "state": ReportState.REJECTED.value,
            "oms_status": outcome.status,
            "oms_message": outcome.message,
        }
    elif outcome.kind == OutcomeKind.TRANSIENT:
        values = {"state": ReportState.RETRYING.value, "oms_message": outcome.message}
    else:
        values = {}
    values["updated_at"] = now
    return values


def backlog(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(OutboxTask).where(OutboxTask.done.is_(False))
        )
        or 0
    )


def next_due(session: Session) -> datetime | None:
    return session.scalar(
        select(func.min(OutboxTask.next_attempt_at)).where(
            OutboxTask.done.is_(False), OutboxTask.kind == OMS_TASK
        )
    )


def finish_tasks(
    session: Session, results: list[tuple[int, bool | None, str | None]], retry_cap: float
) -> None:
    """Close simple tasks: (task id, True done / False failed for good / None retry, detail)."""
    now = utcnow()
    attempts: dict[int, int] = {
        task_id: count
        for task_id, count in session.execute(
            select(OUTBOX.c.id, OUTBOX.c.attempts).where(OUTBOX.c.id.in_([r[0] for r in results]))
        )
    }
    finished: list[dict[str, Any]] = []
    retried: list[dict[str, Any]] = []
    for task_id, outcome, detail in results:
        if outcome is None:
            retried.append(retry_params(task_id, attempts[task_id], now, detail, cap=retry_cap))
        else:
            finished.append({"task_id": task_id, "at": now, "error": detail})
    if finished:
        session.execute(FINISH, finished)
    if retried:
        session.execute(RETRY, retried)
    session.commit()
