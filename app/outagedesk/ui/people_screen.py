"""Admin ▸ People: who may sign in and with which role, and the service tokens of scripts.

Every change is an operation of ``ops.people`` run on the window's worker (Argon2 hashing is
slow on purpose); the operation checks the role, so a screen opened by someone who may not
manage people shows the refusal and changes nothing. A new token is shown once, in a
read-only field that can be copied, and never again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session, sessionmaker

from outagedesk.ops.base import Actor, Role
from outagedesk.ops.people import (
    MIN_PASSWORD,
    PersonInfo,
    TokenInfo,
    add_person,
    issue_token,
    list_people,
    list_tokens,
    reset_password,
    revoke_token,
    set_active,
    set_role,
)
from outagedesk.ui.link_dialog import Failure, submit_write
from outagedesk.ui.worker import DbWorker

PEOPLE_HEADERS = ("Name", "Display name", "Role", "State", "Last sign-in", "Failed since")
TOKEN_HEADERS = ("Name", "Role", "Starts with", "State", "Issued by", "Last used")

Index = QModelIndex | QPersistentModelIndex


def _when(at: datetime | None) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M") if at else "never"


class RowsModel(QAbstractTableModel):
    """A small read-only table of pre-formatted rows; ``keys`` name each row's subject."""

    def __init__(self, headers: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.headers = tuple(headers)
        self.rows: list[tuple[str, ...]] = []
        self.keys: list[str] = []

    def set_rows(self, keys: list[str], rows: list[tuple[str, ...]]) -> None:
        self.beginResetModel()
        self.keys, self.rows = keys, rows
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.headers)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role not in (
            Qt.ItemDataRole.DisplayRole,
            Qt.ItemDataRole.AccessibleTextRole,
        ):
            return None
        return self.rows[index.row()][index.column()]

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.headers[section]
        return None


def _people_rows(people: list[PersonInfo]) -> tuple[list[str], list[tuple[str, ...]]]:
    rows: list[tuple[str, ...]] = [
        (
            p.username,
            p.display_name,
            p.role.value,
            "active" if p.active else "disabled",
            _when(p.last_sign_in_at),
            str(p.failed_sign_ins),
        )
        for p in people
    ]
    return [p.username for p in people], rows


def _token_rows(tokens: list[TokenInfo]) -> tuple[list[str], list[tuple[str, ...]]]:
    rows: list[tuple[str, ...]] = [
        (
            t.name,
            t.role.value,
            t.hint + "…",
            "revoked" if t.revoked_at else "active",
            t.issued_by,
            _when(t.last_used_at),
        )
        for t in tokens
    ]
    return [t.name for t in tokens], rows


