"""Edit the automatic replies: each as the customer will read it, with its SMS cost."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from outagedesk.config import Settings, SettingsError
from outagedesk.domain.consent import Purpose
from outagedesk.domain.replies import (
    DEFAULT_TEMPLATES,
    ReplyPolicy,
    count_segments,
    template_problems,
)
from outagedesk.ops.base import Actor, Permission, PermissionDenied
from outagedesk.ops.people import needs_role_text
from outagedesk.ops.settings import save_templates_as

SAMPLE_ADDRESS = "12 Main St"

W = TypeVar("W", bound=QWidget)


def _named(widget: W, name: str) -> W:
    widget.setObjectName(name)
    return widget


class TemplatesDialog(QDialog):
    """One reply at a time: its text, a live preview and its length; saved to the settings file.

    ``saved(before, after)`` carries the templates for the audit row the window writes.
    """

    saved = Signal(dict, dict)

    def __init__(self, settings: Settings, parent: QWidget | None = None, *, actor: Actor) -> None:
        super().__init__(parent)
        self.setObjectName("templatesDialog")
        self.setWindowTitle("Reply templates")
        self.settings = settings
        self.actor = actor
        self.edited: dict[str, str] = {
            p.value: settings.reply_templates.get(p.value, DEFAULT_TEMPLATES[p]) for p in Purpose
        }

        self.purpose = _named(QComboBox(), "templatePurpose")
        self.purpose.setAccessibleName("Which reply")
        for p in Purpose:
            self.purpose.addItem(p.value.replace("_", " "), p.value)
        self.editor = _named(QPlainTextEdit(), "templateText")
        self.editor.setAccessibleName("Reply text")
        self.editor.setTabChangesFocus(True)
        self.preview = _named(QLabel(), "templatePreview")
        self.preview.setWordWrap(True)
        self.preview.setAccessibleName("Preview as sent")
        self.counter = _named(QLabel(), "templateLength")
        self.counter.setAccessibleName("Length in SMS segments")
        self.problem = _named(QLabel(), "templateProblem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #b00020; font-weight: bold")
        self.reset = _named(QPushButton("Use the &default text"), "templateReset")
        self.reset.setAccessibleName("Use the default text")
        self.reset.clicked.connect(self._reset)

        form = QFormLayout()
        form.addRow("&Reply:", self.purpose)
        form.addRow("&Text:", self.editor)
        form.addRow("Placeholders:", QLabel("{program}, {support}, {address}"))
        form.addRow("Preview:", self.preview)
        form.addRow("Length:", self.counter)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setObjectName("templateSave")
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.reset)
        layout.addWidget(self.problem)
        layout.addWidget(QLabel("Changes apply from the next start of the engine."))
        layout.addWidget(buttons)

        self.purpose.currentIndexChanged.connect(self._show_purpose)
        self.editor.textChanged.connect(self._text_changed)
        self._show_purpose()

    def current(self) -> Purpose:
        return Purpose(self.purpose.currentData())

    def _show_purpose(self) -> None:
        self.editor.blockSignals(True)
        self.editor.setPlainText(self.edited[self.current().value])
        self.editor.blockSignals(False)
        self._refresh()

    def _text_changed(self) -> None:
        self.edited[self.current().value] = self.editor.toPlainText()
        self._refresh()

    def _reset(self) -> None:
        self.editor.setPlainText(DEFAULT_TEMPLATES[self.current()])

    def changed_templates(self) -> dict[str, str]:
        return {k: v for k, v in self.edited.items() if v != DEFAULT_TEMPLATES[Purpose(k)]}

    def _refresh(self) -> None:
        problems = template_problems(self.changed_templates())
        self.problem.setText("\n".join(problems))
        self.save_button.setEnabled(not problems)
        purpose = self.current()
        text = self.edited[purpose.value]
        if template_problems({purpose.value: text}):
            self.preview.setText("—")
            self.counter.setText("—")
            return
        policy = ReplyPolicy(
            program=self.settings.program_name,
            support=self.settings.support_contact,
            templates=((purpose.value, text),),
        )
        rendered = policy.render(purpose, address=SAMPLE_ADDRESS)
        cost = count_segments(rendered)
        self.preview.setText(rendered)
        plural = "s" if cost.segments != 1 else ""
        self.counter.setText(
            f"{cost.units} characters, {cost.encoding}, {cost.segments} segment{plural}"
        )

    def _save(self) -> None:
        before = dict(self.settings.reply_templates)
        self.settings.reply_templates = self.changed_templates()
        try:
            save_templates_as(self.actor, self.settings.config_file, self.settings.reply_templates)
        except PermissionDenied as exc:
            self.settings.reply_templates = before
            self.problem.setText(f"{exc}. {needs_role_text(Permission.MANAGE_SETTINGS)}.")
            return
        except OSError as exc:
            self.settings.reply_templates = before
            self.problem.setText(f"Could not save {self.settings.config_file}: {exc.strerror}")
            return
        except SettingsError as exc:
            self.settings.reply_templates = before
            self.problem.setText(str(exc))
            return
        self.saved.emit(
            {"reply_templates": before}, {"reply_templates": dict(self.settings.reply_templates)}
        )
        self.accept()
