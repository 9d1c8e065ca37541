"""Replaying a scenario's texts into the simulated gateway on the scenario clock.

The scenario clock runs at ``speed`` × real time while playing and stops at the scenario's
duration. A text is due once the clock reaches its offset; it reaches the gateway stamped with
the wall time of delivery, under the id ``<scenario key>-<run>-<index>``. Nothing is delivered
before the first play (or seek) of a run.

- seek forward: the texts skipped over are delivered at once, in order;
- seek backward: the texts after the new position are delivered again, under a new run number
  (gateway ids must stay unique); the run's start time, which the debrief counts from, stays;
- restart: a new run from 0, playing if it was; its wall-clock start is recorded for the
  debrief.

The OMS is set down and up as the clock crosses the scenario's OMS outages, also when seeking
across them. Playing at the end does nothing: restart, or seek back.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

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


def _this_second() -> datetime:
    # Gateways stamp texts to the second: a text of this run may carry this very second.
    return datetime.now(UTC).replace(microsecond=0)


class Replayer:
    """Thread-safe; delivers from its own daemon thread, which sleeps between due texts."""

    # Texts delivered per turn of the thread, so that state() never waits long for the lock.
    BATCH = 200

    def __init__(
        self, scenario: Scenario, sim: Simulator, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._scenario = scenario
        self._sim = sim
        self._clock = clock
        self._offsets = [m.offset for m in scenario.messages]
        self._boundaries = sorted({t for span in scenario.oms_down for t in span})
        self._cond = threading.Condition()
        self._position = 0.0
        self._anchor = clock()
        self._speed = MIN_SPEED
        self._playing = False
        # Nothing is due before the first play or seek of a run, not even the texts at 0 s.
        self._started = False
        self._next = 0
        self._run = 1
        self._run_started = _this_second()
        self._oms_down = False
        self._closed = False
        self._thread = threading.Thread(
            target=self._deliver_loop, name=f"replay-{scenario.key}", daemon=True
        )
        self._thread.start()

    @property
    def scenario(self) -> Scenario:
        return self._scenario

    @property
    def run_started(self) -> datetime:
        """Wall-clock (UTC) start of the current run: the debrief counts reports since then."""
        with self._cond:
            return self._run_started

    # -- controls ------------------------------------------------------------------------------
    def play(self) -> None:
        with self._cond:
            self._rebase()
            self._playing = not self._at_end()
            self._started = True
            self._cond.notify_all()

    def pause(self) -> None:
        with self._cond:
            self._rebase()
            self._playing = False
            self._cond.notify_all()

    def set_speed(self, speed: float) -> None:
        """1 ≤ speed ≤ 60, else ValueError."""
        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise ValueError(f"speed must be from {MIN_SPEED:g}× to {MAX_SPEED:g}×, not {speed!r}")
        with self._cond:
            self._rebase()
            self._speed = float(speed)
            self._cond.notify_all()

    def restart(self) -> None:
        with self._cond:
            self._run += 1
            self._run_started = _this_second()
            self._position = 0.0
            self._anchor = self._clock()
            self._next = 0
            self._started = self._playing
            self._cond.notify_all()

    def seek(self, position: float) -> None:
        """Move the scenario clock to ``position`` (clamped to 0..duration)."""
        if position != position:  # NaN
            raise ValueError("cannot seek to NaN")
        target = min(max(0.0, float(position)), self._scenario.duration)
        with self._cond:
            self._rebase()
            self._position = target
            self._started = True
            due = bisect.bisect_right(self._offsets, target)
            if due < self._next:
                self._run += 1
                self._next = due
            if self._at_end():
                self._playing = False
            self._cond.notify_all()

    def wake(self) -> None:
        """Re-read the clock now (tests that drive a fake clock call this after advancing it)."""
        with self._cond:
            self._cond.notify_all()

    def state(self) -> ReplayState:
        with self._cond:
            return ReplayState(
                position=self._now(),
                duration=self._scenario.duration,
                speed=self._speed,
                playing=self._playing,
                finished=self._at_end(),
                delivered=self._next,
                total=len(self._offsets),
                run=self._run,
                oms_down=self._oms_down,
            )

    def close(self) -> None:
        """Stop delivering (the thread ends within one batch); idempotent."""
        with self._cond:
            self._closed = True
            self._playing = False
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(5.0)

    # -- internals (the caller holds the lock) ---------------------------------------------------
    def _now(self) -> float:
        if not self._playing:
            return self._position
        elapsed = max(0.0, self._clock() - self._anchor)
        return min(self._scenario.duration, self._position + elapsed * self._speed)

    def _rebase(self) -> None:
        self._position = self._now()
        self._anchor = self._clock()

    def _at_end(self) -> bool:
        return self._now() >= self._scenario.duration and self._next >= len(self._offsets)

    def _oms_should_be_down(self, position: float) -> bool:
        return any(start <= position < end for start, end in self._scenario.oms_down)

    def _seconds_to_next_event(self, position: float) -> float:
        events = [self._scenario.duration]
        if self._next < len(self._offsets):
            events.append(self._offsets[self._next])
        later = bisect.bisect_right(self._boundaries, position)
        if later < len(self._boundaries):
            events.append(self._boundaries[later])
        # Scenario seconds to wall seconds; never less than 1 ms, so a stalled clock cannot spin.
        return max(0.001, (min(events) - position) / self._speed)

    def _deliver_loop(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                position = self._now()
                down = self._oms_should_be_down(position)
                if down != self._oms_down:
                    self._sim.oms.set_down(down)
                    self._oms_down = down
                due = bisect.bisect_right(self._offsets, position) if self._started else 0
                stop = min(due, self._next + self.BATCH)
                key, run = self._scenario.key, self._run
                for index in range(self._next, stop):
                    message = self._scenario.messages[index]
                    self._sim.gateway.add_message(
                        id=f"{key}-{run}-{index:05d}",
                        from_=message.sender,
                        body=message.body,
                        received_at=datetime.now(UTC),
                    )
                self._next = max(self._next, stop)
                if due > self._next:
                    continue  # more texts are due: next batch after letting others in
                if self._playing and self._at_end():
                    self._rebase()
                    self._playing = False
                if self._playing:
                    self._cond.wait(self._seconds_to_next_event(position))
                else:
                    self._cond.wait()
