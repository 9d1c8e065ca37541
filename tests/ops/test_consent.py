"""Force opt-out: recorded, audited, passed on to the gateway; never a force opt-in."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

import outagedesk.ops.consent as consent_ops
from outagedesk.ops.base import Actor, OperationError, Role
from outagedesk.ops.consent import consent_history, export_consent_csv, force_opt_out
from outagedesk.sim import Simulator
from outagedesk.store.models import AuditEntry
from outagedesk.store.outbound import consent_states

from dbsupport import DbUnderTest
from enginesupport import running_engine, wait_until

PHONE = "+15055550123"
ACTOR = Actor("sup", "desk-1", Role.SUPERVISOR)


def test_forced_opt_out_reaches_the_gateway_and_stops_replies(db: DbUnderTest) -> None:
    with Simulator(seed=1, directory_size=5) as sim, running_engine(db, sim) as engine:
        sim.gateway.add_message(from_=PHONE, body="OUT")
        wait_until(lambda: len(sim.gateway.outbound) == 1, 20, "the acknowledgement")
        with db.sessions() as s:
            force_opt_out(s, ACTOR, PHONE, None, "customer asked by phone")
        engine.wake_forwarder()
        wait_until(lambda: len(sim.gateway.opt_out_requests) == 1, 20, "the gateway opt-out")
        sim.gateway.add_message(from_=PHONE, body="hello?")
        sim.gateway.add_message(from_=PHONE, body="HELP")
        wait_until(lambda: len(sim.gateway.outbound) == 2, 20, "the HELP reply")
        entry = sim.gateway.optin_entry(PHONE)
    assert [t["body"].split(":")[0] for t in sim.gateway.outbound] == ["OutageDesk Utility"] * 2
    assert "Reply STOP" in sim.gateway.outbound[1]["body"]
    assert entry is not None
    statuses = {k["keyword"]: k["status"] for k in entry["keywords"]}
    # HELP is a keyword too: texting it after the opt-out opts in to HELP alone.
    assert statuses == {"OUT": "opted_out", "HELP": "opted_in"}
    with db.sessions() as s:
        audit = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "consent_force_opt_out")
        ).one()
        history = consent_history(s, PHONE)
    assert audit.after is not None
    assert audit.after["reason"] == "customer asked by phone"
    assert [(r.keyword, r.opted_in, r.how) for r in history][:2] == [
        ("OUT", True, "keyword_text"),
        ("*", False, "forced"),
    ]


def test_one_keyword_only(db: DbUnderTest) -> None:
    with db.sessions() as s:
        force_opt_out(s, ACTOR, PHONE, "status", "asked")
        state = consent_states(s, [PHONE])[PHONE]
    assert not state.opted_in("STATUS")
    assert state.opted_in("OUT")


def test_a_reason_is_required(db: DbUnderTest) -> None:
    with db.sessions() as s, pytest.raises(OperationError, match="reason"):
        force_opt_out(s, ACTOR, PHONE, None, "  ")


def test_there_is_no_force_opt_in() -> None:
    assert not [name for name in dir(consent_ops) if "opt_in" in name.lower()]


def test_export_for_a_date_range(db: DbUnderTest) -> None:
    with db.sessions() as s:
        force_opt_out(s, ACTOR, PHONE, None, "asked")
        force_opt_out(s, ACTOR, "+15055550124", "OUT", "asked")
        now = datetime.now(UTC)
        out = io.StringIO()
        rows = export_consent_csv(s, ACTOR, out, now - timedelta(hours=1), now + timedelta(hours=1))
        empty = export_consent_csv(s, ACTOR, io.StringIO(), now + timedelta(hours=1), None)
    table = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert (rows, empty) == (2, 0)
    assert [(r["phone"], r["keyword"], r["state"], r["how"], r["actor"]) for r in table] == [
        (PHONE, "all", "opted_out", "forced", "sup"),
        ("+15055550124", "OUT", "opted_out", "forced", "sup"),
    ]
