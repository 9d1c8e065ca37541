"""Replaying a scenario's texts into the simulated gateway on the scenario clock.

The scenario clock runs at ``speed`` × real time while playing. Seeking forward delivers the
texts skipped over at once; seeking backward delivers the texts after the new position again
under a new run number (gateway ids must stay unique); restarting starts a new run at 0 and
records its wall-clock start for the debrief. The OMS is set down and up as the clock crosses
the scenario's OMS outages, also when seeking across them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from outagedesk.sim.simulator import Simulator
from outagedesk.training.scenario import Scenario

MIN_SPEED = 1.0
MAX_SPEED = 60.0


@dataclass(frozen=True, slots=True)
class ReplayState:
    position: float
    """Scenario clock, seconds."""
    duration: float
    speed: float
    playing: bool
    finished: bool
    delivered: int
    """Texts delivered in the current pass (seeking back lowers it)."""
    total: int
    run: int
    oms_down: bool = False


class Replayer:
    """Thread-safe; delivers from its own daemon thread, which sleeps between due texts."""

    def __init__(
        self, scenario: Scenario, sim: Simulator, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        raise NotImplementedError

    @property
    def run_started(self) -> datetime:
        """Wall-clock (UTC) start of the current run: the debrief counts reports since then."""
        raise NotImplementedError

    def play(self) -> None:
        raise NotImplementedError

    def pause(self) -> None:
        raise NotImplementedError

    def set_speed(self, speed: float) -> None:
        """1 ≤ speed ≤ 60, else ValueError."""
        raise NotImplementedError

    def restart(self) -> None:
        raise NotImplementedError

    def seek(self, position: float) -> None:
        raise NotImplementedError

    def wake(self) -> None:
        """Re-read the clock now (tests that drive a fake clock call this after advancing it)."""
        raise NotImplementedError

    def state(self) -> ReplayState:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError
