"""Plain-Python events the engine publishes; the UI adapts them to Qt signals."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

log = logging.getLogger(__name__)


class LinkState(StrEnum):
    STARTING = "starting"
    ONLINE = "online"
    DEGRADED = "degraded"
    OFFLINE = "offline"
    AUTH_ERROR = "auth_error"


@dataclass(frozen=True, slots=True)
class ConnectionChanged:
    component: str
    """``gateway`` or ``oms``."""
    state: LinkState
    detail: str
    last_ok: datetime | None


@dataclass(frozen=True, slots=True)
class MessagesStored:
    message_ids: tuple[int, ...]
    report_ids: tuple[int, ...]
    quarantined: int
    unlinked: int


@dataclass(frozen=True, slots=True)
class ReportsChanged:
    report_ids: tuple[int, ...]


Event = ConnectionChanged | MessagesStored | ReportsChanged
Listener = Callable[[Event], None]


class EventBus:
    """Calls listeners on the publisher's thread; a listener that fails is logged, not fatal."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def publish(self, event: Event) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                log.exception("event listener failed on %s", type(event).__name__)
