"""Database reads for the window, on one worker thread; answers come back on the GUI thread.

The GUI thread never touches the database. ``DbWorker.submit(fn, on_result)`` runs
``fn(session)`` on the worker and calls ``on_result(value)`` on the GUI thread through a queued
signal. On SQLite the worker reads through an engine of its own that opens *deferred* read
transactions (the shared engine starts every transaction with ``BEGIN IMMEDIATE``, which would
make every read queue behind the engine's writes and block them in turn).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Qt, Signal
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from outagedesk.store.db import make_reader_engine

log = logging.getLogger(__name__)

T = TypeVar("T")


def reader_engine(engine: Engine) -> tuple[Engine, bool]:
    """An engine for reads next to ``engine``; True when it is ours to dispose."""
    return make_reader_engine(engine)


class DbWorker(QObject):
    """One thread for every read the window makes; results are delivered in order."""

    failed = Signal(str)
    _finished = Signal(object)

    def __init__(self, engine: Engine, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._engine, self._own_engine = reader_engine(engine)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="outagedesk-ui-db")
        self._closed = threading.Event()
        self._pending = 0
        self._finished.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    @property
    def pending(self) -> int:
        """Jobs submitted whose answer has not been delivered yet."""
        return self._pending

    def submit(
        self,
        fn: Callable[[Session], T],
        on_result: Callable[[T], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        if self._closed.is_set():
            return
        self._pending += 1
        self._pool.submit(self._run, fn, on_result, on_error)

    def call(self, fn: Callable[[Session], T]) -> Future[T]:
        """For coroutines: ``await asyncio.wrap_future(worker.call(fn))``."""
        return self._pool.submit(self._read, fn)

    def _read(self, fn: Callable[[Session], T]) -> T:
        with self._sessions() as session:
            return fn(session)

    def _run(
        self,
        fn: Callable[[Session], Any],
        on_result: Callable[[Any], None] | None,
        on_error: Callable[[BaseException], None] | None,
    ) -> None:
        try:
            value = self._read(fn)
        except Exception as exc:
            log.exception("a database read for the window failed")
            payload: tuple[Any, ...] = (False, exc, on_result, on_error)
        else:
            payload = (True, value, on_result, on_error)
        if not self._closed.is_set():
            self._finished.emit(payload)

    def _deliver(self, payload: tuple[Any, ...]) -> None:
        self._pending -= 1
        if self._closed.is_set():
            return
        ok, value, on_result, on_error = payload
        if ok:
            if on_result is not None:
                on_result(value)
        elif on_error is not None:
            on_error(value)
        else:
            self.failed.emit(f"Reading the database failed: {str(value).splitlines()[0]}")

    def shutdown(self) -> None:
        """Finish the running read, drop the queued ones; safe from any thread."""
        self._closed.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._own_engine:
            self._engine.dispose()
