"""Signing in at the desk: the first administrator, the start-up sign-in, the lock screen.

Checking a password costs tens of milliseconds of Argon2 on purpose, so it never runs on the
GUI thread: at start-up it goes to the start-up executor, in the window to the DbWorker.
The forms only collect the text, show the answer and emit ``submitted``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from functools import partial
from typing import Any

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from outagedesk.ops.base import Actor, OperationError, Role
from outagedesk.ops.people import (
    MIN_PASSWORD,
    create_first_admin,
    ensure_builtin_person,
    people_exist,
    sign_in,
)
from outagedesk.runtime import Database

log = logging.getLogger(__name__)

DEMO_PERSON = "demo"
DEMO_PASSWORD = "demo-desk"  # noqa: S105 - the throw-away demo database's only person
ERROR_STYLE = "color: #dc2626; font-weight: bold;"


def _line(parent: QWidget, name: str, accessible: str, *, secret: bool = False) -> QLineEdit:
    edit = QLineEdit(parent)
    edit.setObjectName(name)
    edit.setAccessibleName(accessible)
    if secret:
        edit.setEchoMode(QLineEdit.EchoMode.Password)
    return edit


def _error_label(parent: QWidget, name: str) -> QLabel:
    label = QLabel(parent)
    label.setObjectName(name)
    label.setAccessibleName("Sign-in problem")
    label.setStyleSheet(ERROR_STYLE)
    label.setWordWrap(True)
    label.hide()
    return label


# Wide enough for a whole name and the password hint at every font scale.
DIALOG_WIDTH = 420


class SignInForm(QWidget):
    """Name, password, a clear error and a button; Enter in either field submits."""

    submitted = Signal(str, str)

    def __init__(self, parent: QWidget | None = None, *, hint: str = "") -> None:
        super().__init__(parent)
        self.setObjectName("signInForm")
        form = QFormLayout(self)
        self.name = _line(self, "signInName", "Name")
        self.password = _line(self, "signInPassword", "Password", secret=True)
        form.addRow("&Name:", self.name)
        form.addRow("&Password:", self.password)
        self.error = _error_label(self, "signInError")
        form.addRow(self.error)
        if hint:
            note = QLabel(hint, self)
            note.setObjectName("signInHint")
            note.setWordWrap(True)
            form.addRow(note)
        self.button = QPushButton("&Sign in", self)
        self.button.setObjectName("signInButton")
        self.button.setAccessibleName("Sign in")
        self.button.setDefault(True)
        form.addRow(self.button)
        self.button.clicked.connect(self.submit)
        self.name.returnPressed.connect(self.submit)
        self.password.returnPressed.connect(self.submit)

    def submit(self) -> None:
        if not self.button.isEnabled():
            return
        name = self.name.text().strip()
        if not name:
            self.show_error("Type your name.")
            self.name.setFocus()
            return
        if not self.password.text():
            # Enter after the name moves on; an empty password would count as a failure.
            self.password.setFocus()
            return
        self.submitted.emit(name, self.password.text())

    def set_busy(self, busy: bool) -> None:
        self.button.setEnabled(not busy)
        self.button.setText("Checking…" if busy else "&Sign in")

    def show_error(self, text: str) -> None:
        self.set_busy(False)
        message = text[:1].upper() + text[1:]
        self.error.setText(message if message.endswith(".") else message + ".")
        self.error.show()
        self.password.clear()
        self.password.setFocus()

    def start(self, name: str = "") -> None:
        """Ready for someone to sign in (``name`` filled in when the same person returns)."""
        self.set_busy(False)
        self.error.hide()
        self.name.setText(name)
        self.password.clear()
        (self.password if name else self.name).setFocus()


class SignInDialog(QDialog):
    """At start-up, when people exist: who is at this desk?"""

    submitted = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("signInDialog")
        self.setWindowTitle("Sign in to OutageDesk")
        self.setAccessibleName("Sign in to OutageDesk")
        self.setMinimumWidth(DIALOG_WIDTH)
        layout = QVBoxLayout(self)
        self.form = SignInForm(self)
        layout.addWidget(self.form)
        self.form.submitted.connect(self._submit)
        self.form.start()

    def _submit(self, name: str, password: str) -> None:
        self.form.set_busy(True)
        self.submitted.emit(name, password)

    def show_error(self, text: str) -> None:
        self.form.show_error(text)


class FirstAdminDialog(QDialog):
    """A new database: the first person is the administrator who adds everyone else."""

    submitted = Signal(str, str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("firstAdminDialog")
        self.setWindowTitle("Create the first administrator")
        self.setAccessibleName("Create the first administrator")
        self.setMinimumWidth(DIALOG_WIDTH)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Nobody has signed in to this database yet. Create the administrator who will "
            "add the dispatchers and supervisors (Admin ▸ People…).",
            self,
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.name = _line(self, "adminName", "Sign-in name")
        self.display_name = _line(self, "adminDisplayName", "Display name")
        self.password = _line(self, "adminPassword", "Password", secret=True)
        self.password.setPlaceholderText(f"at least {MIN_PASSWORD} characters")
        self.again = _line(self, "adminPasswordAgain", "Password again", secret=True)
        form.addRow("Sign-in &name:", self.name)
        form.addRow("&Display name:", self.display_name)
        form.addRow("&Password:", self.password)
        form.addRow("Password &again:", self.again)
        layout.addLayout(form)
        self.error = _error_label(self, "adminError")
        layout.addWidget(self.error)
        self.button = QPushButton("&Create administrator", self)
        self.button.setObjectName("adminCreate")
        self.button.setAccessibleName("Create administrator")
        self.button.setDefault(True)
        layout.addWidget(self.button)
        self.button.clicked.connect(self.submit)
        self.again.returnPressed.connect(self.submit)
        self.name.setFocus()

    def problem(self) -> str | None:
        if not self.name.text().strip():
            return "Type a sign-in name."
        if len(self.password.text()) < MIN_PASSWORD:
            return f"The password needs at least {MIN_PASSWORD} characters."
        if self.password.text() != self.again.text():
            return "The two passwords differ."
        return None

    def submit(self) -> None:
        problem = self.problem()
        if problem:
            self.show_error(problem)
            return
        self.button.setEnabled(False)
        self.submitted.emit(
            self.name.text().strip(), self.display_name.text().strip(), self.password.text()
        )

    def show_error(self, text: str) -> None:
        self.button.setEnabled(True)
        self.error.setText(text[:1].upper() + text[1:])
        self.error.show()


class ChangePasswordDialog(QDialog):
    """File ▸ Change my password: the current one, then the new one twice."""

    submitted = Signal(str, str)

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("changePasswordDialog")
        self.setWindowTitle(f"Change the password of {name}")
        self.setAccessibleName(f"Change the password of {name}")
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.current = _line(self, "passwordCurrent", "Current password", secret=True)
        self.new = _line(self, "passwordNew", "New password", secret=True)
        self.new.setPlaceholderText(f"at least {MIN_PASSWORD} characters")
        self.again = _line(self, "passwordAgain", "New password again", secret=True)
        form.addRow("&Current password:", self.current)
        form.addRow("&New password:", self.new)
        form.addRow("New password &again:", self.again)
        layout.addLayout(form)
        self.error = _error_label(self, "passwordError")
        layout.addWidget(self.error)
        self.button = QPushButton("C&hange password", self)
        self.button.setObjectName("passwordChange")
        self.button.setAccessibleName("Change password")
        self.button.setDefault(True)
        layout.addWidget(self.button)
        self.button.clicked.connect(self.submit)
        self.again.returnPressed.connect(self.submit)

    def submit(self) -> None:
        if self.new.text() != self.again.text():
            self.show_error("The two new passwords differ.")
            return
        self.button.setEnabled(False)
        self.submitted.emit(self.current.text(), self.new.text())

    def show_error(self, text: str) -> None:
        self.button.setEnabled(True)
        message = text[:1].upper() + text[1:]
        self.error.setText(message if message.endswith(".") else message + ".")
        self.error.show()


class LockOverlay(QWidget):
    """What a locked desk shows instead of the feed; the engine keeps running behind it."""

    def __init__(self, parent: QWidget | None = None, *, hint: str = "") -> None:
        super().__init__(parent)
        self.setObjectName("lockOverlay")
        self.setAccessibleName("Desk locked: sign in to continue")
        self.setAutoFillBackground(True)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        self.title = QLabel("Desk locked", self)
        self.title.setObjectName("lockTitle")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setStyleSheet("font-size: 18pt; font-weight: bold;")
        outer.addWidget(self.title)
        self.note = QLabel(
            "Texts keep arriving and being forwarded while the desk is locked.", self
        )
        self.note.setObjectName("lockNote")
        self.note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        outer.addWidget(self.note)
        self.form = SignInForm(self, hint=hint)
        self.form.setMaximumWidth(420)
        outer.addWidget(self.form, 0, Qt.AlignmentFlag.AlignHCenter)
        outer.addStretch(2)


# -- start-up ------------------------------------------------------------------------------------
def _people_exist(db: Database) -> bool:
    with db.sessions() as session:
        return people_exist(session)


def _create_admin(db: Database, desk: str, name: str, display: str, password: str) -> Actor:
    with db.sessions() as session:
        return create_first_admin(session, name, password, desk, display)


def _sign_in(db: Database, desk: str, name: str, password: str) -> Actor:
    with db.sessions() as session:
        return sign_in(session, name, password, desk)


def demo_actor(db: Database, desk: str) -> Actor:
    """The demo's administrator, created in its throw-away database (blocking: a worker)."""
    with db.sessions() as session:
        return ensure_builtin_person(session, DEMO_PERSON, Role.ADMIN, desk, DEMO_PASSWORD)


