"""Running a real engine against the loopback simulator, with bounded waits."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from sqlalchemy import func, select

from outagedesk.engine.core import EngineConfig, OutageEngine
from outagedesk.engine.runner import EngineThread
from outagedesk.sim import Simulator
from outagedesk.store.models import InboundMessage, OutboxTask, QuarantinedMessage, Report

from dbsupport import DbUnderTest

FAST = dict(
    poll_wait=1.0,
    idle_interval=0.05,
    backoff_cap=0.5,
    auth_retry_seconds=0.5,
    gateway_timeout=2.0,
    oms_timeout=2.0,
)


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    what: str,
    state: Callable[[], object] | None = None,
) -> None:
    """Poll ``predicate``; on time-out say what was awaited and, if given, the state seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    seen = f"; last seen: {state()}" if state else ""
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{seen}")


def engine_config(sim: Simulator, **overrides: Any) -> EngineConfig:
    config = EngineConfig(
        gateway_url=sim.gateway_url,
        gateway_token=sim.gateway_token,
        oms_url=sim.oms_url,
        oms_token=sim.oms_token,
        taken_by="test-desk/auto",
    )
    return replace(config, **{**FAST, **overrides})


@contextmanager
def running_engine(db: DbUnderTest, sim: Simulator, **overrides: Any) -> Iterator[OutageEngine]:
    engine = OutageEngine(
        engine_config(sim, single_desk=db.backend == "sqlite", **overrides), db.sessions
    )
    thread = EngineThread(engine)
    thread.start()
    try:
        yield engine
    finally:
        assert thread.stop(timeout=30), "the engine did not stop"
        assert thread.error is None, thread.error


def counts(db: DbUnderTest) -> dict[str, int]:
    with db.sessions() as s:
        return {
            "messages": s.scalar(select(func.count()).select_from(InboundMessage)) or 0,
            "quarantined": s.scalar(select(func.count()).select_from(QuarantinedMessage)) or 0,
            "reports": s.scalar(select(func.count()).select_from(Report)) or 0,
            "pending": s.scalar(
                select(func.count()).select_from(OutboxTask).where(OutboxTask.done.is_(False))
            )
            or 0,
            # Deliveries to the OMS alone (replies to customers have their own pace).
            "pending_oms": s.scalar(
                select(func.count())
                .select_from(OutboxTask)
                .where(OutboxTask.done.is_(False), OutboxTask.kind == "oms")
            )
            or 0,
        }


def drained(db: DbUnderTest, expected_entries: int) -> Callable[[], bool]:
    """True once every gateway entry is stored or quarantined and the outbox is empty."""

    def check() -> bool:
        c = counts(db)
        return c["messages"] + c["quarantined"] >= expected_entries and c["pending"] == 0

    return check


def report_states(db: DbUnderTest) -> dict[str, int]:
    with db.sessions() as s:
        return dict(s.execute(select(Report.state, func.count()).group_by(Report.state)).all())
