"""The delivery outbox: claim due tasks under a lease, record what the OMS answered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from outagedesk.domain.backoff import backoff_delay
from outagedesk.domain.reports import ReportState
from outagedesk.oms.webhook import OmsOutcome, OutcomeKind
from outagedesk.store.ingest import OMS_TASK
from outagedesk.store.models import OmsAttempt, OutboxTask, Report, utcnow


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
    now = utcnow()
    query = (
        select(OutboxTask)
        .where(
            OutboxTask.done.is_(False),
            OutboxTask.kind == kind,
            OutboxTask.next_attempt_at <= now,
            (OutboxTask.lease_until.is_(None)) | (OutboxTask.lease_until < now),
        )
        .order_by(OutboxTask.next_attempt_at, OutboxTask.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    tasks = session.scalars(query).all()
    lease = now + timedelta(seconds=lease_seconds)
    claimed = []
    for task in tasks:
        task.lease_until = lease
        task.lease_owner = owner
        claimed.append(
            ClaimedTask(task.id, task.report_pk, task.idempotency_key, task.payload, task.attempts)
        )
    session.commit()
    return claimed


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
    """
    now = utcnow()
    changed: list[int] = []
    tasks = {
        t.id: t
        for t in session.scalars(
            select(OutboxTask).where(OutboxTask.id.in_([d.task.task_id for d in deliveries]))
        )
    }
    reports = {
        r.id: r
        for r in session.scalars(
            select(Report).where(
                Report.id.in_([d.task.report_pk for d in deliveries if d.task.report_pk])
            )
        )
    }
    for delivery in deliveries:
        task = tasks[delivery.task.task_id]
        assert delivery.task.report_pk is not None
        report = reports[delivery.task.report_pk]
        outcome = delivery.outcome
        revision = int(task.payload.get("revision", 0))
        session.add(
            OmsAttempt(
                report_pk=report.id,
                revision=revision,
                idempotency_key=task.idempotency_key,
                at=now,
                http_status=outcome.http_status,
                outcome=outcome.kind.value,
                detail=outcome.message or outcome.status,
            )
        )
        task.lease_until = None
        task.lease_owner = None
        task.attempts += 1
        if outcome.kind in (OutcomeKind.TRANSIENT, OutcomeKind.AUTH):
            delay = outcome.retry_after or backoff_delay(task.attempts, cap=retry_cap)
            task.next_attempt_at = now + timedelta(seconds=max(delay, 0.05))
            task.last_error = outcome.message
        else:
            task.done = True
            task.finished_at = now
            task.last_error = None if outcome.kind == OutcomeKind.TICKET else outcome.message
        # A newer revision may already be queued: an answer about an old one only fills in
        # the ticket, it never moves the report's state backwards.
        current = revision == report.revision
        _apply(report, outcome, current, now)
        changed.append(report.id)
    session.commit()
    return changed


def _apply(report: Report, outcome: OmsOutcome, current: bool, now: datetime) -> None:
    if outcome.kind == OutcomeKind.TICKET:
        report.ticket_id = outcome.ticket_id
        report.oms_status = outcome.status
        if current:
            report.state = ReportState.FORWARDED.value
            report.oms_message = None
    elif not current:
        return
    elif outcome.kind == OutcomeKind.NOT_FOUND:
        report.state = ReportState.UNLINKED.value
        report.oms_status = outcome.kind.value
        report.oms_message = outcome.message
    elif outcome.kind == OutcomeKind.REJECTED:
        report.state = ReportState.REJECTED.value
        report.oms_status = outcome.status
        report.oms_message = outcome.message
    elif outcome.kind == OutcomeKind.TRANSIENT:
        report.state = ReportState.RETRYING.value
        report.oms_message = outcome.message
    report.updated_at = now


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
    tasks = {
        t.id: t
        for t in session.scalars(
            select(OutboxTask).where(OutboxTask.id.in_([r[0] for r in results]))
        )
    }
    for task_id, finished, detail in results:
        task = tasks[task_id]
        task.lease_until = None
        task.lease_owner = None
        task.attempts += 1
        task.last_error = detail
        if finished is None:
            task.next_attempt_at = now + timedelta(
                seconds=backoff_delay(task.attempts, cap=retry_cap)
            )
        else:
            task.done = True
            task.finished_at = now
    session.commit()
