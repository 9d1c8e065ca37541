"""The training window on a real training rig: simulator on loopback, training database, engine.

The backend is built as ``outagedesk --training`` builds it (training settings, then
``start_training``); the keyring is rigged to fail any test that reads it.
"""

from __future__ import annotations

import asyncio
import csv
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import QDockWidget, QMessageBox, QWidget
from pytestqt.qtbot import QtBot
from sqlalchemy import func, select

from outagedesk.ops.base import Role
from outagedesk.sim import DirectoryRow
from outagedesk.store.models import InboundMessage, Report
from outagedesk.training.environment import TRAINING_BANNER, load_training_settings
from outagedesk.training.scenario import Scenario, ScenarioMessage, load_scenario, shipped_scenarios
from outagedesk.ui import theme
from outagedesk.ui.app import TRAINING_STATE_FILE
from outagedesk.ui.backend import start_training
from outagedesk.ui.debrief_window import DebriefWindow, duration_text
from outagedesk.ui.feed_model import C_STATE, C_TEXT
from outagedesk.ui.main_window import MainWindow
from outagedesk.ui.training_controls import BANNER_BACKGROUND, format_clock
from outagedesk.ui.training_mode import TRAINING_TITLE, TrainingMode
from ui.uisupport import close_window, our_threads

WAIT = 20_000
# Quick retries and polls, as in the other window tests.
FAST = {
    "poll_wait": 0.5,
    "idle_interval": 0.05,
    "backoff_cap": 0.3,
    "oms_timeout": 2.0,
    "gateway_timeout": 2.0,
}
# The feed shows this many texts of each shipped scenario (a seek delivers them at once).
TEXTS_PER_SCENARIO = 40


def _replay_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("replay-")]


@pytest.fixture
def open_training(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[Path | Scenario], MainWindow]]:
    def refuse(service: str, name: str) -> str:
        pytest.fail(f"training read the keyring ({service}/{name})")

    monkeypatch.setattr("keyring.get_password", refuse)
    windows: list[MainWindow] = []

    def open_(scenario: Path | Scenario) -> MainWindow:
        settings = load_training_settings(
            {"data_dir": tmp_path, "config_file": tmp_path / "none.toml", "desk": "train-desk"},
            environ={},
        )
        backend = start_training(settings, scenario, config_overrides=FAST)
        window = MainWindow(backend, state_file=tmp_path / TRAINING_STATE_FILE)
        windows.append(window)
        window.show()
        backend.start()
        qtbot.waitUntil(lambda: not window.model.busy, timeout=WAIT)
        return window

    yield open_
    for window in windows:
        close_window(qtbot, window)
    deadline = time.monotonic() + 10
    while (our_threads() or _replay_threads()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert our_threads() == [], "threads left behind"
    assert _replay_threads() == [], "the replay thread ends with the window"


def mode(window: MainWindow) -> TrainingMode:
    assert window.training is not None
    return window.training


def trigger(window: MainWindow, name: str) -> None:
    action = window.findChild(QAction, name)
    assert action is not None, name
    action.trigger()


def texts(window: MainWindow) -> list[str]:
    return [str(window.model.row_tuple(i)[C_TEXT]) for i in range(window.model.rowCount())]


def stored(window: MainWindow) -> int:
    with window.backend.db.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(InboundMessage)) or 0)


def jump(qtbot: QtBot, window: MainWindow, text: str) -> None:
    controls = mode(window).controls
    controls.jump_field.setText(text)
    qtbot.mouseClick(controls.jump_button, Qt.MouseButton.LeftButton)


