"""Runs an engine on an asyncio loop in a thread of its own, beside a window or a test.

:class:`EngineHandle` is what a window needs from a running engine; the thread here and the
child process of :mod:`outagedesk.engine.process` both provide it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Protocol

from outagedesk.engine.core import EngineConfig, EngineStatus, OutageEngine
from outagedesk.engine.events import EventBus

log = logging.getLogger(__name__)


class EngineHandle(Protocol):
    """A running engine seen from its owner; every method is safe from any thread."""

    @property
    def bus(self) -> EventBus: ...

    @property
    def config(self) -> EngineConfig: ...

    @property
    def running(self) -> bool: ...

    @property
    def error(self) -> BaseException | None: ...

    def start(self) -> None: ...

    def stop(self, timeout: float = 30.0) -> bool: ...

    def status(self) -> EngineStatus: ...

    def wake_forwarder(self) -> None: ...


class EngineThread:
    """``start()`` returns at once; ``stop()`` waits for the current transaction to finish."""

    def __init__(self, engine: OutageEngine) -> None:
        self.engine = engine
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="outagedesk-engine", daemon=True)

    @property
    def bus(self) -> EventBus:
        return self.engine.bus

    @property
    def config(self) -> EngineConfig:
        return self.engine.config

    def status(self) -> EngineStatus:
        return self.engine.status()

    def wake_forwarder(self) -> None:
        self.engine.wake_forwarder()

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
