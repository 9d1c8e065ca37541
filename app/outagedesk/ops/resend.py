"""Re-sending reports to the OMS as a new revision, with whatever link the number has now."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from outagedesk.domain.reports import (
    Priority,
    ReportState,
    ResolvedLevel,
    choose_link,
    idempotency_key,
    oms_payload,
)
from outagedesk.gateway.contract import format_timestamp
from outagedesk.ops.base import Actor, OperationError, Permission, audit, require
from outagedesk.store.ingest import OMS_TASK
from outagedesk.store.links import link_targets
from outagedesk.store.models import InboundMessage, OutboxTask, Report, utcnow


@dataclass(frozen=True, slots=True)
class Resent:
    report_pk: int
    report_id: str
    revision: int
    resolved_level: str


def _snapshot(report: Report) -> dict[str, object]:
    return {
        "revision": report.revision,
        "state": report.state,
        "account_number": report.account_number,
        "service_location_id": report.service_location_id,
        "ticket_id": report.ticket_id,
    }


def resend_reports(
    session: Session,
    actor: Actor,
    report_pks: Sequence[int],
    *,
    include_ticketed: bool = False,
    commit: bool = True,
) -> list[Resent]:
    """Queue a new revision of each report under a new idempotency key.

    A report that already has a ticket is skipped unless ``include_ticketed`` (a supervisor's
    correction): the OMS then attaches the new revision to the ticket it has. A revision still
    waiting in the outbox is superseded, so the OMS never gets two revisions racing.
    """
    require(actor, Permission.LINK)
    if not report_pks:
        return []
    reports = session.scalars(
        select(Report).where(Report.id.in_(report_pks)).order_by(Report.id).with_for_update()
    ).all()
    missing = set(report_pks) - {r.id for r in reports}
    if missing:
        raise OperationError(f"no such report: {', '.join(map(str, sorted(missing)))}")
    chosen = [r for r in reports if include_ticketed or r.ticket_id is None]
    if not chosen:
        return []
    messages = {
        m.id: m
        for m in session.scalars(
            select(InboundMessage).where(InboundMessage.id.in_([r.message_id for r in chosen]))
        )
    }
    targets = link_targets(session, {r.phone for r in chosen})
    sent_before = set(
        session.scalars(
            select(OutboxTask.report_pk).where(OutboxTask.report_pk.in_([r.id for r in chosen]))
        )
    )
    now = utcnow()
    # Whatever is still queued for these reports is replaced by the new revision.
    session.execute(
        update(OutboxTask)
        .where(
            OutboxTask.report_pk.in_([r.id for r in chosen]),
            OutboxTask.done.is_(False),
        )
        .values(done=True, finished_at=now, last_error="superseded by a newer revision")
    )
    done: list[Resent] = []
    before: dict[str, object] = {}
    after: dict[str, object] = {}
    for report in chosen:
        before[report.report_id] = _snapshot(report)
        found = targets.get(report.phone, [])
        link = choose_link(found)
        urgent = any(t.life_support for t in found)
        if report.id in sent_before:
            report.revision += 1
        message = messages[report.message_id]
        report.state = ReportState.QUEUED.value
        report.account_number = link.account_number if link else None
        report.service_location_id = link.service_location_id if link else None
        report.meter_id = link.meter_id if link else None
        report.resolved_level = (link.resolved_level if link else ResolvedLevel.UNRESOLVED).value
        report.priority = (Priority.URGENT if urgent else Priority.NORMAL).value
        report.oms_message = None
        report.updated_at = now
        payload = oms_payload(
            report_id=report.report_id,
            revision=report.revision,
            message_id=message.gateway_message_id,
            phone=report.phone,
            received_at=format_timestamp(message.received_at),
            short_code=message.to,
            keyword=message.keyword,
            body=message.body,
            remarks=report.remarks,
            link=link,
            tags=list(message.tags),
            taken_by=actor.taken_by,
            urgent=urgent,
        )
        session.add(
            OutboxTask(
                kind=OMS_TASK,
                idempotency_key=idempotency_key(report.report_id, report.revision),
                report_pk=report.id,
                payload=payload,
                next_attempt_at=now,
                created_at=now,
            )
        )
        after[report.report_id] = _snapshot(report)
        done.append(Resent(report.id, report.report_id, report.revision, report.resolved_level))
    subject = ", ".join(r.report_id for r in chosen)
    # Found by each report ID (keys of before/after, not values) and phone (in neither) too.
    about = [value for r in chosen for value in (r.report_id, r.phone)]
    audit(session, actor, "report_resend", subject, before, after, about=about)
    if commit:
        session.commit()
    return done


def reports_to_resend(
    session: Session,
    *,
    phone: str | None = None,
    report_id: str | None = None,
    state: str | None = None,
    since: object | None = None,
    unticketed_only: bool = True,
) -> list[int]:
    """Report keys matching a headless ``resend`` selection."""
    query = select(Report.id).order_by(Report.id)
    if phone is not None:
        query = query.where(Report.phone == phone)
    if report_id is not None:
        query = query.where(Report.report_id == report_id)
    if state is not None:
        query = query.where(Report.state == state)
    if since is not None:
        query = query.where(Report.received_at >= since)
    if unticketed_only:
        query = query.where(Report.ticket_id.is_(None))
    return list(session.scalars(query))
