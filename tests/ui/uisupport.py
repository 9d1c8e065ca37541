"""Helpers the UI tests share (conftest.py is not importable: tests/conftest.py shadows it)."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import shiboken6
from pytestqt.qtbot import QtBot

from outagedesk.ui.main_window import MainWindow

OUR_THREADS = ("outagedesk-engine", "outagedesk-db", "outagedesk-ui-db", "outagedesk-ui-stop")
UNLINKED = "+12085550150"
"""A number in no directory (the simulator keeps area code 208 for those)."""


def our_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(OUR_THREADS)]


def close_window(qtbot: QtBot, window: MainWindow) -> None:
    if not shiboken6.isValid(window):
        return
    if not window.stopped:
        window.close()
        qtbot.waitUntil(lambda: window.stopped, timeout=30_000)
    window.deleteLater()
    qtbot.wait(10)


def wait_for_text(path: Path, pattern: str, timeout: float) -> str:
    """The text of ``path`` once ``pattern`` appears in it (a child process's log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            text = path.read_text(encoding="utf-8", errors="replace")
            if re.search(pattern, text):
                return text
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} never appeared in {path}")


def signal_once_logged(
    proc: subprocess.Popen[str],
    log: Path,
    waits: Sequence[tuple[str, float]],
    sig: signal.Signals = signal.SIGTERM,
) -> tuple[str, str]:
    """Wait for each (pattern, seconds) in the child's log, send ``sig``, wait for the child
    to end; returns its log and its stderr. A child still running on failure is killed."""
    try:
        for pattern, timeout in waits:
            wait_for_text(log, pattern, timeout)
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return log.read_text(encoding="utf-8"), err
