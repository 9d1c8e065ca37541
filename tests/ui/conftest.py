"""The real window against a real simulator on loopback, a fresh SQLite file and a real engine.

Every fixture cleans up after itself (engine thread, simulator, database, window), because the
suite runs with ``filterwarnings = error`` and ``qt_log_level_fail = WARNING``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from outagedesk.config import Settings
from outagedesk.directory import import_directory_rows
from outagedesk.ops.base import Actor
from outagedesk.runtime import engine_config, open_database
from outagedesk.sim import Simulator, TrafficMix
from outagedesk.ui.backend import Backend, engine_runner
from outagedesk.ui.main_window import MainWindow
from ui.uisupport import close_window, our_threads

# Fast retries and short long-polls keep the tests quick; nothing else differs from production.
FAST: dict[str, Any] = {
    "poll_wait": 0.5,
    "idle_interval": 0.05,
    "backoff_cap": 0.3,
    "auth_retry_seconds": 0.5,
    "oms_timeout": 2.0,
    "gateway_timeout": 2.0,
}


# The offscreen platform cannot size windows and says so on every top-level resize.
OFFSCREEN_NOISE = "This plugin does not support propagateSizeHints"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.qt_log_ignore(OFFSCREEN_NOISE))


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = Simulator(seed=3, directory_size=40, mix=TrafficMix(malformed=0))
    simulator.start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def linked_phone(sim: Simulator) -> str:
    """A directory phone the simulated OMS also knows: its texts get a ticket."""
    unknown = set(sim.oms_unknown_phones)
    return next(p for row in sim.directory for p in row.phones if p not in unknown)


@pytest.fixture
def make_backend(tmp_path: Path, sim: Simulator) -> Iterator[Callable[[], Backend]]:
    made: list[Backend] = []

    def make(*, engine_in_process: bool = False) -> Backend:
        data = tmp_path / f"data{len(made)}"
        settings = Settings(
            data_dir=data,
            config_file=data / "settings.toml",
            gateway_url=sim.gateway_url,
            gateway_token=sim.gateway_token,
            oms_url=sim.oms_url,
            oms_token=sim.oms_token,
            desk="test-desk",
        )
        db = open_database(settings)
        if not made:
            import_directory_rows(db.engine, sim.directory, source="directory", actor="test")
        config = dataclasses.replace(engine_config(settings), **FAST)
        # A thread keeps each window test quick; the child process the window runs by
        # default has tests of its own.
        backend = Backend(settings, db, engine_runner(config, db, in_process=engine_in_process))
        made.append(backend)
        return backend

    yield make
    for backend in made:
        if backend.engine is not None and backend.engine.running:
            backend.stop()


@pytest.fixture
def open_window(
    qtbot: QtBot, tmp_path: Path, make_backend: Callable[[], Backend]
) -> Iterator[Callable[..., MainWindow]]:
    windows: list[MainWindow] = []

    def open_(
        backend: Backend | None = None,
        state_file: Path | None = None,
        actor: Actor | None = None,
    ) -> MainWindow:
        backend = backend or make_backend()
        window = MainWindow(
            backend, state_file=state_file or tmp_path / "window-state.ini", actor=actor
        )
        windows.append(window)
        window.show()
        backend.start()
        qtbot.waitUntil(
            lambda: window.model.query is not None and not window.model.busy, timeout=10_000
        )
        return window

    yield open_
    for window in windows:
        close_window(qtbot, window)
    deadline = time.monotonic() + 10
    while our_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert our_threads() == [], "threads left behind"


@pytest.fixture
def window(open_window: Callable[..., MainWindow]) -> MainWindow:
    return open_window()


@pytest.fixture
def qloop(qapp: QApplication) -> Iterator[asyncio.AbstractEventLoop]:
    """A qasync loop, as the application runs (screens that ask the gateway use it)."""
    import qasync

    quit_on_close = qapp.quitOnLastWindowClosed()
    qapp.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(qapp)
    try:
        yield loop
    finally:
        # Widgets the test closed still have their deleteLater queued: delete them here, on
        # the GUI thread, before a later garbage collection frees them on a worker thread.
        qapp.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        loop.close()
        asyncio.set_event_loop(None)
        # qasync's timer object keeps the Qt timers of cancelled handles (a wait_for, httpx's
        # timeouts) until they fire; delete it here, on its own thread, not later in a GC pass
        # on some other thread ("Timers cannot be stopped from another thread").
        timer = getattr(loop, "_timer", None)
        if timer is not None and shiboken6.isValid(timer):
            shiboken6.delete(timer)
        qapp.setQuitOnLastWindowClosed(quit_on_close)
