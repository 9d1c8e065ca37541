"""Retry pacing shared by the poller and both outboxes."""

from __future__ import annotations

import random


def backoff_delay(attempts: int, *, base: float = 1.0, cap: float = 60.0) -> float:
    """Exponential backoff with jitter: desks that failed together do not retry together."""
    ceiling = min(cap, base * (2 ** min(attempts, 16)))
    return random.uniform(ceiling / 2, ceiling)
