"""Debrief figures on a scripted session, and on a session the engine really ran."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from outagedesk.directory import import_directory_rows
from outagedesk.ops.base import Actor, Role
from outagedesk.ops.links import link_phone
from outagedesk.store.models import (
    AuditEntry,
    ConsentRecord,
    InboundMessage,
    OutboxTask,
    Report,
    utcnow,
)
from outagedesk.training.debrief import CSV_HEADER, compute_debrief, write_debrief_csv
from outagedesk.training.environment import training_simulator
from outagedesk.training.replay import Replayer
from outagedesk.training.scenario import Scenario, parse_scenario, unlinked_number

from dbsupport import DbUnderTest
from enginesupport import running_engine, wait_until

SCRIPT = """
title = "Debrief"
[[directory.rows]]
account_number = "9001"
service_location_id = "SL-9001-1"
meter_id = "M-1"
customer_name = "Ana Example"
service_address = "1 Main St"
phones = ["+15055550101"]
life_support = false

[[directory.rows]]
account_number = "9002"
service_location_id = "SL-9002-1"
meter_id = "M-2"
customer_name = "Ben Example"
service_address = "2 Main St"
phones = []
life_support = false

[[messages]]
at = 10
from = "unlinked:0"
text = "OUT 1 Main St"
expect_account = "9001"

[[messages]]
at = 20
from = "unlinked:1"
text = "OUT 2 Main St"
expect_account = "9002"

[[messages]]
at = 30
from = "unlinked:2"
text = "OUT acct 9001"
expect_account = "9001"

[[messages]]
at = 50
from = "unlinked:3"
text = "OUT"

[[messages]]
at = 60
from = "directory:0"
text = "OUT"

[[messages]]
at = 70
from = "unlinked:4"
text = "please stop texting me"
expect_opt_out = true

[[messages]]
at = 80
from = "directory:0"
text = "STOP"
expect_opt_out = true

