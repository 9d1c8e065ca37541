"""The delivery outbox: leases, and what each OMS answer or gateway send does to a task."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import event, select, update

from outagedesk.domain.consent import Purpose
from outagedesk.domain.keywords import Classifier
from outagedesk.gateway.contract import parse_page
from outagedesk.oms.webhook import OmsOutcome, OutcomeKind
from outagedesk.store import outbox
from outagedesk.store.ingest import IngestPolicy, ingest_page
from outagedesk.store.models import OmsAttempt, OutboundText, OutboxTask, Report, utcnow
from outagedesk.store.outbound import SendResult, claim_texts, queue_text, record_sends

from dbsupport import DbUnderTest

POLICY = IngestPolicy(Classifier(), replies=None)
TICKET = OmsOutcome(OutcomeKind.TICKET, 201, "T-4401", "created")


def reports(db: DbUnderTest, count: int) -> None:
    messages = [
        {"id": f"m-{i}", "from": f"+1505555{i:04d}", "to": "85700", "body": "OUT",
         "received_at": "2026-11-24T10:15:03Z"}
        for i in range(count)
    ]  # fmt: skip
    with db.sessions() as s:
        ingest_page(s, "gw", parse_page({"messages": messages, "next_cursor": "c"}), POLICY)


def claim(db: DbUnderTest, limit: int = 100, lease: float = 60) -> list[outbox.ClaimedTask]:
    with db.sessions() as s:
        return outbox.claim_due(s, limit, lease, "desk-1")


def record(db: DbUnderTest, deliveries: list[outbox.Delivery]) -> list[int]:
    with db.sessions() as s:
        return outbox.record_deliveries(s, deliveries, retry_cap=60.0)


def task_rows(db: DbUnderTest) -> list[Any]:
    with db.sessions() as s:
        return list(s.execute(select(OutboxTask).order_by(OutboxTask.id)).scalars())


def test_a_claim_leases_the_oldest_tasks_once(db: DbUnderTest) -> None:
    reports(db, 5)
    first = claim(db, limit=3)
    assert [t.task_id for t in first] == sorted(t.task_id for t in first)
    assert [t.payload["message_id"] for t in first] == ["m-0", "m-1", "m-2"]
    assert all(t.idempotency_key.endswith(".1") and t.attempts == 0 for t in first)
    second = claim(db)
    assert [t.payload["message_id"] for t in second] == ["m-3", "m-4"]
    assert claim(db) == []
    leased = {t.id: (t.lease_owner, t.lease_until) for t in task_rows(db)}
    assert all(owner == "desk-1" and until is not None for owner, until in leased.values())


def test_an_expired_lease_is_claimed_again_and_a_release_counts_no_attempt(
    db: DbUnderTest,
) -> None:
    reports(db, 2)
    expired = claim(db, limit=1, lease=-1)
    again = claim(db)
    assert expired[0].task_id in {t.task_id for t in again}
    with db.sessions() as s:
        outbox.release(s, [t.task_id for t in again])
    assert {t.task_id for t in claim(db)} == {t.task_id for t in again}
    assert all(t.attempts == 0 for t in task_rows(db))


def test_each_answer_is_recorded_on_its_task_report_and_attempt(db: DbUnderTest) -> None:
    reports(db, 4)
    tasks = claim(db)
    answers = [
        TICKET,
        OmsOutcome(OutcomeKind.NOT_FOUND, 404, message="not in our records"),
        OmsOutcome(OutcomeKind.REJECTED, 422, status="bad_phone", message="no such phone"),
        OmsOutcome(OutcomeKind.TRANSIENT, 503, message="OMS answered HTTP 503"),
    ]
    before = utcnow()
    changed = record(db, [outbox.Delivery(t, a) for t, a in zip(tasks, answers, strict=True)])
    assert changed == [t.report_pk for t in tasks]

    with db.sessions() as s:
        # Reports and tasks were made in the same order.
        report_rows = s.scalars(select(Report).order_by(Report.id)).all()
        attempts = s.scalars(select(OmsAttempt).order_by(OmsAttempt.id)).all()
    assert [r.id for r in report_rows] == [t.report_pk for t in tasks]
    states = [(r.state, r.oms_message) for r in report_rows]
    assert states == [
        ("forwarded", None),
        ("unlinked", "not in our records"),
        ("rejected", "no such phone"),
        ("retrying", "OMS answered HTTP 503"),
    ]
    assert [r.ticket_id for r in report_rows] == ["T-4401", None, None, None]
    assert [(a.idempotency_key, a.http_status, a.outcome) for a in attempts] == [
        (t.idempotency_key, a.http_status, a.kind.value)
        for t, a in zip(tasks, answers, strict=True)
    ]

    rows = task_rows(db)
    assert [(r.done, r.attempts, r.lease_until, r.lease_owner) for r in rows] == [
        (True, 1, None, None),
        (True, 1, None, None),
        (True, 1, None, None),
        (False, 1, None, None),
    ]
    assert [r.last_error for r in rows] == [
        None,
        "not in our records",
        "no such phone",
        "OMS answered HTTP 503",
    ]
    assert rows[3].next_attempt_at > before
    # Not due yet: the retry waits for its backoff.
    assert claim(db) == []


def test_a_retry_waits_longer_each_time_and_keeps_its_key(db: DbUnderTest) -> None:
    reports(db, 1)
    waits = []
    for _ in range(3):
        with db.sessions() as s:
            s.execute(update(OutboxTask).values(next_attempt_at=utcnow()))
            s.commit()
        (task,) = claim(db)
        assert task.idempotency_key.endswith(".1")
        now = utcnow()
        record(db, [outbox.Delivery(task, OmsOutcome(OutcomeKind.TRANSIENT, 500))])
        waits.append(task_rows(db)[0].next_attempt_at - now)
    assert task_rows(db)[0].attempts == 3
    # Backoff with jitter: the third wait's floor is above the first's ceiling.
    assert waits[2] > waits[0]
    with db.sessions() as s:
        s.execute(update(OutboxTask).values(next_attempt_at=utcnow()))
        s.commit()
    (task,) = claim(db)
    record(db, [outbox.Delivery(task, OmsOutcome(OutcomeKind.TRANSIENT, 429, retry_after=30))])
    assert task_rows(db)[0].next_attempt_at - utcnow() > timedelta(seconds=25)


def test_an_answer_about_an_older_revision_only_fills_in_the_ticket(db: DbUnderTest) -> None:
    reports(db, 2)
    tasks = claim(db)
    with db.sessions() as s:
        # A re-send raised both reports to revision 2 while revision 1 was in flight.
        s.execute(update(Report).values(revision=2, state="queued"))
        s.commit()
    refused = OmsOutcome(OutcomeKind.NOT_FOUND, 404, message="not in our records")
    record(db, [outbox.Delivery(tasks[0], TICKET), outbox.Delivery(tasks[1], refused)])
    with db.sessions() as s:
        rows = s.scalars(select(Report).order_by(Report.id)).all()
    assert [(r.state, r.ticket_id) for r in rows] == [("queued", "T-4401"), ("queued", None)]


def test_a_text_is_sent_from_its_row_and_its_task_keeps_no_copy(db: DbUnderTest) -> None:
    with db.sessions() as s:
        for n, phone in enumerate(("+15055550101", "+15055550102", "+15055550103")):
            queue_text(
                s, phone=phone, body=f"Reply {n}", purpose=Purpose.HELP, keyword=None,
                in_reply_to=f"m-{n}", key=f"k-{n}",
            )  # fmt: skip
        s.commit()
    with db.sessions() as s:
        assert list(s.scalars(select(OutboxTask.payload))) == [{}, {}, {}]
        claimed = claim_texts(s, 10, 60, "desk-1")
    assert [c.payload for c in claimed] == [
        {"to": f"+1505555010{n + 1}", "body": f"Reply {n}", "in_reply_to": f"m-{n}",
         "idempotency_key": f"k-{n}"}
        for n in range(3)
    ]  # fmt: skip
    with db.sessions() as s:
        record_sends(
            s,
            [
                SendResult(claimed[0], "sent", "o-1"),
                SendResult(claimed[1], "retry", detail="gateway answered HTTP 503"),
                SendResult(claimed[2], "auth", detail="gateway refused the token (HTTP 401)"),
            ],
        )
    with db.sessions() as s:
        texts = s.scalars(select(OutboundText).order_by(OutboundText.id)).all()
        tasks = s.scalars(select(OutboxTask).order_by(OutboxTask.id)).all()
    assert [(t.state, t.gateway_id, t.sent_at is not None) for t in texts] == [
        ("sent", "o-1", True),
        ("queued", None, False),
        ("queued", None, False),
    ]
    assert [(t.done, t.attempts, t.lease_until) for t in tasks] == [
        (True, 1, None),
        (False, 1, None),
        (False, 0, None),
    ]
    assert tasks[1].last_error == "gateway answered HTTP 503"
    assert tasks[1].next_attempt_at > tasks[2].next_attempt_at


def test_a_text_claim_reads_only_the_texts_not_the_reports_backlog(db: DbUnderTest) -> None:
    """With thousands of reports waiting, the text sender's claim walks its own kind only."""
    reports(db, 3)
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        statements.append((statement, params))

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        with db.sessions() as s:
            assert claim_texts(s, 50, 60, "desk-1") == []
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    statement, params = next((s, p) for s, p in statements if s.lstrip().startswith("UPDATE"))
    explain = "EXPLAIN QUERY PLAN " if db.engine.dialect.name == "sqlite" else "EXPLAIN "
    with db.engine.connect() as conn:
        # The planner keeps a sequential scan for a tiny table: make the index the cheap way.
        if db.engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")
        plan = "\n".join(str(row) for row in conn.exec_driver_sql(explain + statement, params))
    assert "ix_outbox_kind_due" in plan