@pytest.mark.parametrize("path", shipped_scenarios(), ids=lambda p: p.stem)
def test_each_shipped_scenario_replays_into_the_feed(
    qtbot: QtBot, open_training: Callable[[Path], MainWindow], path: Path
) -> None:
    window = open_training(path)
    training = mode(window)
    scenario = training.rig.scenario
    assert training.state().playing is False, "the replay waits for the trainer"
    assert window.backend.settings.gateway_url is not None
    assert window.backend.settings.gateway_url.startswith("http://127.0.0.1:")

    # 60×, then jump to just after the first texts: the ones skipped over arrive at once.
    controls = training.controls
    controls.speed.setCurrentIndex(controls.speed.count() - 1)
    controls.speed.activated.emit(controls.speed.count() - 1)
    assert training.state().speed == 60
    n = min(TEXTS_PER_SCENARIO, len(scenario.messages))
    target = int(scenario.messages[n - 1].offset) + 1
    jump(qtbot, window, format_clock(target))
    qtbot.waitUntil(lambda: training.state().delivered >= n, timeout=WAIT)
    delivered = training.state().delivered
    qtbot.waitUntil(lambda: stored(window) == delivered, timeout=WAIT)
    qtbot.waitUntil(lambda: window.model.rowCount() > 0, timeout=WAIT)
    bodies = {" ".join(m.body.split()) for m in scenario.messages[:delivered]}
    assert set(texts(window)) <= bodies
    assert texts(window)[0] in bodies
    assert controls.clock.text() == f"{format_clock(target)} / {format_clock(scenario.duration)}"
    shown = f"Texts {delivered:,} / {len(scenario.messages):,}"
    qtbot.waitUntil(lambda: controls.delivered.text() == shown, timeout=WAIT)

    # Play at 60×: the clock moves and more texts come.
    trigger(window, "actionReplayPlay")
    assert training.state().playing
    qtbot.waitUntil(lambda: training.state().position >= target + 30, timeout=WAIT)
    qtbot.waitUntil(lambda: controls.play_button.text() == "Pause", timeout=WAIT)
    trigger(window, "actionReplayPlay")
    assert not training.state().playing

    for start, end in scenario.oms_down:
        jump(qtbot, window, format_clock(start + 1))
        qtbot.waitUntil(lambda: training.state().oms_down, timeout=WAIT)
        until = f"OMS down in scenario until {format_clock(end)}"
        qtbot.waitUntil(lambda: controls.oms.text() == until, timeout=WAIT)  # noqa: B023
        assert window.backend.sim is not None
        assert window.backend.sim.oms._down, "the simulated OMS answers 503"
        jump(qtbot, window, format_clock(end + 1))
        qtbot.waitUntil(lambda: not training.state().oms_down, timeout=WAIT)
    assert window.errors == []


