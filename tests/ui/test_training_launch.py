"""The way into training: the production menu item, the command line, production secrets."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from outagedesk import cli
from outagedesk.config import Settings
from outagedesk.ops.base import Actor, Role
from outagedesk.training.scenario import shipped_scenarios
from outagedesk.ui import app as ui_app
from outagedesk.ui import training_mode
from outagedesk.ui.main_window import MainWindow
from outagedesk.ui.training_chooser import ScenarioChooser
from ui.uisupport import signal_once_logged

PRODUCTION_TOKENS = {
    "OUTAGEDESK_GATEWAY_TOKEN": "prod-gateway-secret",
    "OUTAGEDESK_OMS_TOKEN": "prod-oms-secret",
}


@pytest.fixture
def no_keyring(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fails the test on any keyring read (tokens "stored" there must stay unread)."""
    asked: list[str] = []

    def refuse(service: str, name: str) -> str:
        asked.append(name)
        pytest.fail(f"the keyring was read for {service}/{name}")

    monkeypatch.setattr("keyring.get_password", refuse)
    return asked


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    calls: list[tuple[str, list[str]]] = []

    def fake(program: str, arguments: list[str]) -> bool:
        calls.append((program, list(arguments)))
        return True

    monkeypatch.setattr(training_mode, "start_detached", fake)
    return calls


def _production_config(tmp_path: Path) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(
        'gateway_url = "https://gateway.example.net"\n'
        'oms_url = "https://oms.example.net/v1/reports"\n'
        'db_url = "postgresql+psycopg://desk@db.example.net/outagedesk"\n'
        'desk = "north-desk"\n',
        encoding="utf-8",
    )
    return path


def test_start_training_is_disabled_for_a_dispatcher_and_enabled_for_a_trainer(
    qtbot: QtBot, window: MainWindow, launched: list[tuple[str, list[str]]]
) -> None:
    action = window.findChild(QAction, "actionStartTraining")
    assert action is not None
    assert action in window.training_menu.actions()
    assert window.findChild(QAction, "actionReplayPlay") is None, "no replay in production"
    window.set_actor(Actor("dana", window.actor.desk, Role.DISPATCHER))
    assert not action.isEnabled()
    assert "Only trainers" in action.toolTip()

    # The launcher checks too, whatever enabled the item.
    window.start_training()
    assert launched == []
    assert any("may not run training mode" in e for e in window.errors)

    window.set_actor(Actor("tess", window.actor.desk, Role.TRAINER))
    assert action.isEnabled()
    action.trigger()
    settings = window.backend.settings
    assert launched == [
        (
            sys.executable,
            [
                "-m",
                "outagedesk",
                "--training",
                "--data-dir",
                str(settings.data_dir),
                "--config-file",
                str(settings.config_file),
            ],
        )
    ]
    assert "starting in a window of its own" in window.statusBar().currentMessage()

    window.actor = Actor("sam", window.actor.desk, Role.SUPERVISOR)
    window.training_menu.aboutToShow.emit()
    assert not action.isEnabled()


def test_training_settings_never_read_the_keyring_or_token_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_keyring: list[str]
) -> None:
    config = _production_config(tmp_path)
    for name, value in PRODUCTION_TOKENS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OUTAGEDESK_GATEWAY_URL", "https://other-gateway.example.net")
    captured: list[tuple[Settings, dict[str, Any]]] = []

    def fake_gui(settings: Settings, args: Any, **kwargs: Any) -> int:
        captured.append((settings, kwargs))
        return 0

    monkeypatch.setattr(ui_app, "run_gui", fake_gui)
    code = cli.main(
        ["--training", "--data-dir", str(tmp_path / "data"), "--config-file", str(config),
         "--scenario", "compliance-drill"]
    )  # fmt: skip
    assert code == 0
    [(settings, kwargs)] = captured
    assert no_keyring == []
    assert settings.gateway_token is None
    assert settings.oms_token is None
    assert settings.gateway_url is None
    assert settings.oms_url is None
    assert settings.db_url is None
    assert "secret" not in repr(vars(settings))
    assert settings.desk == "north-desk", "the rest of the settings file still applies"
    assert settings.data_dir == tmp_path / "data"
    drill = next(p for p in shipped_scenarios() if p.stem == "compliance-drill")
    assert kwargs == {"training": True, "scenario": drill}