def trainee_actor(db: Database, desk: str) -> Actor:
    """Training's built-in trainee, created in the training database (blocking: a worker)."""
    from outagedesk.ui.training_mode import TRAINEE

    with db.sessions() as session:
        return ensure_builtin_person(session, TRAINEE, Role.TRAINER, desk)


async def sign_in_at_start(
    db: Database,
    desk: str,
    pool: Executor,
    opened: Callable[[QDialog], None] | None = None,
) -> Actor | None:
    """The first-administrator dialog on a new database, else the sign-in dialog; the
    person who signed in, or None when the dialog was closed. ``opened(dialog)`` lets the
    caller close it (a SIGTERM while nobody has signed in)."""
    loop = asyncio.get_running_loop()
    first = not await loop.run_in_executor(pool, _people_exist, db)
    dialog: FirstAdminDialog | SignInDialog = FirstAdminDialog() if first else SignInDialog()
    signed_in: asyncio.Future[Actor | None] = loop.create_future()

    def answered(future: asyncio.Future[Actor]) -> None:
        if signed_in.done() or not shiboken6.isValid(dialog):
            return  # an answer after the dialog was closed or start-up was cancelled
        exc = future.exception()
        if isinstance(exc, OperationError):
            dialog.show_error(str(exc))
        elif exc is not None:
            log.error("signing in failed", exc_info=exc)
            dialog.show_error(f"The database refused: {str(exc).splitlines()[0]}")
        elif not signed_in.done():
            signed_in.set_result(future.result())
            dialog.accept()

    def attempt(*values: Any) -> None:
        work = partial(_create_admin if first else _sign_in, db, desk, *values)
        loop.run_in_executor(pool, work).add_done_callback(answered)

    def closed(_code: int) -> None:
        if not signed_in.done():
            signed_in.set_result(None)

    dialog.submitted.connect(attempt)
    dialog.finished.connect(closed)
    dialog.open()
    if opened is not None:
        opened(dialog)
    try:
        return await signed_in
    finally:
        if shiboken6.isValid(dialog):
            dialog.deleteLater()
