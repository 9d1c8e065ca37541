"""The Audit screen: filters narrow the table, paging, details, export, and the refusal."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from PySide6.QtCore import QDateTime, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot

from outagedesk.ops.base import Actor, Role
from outagedesk.store.audit_refs import insert_audit_rows
from outagedesk.ui.audit_screen import (
    ADDED_MARK,
    C_CHANGE,
    C_PERSON,
    C_SUBJECT,
    CHANGED_MARK,
    AuditScreen,
    changes,
    summary,
)
from outagedesk.ui.main_window import MainWindow
from outagedesk.ui.worker import DbWorker

from dbsupport import DbUnderTest

WAIT = 10_000
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
PHONE = "+15055550123"
SUPERVISOR = Actor("sam", "desk-1", Role.SUPERVISOR)
DISPATCHER = Actor("dana", "desk-1", Role.DISPATCHER)


def links(account: str) -> dict[str, Any]:
    return {"links": [{"phone": PHONE, "account_number": account}]}


def seed(db: DbUnderTest, extra: int = 0) -> None:
    rows = [
        ("alice", "link_add", PHONE, {"links": []}, links("1003")),
        ("bob", "report_resend", "r-abc", {"r-abc": {"state": "unlinked"}},
         {"r-abc": {"state": "queued", "account_number": "1003"}}),
        ("carol", "link_move", PHONE, links("1003"), links("2001")),
        ("alice", "consent_force_opt_out", "+15055550144", {"all": True},
         {"all": False, "reason": "asked by phone"}),
        ("bob", "link_remove", "+15055550177", links("10031"), None),
    ]  # fmt: skip
    rows += [("erin", "sign_in", "erin", None, {"desk": "d"}) for _ in range(extra)]
    with db.engine.begin() as conn:
        insert_audit_rows(
            conn,
            [
                {"at": T0 + timedelta(minutes=i), "actor": who, "desk": "desk-1",
                 "action": action, "subject": subject, "before": before, "after": after}
                for i, (who, action, subject, before, after) in enumerate(rows)
            ],
        )  # fmt: skip


@pytest.fixture
def worker(sqlite_db: DbUnderTest) -> Iterator[DbWorker]:
    w = DbWorker(sqlite_db.engine)
    yield w
    w.shutdown()
    w.deleteLater()


@pytest.fixture
def open_screen(qtbot: QtBot, worker: DbWorker) -> Iterator[Callable[..., AuditScreen]]:
    screens: list[AuditScreen] = []

    def open_(actor: Actor = SUPERVISOR, page_size: int | None = None) -> AuditScreen:
        screen = AuditScreen(worker=worker, actor=actor)
        if page_size is not None:
            screen.model.page_size = page_size
        screens.append(screen)
        with qtbot.waitSignal(screen.ready, timeout=WAIT):
            screen.show()
        if screen.refused is None:
            settle(qtbot, screen)
        return screen

    yield open_
    for screen in screens:
        if shiboken6.isValid(screen):
            screen.close()
            screen.deleteLater()
    qtbot.wait(10)


def at(minutes: int) -> QDateTime:
    return QDateTime.fromSecsSinceEpoch(int((T0 + timedelta(minutes=minutes)).timestamp()))


def settle(qtbot: QtBot, screen: AuditScreen) -> None:
    screen.apply_filters()
    qtbot.waitUntil(lambda: not screen.model.busy, timeout=WAIT)


def column(screen: AuditScreen, col: int) -> list[str]:
    m = screen.model
    return [m.data(m.index(r, col)) for r in range(m.rowCount())]


def test_filters_narrow_the_table(
    qtbot: QtBot,
    qtmodeltester: Any,
    sqlite_db: DbUnderTest,
    open_screen: Callable[..., AuditScreen],
) -> None:
    seed(sqlite_db)
    screen = open_screen()
    qtmodeltester.check(screen.model)
    assert column(screen, C_PERSON) == ["bob", "alice", "carol", "bob", "alice"]
    assert "5 audit row(s) shown in all" in screen.status.text()

    screen.choose_person("alice")
    settle(qtbot, screen)
    assert column(screen, C_SUBJECT) == ["+15055550144", PHONE]
    assert "matching the filters" in screen.status.text()
    screen.choose_person("")
    qtbot.keyClicks(screen.phone, "(505) 555-0123")
    settle(qtbot, screen)
    # bob's removal names the number only inside its JSON (subject: another number)
    assert column(screen, C_PERSON) == ["bob", "carol", "alice"]
    screen.phone.clear()
    screen.account.setText("1003")
    settle(qtbot, screen)
    assert column(screen, C_PERSON) == ["carol", "bob", "alice"]
    screen.account.clear()
    screen.choose_action("link_")
    settle(qtbot, screen)
    assert column(screen, C_PERSON) == ["bob", "carol", "alice"]
    screen.text.setText("ASKED BY")
    screen.choose_action("")
    settle(qtbot, screen)
    assert column(screen, C_PERSON) == ["alice"]
    screen.text.clear()
    screen.since_on.setChecked(True)
    screen.since.setDateTime(at(2))
    screen.until_on.setChecked(True)
    screen.until.setDateTime(at(4))
    settle(qtbot, screen)
    assert column(screen, C_PERSON) == ["alice", "carol"]
    screen.clear_filters()
    settle(qtbot, screen)
    assert screen.model.rowCount() == 5


def test_a_bad_filter_is_explained(
    qtbot: QtBot, sqlite_db: DbUnderTest, open_screen: Callable[..., AuditScreen]
) -> None:
    seed(sqlite_db)
    screen = open_screen()
    screen.phone.setText("12")
    screen.apply_filters()
    assert screen.status.text() == "⚠ Phone: not a valid phone number: '12'"
    assert screen.model.rowCount() == 5  # the last good filter stays shown
    screen.phone.clear()
    screen.since_on.setChecked(True)
    screen.until_on.setChecked(True)
    screen.until.setDateTime(screen.since.dateTime().addSecs(-60))
    screen.apply_filters()
    assert "“To” is not after “From”" in screen.status.text()


def test_pages_from_sql_without_gaps_or_duplicates(
    qtbot: QtBot,
    qtmodeltester: Any,
    sqlite_db: DbUnderTest,
    open_screen: Callable[..., AuditScreen],
) -> None:
    seed(sqlite_db, extra=120)
    screen = open_screen(page_size=20)
    assert screen.model.rowCount() == 20
    assert screen.model.has_more
    assert "scroll down for older" in screen.status.text()
    root = screen.model.index(0, 0).parent()
    for _ in range(20):  # bounded: 125 rows in pages of 20
        if not screen.model.canFetchMore(root):
            break
        screen.model.fetchMore(root)
        qtbot.waitUntil(lambda: not screen.model.busy, timeout=WAIT)
    ids = screen.model.ids()
    assert len(ids) == len(set(ids)) == 125
    assert ids == sorted(ids, reverse=True)
    assert not screen.model.has_more
    qtmodeltester.check(screen.model)


def test_details_show_before_and_after_with_markers(
    qtbot: QtBot, sqlite_db: DbUnderTest, open_screen: Callable[..., AuditScreen]
) -> None:
    seed(sqlite_db)
    screen = open_screen()
    screen.choose_action("link_move")
    settle(qtbot, screen)
    assert column(screen, C_CHANGE) == ["links[0].account_number: 1003 → 2001"]
    screen.table.setFocus()
    screen.select_row(0)
    text = screen.details.toPlainText()
    assert "link_move" in text
    assert "carol" in text
    assert "links[0].account_number" in text
    assert CHANGED_MARK in text
    assert "1003" in text
    assert "2001" in text
    screen.activateWindow()
    qtbot.waitUntil(screen.isActiveWindow, timeout=WAIT)
    screen.table.setFocus()
    qtbot.keyClick(screen.table, Qt.Key.Key_Return)
    assert screen.details.hasFocus()
    qtbot.keyClick(screen.details, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert screen.person.hasFocus()


def test_export_writes_the_filtered_rows(
    qtbot: QtBot, tmp_path: Path, sqlite_db: DbUnderTest, open_screen: Callable[..., AuditScreen]
) -> None:
    seed(sqlite_db)
    screen = open_screen()
    screen.choose_person("bob")
    settle(qtbot, screen)
    target = tmp_path / "out" / "audit.csv"
    target.parent.mkdir()
    with qtbot.waitSignal(screen.exported, timeout=WAIT) as signal:
        screen.export_to(target)
    assert signal.args == [f"Exported 2 audit row(s) to {target}."]
    assert screen.status.text() == signal.args[0]
    with target.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["person"], r["action"]) for r in rows] == [
        ("bob", "link_remove"),
        ("bob", "report_resend"),
    ]
    assert rows[0]["after"] == ""
    assert '"account_number": "10031"' in rows[0]["before"]

    # A file that cannot be written is explained, and the button comes back.
    screen.export_to(tmp_path / "missing" / "audit.csv")
    qtbot.waitUntil(lambda: screen.status.text().startswith("⚠ The export failed"), timeout=WAIT)
    assert screen.export_button.isEnabled()


def test_export_button_opens_a_non_blocking_file_dialog(
    qtbot: QtBot, sqlite_db: DbUnderTest, open_screen: Callable[..., AuditScreen]
) -> None:
    seed(sqlite_db)
    screen = open_screen()
    qtbot.mouseClick(screen.export_button, Qt.MouseButton.LeftButton)
    dialog = screen.file_dialog
    assert dialog is not None
    assert dialog.objectName() == "auditExportFileDialog"
    assert dialog.isVisible()
    dialog.reject()


def test_a_dispatcher_is_refused_with_a_clear_message(
    qtbot: QtBot, sqlite_db: DbUnderTest, open_screen: Callable[..., AuditScreen]
) -> None:
    seed(sqlite_db)
    screen = open_screen(DISPATCHER)
    assert screen.refusal.isVisible()
    assert screen.refusal.text() == (
        "⚠ The audit trail cannot be shown: dana (dispatcher) may not read the audit trail; "
        "ask a supervisor or an administrator"
    )
    assert screen.model.rowCount() == 0
    assert not screen.table.isEnabled()
    assert not screen.filters.isEnabled()
    assert not screen.export_button.isEnabled()
    assert screen.close_button.isEnabled()
    qtbot.wait(300)  # no query follows the refusal
    assert screen.model.rowCount() == 0


def test_nothing_can_be_edited_or_deleted(
    qtbot: QtBot, sqlite_db: DbUnderTest, open_screen: Callable[..., AuditScreen]
) -> None:
    seed(sqlite_db)
    screen = open_screen()
    index = screen.model.index(0, 0)
    assert not screen.model.flags(index) & Qt.ItemFlag.ItemIsEditable
    assert not screen.model.setData(index, "x")
    buttons = {b.text().replace("&", "") for b in screen.findChildren(QPushButton)}
    assert buttons == {"Clear filters", "Export CSV…", "Close"}


def test_the_window_opens_it_from_the_supervisor_menu(qtbot: QtBot, window: MainWindow) -> None:
    action = window.findChild(QAction, "actionAuditTrail")
    assert action is not None
    assert action.shortcut() == QKeySequence("Ctrl+Shift+A")
    others = [a for a in window.all_actions if a is not action]
    assert all(QKeySequence("Ctrl+Shift+A") not in a.shortcuts() for a in others)
    assert "&Supervisor" in [a.text() for a in window.menuBar().actions()]

    # A dispatcher finds the item disabled; opened anyway, the screen says no.
    window.set_actor(DISPATCHER)
    assert not action.isEnabled()
    assert "supervisor" in action.toolTip()
    window.show_audit_screen()
    screen = window.audit_screen
    qtbot.waitUntil(lambda: screen.refused is not None, timeout=WAIT)
    assert "may not read the audit trail" in screen.refusal.text()
    screen.close()

    window.set_actor(SUPERVISOR)
    assert action.isEnabled()
    action.trigger()
    screen = window.audit_screen
    assert screen.objectName() == "auditScreen"
    assert not screen.isModal()
    qtbot.waitUntil(lambda: screen.model.rowCount() > 0 and not screen.model.busy, timeout=WAIT)
    assert "directory_import" in column(screen, 3)
    screen.close()


def test_summary_and_changes() -> None:
    assert summary({"links": []}, links("1003")) == (
        f"+links[0].phone: {PHONE}; +links[0].account_number: 1003"
    )
    assert summary(None, {"rows": 5}) == "new: rows: 5"
    assert summary(links("1003"), None).startswith("removed: links[0].phone")
    assert summary({"a": 1}, {"a": 1}) == "(no field changed)"
    assert summary(None, None) == ""
    long = summary(None, {"reason": "x" * 500})
    assert len(long) == 160
    assert long.endswith("…")
    found = {c.field: c.kind for c in changes({"a": 1, "b": True}, {"a": 2, "b": True, "c": None})}
    assert found == {"a": "changed", "b": "same", "c": "added"}
    assert ADDED_MARK.startswith("+")
