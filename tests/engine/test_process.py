"""The engine in a child process: texts flow, commands cross, crashes heal, orphans leave."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from outagedesk.directory import import_directory_rows
from outagedesk.engine.events import ConnectionChanged, Event, LinkState, MessagesStored
from outagedesk.engine.process import EngineExited, EngineProcess
from outagedesk.ops.base import Actor, Role
from outagedesk.ops.links import link_phone
from outagedesk.sim import DirectoryRow, Simulator, TrafficMix
from outagedesk.store.models import InboundMessage

from dbsupport import DbUnderTest
from enginesupport import counts, drained, engine_config, report_states, wait_until

STRANGER = "+12085550150"  # in no directory: the OMS answers number_not_found
FARM = DirectoryRow("9001", "SL-9001-1", "M-90011", "Pat Farmer", "1 Barn Rd", (), False)


class Recorder:
    """Every event the parent's bus publishes, from the link thread."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: type[Any]) -> list[Any]:
        with self._lock:
            return [e for e in self.events if isinstance(e, kind)]


@contextmanager
def engine_process(
    db: DbUnderTest, sim: Simulator, **overrides: Any
) -> Iterator[tuple[EngineProcess, Recorder]]:
    config = engine_config(sim, single_desk=db.backend == "sqlite", **overrides)
    handle = EngineProcess(config, db.url, restart_cap=1.0)
    recorder = Recorder()
    handle.bus.subscribe(recorder)
    handle.start()
    try:
        yield handle, recorder
    finally:
        stopped = handle.stop(timeout=30)
    assert stopped, "the engine process did not stop"
    assert handle.exitcode == 0
    assert not handle.running


@pytest.fixture
def sim(db: DbUnderTest) -> Iterator[Simulator]:
    with Simulator(seed=5, directory_size=50, mix=TrafficMix(malformed=1)) as simulator:
        import_directory_rows(db.engine, [*simulator.directory, FARM])
        simulator.oms.add_known_account("9001")
        yield simulator


