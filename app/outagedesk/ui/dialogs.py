"""Dialogs: keyboard shortcuts, first-run settings. Opened with ``open()``/``show()``, never
``exec()`` (a nested event loop inside a coroutine is how qasync apps deadlock)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from outagedesk.config import Settings

log = logging.getLogger(__name__)


def dialog_result(dialog: QDialog) -> asyncio.Future[int]:
    """A future for the dialog's result; the dialog is opened with ``open()``."""
    loop = asyncio.get_event_loop()
    future: asyncio.Future[int] = loop.create_future()

    def done(code: int) -> None:
        if not future.done():
            future.set_result(code)

    dialog.finished.connect(done)
    dialog.open()
    return future


class ShortcutsDialog(QDialog):
    """Help ▸ Keyboard shortcuts: built from the window's own actions, so it never lies."""

    def __init__(self, actions: Sequence[QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts")
        self.setAccessibleName("Keyboard shortcuts")
        layout = QVBoxLayout(self)
        intro = QLabel("Every command has a key. Filters: Alt+1 … Alt+6.", self)
        layout.addWidget(intro)
        rows = [
            (a.text().replace("&&", "\0").replace("&", "").replace("\0", "&"), a.shortcuts())
            for a in actions
            if a.shortcuts()
        ]
        table = QTableWidget(len(rows), 2, self)
        table.setObjectName("shortcutsTable")
        table.setAccessibleName("Shortcut list")
        table.setHorizontalHeaderLabels(["Command", "Keys"])
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        for i, (text, keys) in enumerate(rows):
            table.setItem(i, 0, QTableWidgetItem(text))
            native = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in keys)
            table.setItem(i, 1, QTableWidgetItem(native))
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.Close).setAccessibleName("Close")
        layout.addWidget(buttons)
        self.table = table
        self.resize(520, 560)


def keyring_problem() -> str | None:
    """Why tokens cannot go to the OS keyring, or None when they can (may block: worker)."""
    try:
        import keyring
        from keyring.backends import fail, null
    except ImportError:
        return "the keyring package is not installed"
    try:
        backend = keyring.get_keyring()
    except Exception as exc:  # noqa: BLE001 - any failure means "no keyring"
        return str(exc)
    if isinstance(backend, fail.Keyring | null.Keyring):
        # The null backend accepts a token and forgets it: as good as none.
        return "no OS keyring service was found (is a Secret Service or KWallet running?)"
    chained = getattr(backend, "backends", None)
    if chained is not None and not chained:
        return "no OS keyring service was found (is a Secret Service or KWallet running?)"
    return None


class SettingsDialog(QDialog):
    """First-run settings: gateway URL and token, OMS URL and token, database."""

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settingsDialog")
        self.setWindowTitle("OutageDesk settings")
        self.setAccessibleName("OutageDesk settings")
        self.settings = settings
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Connect OutageDesk to your SMS gateway and your OMS. Tokens are kept in the "
            "OS keyring, never in the settings file.",
            self,
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.gateway_url = self._field(form, "Gateway URL", settings.gateway_url, "gatewayUrl")
        self.gateway_url.setPlaceholderText("https://gateway.example.net")
        self.gateway_token = self._field(
            form, "Gateway token", settings.gateway_token, "gatewayToken", secret=True
        )
        self.oms_url = self._field(form, "OMS URL", settings.oms_url, "omsUrl")
        self.oms_url.setPlaceholderText("https://oms.example.net/v1/reports")
        self.oms_token = self._field(form, "OMS token", settings.oms_token, "omsToken", secret=True)
        self.db_url = self._field(form, "Database URL", settings.db_url, "databaseUrl")
        self.db_url.setPlaceholderText(f"empty: {settings.database_url}")
        layout.addLayout(form)
        self.keyring_label = QLabel("Checking the OS keyring…", self)
        self.keyring_label.setObjectName("keyringStatus")
        self.keyring_label.setWordWrap(True)
        layout.addWidget(self.keyring_label)
        self.error_label = QLabel(self)
        self.error_label.setObjectName("settingsError")
        self.error_label.setStyleSheet("color: #dc2626; font-weight: bold;")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        layout.addWidget(self.error_label)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self
        )
        save = buttons.button(QDialogButtonBox.StandardButton.Save)
        save.setText("Save and connect")
        save.setAccessibleName("Save and connect")
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setAccessibleName("Cancel")
        buttons.accepted.connect(self._check)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.keyring_ok = False
        self.resize(560, 0)

    def _field(
        self,
        form: QFormLayout,
        label: str,
        value: str | None,
        name: str,
        *,
        secret: bool = False,
    ) -> QLineEdit:
        edit = QLineEdit(value or "", self)
        edit.setObjectName(name)
        edit.setAccessibleName(label)
        if secret:
            edit.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow(label, edit)
        return edit

    def set_keyring_problem(self, problem: str | None) -> None:
        self.keyring_ok = problem is None
        if problem is None:
            self.keyring_label.setText("Tokens will be stored in the OS keyring.")
            self.keyring_label.setStyleSheet("")
        else:
            self.keyring_label.setText(
                f"⚠ OS keyring unavailable: {problem}. The tokens will be used for this "
                "session only; to keep them, set OUTAGEDESK_GATEWAY_TOKEN and "
                "OUTAGEDESK_OMS_TOKEN in the environment."
            )
            self.keyring_label.setStyleSheet("color: #b45309; font-weight: bold;")
        self.keyring_label.setAccessibleDescription(self.keyring_label.text())

    def problems(self) -> list[str]:
        out = []
        for edit, name in (
            (self.gateway_url, "the gateway URL"),
            (self.oms_url, "the OMS URL"),
        ):
            text = edit.text().strip()
            if not text.startswith(("http://", "https://")):
                out.append(f"{name} must start with http:// or https://")
        if not self.gateway_token.text().strip():
            out.append("the gateway token is empty")
        if not self.oms_token.text().strip():
            out.append("the OMS token is empty")
        return out

    def _check(self) -> None:
        problems = self.problems()
        if problems:
            self.error_label.setText("Please fix: " + "; ".join(problems) + ".")
            self.error_label.show()
            return
        self.accept()

    def result_settings(self) -> Settings:
        return dataclasses.replace(
            self.settings,
            gateway_url=self.gateway_url.text().strip(),
            gateway_token=self.gateway_token.text().strip(),
            oms_url=self.oms_url.text().strip(),
            oms_token=self.oms_token.text().strip(),
            db_url=self.db_url.text().strip() or self.settings.db_url,
        )


def save_first_run(settings: Settings) -> list[str]:
    """Save the file and the tokens (blocking: run it on a worker); returns warnings."""
    from outagedesk.config import store_secret
    from outagedesk.ops.settings import save_settings_as

    warnings = []
    # Nobody exists before the first run's settings are saved: nobody to check.
    path = save_settings_as(None, settings)
    log.info("settings saved to %s", path)
    for name in ("gateway_token", "oms_token"):
        value = getattr(settings, name)
        if not value:
            continue
        try:
            store_secret(name, value)
        except Exception as exc:  # noqa: BLE001 - the keyring can fail in many ways
            warnings.append(f"could not store the {name.replace('_', ' ')} in the keyring: {exc}")
    return warnings


__all__ = [
    "SettingsDialog",
    "ShortcutsDialog",
    "dialog_result",
    "keyring_problem",
    "save_first_run",
]