class PeopleScreen(QDialog):
    """People and service tokens (non-modal)."""

    changed = Signal(str)
    loaded = Signal()

    def __init__(
        self,
        *,
        worker: DbWorker,
        sessions: sessionmaker[Session],
        actor: Actor,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("peopleScreen")
        self.setWindowTitle("People and service tokens")
        self.setAccessibleName("People and service tokens")
        self.worker = worker
        self.sessions = sessions
        self.actor = actor
        self.people: list[PersonInfo] = []
        self.tokens: list[TokenInfo] = []
        layout = QVBoxLayout(self)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("peopleTabs")
        self.tabs.setAccessibleName("People or service tokens")
        self.tabs.tabBar().setAccessibleName("People or service tokens")
        self.tabs.addTab(self._people_tab(), "&People")
        self.tabs.addTab(self._tokens_tab(), "Service &tokens")
        layout.addWidget(self.tabs)
        self.status = QLabel(self)
        self.status.setObjectName("peopleStatus")
        self.status.setAccessibleName("What happened")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.resize(760, 620)
        self.reload()

    # -- building ------------------------------------------------------------------------------
    def _table(self, model: RowsModel, name: str, accessible: str) -> QTableView:
        view = QTableView(self)
        view.setObjectName(name)
        view.setAccessibleName(accessible)
        view.setModel(model)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.verticalHeader().hide()
        view.horizontalHeader().setStretchLastSection(True)
        view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        return view

    def _line(self, name: str, accessible: str, *, secret: bool = False) -> QLineEdit:
        edit = QLineEdit(self)
        edit.setObjectName(name)
        edit.setAccessibleName(accessible)
        if secret:
            edit.setEchoMode(QLineEdit.EchoMode.Password)
            edit.setPlaceholderText(f"at least {MIN_PASSWORD} characters")
        return edit

    def _button(self, text: str, name: str, slot: Callable[[], None]) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.setAccessibleName(text.replace("&", "").rstrip("…"))
        button.clicked.connect(slot)
        return button

    def _roles(self, name: str, accessible: str) -> QComboBox:
        box = QComboBox(self)
        box.setObjectName(name)
        box.setAccessibleName(accessible)
        for role in Role:
            box.addItem(role.value, role.value)
        return box

    def _people_tab(self) -> QWidget:
        tab = QWidget(self)
        layout = QVBoxLayout(tab)
        self.people_model = RowsModel(PEOPLE_HEADERS, self)
        self.people_view = self._table(self.people_model, "peopleTable", "People")
        layout.addWidget(self.people_view, 1)

        chosen = QGroupBox("The selected person", tab)
        row = QHBoxLayout(chosen)
        self.role_box = self._roles("peopleRole", "New role of the selected person")
        self.set_role_button = self._button("Set &role", "peopleSetRole", self.set_role)
        self.toggle_button = self._button("&Disable", "peopleToggleActive", self.toggle_active)
        self.reset_password = self._line("peopleResetPassword", "New password", secret=True)
        self.reset_button = self._button("Reset pass&word", "peopleReset", self.reset)
        for widget in (
            self.role_box,
            self.set_role_button,
            self.toggle_button,
            self.reset_password,
            self.reset_button,
        ):
            row.addWidget(widget)
        layout.addWidget(chosen)

        new = QGroupBox("Add a person", tab)
        form = QFormLayout(new)
        self.new_name = self._line("peopleNewName", "Sign-in name of the new person")
        self.new_display = self._line("peopleNewDisplay", "Display name of the new person")
        self.new_role = self._roles("peopleNewRole", "Role of the new person")
        self.new_password = self._line("peopleNewPassword", "Password", secret=True)
        self.new_again = self._line("peopleNewPasswordAgain", "Password again", secret=True)
        self.add_button = self._button("&Add person", "peopleAdd", self.add)
        form.addRow("Sign-in &name:", self.new_name)
        form.addRow("Display na&me:", self.new_display)
        form.addRow("R&ole:", self.new_role)
        form.addRow("Pa&ssword:", self.new_password)
        form.addRow("Password a&gain:", self.new_again)
        form.addRow(self.add_button)
        layout.addWidget(new)
        self.people_view.selectionModel().currentRowChanged.connect(self._person_chosen)
        return tab

    def _tokens_tab(self) -> QWidget:
        tab = QWidget(self)
        layout = QVBoxLayout(tab)
        self.token_model = RowsModel(TOKEN_HEADERS, self)
        self.token_view = self._table(self.token_model, "tokensTable", "Service tokens")
        layout.addWidget(self.token_view, 1)
        self.revoke_button = self._button("Re&voke selected token", "tokenRevoke", self.revoke)
        layout.addWidget(self.revoke_button)
        new = QGroupBox("Issue a token (for a script: OUTAGEDESK_SERVICE_TOKEN)", tab)
        form = QFormLayout(new)
        self.token_name = self._line("tokenName", "What the token is for")
        self.token_name.setPlaceholderText("e.g. nightly-import")
        self.token_role = self._roles("tokenRole", "Role of the token")
        self.issue_button = self._button("&Issue token", "tokenIssue", self.issue)
        self.token_value = self._line("tokenValue", "The new token, shown once")
        self.token_value.setReadOnly(True)
        self.token_value.setPlaceholderText("the new token appears here, once")
        self.copy_button = self._button("&Copy", "tokenCopy", self.copy_token)
        self.copy_button.setEnabled(False)
        shown = QHBoxLayout()
        shown.addWidget(self.token_value, 1)
        shown.addWidget(self.copy_button)
        form.addRow("&Name:", self.token_name)
        form.addRow("Ro&le:", self.token_role)
        form.addRow(self.issue_button)
        form.addRow("Token:", shown)
        layout.addWidget(new)
        return tab

    # -- reading -------------------------------------------------------------------------------
    def reload(self) -> None:
        actor = self.actor
        self.worker.submit(
            lambda s: (list_people(s, actor), list_tokens(s, actor)),
            self._on_loaded,
            lambda exc: self._say(f"⚠ {exc}"),
        )

    def _on_loaded(self, result: tuple[list[PersonInfo], list[TokenInfo]]) -> None:
        self.people, self.tokens = result
        chosen = self.chosen_person()
        self.people_model.set_rows(*_people_rows(self.people))
        self.token_model.set_rows(*_token_rows(self.tokens))
        if chosen is not None and chosen.username in self.people_model.keys:
            self.people_view.selectRow(self.people_model.keys.index(chosen.username))
        self.loaded.emit()

    def chosen_person(self) -> PersonInfo | None:
        index = self.people_view.currentIndex()
        return self.people[index.row()] if index.isValid() else None

    def _person_chosen(self, *_args: Any) -> None:
        person = self.chosen_person()
        if person is None:
            return
        self.role_box.setCurrentIndex(self.role_box.findData(person.role.value))
        self.toggle_button.setText("&Enable" if not person.active else "&Disable")
        self.toggle_button.setAccessibleName("Enable" if not person.active else "Disable")

    # -- changing ------------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        self.status.setText(text)

    def _run(self, work: Callable[[Session], Any], done_text: str) -> None:
        def finished(result: Any) -> None:
            if isinstance(result, Failure):
                self._say(f"⚠ {result.message}")
                return
            self._say(done_text)
            self.changed.emit(done_text)
            self.reload()

        self._say("Working…")
        submit_write(self.worker, self.sessions, work, finished)

    def _needs_person(self) -> PersonInfo | None:
        person = self.chosen_person()
        if person is None:
            self._say("⚠ Select a person first.")
        return person

    def set_role(self) -> None:
        person = self._needs_person()
        if person is None:
            return
        actor, role = self.actor, Role(self.role_box.currentData())
        self._run(
            lambda s: set_role(s, actor, person.username, role),
            f"{person.username} is now {role.value}.",
        )

    def toggle_active(self) -> None:
        person = self._needs_person()
        if person is None:
            return
        actor, active = self.actor, not person.active
        self._run(
            lambda s: set_active(s, actor, person.username, active),
            f"{person.username} {'enabled' if active else 'disabled'}.",
        )

    def reset(self) -> None:
        person = self._needs_person()
        if person is None:
            return
        actor, password = self.actor, self.reset_password.text()
        self.reset_password.clear()
        self._run(
            lambda s: reset_password(s, actor, person.username, password),
            f"The password of {person.username} was reset.",
        )

    def add(self) -> None:
        name = self.new_name.text().strip()
        password = self.new_password.text()
        if password != self.new_again.text():
            self._say("⚠ The two passwords differ.")
            return
        actor, role = self.actor, Role(self.new_role.currentData())
        display = self.new_display.text().strip()
        self._run(
            lambda s: add_person(s, actor, name, role, password, display),
            f"{name.lower()} added as {role.value}.",
        )
        self.new_password.clear()
        self.new_again.clear()

    def issue(self) -> None:
        actor, name = self.actor, self.token_name.text().strip()
        role = Role(self.token_role.currentData())

        def shown(result: str | Failure) -> None:
            if isinstance(result, Failure):
                self._say(f"⚠ {result.message}")
                return
            self.token_value.setText(result)
            self.token_value.selectAll()
            self.token_value.setFocus()
            self.copy_button.setEnabled(True)
            self._say(
                f"Token {name.lower()} ({role.value}) issued. It is shown this once: copy it "
                "into the script's secret store now."
            )
            self.reload()

        self._say("Working…")
        submit_write(self.worker, self.sessions, lambda s: issue_token(s, actor, name, role), shown)

    def copy_token(self) -> None:
        QGuiApplication.clipboard().setText(self.token_value.text())
        self._say("Token copied to the clipboard.")

    def revoke(self) -> None:
        index = self.token_view.currentIndex()
        if not index.isValid():
            self._say("⚠ Select a token first.")
            return
        actor, name = self.actor, self.token_model.keys[index.row()]
        self._run(lambda s: revoke_token(s, actor, name), f"Token {name} revoked.")

    def closeEvent(self, event: Any) -> None:
        # The plaintext token lives nowhere else: do not leave it in a closed widget either.
        self.token_value.clear()
        super().closeEvent(event)
