"""A monotonic clock the test moves by hand, safe to read from the replay thread."""

from __future__ import annotations

import threading


class FakeClock:
    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
