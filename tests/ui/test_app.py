"""Start-up and exit paths: the demo as a process, the crash dialog, the first-run settings."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QMessageBox
from pytestqt.qtbot import QtBot

from outagedesk import config
from outagedesk.config import Settings
from outagedesk.ui import app as ui_app
from outagedesk.ui.dialogs import SettingsDialog, keyring_problem, save_first_run
from ui.uisupport import signal_once_logged


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_demo_runs_and_quits_cleanly_with_exit_code_0(tmp_path: Path, how: signal.Signals) -> None:
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        OUTAGEDESK_DEMO_RATE="20",
        OUTAGEDESK_CONFIG_FILE=str(tmp_path / "none.toml"),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "outagedesk", "--demo", "--data-dir", str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = tmp_path / "logs" / "outagedesk.log"
    waits = ((r"window open \(demo\)", 30), (r"gateway online", 15), (r"oms online", 15))
    text, err = signal_once_logged(proc, log, waits, how)
    assert proc.returncode == 0, (proc.returncode, err[-3000:])
    assert "engine stopped" in text
    assert "engine stopped (not cleanly)" not in text
    assert "bye (exit code 0)" in text
    assert "signed in as demo (admin)" in text, "the demo signs in by itself"
    assert "CRITICAL" not in text, text
    scratch = re.search(r"database in (\S+)", text)
    assert scratch is not None
    assert not Path(scratch.group(1)).exists(), "the throw-away database is removed"
    assert (tmp_path / ui_app.STATE_FILE).exists(), "window state saved"


def test_sigterm_while_nobody_has_signed_in_quits_cleanly(tmp_path: Path) -> None:
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        OUTAGEDESK_CONFIG_FILE=str(tmp_path / "none.toml"),
        OUTAGEDESK_GATEWAY_URL="http://127.0.0.1:9",
        OUTAGEDESK_GATEWAY_TOKEN="t",
        OUTAGEDESK_OMS_URL="http://127.0.0.1:9/v1/reports",
        OUTAGEDESK_OMS_TOKEN="t",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "outagedesk", "--data-dir", str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = tmp_path / "logs" / "outagedesk.log"
    text, err = signal_once_logged(proc, log, [(r"waiting for someone to sign in", 30)])
    assert proc.returncode == 0, (proc.returncode, err[-3000:])
    assert "nobody signed in" in text
    assert "window open" not in text
    assert "bye (exit code 0)" in text


def test_an_exception_in_a_slot_is_logged_and_shown(
    qtbot: QtBot, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reporter = ui_app.CrashReporter(tmp_path / "outagedesk.log")
    try:
        raise RuntimeError("boom in a slot")
    except RuntimeError as exc:
        with caplog.at_level(logging.CRITICAL, logger="outagedesk.ui.app"):
            reporter.excepthook(type(exc), exc, exc.__traceback__)

    def dialog() -> QMessageBox | None:
        for w in QApplication.topLevelWidgets():
            if isinstance(w, QMessageBox) and w.objectName() == "crashDialog" and w.isVisible():
                return w
        return None

    qtbot.waitUntil(lambda: dialog() is not None, timeout=5000)
    box = dialog()
    assert box is not None
    assert "boom in a slot" in box.text()
    assert "boom in a slot" in box.detailedText()
    assert any("boom in a slot" in r.getMessage() for r in caplog.records)
    box.close()
    reporter.deleteLater()


def test_settings_dialog_validates_and_keeps_tokens_out_of_the_file(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path, config_file=tmp_path / "settings.toml")
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    assert len(dialog.problems()) == 4
    # Whatever backend an earlier test left cached, the one that forgets tokens is no keyring.
    monkeypatch.setattr(
        "keyring.get_keyring", lambda: __import__("keyring.backends.null").backends.null.Keyring()
    )
    dialog.set_keyring_problem(keyring_problem())
    assert "keyring unavailable" in dialog.keyring_label.text()
    dialog.gateway_url.setText("https://gw.example.net")
    dialog.gateway_token.setText("gw-secret")
    dialog.oms_url.setText("https://oms.example.net/v1/reports")
    dialog.oms_token.setText("oms-secret")
    assert dialog.problems() == []
    chosen = dialog.result_settings()
    assert chosen.gateway_token == "gw-secret"

    stored: dict[str, str] = {}
    monkeypatch.setattr(config, "store_secret", lambda name, value: stored.__setitem__(name, value))
    assert save_first_run(chosen) == []
    assert stored == {"gateway_token": "gw-secret", "oms_token": "oms-secret"}
    saved = tomllib.loads((tmp_path / "settings.toml").read_text())
    assert saved["gateway_url"] == "https://gw.example.net"
    assert "gateway_token" not in saved
    assert "secret" not in (tmp_path / "settings.toml").read_text()

    def refuse(name: str, value: str) -> None:
        raise RuntimeError("no keyring here")

    monkeypatch.setattr(config, "store_secret", refuse)
    warnings = save_first_run(chosen)
    assert len(warnings) == 2
    assert "no keyring here" in warnings[0]


def test_first_run_dialog_is_awaited_without_exec(
    qtbot: QtBot,
    qloop: asyncio.AbstractEventLoop,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(config, "store_secret", lambda name, value: None)
    settings = Settings(data_dir=tmp_path, config_file=tmp_path / "settings.toml")
    pool = ThreadPoolExecutor(1)

    async def drive() -> Settings | None:
        task = asyncio.ensure_future(ui_app._ensure_configured(settings, pool))
        dialog = None
        for _ in range(100):
            await asyncio.sleep(0.02)
            dialogs = [w for w in QApplication.topLevelWidgets() if isinstance(w, SettingsDialog)]
            if dialogs and dialogs[0].isVisible():
                dialog = dialogs[0]
                break
        assert dialog is not None, "the dialog was opened with open(), not exec()"
        dialog.gateway_url.setText("http://127.0.0.1:9")
        dialog.gateway_token.setText("t1")
        dialog.oms_url.setText("http://127.0.0.1:9/v1/reports")
        dialog.oms_token.setText("t2")
        buttons = dialog.findChild(QDialogButtonBox)
        assert buttons is not None
        buttons.button(QDialogButtonBox.StandardButton.Save).click()
        return await task

    try:
        result = qloop.run_until_complete(drive())
    finally:
        pool.shutdown(wait=True)
    assert result is not None
    assert result.gateway_url == "http://127.0.0.1:9"
    assert (tmp_path / "settings.toml").exists()