def test_banner_and_title_survive_every_view_change(
    qtbot: QtBot, open_training: Callable[[Path], MainWindow]
) -> None:
    window = open_training(_shipped("compliance-drill"))
    banner = mode(window).banner
    assert window.windowTitle() == TRAINING_TITLE == "OutageDesk — TRAINING"
    assert banner.objectName() == "trainingBanner"
    assert banner.text() == TRAINING_BANNER
    assert banner.text().startswith("TRAINING:"), "a text marker, not colour alone"
    assert window.findChild(QWidget, "trainingBanner") is banner
    assert banner.parent() is window.centralWidget(), "not a dock or toolbar a user can hide"
    assert not any(d.isAncestorOf(banner) for d in window.findChildren(QDockWidget))
    assert window.actor.name == "trainee"
    assert window.actor.role == Role.TRAINER
    assert window.findChild(QAction, "actionStartTraining") is None
    assert window.findChild(QAction, "actionDemoBurst") is None, "no random demo traffic"
    templates = window.findChild(QAction, "actionTemplates")
    assert templates is not None
    assert not templates.isEnabled(), "training settings must never be saved over production's"

    central = window.centralWidget()
    assert central is not None

    def check(step: str) -> None:
        qtbot.wait(20)
        assert banner.isVisible(), step
        assert banner.mapTo(central, banner.rect().topLeft()).y() == 0, step
        assert banner.height() >= banner.label.fontMetrics().height(), step
        assert banner.label.text() == TRAINING_BANNER, step
        image = banner.grab().toImage()
        assert image.pixelColor(image.width() // 2, 2) == QColor(BANNER_BACKGROUND), step
        assert window.windowTitle() == TRAINING_TITLE, step

    check("opened")
    trigger(window, "actionDetails")
    check("details pane hidden")
    trigger(window, "actionDetails")
    trigger(window, "actionDarkTheme")
    assert window.theme_name == theme.DARK
    check("dark theme")
    for _ in range(6):
        trigger(window, "actionZoomIn")
    check("largest text")
    big = banner.label.font().pointSizeF()
    trigger(window, "actionZoom0")
    assert banner.label.font().pointSizeF() < big, "the banner follows the zoom"
    trigger(window, "actionZoomOut")
    check("smaller text")
    trigger(window, "actionLightTheme")
    check("light theme")
    trigger(window, "actionReplayControls")
    assert mode(window).controls.isHidden()
    check("replay controls hidden")
    trigger(window, "actionReplayControls")
    assert not mode(window).controls.isHidden()
    # Every toggle of the window off (themes aside): none of them reaches the banner.
    for action in window.findChildren(QAction):
        if action.isCheckable() and action.isChecked() and "Theme" not in action.objectName():
            action.trigger()
    check("every toggle off")


def test_replay_controls_drive_the_replayer(
    qtbot: QtBot, open_training: Callable[[Path], MainWindow]
) -> None:
    window = open_training(_shipped("compliance-drill"))
    training = mode(window)
    controls = training.controls
    assert controls.objectName() == "replayControls"
    names = [w.objectName() for w in controls.findChildren(QWidget) if w.accessibleName()]
    for name in ("replayPlay", "replaySpeed", "replayRestart", "replayJumpTime", "replayJumpGo",
                 "replayClock", "replayProgress", "replayDelivered", "replayOms"):  # fmt: skip
        assert name in names, name
    assert controls.play_button.text() == "Play"

    qtbot.mouseClick(controls.play_button, Qt.MouseButton.LeftButton)
    assert training.state().playing
    qtbot.waitUntil(lambda: controls.play_button.text() == "Pause", timeout=WAIT)
    qtbot.mouseClick(controls.play_button, Qt.MouseButton.LeftButton)
    assert not training.state().playing

    trigger(window, "actionReplayFaster")
    assert training.state().speed == 2
    trigger(window, "actionReplayFaster")
    assert training.state().speed == 5
    trigger(window, "actionReplaySlower")
    assert training.state().speed == 2
    controls.speed.setCurrentIndex(controls.speed.findData(30.0))
    controls.speed.activated.emit(controls.speed.currentIndex())
    assert training.state().speed == 30
    window.training.replayer.set_speed(10)  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: controls.speed.currentText() == "10×", timeout=WAIT)

    # Jump: mm:ss; nonsense and times past the end are refused in place.
    jump(qtbot, window, "2:05")
    assert training.state().position == 125
    qtbot.waitUntil(lambda: controls.clock.text() == "02:05 / 20:00", timeout=WAIT)
    assert controls.progress.value() == round(1000 * 125 / 1200)
    # Jumping forward delivers what was skipped, on the replay thread: wait for it.
    scenario = window.training.replayer.scenario  # type: ignore[union-attr]
    skipped = sum(1 for m in scenario.messages if m.offset <= 125)
    assert skipped > 0
    qtbot.waitUntil(lambda: training.state().delivered == skipped, timeout=WAIT)
    first_run = training.state()
    for bad in ("abc", "12:75", "99:00"):
        jump(qtbot, window, bad)
        assert controls.jump_field.property("invalid") is True, bad
        assert training.state().position == 125, bad
    jump(qtbot, window, "1:00")
    assert controls.jump_field.property("invalid") is False
    assert training.state().run == first_run.run + 1, "going back replays under a new run"
    trigger(window, "actionReplayJump")
    assert controls.jump_field.hasFocus() or not window.isActiveWindow()

    # Restart asks first; No keeps everything, Yes starts a new run at 00:00.
    qtbot.mouseClick(controls.restart_button, Qt.MouseButton.LeftButton)
    box = training.restart_box
    assert box is not None
    assert box.isVisible()
    box.button(QMessageBox.StandardButton.No).click()
    assert training.state().position == 60
    trigger(window, "actionReplayRestart")
    box = training.restart_box
    assert box is not None
    run = training.state().run
    box.button(QMessageBox.StandardButton.Yes).click()
    state = training.state()
    assert (state.position, state.run) == (0, run + 1)
    qtbot.waitUntil(lambda: controls.clock.text() == "00:00 / 20:00", timeout=WAIT)
    assert window.errors == []


# A session scripted to the second: one linked sender, three unlinked ones, one revocation.
SCRIPTED = Scenario(
    key="scripted",
    title="Scripted debrief",
    description="Three unlinked reports, one revocation.",
    duration=30.0,
    directory=(
        DirectoryRow(
            "8101", "SL-8101-1", "M-81011", "Nora Vigil", "12 Juniper Rd", ("+15055550131",), False
        ),
        DirectoryRow(
            "8102", "SL-8102-1", "M-81021", "Otis Baca", "40 Mesa Ave", ("+15055550132",), False
        ),
        DirectoryRow("8103", "SL-8103-1", None, "Priya Sandoval", "7 Pinon Ct", (), False),
    ),
    messages=(
        ScenarioMessage(1.0, "+15055550131", "OUT tree on line"),
        ScenarioMessage(2.0, "+12085550161", "OUT no power on Elm", "8102"),
        ScenarioMessage(3.0, "+12085550162", "OUT pole on fire", "8103"),
        ScenarioMessage(4.0, "+12085550163", "OUT flickering lights", "8101"),
        ScenarioMessage(5.0, "+15055550132", "please stop texting me", expect_opt_out=True),
    ),
)


