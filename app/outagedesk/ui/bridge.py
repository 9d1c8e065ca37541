"""Engine events (published on the engine's thread, or on the thread relaying the engine
process) turned into queued Qt signals."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from outagedesk.engine.events import (
    ConnectionChanged,
    Event,
    EventBus,
    MessagesStored,
    ReportsChanged,
)


class EngineBridge(QObject):
    """Lives on the GUI thread; its signals are emitted from the engine thread and reach
    receivers living on the GUI thread as queued calls. No widget is touched here."""

    connectionChanged = Signal(object)
    messagesStored = Signal(object)
    reportsChanged = Signal(object)

    def __init__(self, bus: EventBus | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._unsubscribe = bus.subscribe(self._on_event) if bus is not None else None

    def _on_event(self, event: Event) -> None:  # engine or relay thread
        if isinstance(event, MessagesStored):
            self.messagesStored.emit(event)
        elif isinstance(event, ReportsChanged):
            self.reportsChanged.emit(event)
        elif isinstance(event, ConnectionChanged):
            self.connectionChanged.emit(event)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