def test_texts_flow_through_the_child_and_its_events_and_logs_reach_the_parent(
    db: DbUnderTest, sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the child takes the parent's levels when it starts
    sim.traffic.feed(sim.gateway, 300)
    with engine_process(db, sim) as (handle, recorder):
        wait_until(drained(db, sim.gateway.messages_added), 60, "the texts", lambda: counts(db))
        with db.sessions() as s:
            stored = set(s.scalars(select(InboundMessage.id)).all())
        wait_until(
            lambda: {i for e in recorder.of(MessagesStored) for i in e.message_ids} == stored,
            10,
            "a MessagesStored event for every stored text",
        )
        wait_until(lambda: handle.status().counters.received == len(stored), 10, "the counters")
        status = handle.status()
        assert status.gateway.state == LinkState.ONLINE
        assert status.oms.state == LinkState.ONLINE
        assert handle.pid is not None
        assert handle.pid != os.getpid()
        child = handle.pid
        if hasattr(os, "SCHED_BATCH"):
            # Batch scheduling, for every thread the engine started: its wake-ups do not
            # pre-empt the window's GUI thread.
            threads = [int(t) for t in os.listdir(f"/proc/{child}/task")]
            assert len(threads) > 1
            assert {os.sched_getscheduler(t) for t in threads} == {os.SCHED_BATCH}
    assert sim.oms.tickets_created == counts(db)["reports"] - report_states(db).get("unlinked", 0)
    online = [e for e in recorder.of(ConnectionChanged) if e.state == LinkState.ONLINE]
    assert {e.component for e in online} == {"gateway", "oms"}
    from_child = [r for r in caplog.records if r.process == child]
    assert any(r.name == "outagedesk.engine.core" for r in from_child), "the child's log"
    assert handle.restarts == 0
    assert handle.error is None


def test_a_wake_crosses_the_process(db: DbUnderTest, sim: Simulator) -> None:
    # Unwoken, the forwarder would sleep for a minute with nothing due: only the wake sends.
    with engine_process(db, sim, forward_idle_wait=60.0) as (handle, _):
        sim.gateway.add_message(from_=STRANGER, body="OUT tree on line")
        wait_until(lambda: report_states(db) == {"unlinked": 1}, 20, "the OMS to refuse it")
        with db.sessions() as s:
            outcome = link_phone(
                s, Actor("jdoe", "desk-3", Role.DISPATCHER), STRANGER, "9001", "SL-9001-1"
            )
        assert len(outcome.resent) == 1
        handle.wake_forwarder()
        wait_until(lambda: report_states(db) == {"forwarded": 1}, 20, "the ticket after the wake")
    assert sim.oms.tickets_created == 1


def test_a_killed_child_is_replaced_and_nothing_is_lost(
    db: DbUnderTest, sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    sim.traffic.feed(sim.gateway, 3_000)
    with engine_process(db, sim, poll_limit=50) as (handle, recorder):
        wait_until(lambda: counts(db)["messages"] > 100, 60, "texts stored before the kill")
        first = handle.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        wait_until(
            lambda: any(
                e.state == LinkState.OFFLINE and "restarting" in e.detail
                for e in recorder.of(ConnectionChanged)
            ),
            5,
            "the window to be told the engine is down",
        )
        assert handle.status().gateway.state in (LinkState.OFFLINE, LinkState.STARTING)
        wait_until(lambda: handle.pid not in (None, first), 30, "a new engine process")
        assert counts(db)["messages"] < sim.gateway.messages_added, "killed mid-stream"
        wait_until(drained(db, sim.gateway.messages_added), 120, "the rest", lambda: counts(db))
        wait_until(lambda: handle.status().gateway.state == LinkState.ONLINE, 10, "online again")
    c = counts(db)
    assert c["messages"] + c["quarantined"] == sim.gateway.messages_added
    # One ticket per report at most, never two for one text.
    assert len(sim.oms.tickets) == len(set(sim.oms.tickets.values()))
    assert handle.restarts == 1
    assert isinstance(handle.error, EngineExited)
    assert f"exit code {-signal.SIGKILL}" in str(handle.error)
    assert any("restarting it" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")


ORPHANING_PARENT = """
import json, sys, time
from dataclasses import replace
from outagedesk.engine.core import EngineConfig
from outagedesk.engine.process import EngineProcess

setup = json.loads(sys.stdin.readline())
config = replace(EngineConfig(**setup["config"]), poll_wait=0.5, idle_interval=0.05)
handle = EngineProcess(config, setup["url"])
handle.start()
deadline = time.monotonic() + 30
while handle.pid is None and time.monotonic() < deadline:
    time.sleep(0.05)
print(handle.pid, flush=True)
time.sleep(60)
"""


def _gone(pid: int) -> bool:
    """No such process, or only its exit status is left (a zombie nobody reaped)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            state = next(line for line in f if line.startswith("State:"))
    except (FileNotFoundError, ProcessLookupError, StopIteration):
        return True
    return state.split()[1] in ("Z", "X")


def test_a_child_whose_parent_vanished_exits(sqlite_db: DbUnderTest, tmp_path: Path) -> None:
    with Simulator(seed=6, directory_size=10) as sim:
        setup = {
            "config": {
                "gateway_url": sim.gateway_url,
                "gateway_token": sim.gateway_token,
                "oms_url": sim.oms_url,
                "oms_token": sim.oms_token,
            },
            "url": sqlite_db.url,
        }
        with (
            (tmp_path / "parent.err").open("wb") as errors,
            subprocess.Popen(
                [sys.executable, "-c", ORPHANING_PARENT],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            ) as parent,
        ):
            watchdog = threading.Timer(60, parent.kill)  # a hung parent must not hang the test
            watchdog.start()
            try:
                assert parent.stdin is not None
                assert parent.stdout is not None
                parent.stdin.write(json.dumps(setup) + "\n")  # tokens on a pipe, never in argv
                parent.stdin.flush()
                child = int(parent.stdout.readline())
                wait_until(lambda: sim.gateway.inbound_requests > 0, 30, "the child to poll")
                parent.send_signal(signal.SIGKILL)
                parent.wait(10)
                wait_until(lambda: _gone(child), 15, f"the orphaned engine process {child} to exit")
            finally:
                watchdog.cancel()
                if parent.poll() is None:
                    parent.kill()
