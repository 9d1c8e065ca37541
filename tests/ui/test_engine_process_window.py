"""The window with the engine in a child process, as it runs by default: a crash shows, heals,
and Ctrl+Q still ends the engine cleanly."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

from PySide6.QtGui import QAction
from pytestqt.qtbot import QtBot

from outagedesk.engine.events import LinkState
from outagedesk.engine.process import EngineProcess
from outagedesk.sim import Simulator
from outagedesk.ui.backend import Backend
from outagedesk.ui.feed_model import C_TEXT
from outagedesk.ui.main_window import MainWindow

WAIT = 30_000


def shows(window: MainWindow, text: str) -> bool:
    m = window.model
    return any(m.row_tuple(i)[C_TEXT] == text for i in range(m.rowCount()))


def test_the_window_follows_an_engine_process_through_a_crash(
    qtbot: QtBot,
    open_window: Callable[..., MainWindow],
    make_backend: Callable[..., Backend],
    sim: Simulator,
    linked_phone: str,
) -> None:
    backend = make_backend(engine_in_process=True)
    engine = backend.engine
    assert isinstance(engine, EngineProcess)
    window = open_window(backend)
    sim.gateway.add_message(from_=linked_phone, body="OUT before the crash")
    qtbot.waitUntil(lambda: shows(window, "OUT before the crash"), timeout=WAIT)
    qtbot.waitUntil(lambda: window.status_gateway.state == LinkState.ONLINE, timeout=WAIT)
    first = engine.pid
    assert first is not None

    os.kill(first, signal.SIGKILL)
    qtbot.waitUntil(lambda: window.status_gateway.state == LinkState.OFFLINE, timeout=5_000)
    assert "restarting" in window.status_gateway.link.detail
    assert window.status_oms.state == LinkState.OFFLINE
    assert window.banner.isVisible()
    # The banner blames the engine, not the gateway or the OMS.
    qtbot.waitUntil(lambda: "engine process ended" in window.banner.label.text(), timeout=5_000)
    assert "Gateway OFFLINE" not in window.banner.label.text()

    qtbot.waitUntil(lambda: engine.pid not in (None, first), timeout=WAIT)
    sim.gateway.add_message(from_=linked_phone, body="OUT after the crash")
    qtbot.waitUntil(lambda: shows(window, "OUT after the crash"), timeout=WAIT)
    qtbot.waitUntil(lambda: window.status_gateway.state == LinkState.ONLINE, timeout=WAIT)
    qtbot.waitUntil(lambda: not window.banner.isVisible(), timeout=WAIT)
    assert engine.restarts == 1

    quit_action = window.findChild(QAction, "actionQuit")
    assert quit_action is not None
    with qtbot.waitSignal(window.shutdownFinished, timeout=WAIT):
        quit_action.trigger()
    assert not engine.running
    assert engine.exitcode == 0
