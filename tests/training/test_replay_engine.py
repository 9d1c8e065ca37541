"""Each shipped scenario replayed at 60× (fake clock) through the real engine and simulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from outagedesk.directory import import_directory_rows
from outagedesk.store.models import InboundMessage, Report
from outagedesk.training.environment import training_simulator
from outagedesk.training.replay import Replayer
from outagedesk.training.scenario import load_scenario, shipped_scenarios

from clocksupport import FakeClock
from dbsupport import DbUnderTest
from enginesupport import counts, running_engine, wait_until

SHIPPED = {path.stem: path for path in shipped_scenarios()}
# Fake seconds per step: 300 scenario seconds at 60×.
STEP = 5.0
# Sending thousands of reports to the loopback OMS takes minutes on a small machine: for the
# ice storm the test checks that every text is stored, not that every report reached the OMS.
FORWARD_CHECKED_UP_TO = 1000


@pytest.mark.parametrize("key", sorted(SHIPPED))
def test_each_shipped_scenario_replays_through_the_engine(
    db: DbUnderTest, key: str, tmp_path: Path
) -> None:
    scenario = load_scenario(SHIPPED[key])
    total = len(scenario.messages)
    offsets = [m.offset for m in scenario.messages]
    sim = training_simulator(scenario)
    sim.start()
    clock = FakeClock()
    replay = Replayer(scenario, sim, clock=clock)
    outage_checked = 0
    try:
        import_directory_rows(db.engine, scenario.directory, source="directory", actor="test")
        with running_engine(db, sim):
            replay.set_speed(60)
            replay.play()
            for _ in range(int(scenario.duration / (STEP * 60)) + 2):
                clock.advance(STEP)
                replay.wake()
                position = replay.state().position
                due = sum(1 for t in offsets if t <= position)
                down = any(start <= position < end for start, end in scenario.oms_down)
                wait_until(
                    lambda due=due, down=down: (  # type: ignore[misc]
                        replay.state().delivered == due and sim.oms._down == down
                    ),
                    10,
                    f"{due} texts delivered, the OMS {'down' if down else 'up'}",
                    replay.state,
                )
                if down:
                    # Reports reach the OMS only to be refused; no ticket is made meanwhile.
                    tickets = sim.oms.tickets_created
                    refused = sum(1 for _, _, status in sim.oms.requests if status == 503)
                    wait_until(
                        lambda refused=refused: (
                            sum(  # type: ignore[misc]
                                1 for _, _, status in sim.oms.requests if status == 503
                            )
                            > refused
                        ),
                        30,
                        "the engine trying the OMS while it is down",
                    )
                    assert sim.oms.tickets_created == tickets
                    outage_checked += 1
            wait_until(lambda: replay.state().finished, 10, "the end", replay.state)
            wait_until(
                lambda: counts(db)["messages"] == total, 60, "every text stored", lambda: counts(db)
            )
            if total <= FORWARD_CHECKED_UP_TO:
                # Replies to customers keep their own pace; the point here is the OMS.
                wait_until(
                    lambda: counts(db)["pending_oms"] == 0,
                    120,
                    "every report sent to the OMS",
                    lambda: counts(db),
                )
    finally:
        replay.close()
        sim.stop()
    assert counts(db)["quarantined"] == 0
    with db.sessions() as s:
        stored = s.execute(
            select(InboundMessage.gateway_message_id, InboundMessage.body).order_by(
                InboundMessage.gateway_message_id
            )
        ).all()
        stuck = s.scalar(
            select(func.count())
            .select_from(Report)
            .where(Report.state.in_(("queued", "retrying", "held")))
        )
    assert [body for _, body in stored] == [m.body for m in scenario.messages]
    assert [gid for gid, _ in stored] == [f"{key}-1-{i:05d}" for i in range(total)]
    if total <= FORWARD_CHECKED_UP_TO:
        assert stuck == 0
    assert not sim.oms._down
    if scenario.oms_down:
        assert outage_checked >= 1
        assert any(status == 503 for _, _, status in sim.oms.requests)
