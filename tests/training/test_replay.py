"""Replay controls on a fake clock: play, pause, speed, seek both ways, restart, OMS outages."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from outagedesk.sim import Simulator
from outagedesk.training.replay import Replayer, ReplayState
from outagedesk.training.scenario import Scenario, parse_scenario

from clocksupport import FakeClock
from enginesupport import wait_until

SCRIPT = (
    """
title = "Replay"
duration = 100
[[directory.rows]]
account_number = "9001"
service_location_id = "SL-9001-1"
customer_name = "Ana Example"
service_address = "1 Main St"
phones = ["+15055550101"]
life_support = false
"""
    + "".join(
        f'[[messages]]\nat = {at}\nfrom = "directory:0"\ntext = "OUT {i}"\n'
        for i, at in enumerate([0, 10, 20, 30, 40, 50, 60, 70, 80, 90])
    )
    + "[[oms_down]]\nstart = 25\nend = 45\n"
)


@pytest.fixture
def scenario() -> Scenario:
    return parse_scenario(SCRIPT, Path("replay.toml"))


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = Simulator(directory_size=0)
    yield simulator
    simulator.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def replayer(scenario: Scenario, sim: Simulator, clock: FakeClock) -> Iterator[Replayer]:
    replay = Replayer(scenario, sim, clock=clock)
    yield replay
    replay.close()


def ids(sim: Simulator) -> list[str]:
    return [m["id"] for m in sim.gateway.messages]


def settle(replayer: Replayer, sim: Simulator, delivered: int) -> ReplayState:
    replayer.wake()
    wait_until(
        lambda: replayer.state().delivered == delivered and sim.gateway.messages_added >= delivered,
        5,
        f"{delivered} texts delivered",
        replayer.state,
    )
    return replayer.state()


def test_nothing_is_delivered_until_play(
    replayer: Replayer, sim: Simulator, clock: FakeClock
) -> None:
    clock.advance(50)
    replayer.wake()
    state = replayer.state()
    assert (state.position, state.playing, state.delivered, state.total) == (0, False, 0, 10)
    assert sim.gateway.messages_added == 0


def test_texts_arrive_on_the_scenario_clock_at_the_chosen_speed(
    replayer: Replayer, sim: Simulator, clock: FakeClock
) -> None:
    replayer.play()
    settle(replayer, sim, 1)  # the text at 0 s is due at once
    replayer.set_speed(10)
    clock.advance(2.5)  # 25 scenario seconds
    state = settle(replayer, sim, 3)
    assert state.position == pytest.approx(25)
    assert ids(sim) == ["replay-1-00000", "replay-1-00001", "replay-1-00002"]
    assert [m["body"] for m in sim.gateway.messages] == ["OUT 0", "OUT 1", "OUT 2"]
    replayer.pause()
    clock.advance(100)
    state = settle(replayer, sim, 3)
    assert state.position == pytest.approx(25)
    assert not state.playing


def test_speed_is_bounded(replayer: Replayer) -> None:
    for wrong in (0.5, 61, -1, float("nan")):
        with pytest.raises(ValueError, match="speed must be from 1× to 60×"):
            replayer.set_speed(wrong)
    replayer.set_speed(60)
    assert replayer.state().speed == 60


def test_seeking_forward_delivers_what_was_skipped_at_once(
    replayer: Replayer, sim: Simulator
) -> None:
    replayer.seek(55)
    state = settle(replayer, sim, 6)
    assert state.position == 55
    assert not state.playing  # seeking does not start the replay
    assert ids(sim)[-1] == "replay-1-00005"


def test_seeking_back_delivers_again_under_a_new_run(replayer: Replayer, sim: Simulator) -> None:
    started = replayer.run_started
    replayer.seek(35)
    settle(replayer, sim, 4)
    replayer.seek(15)
    state = settle(replayer, sim, 2)
    assert state.run == 2
    replayer.seek(35)
    settle(replayer, sim, 4)
    assert ids(sim) == [
        "replay-1-00000",
        "replay-1-00001",
        "replay-1-00002",
        "replay-1-00003",
        "replay-2-00002",
        "replay-2-00003",
    ]
    assert replayer.run_started == started


def test_restart_is_a_new_run_from_zero(
    replayer: Replayer, sim: Simulator, clock: FakeClock
) -> None:
    started = replayer.run_started
    replayer.set_speed(60)
    replayer.play()
    clock.advance(2)  # 120 s: past the end
    state = settle(replayer, sim, 10)
    wait_until(lambda: replayer.state().finished, 5, "the end", replayer.state)
    state = replayer.state()
    assert (state.position, state.playing, state.finished) == (100, False, True)
    replayer.play()  # at the end, play does nothing
    assert not replayer.state().playing
    replayer.restart()
    state = settle(replayer, sim, 0)
    assert (state.run, state.position, state.finished) == (2, 0, False)
    # To the second, as gateways stamp texts.
    assert started <= replayer.run_started <= datetime.now(UTC)
    assert replayer.run_started.microsecond == 0
    replayer.play()
    settle(replayer, sim, 1)
    assert ids(sim)[-1] == "replay-2-00000"
    assert sim.gateway.messages_added == 11


def test_the_oms_goes_down_and_up_with_the_scenario_clock(
    replayer: Replayer, sim: Simulator, clock: FakeClock
) -> None:
    def down() -> bool:
        return sim.oms._down

    replayer.set_speed(10)
    replayer.play()
    clock.advance(3)  # 30 s: inside 25..45
    settle(replayer, sim, 4)
    wait_until(down, 5, "the OMS down")
    assert replayer.state().oms_down
    clock.advance(2)  # 50 s
    settle(replayer, sim, 6)
    wait_until(lambda: not down(), 5, "the OMS up again")
    replayer.seek(40)  # back into the outage
    wait_until(down, 5, "the OMS down after seeking into the outage")
    replayer.seek(90)  # across its end
    wait_until(lambda: not down(), 5, "the OMS up after seeking past the outage")


def test_close_stops_the_thread(scenario: Scenario, sim: Simulator, clock: FakeClock) -> None:
    replay = Replayer(scenario, sim, clock=clock)
    replay.play()
    replay.close()
    replay.close()
    assert not replay._thread.is_alive()
    clock.advance(100)
    replay.wake()
    assert sim.gateway.messages_added <= 1


def test_any_sequence_of_controls_keeps_gateway_ids_unique(
    replayer: Replayer, sim: Simulator, clock: FakeClock, scenario: Scenario
) -> None:
    rng = random.Random(42)
    for _ in range(300):
        action = rng.randrange(6)
        if action == 0:
            replayer.play()
        elif action == 1:
            replayer.pause()
        elif action == 2:
            replayer.set_speed(rng.choice([1, 2, 10, 60]))
        elif action == 3:
            replayer.seek(rng.uniform(-10, 120))
        elif action == 4:
            replayer.restart()
        else:
            clock.advance(rng.uniform(0, 3))
            replayer.wake()
    replayer.seek(scenario.duration)
    wait_until(lambda: replayer.state().finished, 5, "the end", replayer.state)
    messages = sim.gateway.messages
    ids = [m["id"] for m in messages]
    assert len(ids) == len(set(ids))
    for message in messages:
        key, run, index = message["id"].rsplit("-", 2)
        assert key == "replay"
        assert int(run) >= 1
        assert message["body"] == scenario.messages[int(index)].body
    # Within a run, texts go out in the scenario's order.
    last: dict[str, int] = {}
    for message in messages:
        _, run, index = message["id"].rsplit("-", 2)
        assert int(index) > last.get(run, -1)
        last[run] = int(index)