def test_training_command_line_refuses_what_it_cannot_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(ui_app, "run_gui", lambda *a, **k: pytest.fail("no window expected"))
    base = ["--data-dir", str(tmp_path), "--config-file", str(tmp_path / "none.toml")]
    assert cli.main([*base, "--training", "--scenario", "no-such-storm"]) == 2
    err = capsys.readouterr().err
    assert "no shipped scenario 'no-such-storm'" in err
    assert "afternoon-thunderstorm" in err, "the message lists the choices"
    assert cli.main([*base, "--training", "--scenario", str(tmp_path / "missing.toml")]) == 2
    assert "no scenario file" in capsys.readouterr().err
    for argv in (["--scenario", "compliance-drill"], ["--training", "--demo"],
                 ["--training", "templates"]):  # fmt: skip
        with pytest.raises(SystemExit) as exit_:
            cli.main([*base, *argv])
        assert exit_.value.code == 2


def test_training_runs_as_a_process_and_quits_cleanly(tmp_path: Path) -> None:
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        OUTAGEDESK_CONFIG_FILE=str(_production_config(tmp_path)),
        **PRODUCTION_TOKENS,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "outagedesk", "--training", "--scenario", "compliance-drill",
         "--data-dir", str(tmp_path)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    log = tmp_path / ui_app.TRAINING_LOG_DIR / "outagedesk.log"
    waits = ((r"window open \(training\)", 30), (r"gateway online", 15))
    text, err = signal_once_logged(proc, log, waits)
    assert proc.returncode == 0, (proc.returncode, err[-3000:])
    assert "bye (exit code 0)" in text
    assert "CRITICAL" not in text, text
    assert "example.net" not in text, "no production address is ever used"
    assert list((tmp_path / "training").glob("session-*.db")), "the training database stays"
    assert not (tmp_path / "outagedesk.db").exists(), "production's database is never opened"
    assert (tmp_path / ui_app.TRAINING_STATE_FILE).exists()


def _drive_open_training(
    loop: asyncio.AbstractEventLoop,
    settings: Settings,
    scenario: Path | None,
    answer: Callable[[QWidget], bool],
) -> tuple[Any, list[str]]:
    """Run app._open_training on the qasync loop; ``answer`` handles each dialog it opens."""
    pool = ThreadPoolExecutor(1)
    seen: list[str] = []

    async def drive() -> Any:
        task = asyncio.ensure_future(ui_app._open_training(settings, scenario, pool))
        for _ in range(400):
            if task.done():
                break
            await asyncio.sleep(0.02)
            for w in QApplication.topLevelWidgets():
                if isinstance(w, QDialog) and w.isVisible() and answer(w):
                    seen.append(w.objectName())
        return await asyncio.wait_for(task, 30)

    try:
        result = loop.run_until_complete(drive())
    finally:
        pool.shutdown(wait=True)
    return result, seen


def test_a_bad_scenario_file_is_explained_not_a_crash(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path, no_keyring: list[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('title = "Bad"\n[[messages]]\nat = -5\nfrom = "+15055550123"\n', "utf-8")
    settings = Settings(data_dir=tmp_path, config_file=tmp_path / "none.toml")
    texts: list[str] = []

    def answer(dialog: QWidget) -> bool:
        assert isinstance(dialog, QMessageBox)
        texts.append(dialog.text())
        dialog.accept()
        return True

    result, seen = _drive_open_training(qloop, settings, bad, answer)
    assert result == 2
    assert seen == ["startupMessage"]
    assert "bad.toml" in texts[0], "the message names the file"
    assert not (tmp_path / "training").exists() or not list(
        (tmp_path / "training").glob("session-*.db")
    ), "no training session was started"


def test_cancelling_the_chooser_starts_nothing(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, tmp_path: Path, no_keyring: list[str]
) -> None:
    settings = Settings(data_dir=tmp_path, config_file=tmp_path / "none.toml")

    def answer(dialog: QWidget) -> bool:
        assert isinstance(dialog, ScenarioChooser)
        assert dialog.list.count() == len(shipped_scenarios())
        dialog.reject()
        return True

    result, seen = _drive_open_training(qloop, settings, None, answer)
    assert result == 0
    assert seen == ["scenarioChooser"]
