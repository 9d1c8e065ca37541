"""Training mode in the main window, and the production window's way into it.

``TrainingMode`` adds what a training window has on top of the dispatcher's console: the banner
no View toggle reaches, the replay controls, the Training menu and the debrief. Everything else
(feed, linking, re-sending, replies, opt-outs) is the real window on the training database.

``launch_training`` starts training as a separate process (``outagedesk --training``) so its
database, simulator and engine can never mix with production's.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import QEvent, QObject, QProcess, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMessageBox, QVBoxLayout

from outagedesk.config import Settings
from outagedesk.ops.base import Actor, Permission, require
from outagedesk.training.environment import TRAINING_BANNER, TrainingRig
from outagedesk.training.replay import ReplayState
from outagedesk.ui.debrief_window import DebriefWindow
from outagedesk.ui.training_controls import ReplayControls, TrainingBanner, format_clock

if TYPE_CHECKING:
    from outagedesk.ui.main_window import MainWindow

log = logging.getLogger(__name__)

TRAINING_TITLE = "OutageDesk — TRAINING"
TRAINEE = "trainee"


def training_command(settings: Settings) -> list[str]:
    """The arguments after the interpreter: same data folder and settings file as production."""
    return [
        "-m",
        "outagedesk",
        "--training",
        "--data-dir",
        str(settings.data_dir),
        "--config-file",
        str(settings.config_file),
    ]


def launch_training(actor: Actor, settings: Settings) -> bool:
    """Start training mode in its own process (raises PermissionDenied for non-trainers)."""
    require(actor, Permission.RUN_TRAINING)
    started = start_detached(sys.executable, training_command(settings))
    log.info("training mode %s", "started" if started else "could not be started")
    return started


def start_detached(program: str, arguments: list[str]) -> bool:
    """A process that outlives this one (closing production leaves training running)."""
    result: Any = QProcess.startDetached(program, arguments)
    # PySide returns (ok, pid); older bindings a bare bool.
    return bool(result[0] if isinstance(result, tuple) else result)


class TrainingMode(QObject):
    """The banner, the replay controls, the Training menu and the debrief of one window."""

    def __init__(self, window: MainWindow, rig: TrainingRig) -> None:
        super().__init__(window)
        self.window = window
        self.rig = rig
        self.replayer = rig.replayer
        self.debrief_window: DebriefWindow | None = None
        self.restart_box: QMessageBox | None = None
        self.finished_box: QMessageBox | None = None

        # In the central widget, above everything: no dock, toolbar or View toggle reaches it.
        central = window.centralWidget()
        layout = central.layout() if central is not None else None
        if not isinstance(layout, QVBoxLayout):
            raise TypeError("the training banner needs the window's vertical central layout")
        self.banner = TrainingBanner(TRAINING_BANNER, central)
        layout.insertWidget(0, self.banner)

        self.controls = ReplayControls(rig.scenario.oms_down, window)
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.controls)
        self.controls.playToggled.connect(self.toggle_play)
        self.controls.speedChosen.connect(self.set_speed)
        self.controls.restartRequested.connect(self.confirm_restart)
        self.controls.seekRequested.connect(self.seek)
        self.controls.finishedReached.connect(self.offer_debrief)
        self.controls.timer.timeout.connect(self.poll)
        self._build_menu()
        # Saving templates writes the settings file production reads, and these settings are
        # training's (simulator URLs, training database): never save them there.
        templates = window.findChild(QAction, "actionTemplates")
        if templates is not None:
            templates.setEnabled(False)
            templates.setToolTip("Reply templates are edited in production, not in training")
        # Under a theme's style sheet the window's zoom does not reach its children on its own.
        window.installEventFilter(self)
        self._follow_zoom()
        self.poll()
        self.controls.timer.start()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.window and event.type() == QEvent.Type.FontChange:
            self._follow_zoom()
        return False

    def _follow_zoom(self) -> None:
        font = self.window.font()
        self.banner.setFont(font)
        self.controls.setFont(font)

    def _build_menu(self) -> None:
        w = self.window
        menu = w.training_menu
        w._action(menu, "&Play / pause", self.toggle_play, ("Ctrl+Space",), name="actionReplayPlay")
        w._action(menu, "&Faster", lambda: self.controls.step_speed(1), ("Ctrl+]",),
                  name="actionReplayFaster")  # fmt: skip
        w._action(menu, "&Slower", lambda: self.controls.step_speed(-1), ("Ctrl+[",),
                  name="actionReplaySlower")  # fmt: skip
        w._action(menu, "&Jump to a time…", self.controls.focus_jump, ("Ctrl+J",),
                  name="actionReplayJump")  # fmt: skip
        w._action(menu, "&Restart the scenario…", self.confirm_restart, ("Ctrl+Alt+R",),
                  name="actionReplayRestart")  # fmt: skip
        toggle = self.controls.toggleViewAction()
        toggle.setText("Replay &controls")
        toggle.setObjectName("actionReplayControls")
        menu.addAction(toggle)
        menu.addSeparator()
        w._action(menu, "&Debrief…", self.show_debrief, ("Ctrl+Shift+B",), name="actionDebrief")

    # -- replay ------------------------------------------------------------------------------
    def state(self) -> ReplayState:
        return self.replayer.state()

    def poll(self) -> None:
        if not self.window.stopping:
            self.controls.show_state(self.replayer.state())

    def toggle_play(self) -> None:
        state = self.replayer.state()
        if state.playing:
            self.replayer.pause()
        elif state.finished:
            self.confirm_restart()
            return
        else:
            self.replayer.play()
        self.poll()

    def set_speed(self, speed: float) -> None:
        try:
            self.replayer.set_speed(speed)
        except ValueError as exc:
            self.window.statusBar().showMessage(str(exc), 6000)
        self.poll()

    def seek(self, seconds: float) -> None:
        self.replayer.seek(seconds)
        self.window.statusBar().showMessage(
            f"Scenario clock moved to {format_clock(seconds)}.", 6000
        )
        self.poll()

    def confirm_restart(self) -> None:
        if self.restart_box is not None and shiboken6.isValid(self.restart_box):
            self.restart_box.raise_()
            return
        box = QMessageBox(self.window)
        box.setObjectName("restartConfirm")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Restart the scenario")
        box.setText("Start the scenario again from 00:00?")
        box.setInformativeText(
            "Its texts arrive again as new texts; the debrief then counts from the restart."
        )
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(self._on_restart_answer)
        self.restart_box = box
        box.open()

    def _on_restart_answer(self, code: int) -> None:
        self.restart_box = None
        if code != QMessageBox.StandardButton.Yes.value or self.window.stopping:
            return
        self.replayer.restart()
        self.window.statusBar().showMessage("Scenario restarted from 00:00.", 6000)
        self.poll()

    # -- debrief -----------------------------------------------------------------------------
    def offer_debrief(self) -> None:
        if self.window.stopping or (
            self.debrief_window is not None and shiboken6.isValid(self.debrief_window)
        ):
            return
        box = QMessageBox(self.window)
        box.setObjectName("scenarioFinished")
        box.setIcon(QMessageBox.Icon.Information)
        box.setWindowTitle("Scenario finished")
        box.setText("Every text of the scenario has arrived.")
        box.setInformativeText("Open the debrief now? (Training ▸ Debrief…, Ctrl+Shift+B)")
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(self._on_finished_answer)
        self.finished_box = box
        box.open()

    def _on_finished_answer(self, code: int) -> None:
        self.finished_box = None
        if code == QMessageBox.StandardButton.Yes.value:
            self.show_debrief()

    def show_debrief(self) -> DebriefWindow | None:
        if self.window.stopping:
            return None
        existing = self.debrief_window
        if existing is None or not shiboken6.isValid(existing):
            existing = DebriefWindow(
                worker=self.window.worker,
                scenario=self.rig.scenario,
                since=lambda: self.replayer.run_started,
                parent=self.window,
            )
            existing.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            self.debrief_window = existing
        elif existing.isVisible():
            existing.raise_()  # open already, maybe behind the console
        existing.show()
        existing.activateWindow()
        existing.refresh()
        return existing

    def stop(self) -> None:
        """The window is closing: stop polling, close what this mode opened."""
        self.controls.timer.stop()
        for widget in (self.debrief_window, self.restart_box, self.finished_box):
            if widget is not None and shiboken6.isValid(widget):
                widget.close()
