"""The Number panel: a number's links (with an audited undo), reports, texts and consent."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLineEdit, QMessageBox, QWidget
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from outagedesk.directory import import_directory_rows
from outagedesk.ops.base import Actor, Role
from outagedesk.ops.consent import force_opt_out
from outagedesk.ops.links import link_phone
from outagedesk.sim import DirectoryRow, Simulator
from outagedesk.store.models import AuditEntry, PhoneLink
from outagedesk.ui.backend import Backend
from outagedesk.ui.feed_model import C_STATE, C_TEXT
from outagedesk.ui.main_window import MainWindow
from outagedesk.ui.number_panel import NumberPanel
from ui.uisupport import UNLINKED

WAIT = 20_000


def trigger(window: MainWindow, name: str) -> None:
    action = window.findChild(QAction, name)
    assert action is not None, name
    action.trigger()


FARM = [DirectoryRow("9001", "SL-9001-1", "M-90011", "Pat Farmer", "1 Barn Rd", (), False)]


@pytest.fixture
def farm_window(
    open_window: Callable[..., MainWindow], make_backend: Callable[[], Backend], sim: Simulator
) -> MainWindow:
    backend = make_backend()
    import_directory_rows(backend.db.engine, FARM, source="directory", actor="test")
    sim.oms.add_known_account("9001")
    return open_window(backend)


def unlinked_row(qtbot: QtBot, window: MainWindow, sim: Simulator, body: str) -> int:
    sim.gateway.add_message(from_=UNLINKED, body=body)

    def found() -> int | None:
        m = window.model
        for i in range(m.rowCount()):
            row = m.row_tuple(i)
            if row[C_TEXT] == body and str(row[C_STATE]).startswith("UNLINKED"):
                return i
        return None

    qtbot.waitUntil(lambda: found() is not None, timeout=WAIT)
    row = found()
    assert row is not None
    return row


def cell(panel: NumberPanel, row: int, col: int) -> str:
    item = panel.links.item(row, col)
    assert item is not None
    return item.text()


def open_panel(qtbot: QtBot, window: MainWindow) -> NumberPanel:
    trigger(window, "actionNumber")
    panel = window.number_panel
    assert panel is not None
    return panel


def test_why_no_ticket_and_undo(qtbot: QtBot, farm_window: MainWindow, sim: Simulator) -> None:
    window = farm_window
    row = unlinked_row(qtbot, window, sim, "OUT my street is dark")
    window.view.selectRow(row)
    panel = open_panel(qtbot, window)  # opens on the selected row's number
    assert panel.objectName() == "numberPanel"
    assert panel.findChild(QLineEdit, "numberInput") is not None
    qtbot.waitUntil(lambda: panel.info is not None, timeout=WAIT)
    assert panel.info is not None
    assert panel.info.phone == UNLINKED
    assert "linked to no account" in panel.status.text()
    html = panel.details.toPlainText()
    assert "OUT my street is dark" in html
    assert "unlinked" in html
    assert "opted in" in html
    assert panel.links.rowCount() == 0
    unnamed = [
        w.objectName() or type(w).__name__
        for w in panel.findChildren(QWidget)
        if w.focusPolicy() != Qt.FocusPolicy.NoFocus and w.isVisible() and not w.accessibleName()
    ]
    assert unnamed == []

    # Link it, then look the number up by typing it (national format) and pressing Enter.
    with window.backend.db.sessions() as s:
        outcome = link_phone(s, Actor("t", "d", Role.SUPERVISOR), UNLINKED, "9001", "SL-9001-1")
    window.backend.engine.wake_forwarder()  # type: ignore[union-attr]
    with window.backend.db.sessions() as s:
        force_opt_out(s, Actor("t", "d", Role.SUPERVISOR), UNLINKED, None, "asked by phone")
    panel.input.clear()
    qtbot.keyClicks(panel.input, "(208) 555-0150")
    panel.info = None
    qtbot.keyClick(panel.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: panel.info is not None, timeout=WAIT)

    def ticketed() -> bool:
        panel.reload()
        return "T-" in panel.details.toPlainText()

    qtbot.waitUntil(ticketed, timeout=WAIT)
    assert panel.links.rowCount() == 1
    assert cell(panel, 0, 1) == "SL-9001-1"
    assert "OPTED OUT" in panel.details.toPlainText()
    assert "Every report from this number has a ticket" in panel.status.text()

    # Undo: remove the link, confirmed, audited.
    panel.links.selectRow(0)
    qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    box = panel.confirm_box
    assert box is not None
    assert "Remove the link" in box.text()
    with qtbot.waitSignal(panel.linkRemoved, timeout=WAIT):
        box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: panel.links.rowCount() == 0, timeout=WAIT)
    with window.backend.db.sessions() as s:
        assert s.scalars(select(PhoneLink).where(PhoneLink.phone == UNLINKED)).all() == []
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "link_remove")).one()
    assert entry.subject == UNLINKED
    assert entry.before is not None
    assert entry.before["links"][0]["id"] == outcome.link_id
    assert "Link removed" in window.statusBar().currentMessage()


def test_remove_can_be_cancelled_and_bad_numbers_are_explained(
    qtbot: QtBot, farm_window: MainWindow
) -> None:
    window = farm_window
    with window.backend.db.sessions() as s:
        link_phone(s, Actor("t", "d", Role.SUPERVISOR), UNLINKED, "9001", None, resend=False)
    panel = open_panel(qtbot, window)
    qtbot.keyClicks(panel.input, "12")
    qtbot.keyClick(panel.input, Qt.Key.Key_Return)
    assert panel.status.text().startswith("⚠")
    panel.input.clear()
    qtbot.keyClicks(panel.input, UNLINKED)
    qtbot.keyClick(panel.input, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: panel.links.rowCount() == 1, timeout=WAIT)
    assert "Address level" in cell(panel, 0, 1)
    panel.ask_remove()
    box = panel.confirm_box
    assert box is not None
    box.button(QMessageBox.StandardButton.No).click()
    qtbot.wait(200)
    with window.backend.db.sessions() as s:
        assert len(s.scalars(select(PhoneLink).where(PhoneLink.phone == UNLINKED)).all()) == 1
