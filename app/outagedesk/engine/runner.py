"""Runs an engine on an asyncio loop in a thread of its own, beside a window or a test."""

from __future__ import annotations

import asyncio
import logging
import threading

from outagedesk.engine.core import OutageEngine

log = logging.getLogger(__name__)


class EngineThread:
    """``start()`` returns at once; ``stop()`` waits for the current transaction to finish."""

    def __init__(self, engine: OutageEngine) -> None:
        self.engine = engine
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="outagedesk-engine", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _main(self) -> None:
        try:
            asyncio.run(self.engine.run())
        except BaseException as exc:  # reported to the owner, who decides what to show
            self.error = exc
            log.exception("the engine stopped with an error")

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop and join; returns False if the thread is still running after ``timeout``."""
        self.engine.stop()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()