def _link(qtbot: QtBot, window: MainWindow, body: str, account: str, location: str) -> None:
    """What a trainee does: select the report, Ctrl+K, search, pick, link & re-send."""
    qtbot.waitUntil(lambda: body in texts(window), timeout=WAIT)
    qtbot.waitUntil(
        lambda: str(window.model.row_tuple(texts(window).index(body))[C_STATE]).startswith(
            "UNLINKED"
        ),
        timeout=WAIT,
    )
    row = texts(window).index(body)
    window.view.selectRow(row)
    window.view.setCurrentIndex(window.model.index(row, 0))
    old = window.link_dialog
    trigger(window, "actionLink")
    qtbot.waitUntil(lambda: window.link_dialog not in (None, old), timeout=WAIT)
    dialog = window.link_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.context is not None, timeout=WAIT)
    qtbot.keyClicks(dialog.search, account)
    qtbot.waitUntil(
        lambda: any(h.service_location_id == location for h in dialog.model.hits), timeout=WAIT
    )
    hit = next(i for i, h in enumerate(dialog.model.hits) if h.service_location_id == location)
    dialog.select_row(hit)
    with qtbot.waitSignal(dialog.linked, timeout=WAIT):
        qtbot.mouseClick(dialog.link_resend_button, Qt.MouseButton.LeftButton)


def test_trainee_links_reports_and_reads_the_debrief(
    qtbot: QtBot, qtmodeltester, open_training: Callable[[Scenario], MainWindow], tmp_path: Path
) -> None:
    window = open_training(SCRIPTED)
    training = mode(window)
    jump(qtbot, window, "00:10")
    qtbot.waitUntil(lambda: stored(window) == 5, timeout=WAIT)
    _link(qtbot, window, "OUT no power on Elm", "8102", "SL-8102-1")
    _link(qtbot, window, "OUT pole on fire", "8101", "SL-8101-1")  # the wrong account
    with window.backend.db.sessions() as s:
        linked = s.scalars(select(Report).where(Report.phone == "+12085550161")).one()
        assert linked.account_number == "8102"

    trigger(window, "actionDebrief")
    debrief_window = training.debrief_window
    assert isinstance(debrief_window, DebriefWindow)
    assert debrief_window.objectName() == "debriefWindow"
    qtbot.waitUntil(lambda: debrief_window.debrief is not None, timeout=WAIT)
    debrief = debrief_window.debrief
    assert debrief is not None
    assert debrief.unlinked_reports == 3
    assert debrief.wrong_account == 1
    assert debrief.never_handled == 1
    assert [m.phone for m in debrief.missed_opt_outs] == ["+15055550132"]
    assert {r.outcome for r in debrief.rows} == {"linked", "wrong_account", "never_handled"}
    shown = {k: v.text() for k, v in debrief_window.figure_labels.items()}
    assert shown["Unlinked reports"] == "3"
    assert shown["Linked to the wrong account"] == "1"
    assert shown["Never handled"] == "1"
    assert shown["Opt-outs missed"] == "1"
    assert shown["Linked"] == str(debrief.linked)
    assert shown["Median time to link"] == duration_text(debrief.median_seconds)
    assert shown["Worst time to link"] == duration_text(debrief.worst_seconds)
    assert debrief.worst_seconds is not None
    assert debrief.worst_seconds > 0
    assert "(208) 555-0163" in "".join(
        str(debrief_window.model.data(debrief_window.model.index(r, 1)))
        for r in range(debrief_window.model.rowCount())
    )
    assert "Never handled: 1" in debrief_window.chart.accessibleDescription()
    assert "(505) 555-0132" in debrief_window.missed.text()
    qtmodeltester.check(debrief_window.model)

    out = tmp_path / "debrief.csv"
    debrief_window.export_to(out)
    qtbot.waitUntil(lambda: bool(debrief_window.exported), timeout=WAIT)
    [(path, lines)] = debrief_window.exported
    assert path == out
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert lines == len(rows) - 1 >= 3, "a header, then one line per report and missed opt-out"
    assert "Exported" in debrief_window.status.text()
    assert window.errors == []


