"""The whole path on a real loopback gateway and OMS: gateway → engine → database → OMS."""

from __future__ import annotations

from collections import defaultdict

import pytest
from sqlalchemy import select

from outagedesk.directory import import_directory_rows
from outagedesk.domain.keywords import Classifier, MessageKind
from outagedesk.sim import Simulator, TrafficGenerator, TrafficMix
from outagedesk.store.models import InboundMessage, QuarantinedMessage, Report

from dbsupport import DbUnderTest
from enginesupport import counts, drained, report_states, running_engine, wait_until

MESSAGES = 5_000


@pytest.mark.slow
def test_five_thousand_texts_reach_the_oms_exactly_once(db: DbUnderTest) -> None:
    mix = TrafficMix(malformed=2, stop=3, help=3, unknown=3)
    with Simulator(seed=7, directory_size=400) as sim:
        traffic = TrafficGenerator(sim.directory, seed=7, mix=mix)
        import_directory_rows(db.engine, sim.directory)
        half = MESSAGES // 2
        traffic.feed(sim.gateway, half)
        with running_engine(db, sim, poll_limit=250) as engine:
            wait_until(lambda: counts(db)["messages"] > 500, 60, "the first pages")
            # At-least-once delivery: the gateway repeats messages it already sent.
            sim.gateway.redeliver_next(300)
            traffic.feed(sim.gateway, MESSAGES - half)
            entries = sim.gateway.messages_added
            wait_until(
                drained(db, entries),
                180,
                "every text stored and forwarded",
                lambda: (counts(db), engine.status()),
            )
            status = engine.status()
        gateway_log = sim.gateway.messages
        oms_requests = sim.oms.requests
        tickets = sim.oms.tickets

    assert entries == MESSAGES
    malformed = [m for m in gateway_log if not _well_formed(m)]
    good_ids = {m["id"] for m in gateway_log if _well_formed(m)}
    classify = Classifier().classify
    outage_ids = {
        m["id"] for m in gateway_log if _well_formed(m) and classify(m["body"]).kind == "outage"
    }
    assert malformed, "the mix must include malformed entries"
    assert len(outage_ids) > 3_000

    with db.sessions() as s:
        stored = set(s.scalars(select(InboundMessage.gateway_message_id)))
        quarantined = s.scalars(select(QuarantinedMessage.reason)).all()
        forwarded_kinds = set(
            s.scalars(
                select(InboundMessage.kind).join(Report, Report.message_id == InboundMessage.id)
            )
        )
    assert stored == good_ids
    assert len(quarantined) == len(malformed)
    assert all(quarantined)
    assert status.counters.duplicates >= 250

    # Every outage text reached the OMS exactly once, under one key; nothing else did.
    keys_by_message: dict[str, set[str]] = defaultdict(set)
    for key, payload, status_code in oms_requests:
        assert status_code in (200, 201, 404)
        keys_by_message[payload["message_id"]].add(key)
    assert set(keys_by_message) == outage_ids
    assert all(len(keys) == 1 for keys in keys_by_message.values())
    assert len(oms_requests) == len(outage_ids)
    assert forwarded_kinds == {MessageKind.OUTAGE}

    # Numbers the OMS cannot resolve and the console has no link for are flagged unlinked.
    states = report_states(db)
    assert states.get("unlinked", 0) > 0
    assert states.get("unlinked", 0) + states.get("forwarded", 0) == len(outage_ids)
    assert len(tickets) == states["forwarded"]
    with db.sessions() as s:
        unlinked = s.execute(
            select(Report.phone, Report.account_number).where(Report.state == "unlinked")
        ).all()
    assert all(account is None for _, account in unlinked)


def _well_formed(entry: dict[str, object]) -> bool:
    from outagedesk.gateway.contract import GatewayMessage, parse_message

    return isinstance(parse_message(entry, "US"), GatewayMessage)
