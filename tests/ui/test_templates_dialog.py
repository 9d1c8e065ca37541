"""Reply templates: edited with a live preview and SMS length, saved to the settings file."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pytestqt.qtbot import QtBot

from outagedesk.config import Settings
from outagedesk.domain.consent import Purpose
from outagedesk.ops.base import Actor, Role
from outagedesk.ui.templates_dialog import TemplatesDialog

ADMIN = Actor("ana", "desk-1", Role.ADMIN)


def dialog_for(qtbot: QtBot, tmp_path: Path) -> TemplatesDialog:
    settings = Settings(data_dir=tmp_path, config_file=tmp_path / "settings.toml")
    dialog = TemplatesDialog(settings, actor=ADMIN)
    qtbot.addWidget(dialog)
    return dialog


def choose(dialog: TemplatesDialog, purpose: Purpose) -> None:
    dialog.purpose.setCurrentIndex(dialog.purpose.findData(purpose.value))


def test_preview_and_length_follow_the_text(qtbot: QtBot, tmp_path: Path) -> None:
    dialog = dialog_for(qtbot, tmp_path)
    choose(dialog, Purpose.OUTAGE_ACK)
    dialog.editor.setPlainText("{program}: got it. STOP to opt out.")
    assert dialog.preview.text() == "OutageDesk Utility: got it. STOP to opt out."
    assert dialog.counter.text() == "44 characters, GSM-7, 1 segment"
    dialog.editor.setPlainText("{program}: " + "x" * 150)
    assert dialog.counter.text().endswith("2 segments")
    dialog.editor.setPlainText("{program}: recibido 🙂")
    assert "UCS-2" in dialog.counter.text()


def test_a_bad_placeholder_blocks_saving(qtbot: QtBot, tmp_path: Path) -> None:
    dialog = dialog_for(qtbot, tmp_path)
    choose(dialog, Purpose.HELP)
    dialog.editor.setPlainText("{programme} help")
    assert "unknown placeholder {programme}" in dialog.problem.text()
    assert not dialog.save_button.isEnabled()
    dialog.reset.click()
    assert dialog.save_button.isEnabled()
    assert dialog.problem.text() == ""


def test_saving_writes_only_the_changed_texts(qtbot: QtBot, tmp_path: Path) -> None:
    dialog = dialog_for(qtbot, tmp_path)
    choose(dialog, Purpose.STATUS)
    dialog.editor.setPlainText("{program}: crews are out. STOP to opt out.")
    choose(dialog, Purpose.HELP)  # switching keeps the edit
    dialog.save_button.click()
    saved = tomllib.loads((tmp_path / "settings.toml").read_text(encoding="utf-8"))
    assert saved["reply_templates"] == {"status": "{program}: crews are out. STOP to opt out."}
    reopened = TemplatesDialog(
        Settings(data_dir=tmp_path, config_file=tmp_path / "settings.toml",
                 reply_templates=saved["reply_templates"]),
        actor=ADMIN,
    )  # fmt: skip
    qtbot.addWidget(reopened)
    choose(reopened, Purpose.STATUS)
    assert reopened.editor.toPlainText() == "{program}: crews are out. STOP to opt out."


def test_the_window_opens_it_from_the_file_menu(qtbot: QtBot, window: object) -> None:
    from PySide6.QtGui import QAction

    from outagedesk.ui.main_window import MainWindow

    assert isinstance(window, MainWindow)
    action = window.findChild(QAction, "actionTemplates")
    assert action is not None
    action.trigger()
    qtbot.waitUntil(lambda: window.templates_dialog.isVisible(), timeout=5000)
    dialog = window.templates_dialog
    unnamed = [
        w.objectName() for w in (dialog.purpose, dialog.editor, dialog.reset)
        if not w.accessibleName()
    ]  # fmt: skip
    assert unnamed == []
    dialog.reject()
