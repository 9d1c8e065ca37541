"""Link a number and re-send its reports: the dispatcher's core action, against the simulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from outagedesk.directory import import_directory_rows
from outagedesk.ops.base import Actor, OperationError, Role
from outagedesk.ops.links import link_phone, unlink
from outagedesk.ops.resend import reports_to_resend, resend_reports
from outagedesk.sim import DirectoryRow, Simulator
from outagedesk.store.models import AuditEntry, OutboxTask, PhoneLink, Report

from dbsupport import DbUnderTest
from enginesupport import report_states, running_engine, wait_until

STRANGER = "+12085550150"  # in no directory: the OMS answers number_not_found
ACTOR = Actor("jdoe", "desk-3", Role.DISPATCHER)
FARM = [
    DirectoryRow("9001", "SL-9001-1", "M-90011", "Pat Farmer", "1 Barn Rd", (), False),
    DirectoryRow("9001", "SL-9001-2", None, "Pat Farmer", "2 Silo Ln", (), True),
]


@pytest.fixture
def sim(db: DbUnderTest) -> Iterator[Simulator]:
    with Simulator(seed=4, directory_size=20) as simulator:
        import_directory_rows(db.engine, [*simulator.directory, *FARM])
        simulator.oms.add_known_account("9001")
        yield simulator


def unlinked_report(db: DbUnderTest, sim: Simulator, body: str = "OUT tree on line") -> Report:
    sim.gateway.add_message(from_=STRANGER, body=body)
    wait_until(lambda: "unlinked" in report_states(db), 20, "the OMS to refuse the number")
    with db.sessions() as s:
        return s.scalars(select(Report).where(Report.state == "unlinked")).one()


def test_link_and_resend_opens_a_ticket_and_a_second_resend_opens_none(
    db: DbUnderTest, sim: Simulator
) -> None:
    with running_engine(db, sim) as engine:
        first = unlinked_report(db, sim)
        with db.sessions() as s:
            outcome = link_phone(s, ACTOR, STRANGER, "9001", "SL-9001-1")
        engine.wake_forwarder()
        assert [r.revision for r in outcome.resent] == [2]
        wait_until(lambda: report_states(db) == {"forwarded": 1}, 20, "the ticket")
        with db.sessions() as s:
            report = s.get(Report, first.id)
            assert report is not None
            assert (report.resolved_level, report.meter_id) == ("Meter", "M-90011")
            ticket = report.ticket_id
            # Re-sending again (a nervous double click) attaches, it opens no second ticket.
            again = resend_reports(s, ACTOR, [first.id], include_ticketed=True)
        engine.wake_forwarder()
        wait_until(lambda: len(sim.oms.requests) == 3, 20, "the third request")
    assert again[0].revision == 3
    assert sim.oms.tickets == {first.report_id: ticket}
    assert sim.oms.tickets_created == 1
    keys = [key for key, _, _ in sim.oms.requests]
    assert keys == [f"{first.report_id}.1", f"{first.report_id}.2", f"{first.report_id}.3"]
    with db.sessions() as s:
        actions = s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        link = s.scalars(select(PhoneLink).where(PhoneLink.phone == STRANGER)).one()
    assert actions == ["directory_import", "link_add", "report_resend", "report_resend"]
    assert (link.source, link.created_by, link.desk, link.reviewed) == (
        "dispatcher",
        "jdoe",
        "desk-3",
        False,
    )


def test_a_failed_oms_call_after_linking_stays_queued_and_is_retried(
    db: DbUnderTest, sim: Simulator
) -> None:
    with running_engine(db, sim) as engine:
        report = unlinked_report(db, sim)
        sim.oms.fail_next(status=503, count=2)
        with db.sessions() as s:
            link_phone(s, ACTOR, STRANGER, "9001", "SL-9001-1")
        engine.wake_forwarder()
        wait_until(lambda: report_states(db) == {"forwarded": 1}, 20, "the ticket after retries")
    keys = [key for key, _, status in sim.oms.requests if status == 503]
    assert keys == [f"{report.report_id}.2"] * 2


def test_whole_account_link_is_address_level_and_life_support_is_urgent(
    db: DbUnderTest, sim: Simulator
) -> None:
    with running_engine(db, sim) as engine:
        report = unlinked_report(db, sim)
        with db.sessions() as s:
            link_phone(s, ACTOR, STRANGER, "9001", None)
        engine.wake_forwarder()
        wait_until(lambda: report_states(db) == {"forwarded": 1}, 20, "the ticket")
    payload = sim.oms.requests[-1][1]
    assert payload["report_id"] == report.report_id
    assert (payload["resolved_level"], payload["service_location_id"]) == ("Address", None)
    assert payload["priority"] == "Urgent"
    assert payload["taken_by"] == "desk-3/jdoe"


def test_a_phone_on_several_accounts_and_a_move(db: DbUnderTest, sim: Simulator) -> None:
    other = sim.directory[0]
    with db.sessions() as s:
        first = link_phone(s, ACTOR, STRANGER, other.account_number, None, resend=False)
        second = link_phone(s, ACTOR, STRANGER, "9001", "SL-9001-2", resend=False)
        same = link_phone(s, ACTOR, STRANGER, "9001", "SL-9001-2", resend=False)
        assert not same.created
        assert same.link_id == second.link_id
        moved = link_phone(
            s, ACTOR, STRANGER, "9001", "SL-9001-1", replace=[first.link_id, second.link_id],
            resend=False,
        )  # fmt: skip
        links = s.execute(
            select(PhoneLink.account_number, PhoneLink.service_location_id).where(
                PhoneLink.phone == STRANGER
            )
        ).all()
        moves = s.scalars(select(AuditEntry).where(AuditEntry.action == "link_move")).all()
    assert [tuple(link) for link in links] == [("9001", "SL-9001-1")]
    assert moved.removed == [first.link_id, second.link_id]
    assert len(moves) == 1
    assert len(moves[0].before["links"]) == 2  # type: ignore[index]


def test_undo_removes_the_link_with_an_audit_row(db: DbUnderTest, sim: Simulator) -> None:
    with db.sessions() as s:
        made = link_phone(s, ACTOR, STRANGER, "9001", "SL-9001-1", resend=False)
        unlink(s, ACTOR, made.link_id)
        assert s.scalars(select(PhoneLink).where(PhoneLink.phone == STRANGER)).all() == []
        removed = s.scalars(select(AuditEntry).where(AuditEntry.action == "link_remove")).one()
        with pytest.raises(OperationError, match="no longer exists"):
            unlink(s, ACTOR, made.link_id)
    assert removed.before == {
        "links": [
            {
                "id": made.link_id,
                "phone": STRANGER,
                "account_number": "9001",
                "service_location_id": "SL-9001-1",
                "source": "dispatcher",
            }
        ]
    }


@pytest.mark.parametrize(
    ("account", "location", "message"),
    [
        ("0000", None, "not in the account directory"),
        ("9001", "SL-1234-1", "does not belong to account 9001"),
    ],
)
def test_links_to_nothing_are_refused_and_change_nothing(
    db: DbUnderTest, sim: Simulator, account: str, location: str | None, message: str
) -> None:
    with db.sessions() as s:
        with pytest.raises(OperationError, match=message):
            link_phone(s, ACTOR, STRANGER, account, location)
        s.rollback()
        assert s.scalars(select(PhoneLink).where(PhoneLink.phone == STRANGER)).all() == []


def test_resending_supersedes_a_revision_still_waiting(db: DbUnderTest, sim: Simulator) -> None:
    sim.oms.set_down(True)
    with running_engine(db, sim, backoff_cap=30):
        sim.gateway.add_message(from_=STRANGER, body="OUT")
        wait_until(lambda: bool(report_states(db)), 20, "the report")
    with db.sessions() as s:
        pks = reports_to_resend(s, phone=STRANGER)
        resend_reports(s, ACTOR, pks)
        tasks = s.execute(
            select(OutboxTask.idempotency_key, OutboxTask.done)
            .where(OutboxTask.kind == "oms")
            .order_by(OutboxTask.id)
        ).all()
    assert [done for _, done in tasks] == [True, False]
    assert tasks[1][0].endswith(".2")
