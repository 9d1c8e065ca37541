"""Signing in at the desk: first administrator, sign-in, lock, switch user, roles in the window.

The window runs against the simulator on loopback and a real engine thread, as elsewhere in
tests/ui; the start-up dialogs are driven from a coroutine on a qasync loop, as ui/app.py
awaits them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from outagedesk.config import Settings
from outagedesk.ops.base import Actor, Role
from outagedesk.ops.people import SignInFailed, add_person, create_first_admin, sign_in
from outagedesk.runtime import Database, open_database
from outagedesk.sim import Simulator
from outagedesk.store.models import AuditEntry, Person, ServiceToken
from outagedesk.ui.backend import Backend
from outagedesk.ui.feed_model import C_TEXT
from outagedesk.ui.main_window import MainWindow
from outagedesk.ui.people_screen import PeopleScreen
from outagedesk.ui.sign_in import (
    DEMO_PASSWORD,
    ChangePasswordDialog,
    FirstAdminDialog,
    SignInDialog,
    demo_actor,
    sign_in_at_start,
)
from outagedesk.ui.templates_dialog import TemplatesDialog

WAIT = 20_000
ALICE = Actor("alice", "test-desk", Role.ADMIN)
KIM = Actor("kim", "test-desk", Role.DISPATCHER)
T = TypeVar("T")


# -- start-up dialogs ---------------------------------------------------------------------------
@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = open_database(Settings(data_dir=tmp_path, config_file=tmp_path / "none.toml"))
    yield db
    db.close()


def drive(
    loop: asyncio.AbstractEventLoop, coro: Callable[[ThreadPoolExecutor], Coroutine[Any, Any, T]]
) -> T:
    pool = ThreadPoolExecutor(1)
    try:
        return loop.run_until_complete(asyncio.wait_for(coro(pool), 60))
    finally:
        pool.shutdown(wait=True)


async def shown(kind: type[T]) -> T:
    for _ in range(200):
        await asyncio.sleep(0.02)
        found = [w for w in QApplication.topLevelWidgets() if isinstance(w, kind)]
        visible = [w for w in found if isinstance(w, QWidget) and w.isVisible()]
        if visible:
            return visible[0]
    raise AssertionError(f"no {kind.__name__} was opened")


async def until(pred: Callable[[], object], what: str) -> None:
    for _ in range(300):
        if pred():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_new_database_asks_for_the_first_administrator(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, database: Database
) -> None:
    async def go(pool: ThreadPoolExecutor) -> Actor | None:
        task = asyncio.ensure_future(sign_in_at_start(database, "desk-1", pool))
        dialog = await shown(FirstAdminDialog)
        unnamed = [
            w.objectName()
            for w in dialog.findChildren(QWidget)
            if w.focusPolicy() != Qt.FocusPolicy.NoFocus and not w.accessibleName()
        ]
        assert unnamed == []
        qtbot.keyClicks(dialog.name, "Alice")
        qtbot.keyClicks(dialog.password, "long-enough-1")
        qtbot.keyClicks(dialog.again, "long-enough-2")
        qtbot.mouseClick(dialog.button, Qt.MouseButton.LeftButton)
        assert dialog.error.text() == "The two passwords differ."
        dialog.password.setText("short")
        dialog.again.setText("short")
        qtbot.keyClick(dialog.again, Qt.Key.Key_Return)
        assert dialog.error.text() == "The password needs at least 8 characters."
        dialog.password.setText("long-enough-1")
        dialog.again.setText("long-enough-1")
        dialog.display_name.setText("Alice Admin")
        qtbot.keyClick(dialog.again, Qt.Key.Key_Return)
        return await task

    assert drive(qloop, go) == Actor("alice", "desk-1", Role.ADMIN)
    with database.sessions() as s:
        person = s.scalars(select(Person)).one()
    assert (person.username, person.display_name, person.role) == ("alice", "Alice Admin", "admin")


def test_sign_in_says_what_is_wrong_and_enter_submits(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, database: Database
) -> None:
    with database.sessions() as s:
        admin = create_first_admin(s, "alice", "alice-password", "desk-1")
        add_person(s, admin, "kim", Role.DISPATCHER, "kims-password")

    async def go(pool: ThreadPoolExecutor) -> Actor | None:
        task = asyncio.ensure_future(sign_in_at_start(database, "desk-1", pool))
        dialog = await shown(SignInDialog)
        form = dialog.form
        unnamed = [
            w.objectName()
            for w in dialog.findChildren(QWidget)
            if w.focusPolicy() != Qt.FocusPolicy.NoFocus and not w.accessibleName()
        ]
        assert unnamed == []
        qtbot.keyClicks(form.name, "KIM")
        qtbot.keyClick(form.name, Qt.Key.Key_Return)  # moves on: no empty password is tried
        assert form.button.isEnabled()
        qtbot.keyClicks(form.password, "not-kims-password")
        qtbot.keyClick(form.password, Qt.Key.Key_Return)
        await until(lambda: form.error.isVisible(), "the refusal")
        assert form.error.text() == "Wrong name or password."
        assert form.password.text() == "", "a wrong password is cleared"
        assert form.button.isEnabled()
        qtbot.keyClicks(form.password, "kims-password")
        qtbot.keyClick(form.password, Qt.Key.Key_Return)
        return await task

    assert drive(qloop, go) == Actor("kim", "desk-1", Role.DISPATCHER)
    with database.sessions() as s:
        tries = s.scalars(select(AuditEntry.action).where(AuditEntry.actor == "kim")).all()
    assert tries == ["sign_in_failed", "sign_in"], "Enter after the name tried nothing"


def test_closing_the_sign_in_dialog_signs_nobody_in(
    qtbot: QtBot, qloop: asyncio.AbstractEventLoop, database: Database
) -> None:
    with database.sessions() as s:
        create_first_admin(s, "alice", "alice-password", "desk-1")

    async def go(pool: ThreadPoolExecutor) -> Actor | None:
        task = asyncio.ensure_future(sign_in_at_start(database, "desk-1", pool))
        dialog = await shown(SignInDialog)
        dialog.reject()
        return await task

    assert drive(qloop, go) is None


def test_the_demo_signs_in_by_itself_as_an_admin_who_can_unlock(database: Database) -> None:
    actor = demo_actor(database, "demo-desk")
    assert actor == Actor("demo", "demo-desk", Role.ADMIN)
    assert demo_actor(database, "demo-desk") == actor
    with database.sessions() as s:
        assert sign_in(s, "demo", DEMO_PASSWORD, "demo-desk") == actor


# -- the window ----------------------------------------------------------------------------------
def action(window: MainWindow, name: str) -> QAction:
    found = window.findChild(QAction, name)
    assert found is not None, name
    return found


@pytest.fixture
def staffed(make_backend: Callable[[], Backend]) -> Backend:
    backend = make_backend()
    with backend.db.sessions() as s:
        admin = create_first_admin(s, "alice", "alice-password", "test-desk")
        add_person(s, admin, "kim", Role.DISPATCHER, "kims-password")
    return backend


def test_lock_and_switch_user(
    qtbot: QtBot, open_window: Callable[..., MainWindow], staffed: Backend, sim: Simulator
) -> None:
    window = open_window(staffed, actor=ALICE)
    person = window.findChild(QWidget, "statusPerson")
    assert person is not None
    assert person.text() == "alice · admin"  # type: ignore[attr-defined]
    assert action(window, "actionPeople").isEnabled()

    action(window, "actionLockDesk").trigger()
    overlay = window.lock_overlay
    assert overlay is not None
    assert window.centralWidget() is overlay
    assert not window.view.isVisible(), "the feed is hidden"
    assert not action(window, "actionLink").isEnabled()
    assert not action(window, "actionPeople").isEnabled()
    assert person.text() == "Locked · alice"  # type: ignore[attr-defined]
    assert overlay.form.name.text() == "alice"
    unnamed = [
        w.objectName() or type(w).__name__
        for w in overlay.findChildren(QWidget)
        if w.focusPolicy() != Qt.FocusPolicy.NoFocus and w.isVisible() and not w.accessibleName()
    ]
    assert unnamed == []
    # The engine keeps running behind the lock.
    sim.gateway.add_message(from_="+12085550150", body="OUT while locked")
    qtbot.waitUntil(
        lambda: any(
            window.model.row_tuple(i)[C_TEXT] == "OUT while locked"
            for i in range(window.model.rowCount())
        ),
        timeout=WAIT,
    )
    overlay.form.password.setText("wrong-password")
    qtbot.keyClick(overlay.form.password, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: overlay.form.error.isVisible(), timeout=WAIT)
    assert overlay.form.error.text() == "Wrong name or password."
    assert window.lock_overlay is overlay

    # Someone else signs in at the same desk: the window acts as them from now on.
    overlay.form.name.setText("kim")
    overlay.form.password.setText("kims-password")
    qtbot.keyClick(overlay.form.password, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.lock_overlay is None, timeout=WAIT)
    assert window.actor == KIM
    assert window.view.isVisible()
    assert person.text() == "kim · dispatcher"  # type: ignore[attr-defined]
    assert "Signed in as kim (dispatcher)" in window.statusBar().currentMessage()
    assert action(window, "actionLink").isEnabled()
    for name, role in (("actionPeople", "admin"), ("actionTemplates", "admin")):
        disabled = action(window, name)
        assert not disabled.isEnabled()
        assert disabled.toolTip().startswith(f"Needs the {role} role"), disabled.toolTip()

    assert action(window, "actionSwitchUser").isEnabled()
    action(window, "actionSwitchUser").trigger()
    switch = window.lock_overlay
    assert switch is not None
    assert switch.form.name.text() == "", "switching asks for the name"
    assert switch.title.text() == "Switch user"
    switch.form.name.setText("Alice")
    switch.form.password.setText("alice-password")
    switch.form.button.click()
    qtbot.waitUntil(lambda: window.lock_overlay is None, timeout=WAIT)
    assert window.actor == ALICE
    assert action(window, "actionPeople").isEnabled()
    with staffed.db.sessions() as s:
        trail = [
            (a.actor, a.action)
            for a in s.scalars(select(AuditEntry).where(AuditEntry.action.like("sign_in%")))
        ]
    assert trail == [("alice", "sign_in_failed"), ("kim", "sign_in"), ("alice", "sign_in")]


def test_a_dispatcher_is_refused_an_edit_and_the_people_screen(
    qtbot: QtBot,
    open_window: Callable[..., MainWindow],
    staffed: Backend,
    linked_phone: str,
    tmp_path: Path,
) -> None:
    window = open_window(staffed, actor=KIM)
    # The directory's own link is not kim's to remove: the operation says so.
    window.show_number_panel(linked_phone)
    panel = window.number_panel
    assert panel is not None
    qtbot.waitUntil(lambda: panel.links.rowCount() == 1, timeout=WAIT)
    panel.links.selectRow(0)
    panel.ask_remove()
    box = panel.confirm_box
    assert box is not None
    box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: "may not" in panel.status.text(), timeout=WAIT)
    assert panel.status.text() == (
        "⚠ kim (dispatcher) may not edit, move and delete links; "
        "ask a supervisor or an administrator"
    )
    assert panel.links.rowCount() == 1

    # The People menu is disabled; opening the screen anyway shows the refusal, changes nothing.
    assert not action(window, "actionPeople").isEnabled()
    window.show_people()
    screen = window.people_screen
    assert isinstance(screen, PeopleScreen)
    qtbot.waitUntil(lambda: "may not" in screen.status.text(), timeout=WAIT)
    assert "kim (dispatcher) may not manage people and service tokens" in screen.status.text()
    screen.new_name.setText("eve")
    screen.new_password.setText("eves-password")
    screen.new_again.setText("eves-password")
    screen.new_role.setCurrentIndex(screen.new_role.findData("admin"))
    screen.add_button.click()
    qtbot.waitUntil(lambda: screen.status.text().startswith("⚠ kim"), timeout=WAIT)
    with staffed.db.sessions() as s:
        assert s.scalars(select(Person.username).order_by(Person.username)).all() == [
            "alice",
            "kim",
        ]

    # Kim may change her own password, given the current one.
    action(window, "actionChangePassword").trigger()
    change = window.password_dialog
    assert isinstance(change, ChangePasswordDialog)
    change.current.setText("a-wrong-guess")
    change.new.setText("kims-new-password")
    change.again.setText("kims-new-passwerd")
    qtbot.keyClick(change.again, Qt.Key.Key_Return)
    assert change.error.text() == "The two new passwords differ."
    change.again.setText("kims-new-password")
    qtbot.keyClick(change.again, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: change.error.text() == "The current password is wrong.", timeout=WAIT)
    change.current.setText("kims-password")
    change.button.click()
    qtbot.waitUntil(
        lambda: "Password of kim changed" in window.statusBar().currentMessage(), timeout=WAIT
    )
    with staffed.db.sessions() as s:
        assert sign_in(s, "kim", "kims-new-password", "test-desk") == KIM

    # Reply templates: the save refuses a dispatcher and writes no file.
    settings = Settings(data_dir=tmp_path, config_file=tmp_path / "templates.toml")
    dialog = TemplatesDialog(settings, actor=KIM)
    qtbot.addWidget(dialog)
    dialog.editor.setPlainText("{program}: thanks. STOP to opt out.")
    dialog.save_button.click()
    assert "kim (dispatcher) may not change settings" in dialog.problem.text()
    assert not settings.config_file.exists()


def test_an_admin_manages_people_and_tokens_in_the_people_screen(
    qtbot: QtBot,
    qtmodeltester: Any,
    open_window: Callable[..., MainWindow],
    staffed: Backend,
) -> None:
    window = open_window(staffed, actor=ALICE)
    action(window, "actionPeople").trigger()
    screen = window.people_screen
    assert isinstance(screen, PeopleScreen)
    qtbot.waitUntil(lambda: screen.people_model.rowCount() == 2, timeout=WAIT)
    qtmodeltester.check(screen.people_model)
    assert screen.people_model.keys == ["alice", "kim"]
    unnamed = [
        w.objectName() or type(w).__name__
        for w in screen.findChildren(QWidget)
        if w.focusPolicy() != Qt.FocusPolicy.NoFocus and w.isVisible() and not w.accessibleName()
    ]
    assert unnamed == []

    def run(button: QWidget, done: str) -> None:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: screen.status.text() == done, timeout=WAIT)

    screen.new_name.setText("Sam")
    screen.new_display.setText("Sam Super")
    screen.new_role.setCurrentIndex(screen.new_role.findData("supervisor"))
    screen.new_password.setText("sams-password")
    screen.new_again.setText("sams-password!")
    run(screen.add_button, "⚠ The two passwords differ.")
    screen.new_again.setText("sams-password")
    run(screen.add_button, "sam added as supervisor.")
    qtbot.waitUntil(lambda: screen.people_model.rowCount() == 3, timeout=WAIT)

    screen.people_view.selectRow(screen.people_model.keys.index("kim"))
    screen.role_box.setCurrentIndex(screen.role_box.findData("trainer"))
    run(screen.set_role_button, "kim is now trainer.")
    run(screen.toggle_button, "kim disabled.")
    qtbot.waitUntil(lambda: screen.toggle_button.text() == "&Enable", timeout=WAIT)
    assert screen.people_model.rows[1][3:] == ("disabled", "never", "0")
    screen.reset_password.setText("kims-new-password")
    run(screen.reset_button, "The password of kim was reset.")
    screen.people_view.selectRow(screen.people_model.keys.index("alice"))
    qtbot.mouseClick(screen.toggle_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "last active administrator" in screen.status.text(), timeout=WAIT)

    screen.tabs.setCurrentIndex(1)
    screen.token_name.setText("nightly-import")
    screen.token_role.setCurrentIndex(screen.token_role.findData("supervisor"))
    qtbot.mouseClick(screen.issue_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: screen.token_value.text().startswith("odt_"), timeout=WAIT)
    token = screen.token_value.text()
    assert screen.token_value.isReadOnly()
    screen.copy_button.click()
    assert QGuiApplication.clipboard().text() == token
    qtbot.waitUntil(lambda: screen.token_model.rowCount() == 1, timeout=WAIT)
    qtmodeltester.check(screen.token_model)
    shown_rows = [
        screen.token_model.data(screen.token_model.index(0, c))
        for c in range(screen.token_model.columnCount())
    ]
    assert token not in shown_rows
    assert shown_rows[:2] == ["nightly-import", "supervisor"]
    screen.token_view.selectRow(0)
    run(screen.revoke_button, "Token nightly-import revoked.")

    with staffed.db.sessions() as s:
        people = {p.username: (p.role, p.active) for p in s.scalars(select(Person))}
        token_row = s.scalars(select(ServiceToken)).one()
        with pytest.raises(SignInFailed, match="kim is disabled"):  # the new password is right
            sign_in(s, "kim", "kims-new-password", "x")
    assert people == {
        "alice": ("admin", True),
        "kim": ("trainer", False),
        "sam": ("supervisor", True),
    }
    assert token_row.revoked_at is not None
    screen.close()
    assert screen.token_value.text() == "", "the token is not kept in a closed screen"