[[messages]]
at = 90
from = "unlinked:5"
text = "unsubscribe me please"
expect_opt_out = true
"""
U = [unlinked_number(i) for i in range(6)]
KNOWN = "+15055550101"


@pytest.fixture
def scenario() -> Scenario:
    return parse_scenario(SCRIPT, Path("debrief.toml"))


class Script:
    """Rows as the engine and the link operation write them, at chosen times."""

    def __init__(self, db: DbUnderTest, since: datetime) -> None:
        self.db = db
        self.since = since
        self.count = 0

    def at(self, seconds: float) -> datetime:
        return self.since + timedelta(seconds=seconds)

    def text(self, seconds: float, phone: str, body: str) -> int:
        self.count += 1
        with self.db.sessions() as s:
            message = InboundMessage(
                gateway_message_id=f"g-{self.count}", phone=phone, to="85700", body=body,
                received_at=self.at(seconds), kind="outage", tags=[], raw={},
            )  # fmt: skip
            s.add(message)
            s.commit()
            return message.id

    def report(self, seconds: float, phone: str, level: str | None) -> str:
        """``level`` None: held, so no first revision went out."""
        message_id = self.text(seconds, phone, "OUT")
        report_id = f"r-{self.count}"
        with self.db.sessions() as s:
            report = Report(
                report_id=report_id, message_id=message_id, phone=phone,
                received_at=self.at(seconds), state="queued" if level else "held",
                resolved_level=level or "Unresolved", priority="Normal",
            )  # fmt: skip
            s.add(report)
            s.flush()
            if level is not None:
                s.add(
                    OutboxTask(
                        kind="oms", idempotency_key=f"{report_id}.1", report_pk=report.id,
                        payload={"revision": 1, "resolved_level": level}, done=True,
                    )
                )  # fmt: skip
            s.commit()
        return report_id

    def audit(self, seconds: float, action: str, phone: str, account: str) -> None:
        after: dict[str, Any] = {"links": [{"account_number": "old"}, {"account_number": account}]}
        with self.db.sessions() as s:
            s.add(
                AuditEntry(
                    at=self.at(seconds), actor="ana", desk="d1", action=action, subject=phone,
                    before=None, after=after,
                )
            )  # fmt: skip
            s.commit()

    def opt_out(self, seconds: float, phone: str) -> None:
        with self.db.sessions() as s:
            s.add(
                ConsentRecord(
                    phone=phone, keyword="*", opted_in=False, at=self.at(seconds), how="keyword"
                )
            )
            s.commit()


def test_debrief_figures_on_a_scripted_session(db: DbUnderTest, scenario: Scenario) -> None:
    since = utcnow().replace(microsecond=0) - timedelta(hours=1)
    s = Script(db, since)
    s.report(-100, U[3], "Unresolved")  # before the run: not counted
    s.audit(-50, "link_add", U[1], "9002")  # a link before the run does not count either
    r1 = s.report(10, U[0], "Unresolved")
    r2 = s.report(20, U[1], None)  # held
    r3 = s.report(30, U[2], "Unresolved")
    s.audit(40, "link_add", U[0], "9001")  # r1 after 30 s
    s.report(45, U[0], "Meter")  # linked by then: not in the debrief
    r4 = s.report(50, U[3], "Unresolved")  # never handled
    s.report(60, KNOWN, "Meter")
    s.audit(90, "link_move", U[2], "9002")  # r3 after 60 s, to the wrong account
    s.audit(110, "link_add", U[1], "9002")  # r2 after 90 s
    s.audit(200, "link_move", U[2], "9001")  # corrected later: the first link is what counts
    s.audit(300, "link_remove", U[3], "9001")  # not a link
    s.text(70, U[4], "please stop texting me")  # nobody opted this number out
    s.text(80, KNOWN, "STOP")
    s.opt_out(80, KNOWN)
    # unlinked:5 never texted in this run: its opt-out cannot be missed yet.

    with db.sessions() as session:
        debrief = compute_debrief(session, scenario, since)
    rows = {row.report_id: row for row in debrief.rows}
    assert list(rows) == [r1, r2, r3, r4]
    assert (rows[r1].outcome, rows[r1].seconds_to_link, rows[r1].linked_account) == (
        "linked", 30, "9001"
    )  # fmt: skip
    assert (rows[r2].outcome, rows[r2].seconds_to_link) == ("linked", 90)
    assert (rows[r3].outcome, rows[r3].seconds_to_link) == ("wrong_account", 60)
    assert (rows[r3].linked_account, rows[r3].expected_account) == ("9002", "9001")
    assert rows[r4].outcome == "never_handled"
    assert (rows[r4].linked_at, rows[r4].seconds_to_link, rows[r4].expected_account) == (
        None, None, None
    )  # fmt: skip
    assert rows[r1].linked_at == since + timedelta(seconds=40)
    assert (debrief.median_seconds, debrief.worst_seconds) == (60, 90)
    assert (debrief.linked, debrief.wrong_account, debrief.never_handled) == (2, 1, 1)
    assert debrief.unlinked_reports == 4
    assert [(m.phone, m.body, m.offset) for m in debrief.missed_opt_outs] == [
        (U[4], "please stop texting me", 70)
    ]

    out = io.StringIO()
    assert write_debrief_csv(debrief, out) == 5
    lines = list(csv.reader(io.StringIO(out.getvalue())))
    assert tuple(lines[0]) == CSV_HEADER
    assert lines[1][:9] == [
        "report", r1, U[0], (since + timedelta(seconds=10)).isoformat().replace("+00:00", "Z"),
        (since + timedelta(seconds=40)).isoformat().replace("+00:00", "Z"), "30.0", "9001",
        "9001", "linked",
    ]  # fmt: skip
    assert lines[4][5:9] == ["", "", "", "never_handled"]
    assert lines[5] == ["opt_out", "", U[4], "", "", "", "", "", "missed_opt_out",
                        "please stop texting me"]  # fmt: skip


def test_an_empty_session_has_no_figures(
    db: DbUnderTest, scenario: Scenario, tmp_path: Path
) -> None:
    with db.sessions() as session:
        debrief = compute_debrief(session, scenario, utcnow())
    assert debrief.rows == ()
    assert (debrief.median_seconds, debrief.worst_seconds) == (None, None)
    path = tmp_path / "debrief.csv"
    assert write_debrief_csv(debrief, path) == 0
    assert path.read_text(encoding="utf-8").splitlines() == [",".join(CSV_HEADER)]


def test_a_formula_in_a_text_is_not_run_by_a_spreadsheet(db: DbUnderTest, tmp_path: Path) -> None:
    scenario = parse_scenario(
        SCRIPT.replace('text = "please stop texting me"', 'text = "=stop texting me"'),
        Path("debrief.toml"),
    )
    since = utcnow() - timedelta(minutes=5)
    Script(db, since).text(70, U[4], "=stop texting me")
    with db.sessions() as session:
        debrief = compute_debrief(session, scenario, since)
    out = io.StringIO()
    write_debrief_csv(debrief, out)
    assert out.getvalue().splitlines()[-1].endswith(",'=stop texting me")


def test_debrief_of_a_session_the_engine_ran(db: DbUnderTest, scenario: Scenario) -> None:
    sim = training_simulator(scenario)
    sim.start()
    replay = Replayer(scenario, sim)
    trainee = Actor("trainee", "desk-t", Role.TRAINER)
    try:
        import_directory_rows(db.engine, scenario.directory, source="directory", actor="test")
        with running_engine(db, sim):
            replay.seek(scenario.duration)  # every text at once

            def reports() -> int:
                with db.sessions() as s:
                    return len(s.query(Report).all())

            wait_until(lambda: reports() == 5, 30, "five reports", reports)
            with db.sessions() as session:
                link_phone(session, trainee, U[0], "9001")
                link_phone(session, trainee, U[2], "9002")
            with db.sessions() as session:
                debrief = compute_debrief(session, scenario, replay.run_started)
    finally:
        replay.close()
        sim.stop()
    outcomes = {row.phone: row.outcome for row in debrief.rows}
    assert outcomes == {
        U[0]: "linked", U[1]: "never_handled", U[2]: "wrong_account", U[3]: "never_handled"
    }  # fmt: skip
    assert all(row.seconds_to_link is None or row.seconds_to_link > 0 for row in debrief.rows)
    # STOP is recorded by the engine itself; the two free-text requests were missed.
    assert sorted(m.phone for m in debrief.missed_opt_outs) == sorted([U[4], U[5]])
