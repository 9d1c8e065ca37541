"""Training mode's widgets in the main window: the banner and the replay controls.

The banner paints its own colours (black on yellow, the same in both themes), so no theme's
style sheet can wash it out, and it follows the window's zoom.
The replay controls poll ``Replayer.state()`` on a timer: a lock and a few numbers, no database.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from outagedesk.training.replay import ReplayState

SPEEDS = (1, 2, 5, 10, 30, 60)
POLL_MS = 250
BANNER_BACKGROUND = "#fde047"
BANNER_TEXT = "#000000"

_CLOCK = re.compile(r"^\s*(?:(\d+):)?(\d+)(?::(\d{1,2}))?\s*$")


def format_clock(seconds: float) -> str:
    """``12:30``, or ``1:02:03`` past an hour (the scenario clock)."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def parse_clock(text: str) -> float | None:
    """Seconds from ``mm:ss``, ``h:mm:ss`` or plain minutes; None when it is not a time."""
    match = _CLOCK.match(text)
    if match is None:
        return None
    first, second, third = match.groups()
    if first is None and third is None:
        return float(int(second) * 60)  # "12" means minute 12
    if third is None:
        minutes, secs = int(first), int(second)
        hours = 0
    else:
        hours, minutes, secs = int(first or 0), int(second), int(third)
        if minutes >= 60:
            return None
    if secs >= 60:
        return None
    return float(hours * 3600 + minutes * 60 + secs)


def oms_summary(position: float, outages: Sequence[tuple[float, float]]) -> str:
    """What the scenario does to the OMS, seen from ``position`` on the scenario clock."""
    for start, end in outages:
        if start <= position < end:
            return f"OMS down in scenario until {format_clock(end)}"
    ahead = [(start, end) for start, end in outages if start > position]
    if ahead:
        start, end = min(ahead)
        return f"OMS up · goes down at {format_clock(start)} until {format_clock(end)}"
    return "OMS up in scenario"


