"""The engine against a gateway and an OMS that misbehave: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from outagedesk.engine.core import OutageEngine
from outagedesk.engine.events import LinkState
from outagedesk.sim import Simulator

from dbsupport import DbUnderTest
from enginesupport import counts, drained, report_states, running_engine, wait_until

KNOWN = "+15055550101"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = Simulator(seed=3, directory_size=20)
    simulator.oms.add_known_phone(KNOWN)
    simulator.start()
    yield simulator
    simulator.stop()


def gateway_state(engine: OutageEngine) -> LinkState:
    return engine.status().gateway.state


def oms_state(engine: OutageEngine) -> LinkState:
    return engine.status().oms.state


def keys_per_report(sim: Simulator) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for key, payload, _ in sim.oms.requests:
        found.setdefault(payload["report_id"], set()).add(key)
    return found


@pytest.mark.parametrize("status", [500, 502, 503])
def test_gateway_server_errors_degrade_then_recover(
    sqlite_db: DbUnderTest, sim: Simulator, status: int
) -> None:
    sim.gateway.fail_next(status=status, count=2)
    sim.gateway.add_message(from_=KNOWN, body="OUT")
    with running_engine(sqlite_db, sim) as engine:
        wait_until(drained(sqlite_db, 1), 20, "the text after the errors")
        assert gateway_state(engine) is LinkState.ONLINE
        assert engine.status().counters.errors >= 2


def test_gateway_down_goes_offline_and_comes_back(sqlite_db: DbUnderTest, sim: Simulator) -> None:
    sim.gateway.set_down(True)
    with running_engine(sqlite_db, sim) as engine:
        wait_until(lambda: gateway_state(engine) is LinkState.OFFLINE, 20, "offline")
        assert "503" in engine.status().gateway.detail
        sim.gateway.add_message(from_=KNOWN, body="OUT")
        sim.gateway.set_down(False)
        wait_until(lambda: gateway_state(engine) is LinkState.ONLINE, 20, "online again")
        wait_until(drained(sqlite_db, 1), 20, "the text")
        assert engine.status().gateway.last_ok is not None


def test_gateway_timeouts_are_retried(sqlite_db: DbUnderTest, sim: Simulator) -> None:
    sim.gateway.delay_next(3.0, count=1)
    sim.gateway.add_message(from_=KNOWN, body="OUT")
    with running_engine(sqlite_db, sim, gateway_timeout=0.5, poll_wait=0) as engine:
        wait_until(drained(sqlite_db, 1), 20, "the text after a time-out")
        assert engine.status().counters.errors >= 1


def test_gateway_429_is_honoured(sqlite_db: DbUnderTest, sim: Simulator) -> None:
    sim.gateway.throttle_next(retry_after=2, count=1)
    sim.gateway.add_message(from_=KNOWN, body="OUT")
    with running_engine(sqlite_db, sim) as engine:
        wait_until(lambda: sim.gateway.inbound_requests >= 1, 10, "the first poll")
        throttled_at = time.monotonic()
        wait_until(lambda: gateway_state(engine) is LinkState.DEGRADED, 5, "degraded")
        wait_until(drained(sqlite_db, 1), 20, "the text after the pause")
        assert time.monotonic() - throttled_at >= 1.5
        # The pause was a pause: no request in between.
        assert sim.gateway.inbound_requests <= 3


def test_a_body_that_is_not_json_is_transient(sqlite_db: DbUnderTest, sim: Simulator) -> None:
    sim.gateway.garbage_next(count=2)
    sim.gateway.add_message(from_=KNOWN, body="OUT")
    with running_engine(sqlite_db, sim) as engine:
        wait_until(drained(sqlite_db, 1), 20, "the text after garbage")
        assert engine.status().counters.errors >= 2
        assert counts(sqlite_db)["quarantined"] == 0


def test_a_revoked_gateway_token_stops_polling(sqlite_db: DbUnderTest, sim: Simulator) -> None:
    sim.gateway.token = "rotated"
    with running_engine(sqlite_db, sim, auth_retry_seconds=60) as engine:
        wait_until(lambda: gateway_state(engine) is LinkState.AUTH_ERROR, 10, "auth error")
        polls = sim.gateway.inbound_requests
        time.sleep(1.0)
        assert sim.gateway.inbound_requests == polls, "it kept hammering a refused token"
        assert "token" in engine.status().gateway.detail


@pytest.mark.parametrize("status", [500, 503])
def test_oms_errors_are_retried_under_the_same_key(
    db: DbUnderTest, sim: Simulator, status: int
) -> None:
    sim.oms.fail_next(status=status, count=3)
    sim.gateway.add_message(from_=KNOWN, body="OUT wire down")
    with running_engine(db, sim) as engine:
        wait_until(lambda: report_states(db) == {"forwarded": 1}, 30, "the ticket")
        wait_until(lambda: oms_state(engine) is LinkState.ONLINE, 5, "OMS online")
    assert len(sim.oms.requests) == 4
    assert [len(keys) for keys in keys_per_report(sim).values()] == [1]
    assert sim.oms.tickets_created == 1


def test_oms_timeouts_are_retried_without_a_second_ticket(
    sqlite_db: DbUnderTest, sim: Simulator
) -> None:
    # The OMS is slow but still opens the ticket: the retry must not open another.
    sim.oms.delay_next(1.5, count=1)
    sim.gateway.add_message(from_=KNOWN, body="OUT")
    with running_engine(sqlite_db, sim, oms_timeout=0.5):
        wait_until(lambda: report_states(sqlite_db) == {"forwarded": 1}, 30, "the ticket")
    assert sim.oms.tickets_created == 1
    assert [len(keys) for keys in keys_per_report(sim).values()] == [1]


@pytest.mark.parametrize("lanes", [1, 3])
def test_a_slow_oms_gets_as_many_requests_at_once_as_configured(
    sqlite_db: DbUnderTest, sim: Simulator, lanes: int
) -> None:
    # Every answer takes 0.3 s, so the forwarder fills each of its lanes and no more.
    sim.oms.delay_next(0.3, count=9)
    for n in range(9):
        sim.gateway.add_message(from_=KNOWN, body=f"OUT {n}")
    with running_engine(sqlite_db, sim, forward_concurrency=lanes):
        wait_until(lambda: report_states(sqlite_db) == {"forwarded": 9}, 30, "nine tickets")
    assert sim.oms.peak_in_flight == lanes
    assert sim.oms.tickets_created == 9


def test_oms_down_keeps_reports_queued_then_forwards(
    sqlite_db: DbUnderTest, sim: Simulator
) -> None:
    sim.oms.set_down(True)
    for n in range(5):
        sim.gateway.add_message(from_=KNOWN, body=f"OUT {n}")
    with running_engine(sqlite_db, sim) as engine:
        wait_until(lambda: oms_state(engine) is LinkState.OFFLINE, 20, "OMS offline")
        assert counts(sqlite_db)["pending_oms"] == 5
        assert set(report_states(sqlite_db)) <= {"queued", "retrying"}
        sim.oms.set_down(False)
        wait_until(lambda: report_states(sqlite_db) == {"forwarded": 5}, 30, "five tickets")
    assert sim.oms.tickets_created == 5


def test_oms_401_pauses_forwarding_and_keeps_everything_queued(
    db: DbUnderTest, sim: Simulator
) -> None:
    good_token = sim.oms.token
    sim.oms.token = "rotated"
    sim.gateway.add_message(from_=KNOWN, body="OUT")
    with running_engine(db, sim, auth_retry_seconds=0.3) as engine:
        wait_until(lambda: oms_state(engine) is LinkState.AUTH_ERROR, 20, "OMS auth error")
        assert report_states(db) == {"queued": 1}
        assert counts(db)["pending_oms"] == 1
        sim.oms.token = good_token
        wait_until(lambda: report_states(db) == {"forwarded": 1}, 30, "the ticket")


def test_number_not_found_marks_the_report_unlinked(db: DbUnderTest, sim: Simulator) -> None:
    sim.gateway.add_message(from_="+12085550150", body="OUT")
    with running_engine(db, sim):
        wait_until(lambda: report_states(db) == {"unlinked": 1}, 20, "unlinked")
    assert counts(db)["pending_oms"] == 0


def test_a_stop_that_coincides_with_a_wake_up_is_not_lost() -> None:
    # On Python 3.11 asyncio.wait_for swallows a cancellation that lands in the same loop
    # step as the event it waits for; the engine's idle waits must not.
    async def scenario() -> bool:
        event = asyncio.Event()
        waiter = asyncio.create_task(OutageEngine._wait_for(event, 5))
        await asyncio.sleep(0)
        event.set()
        waiter.cancel()
        try:
            await waiter
        except asyncio.CancelledError:
            return True
        return False

    assert asyncio.run(scenario())
