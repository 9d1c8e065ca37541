"""New unlinked reports: a desktop notification (or a toast in the window) and a beep."""

from __future__ import annotations

import time

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import QApplication, QLabel, QSystemTrayIcon, QWidget

from outagedesk.ui import theme


class Toast(QLabel):
    """An in-window notice at the top right that goes away by itself."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("toast")
        self.setAccessibleName("Notification")
        self.setWordWrap(True)
        self.setMaximumWidth(420)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._timer = QTimer(self, singleShot=True, interval=6000)
        self._timer.timeout.connect(self.hide)
        self.hide()

    def show_text(self, title: str, text: str) -> None:
        self.setText(f"<b>{title}</b><br>{text}")
        self.setAccessibleDescription(f"{title}. {text}")
        self.adjustSize()
        parent = self.parentWidget()
        if parent is not None:
            # Bottom right, above the status bar: never over the search box or the details.
            bottom = parent.height() - self.height() - 48
            self.move(QPoint(max(8, parent.width() - self.width() - 24), max(56, bottom)))
        self.raise_()
        self.show()
        self._timer.start()


class Notifier:
    """Tells the dispatcher about new reports that need a link; at most one notice per
    ``min_interval`` seconds, the counts in between are added up."""

    def __init__(self, window: QWidget, min_interval: float = 15.0) -> None:
        self.window = window
        self.muted = False
        self.min_interval = min_interval
        self.toast = Toast(window)
        self.tray: QSystemTrayIcon | None = None
        self.sent: list[tuple[str, str]] = []
        self._last = 0.0
        self._pending = 0
        self._timer = QTimer(window, singleShot=True)
        self._timer.timeout.connect(self._flush)
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = QSystemTrayIcon(theme.icon("outagedesk"), window)
            self.tray.setToolTip("OutageDesk")
            self.tray.show()

    def unlinked(self, count: int) -> None:
        if count <= 0:
            return
        self._pending += count
        wait = self.min_interval - (time.monotonic() - self._last)
        if wait <= 0:
            self._flush()
        elif not self._timer.isActive():
            self._timer.start(int(wait * 1000))

    def _flush(self) -> None:
        count, self._pending = self._pending, 0
        if count <= 0:
            return
        self._last = time.monotonic()
        title = "New report needs linking" if count == 1 else f"{count} new reports need linking"
        text = "The number is not linked to an account. Press F8 to go to it."
        self.sent.append((title, text))
        if self.tray is not None and self.tray.supportsMessages():
            self.tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Warning, 6000)
        else:
            self.toast.show_text(title, text)
        if not self.muted:
            QApplication.beep()

    def close(self) -> None:
        self._timer.stop()
        if self.tray is not None:
            self.tray.hide()
            self.tray.deleteLater()
            self.tray = None