class TrainingBanner(QFrame):
    """ "TRAINING: nothing reaches customers or the OMS", with hazard stripes at both ends."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trainingBanner")
        self.setAccessibleName("Training mode")
        self.setAccessibleDescription(text)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(_STRIPES + 12, 6, _STRIPES + 12, 9)
        self.label = QLabel(text, self)
        self.label.setObjectName("trainingBannerText")
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        palette = self.label.palette()
        for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive,
                      QPalette.ColorGroup.Disabled):  # fmt: skip
            palette.setColor(group, QPalette.ColorRole.WindowText, QColor(BANNER_TEXT))
        self.label.setPalette(palette)
        layout.addWidget(self.label, 1)
        self._scale_font()

    def text(self) -> str:
        return self.label.text()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self._scale_font()

    def _scale_font(self) -> None:
        # Bold and a little larger than the window's font, whatever zoom the window is at.
        base = self.font()
        font = QFont(base)
        font.setBold(True)
        if base.pointSizeF() > 0:
            font.setPointSizeF(base.pointSizeF() * 1.15)
        if font != self.label.font():
            self.label.setFont(font)
        self.setMinimumHeight(QFontMetrics(font).height() + 15)

    def paintEvent(self, event: QPaintEvent) -> None:
        # Painted, not style-sheeted: a style sheet on the banner would stop it following the
        # window's zoom, and the themes' sheets cannot reach what we paint.
        painter = QPainter(self)
        w, h = self.width(), self.height()
        painter.fillRect(self.rect(), QColor(BANNER_BACKGROUND))
        painter.fillRect(0, h - 3, w, 3, QColor(BANNER_TEXT))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(BANNER_TEXT), 5))
        for x0 in (0, w - _STRIPES):
            painter.save()
            painter.setClipRect(x0, 0, _STRIPES, h - 3)
            for x in range(x0 - h, x0 + _STRIPES + h, 14):
                painter.drawLine(x, h, x + h, 0)
            painter.restore()
        painter.end()


_STRIPES = 48


class ReplayControls(QDockWidget):
    """Play/pause, speed, restart, jump to a time; the scenario clock, progress, OMS state.

    It only reads the replayer's state and calls its control methods; ``restartRequested`` lets
    the owner confirm a restart before it happens.
    """

    playToggled = Signal()
    speedChosen = Signal(float)
    restartRequested = Signal()
    seekRequested = Signal(float)
    finishedReached = Signal()

    def __init__(self, outages: Sequence[tuple[float, float]], parent: QWidget | None = None):
        super().__init__("Scenario replay", parent)
        self.setObjectName("replayControls")
        self.setAccessibleName("Scenario replay controls")
        self.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        # Bottom only: at the top it would sit above the training banner.
        self.setAllowedAreas(Qt.DockWidgetArea.BottomDockWidgetArea)
        self.outages = tuple(outages)
        self.state: ReplayState | None = None

        body = QWidget(self)
        body.setObjectName("replayBody")
        row = QHBoxLayout(body)
        row.setContentsMargins(8, 4, 8, 4)
        row.setSpacing(8)

        self.play_button = QPushButton("Play", body)
        self.play_button.setObjectName("replayPlay")
        self.play_button.setAccessibleName("Play or pause the scenario")
        self.play_button.setToolTip("Play / pause the scenario (Ctrl+Space)")
        self.play_button.setMinimumWidth(90)
        self.play_button.clicked.connect(self.playToggled)
        row.addWidget(self.play_button)

        speed_label = QLabel("&Speed", body)
        self.speed = QComboBox(body)
        self.speed.setObjectName("replaySpeed")
        self.speed.setAccessibleName("Replay speed")
        self.speed.setToolTip("How fast the scenario clock runs (Ctrl+] faster, Ctrl+[ slower)")
        for s in SPEEDS:
            self.speed.addItem(f"{s}×", float(s))
        self.speed.activated.connect(self._speed_activated)
        speed_label.setBuddy(self.speed)
        row.addWidget(speed_label)
        row.addWidget(self.speed)

        self.restart_button = QPushButton("Restart…", body)
        self.restart_button.setObjectName("replayRestart")
        self.restart_button.setAccessibleName("Restart the scenario from the beginning")
        self.restart_button.setToolTip("Start the scenario again from 00:00 (Ctrl+Alt+R)")
        self.restart_button.clicked.connect(self.restartRequested)
        row.addWidget(self.restart_button)

        jump_label = QLabel("&Jump to", body)
        self.jump_field = QLineEdit(body)
        self.jump_field.setObjectName("replayJumpTime")
        self.jump_field.setAccessibleName("Scenario time to jump to, minutes:seconds")
        self.jump_field.setPlaceholderText("mm:ss")
        self.jump_field.setToolTip("A scenario time such as 12:30 (Ctrl+J)")
        self.jump_field.setMaximumWidth(90)
        self.jump_field.returnPressed.connect(self._jump)
        jump_label.setBuddy(self.jump_field)
        self.jump_button = QPushButton("Go", body)
        self.jump_button.setObjectName("replayJumpGo")
        self.jump_button.setAccessibleName("Jump to that scenario time")
        self.jump_button.clicked.connect(self._jump)
        row.addWidget(jump_label)
        row.addWidget(self.jump_field)
        row.addWidget(self.jump_button)

        self.clock = QLabel("00:00 / 00:00", body)
        self.clock.setObjectName("replayClock")
        self.clock.setAccessibleName("Scenario clock")
        font = QFont()
        font.setBold(True)
        self.clock.setFont(font)
        row.addWidget(self.clock)

        self.progress = QProgressBar(body)
        self.progress.setObjectName("replayProgress")
        self.progress.setAccessibleName("Scenario progress")
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("%p%")
        self.progress.setMinimumWidth(160)
        row.addWidget(self.progress, 1)

        self.delivered = QLabel("Texts 0 / 0", body)
        self.delivered.setObjectName("replayDelivered")
        self.delivered.setAccessibleName("Texts delivered so far")
        row.addWidget(self.delivered)

        self.oms = QLabel(oms_summary(0.0, self.outages), body)
        self.oms.setObjectName("replayOms")
        self.oms.setAccessibleName("OMS state in the scenario")
        row.addWidget(self.oms)
        self.setWidget(body)

        self.timer = QTimer(self, interval=POLL_MS)

    def current_speed(self) -> float:
        return float(self.speed.currentData())

    def step_speed(self, step: int) -> None:
        """The next faster (+1) or slower (-1) speed choice."""
        index = min(max(self.speed.currentIndex() + step, 0), self.speed.count() - 1)
        if index != self.speed.currentIndex():
            self.speed.setCurrentIndex(index)
            self.speedChosen.emit(self.current_speed())

    def focus_jump(self) -> None:
        if self.isHidden():
            self.show()
        self.jump_field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.jump_field.selectAll()

    def _speed_activated(self, _index: int) -> None:
        self.speedChosen.emit(self.current_speed())

    def _jump(self) -> None:
        seconds = parse_clock(self.jump_field.text())
        duration = self.state.duration if self.state is not None else None
        if seconds is None or (duration is not None and seconds > duration):
            limit = f" between 00:00 and {format_clock(duration)}" if duration else ""
            self.jump_field.setToolTip(f"Type a scenario time as mm:ss{limit}")
            self.jump_field.setProperty("invalid", True)
            self.jump_field.setStyleSheet("QLineEdit { border: 2px solid #dc2626; }")
            self.jump_field.setAccessibleDescription(f"Not a scenario time{limit}")
            return
        self.jump_field.setStyleSheet("")
        self.jump_field.setProperty("invalid", False)
        self.jump_field.setAccessibleDescription("")
        self.seekRequested.emit(seconds)

    def show_state(self, state: ReplayState) -> None:
        """Update every label from one state; cheap when nothing changed."""
        previous = self.state
        self.state = state
        if previous == state:
            return
        play_text = "Pause" if state.playing else ("Finished" if state.finished else "Play")
        if self.play_button.text() != play_text:
            self.play_button.setText(play_text)
            self.play_button.setAccessibleDescription(
                "playing" if state.playing else ("finished" if state.finished else "paused")
            )
        clock = f"{format_clock(state.position)} / {format_clock(state.duration)}"
        if self.clock.text() != clock:
            self.clock.setText(clock)
            self.clock.setAccessibleDescription(clock)
        share = state.position / state.duration if state.duration > 0 else 1.0
        self.progress.setValue(round(1000 * min(max(share, 0.0), 1.0)))
        delivered = f"Texts {state.delivered:,} / {state.total:,}"
        if self.delivered.text() != delivered:
            self.delivered.setText(delivered)
        oms = oms_summary(state.position, self.outages)
        if self.oms.text() != oms:
            self.oms.setText(oms)
            self.oms.setAccessibleDescription(oms)
        if abs(self.current_speed() - state.speed) > 1e-9:
            index = self.speed.findData(float(state.speed))
            if index >= 0:
                self.speed.setCurrentIndex(index)
        if state.finished and (previous is None or not previous.finished):
            self.finishedReached.emit()