def test_end_of_the_scenario_offers_the_debrief(
    qtbot: QtBot, open_training: Callable[[Scenario], MainWindow]
) -> None:
    window = open_training(SCRIPTED)
    training = mode(window)
    jump(qtbot, window, "00:29")
    qtbot.waitUntil(lambda: stored(window) == 5, timeout=WAIT)
    trigger(window, "actionReplayPlay")
    qtbot.waitUntil(lambda: training.finished_box is not None, timeout=WAIT)
    box = training.finished_box
    assert box is not None
    assert box.objectName() == "scenarioFinished"
    assert training.controls.play_button.text() == "Finished"
    box.button(QMessageBox.StandardButton.Yes).click()
    debrief_window = training.debrief_window
    assert debrief_window is not None
    assert shiboken6.isValid(debrief_window)
    assert debrief_window.isVisible()
    qtbot.waitUntil(lambda: debrief_window.debrief is not None, timeout=WAIT)
    assert debrief_window.debrief.unlinked_reports == 3  # type: ignore[union-attr]
    # Play on a finished scenario asks to restart rather than doing nothing.
    trigger(window, "actionReplayPlay")
    assert training.restart_box is not None
    training.restart_box.button(QMessageBox.StandardButton.No).click()


def _shipped(name: str) -> Path:
    return next(p for p in shipped_scenarios() if p.stem == name)


def test_shipped_scenarios_load_for_the_chooser() -> None:
    from outagedesk.ui.training_chooser import scenario_summaries

    summaries = scenario_summaries()
    assert [s.path for s in summaries] == shipped_scenarios()
    for summary in summaries:
        assert summary.problem is None
        scenario = load_scenario(summary.path)
        assert (summary.title, summary.texts) == (scenario.title, len(scenario.messages))


async def _until(pred: Callable[[], object], what: str, limit: float = WAIT / 1000) -> None:
    deadline = time.monotonic() + limit
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def test_trainee_confirms_a_revocation_and_the_debrief_counts_it(
    qtbot: QtBot,
    open_training: Callable[[Path], MainWindow],
    qloop: asyncio.AbstractEventLoop,
) -> None:
    window = open_training(_shipped("compliance-drill"))
    training = mode(window)
    revocation = "please stop texting me, this is not my account"
    sender = "+14065550161"

    def missed() -> list[str] | None:
        shown = training.debrief_window
        if shown is None or shown.debrief is None or shown.busy:
            return None
        return [m.phone for m in shown.debrief.missed_opt_outs]

    async def run() -> None:
        jump(qtbot, window, "6:30")
        await _until(lambda: stored(window) == 11, "the first eleven texts stored")
        await _until(lambda: revocation in texts(window), "the revocation in the feed")
        trigger(window, "actionDebrief")
        await _until(lambda: missed() is not None, "the debrief")
        # STOP, "stop.", UNSUBSCRIBE and ALTO the engine recorded itself; SALIR is no
        # carrier keyword here, and the free-text request waits for a person.
        assert missed() == ["+12085550161", sender]

        row = texts(window).index(revocation)
        window.view.selectRow(row)
        window.view.setCurrentIndex(window.model.index(row, 0))
        action = window.findChild(QAction, "actionConfirmOptOut")
        assert action is not None
        await _until(action.isEnabled, "Confirm as opt-out enabled")
        action.trigger()
        await _until(
            lambda: window.consent_screen is not None and window.consent_screen.gateway is not None,
            "the consent screen with the simulator's view",
        )
        screen = window.consent_screen
        assert screen is not None
        await _until(lambda: not screen.gateway_busy and screen.worker.pending == 0, "idle")
        assert screen.phone == sender
        screen.ask_force()
        assert screen.confirm_box is not None
        screen.confirm_box.button(QMessageBox.StandardButton.Yes).click()
        await _until(lambda: "Opted out of every keyword" in screen.status.text(), "opted out")
        await _until(lambda: not screen.gateway_busy and screen.worker.pending == 0, "idle")
        screen.close()
        await _until(lambda: not screen.gateway_busy, "the gateway task ended")

        debrief_window = training.debrief_window
        assert debrief_window is not None
        debrief_window.refresh()
        await _until(lambda: missed() == ["+12085550161"], "the opt-out no longer missed")
        assert debrief_window.figure_labels["Opt-outs missed"].text() == "1"

    qloop.run_until_complete(asyncio.wait_for(run(), 90))
    assert window.backend.sim is not None
    assert sender in {r["phone"] for r in window.backend.sim.gateway.opt_out_requests}
    assert window.errors == []
