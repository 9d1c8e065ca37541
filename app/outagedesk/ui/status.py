"""Status bar pieces: connection indicators, the rate of reports, the red banner."""

from __future__ import annotations

import time
from collections import deque
from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

from outagedesk.engine.core import LinkStatus
from outagedesk.engine.events import LinkState
from outagedesk.ui import theme

_LEVEL = {
    LinkState.STARTING: "idle",
    LinkState.ONLINE: "ok",
    LinkState.DEGRADED: "warn",
    LinkState.OFFLINE: "bad",
    LinkState.AUTH_ERROR: "bad",
}
_ICON = {
    LinkState.STARTING: "starting",
    LinkState.ONLINE: "online",
    LinkState.DEGRADED: "degraded",
    LinkState.OFFLINE: "offline",
    LinkState.AUTH_ERROR: "auth-error",
}


def _clock(at: datetime | None) -> str:
    return at.astimezone().strftime("%H:%M:%S") if at is not None else "never"


def describe(name: str, link: LinkStatus) -> str:
    """One line a dispatcher reads at a glance, e.g. ``Gateway OFFLINE · last good poll …``."""
    state = link.state
    contact = "poll" if name == "Gateway" else "answer"
    if state == LinkState.ONLINE:
        return f"{name} online · last {contact} {_clock(link.last_ok)}"
    if state == LinkState.DEGRADED:
        return f"{name} DEGRADED · last good {contact} {_clock(link.last_ok)}"
    if state == LinkState.OFFLINE:
        return f"{name} OFFLINE · last good {contact} {_clock(link.last_ok)}"
    if state == LinkState.AUTH_ERROR:
        return f"{name} AUTHORISATION ERROR · check the token"
    if name == "OMS":
        return "OMS: no report sent yet"
    return f"{name}: connecting…"


class StatusIndicator(QToolButton):
    """Icon + text + colour for one connection; ``level`` drives the style sheet."""

    def __init__(self, name: str, object_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.setObjectName(object_name)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.setAutoRaise(False)
        self.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.setAccessibleName(f"{name} connection status")
        self.state: LinkState | None = None
        self.link = LinkStatus()
        self.update_link(LinkStatus())

    @property
    def level(self) -> str:
        return str(self.property("status") or "idle")

    def update_link(self, link: LinkStatus) -> None:
        self.link = link
        text = describe(self.name, link)
        if text != self.text():
            self.setText(text)
            self.setAccessibleDescription(text)
        tip = text + (f"\n{link.detail}" if link.detail else "")
        if tip != self.toolTip():
            self.setToolTip(tip)
        if link.state != self.state:
            self.state = link.state
            self.setIcon(theme.icon(_ICON[link.state]))
            self.setProperty("status", _LEVEL[link.state])
            self.style().unpolish(self)
            self.style().polish(self)


class ConnectionBanner(QFrame):
    """A red band across the top while the gateway or the OMS is offline or refused."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("connectionBanner")
        self.setAccessibleName("Connection alarm")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        self._icon = QLabel(self)
        self._icon.setPixmap(theme.icon("offline").pixmap(20, 20))
        self.label = QLabel(self)
        self.label.setObjectName("connectionBannerText")
        self.label.setWordWrap(True)
        layout.addWidget(self._icon)
        layout.addWidget(self.label, 1)
        self.hide()

    def show_problems(self, problems: list[str]) -> None:
        if problems:
            text = "   ·   ".join(problems)
            if text != self.label.text():
                self.label.setText(text)
                self.setAccessibleDescription(text)
            self.show()
        else:
            self.hide()


def engine_down_problem(detail: str) -> str:
    """The banner while the engine process is being restarted: the links are not at fault."""
    return f"{detail[:1].upper()}{detail[1:]}: no texts are fetched and no reports sent meanwhile"


def banner_problem(name: str, link: LinkStatus) -> str | None:
    if link.state == LinkState.OFFLINE:
        what = "texts are not arriving" if name == "Gateway" else "reports are not reaching it"
        return f"{name} OFFLINE since {_clock(link.last_ok)}: {what}"
    if link.state == LinkState.AUTH_ERROR:
        return f"{name} refused our token: fix it in File ▸ Settings"
    return None


class RateMeter:
    """Reports per minute from the engine's running count, over the last minute."""

    def __init__(self, window: float = 60.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, count: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._samples.append((now, count))
        while self._samples and now - self._samples[0][0] > self.window:
            self._samples.popleft()

    def per_minute(self) -> float:
        if len(self._samples) < 2:
            return 0.0
        (t0, c0), (t1, c1) = self._samples[0], self._samples[-1]
        span = t1 - t0
        if span < 3.0:
            return 0.0
        return max(0, c1 - c0) * 60.0 / span
