"""Supervisor ▸ Mappings on the real window, a real engine thread and the simulator's OMS."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from outagedesk.directory import import_directory_rows
from outagedesk.ops.base import Actor, Role
from outagedesk.ops.links import link_phone
from outagedesk.sim import DirectoryRow, Simulator
from outagedesk.store.models import Report
from outagedesk.ui.backend import Backend
from outagedesk.ui.main_window import MainWindow
from outagedesk.ui.mappings_dialogs import MoveLinkDialog
from outagedesk.ui.mappings_screen import TAB_ALL, TAB_REVIEW, MappingsScreen
from ui.uisupport import UNLINKED

WAIT = 20_000
SUPERVISOR = Actor("sam", "test-desk", Role.SUPERVISOR)
DISPATCHER = Actor("dana", "test-desk", Role.DISPATCHER)
FARM = [
    DirectoryRow("9001", "SL-9001-1", "M-90011", "Pat Farmer", "1 Barn Rd", (), False),
    DirectoryRow("9001", "SL-9001-2", None, "Pat Farmer", "2 Silo Ln", (), True),
    DirectoryRow("9002", "SL-9002-1", None, "Lee Miller", "3 Mill Rd", (), False),
]


@pytest.fixture
def farm_window(
    open_window: Callable[..., MainWindow], make_backend: Callable[[], Backend], sim: Simulator
) -> MainWindow:
    backend = make_backend()
    import_directory_rows(backend.db.engine, FARM, source="directory", actor="test")
    sim.oms.add_known_account("9001")  # 9002 stays unknown: its reports get no ticket
    return open_window(backend)


def trigger(window: MainWindow, name: str) -> None:
    action = window.findChild(QAction, name)
    assert action is not None, name
    action.trigger()


def the_report(window: MainWindow) -> Report:
    with window.backend.db.sessions() as s:
        return s.scalars(select(Report).where(Report.phone == UNLINKED)).one()


def report_state(window: MainWindow) -> str | None:
    with window.backend.db.sessions() as s:
        return s.scalar(select(Report.state).where(Report.phone == UNLINKED))


def open_mappings(qtbot: QtBot, window: MainWindow) -> MappingsScreen:
    trigger(window, "actionMappings")
    screen = window.mappings_screen
    assert screen is not None
    qtbot.waitUntil(lambda: screen.all_model.count is not None, timeout=WAIT)
    return screen


def move_to(qtbot: QtBot, screen: MappingsScreen, location: str) -> None:
    """Select UNLINKED's link and choose ``location`` in the move dialog."""
    if screen.search.text() != "(208) 555-0150":
        with qtbot.waitSignal(screen.all_model.loaded, timeout=WAIT):
            screen.search.setText("(208) 555-0150")
    qtbot.waitUntil(
        lambda: screen.all_model.rowCount() == 1 and not screen.all_model.busy, timeout=WAIT
    )
    screen.table.selectRow(0)
    screen.move_selected()
    dialog = screen.move_dialog
    assert isinstance(dialog, MoveLinkDialog)
    dialog.search.setText(location)
    qtbot.waitUntil(
        lambda: [h.service_location_id for h in dialog.model.hits] == [location], timeout=WAIT
    )
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)


def test_moving_a_phone_resends_its_open_reports_and_ticketed_ones_on_request(
    qtbot: QtBot, farm_window: MainWindow, sim: Simulator
) -> None:
    window = farm_window
    sim.gateway.add_message(from_=UNLINKED, body="OUT at the mill")
    qtbot.waitUntil(lambda: report_state(window) == "unlinked", timeout=WAIT)
    with window.backend.db.sessions() as s:
        link_phone(s, DISPATCHER, UNLINKED, "9002", "SL-9002-1", resend=False)
    window.actor = SUPERVISOR
    screen = open_mappings(qtbot, window)

    # The report has no ticket: moving the link re-sends it without asking.
    with qtbot.waitSignal(screen.changed, timeout=WAIT) as done:
        move_to(qtbot, screen, "SL-9001-1")
    report = the_report(window)
    assert f"re-sent to the OMS: {report.report_id} revision 2" in done.args[0]
    qtbot.waitUntil(lambda: the_report(window).ticket_id is not None, timeout=WAIT)
    report = the_report(window)
    assert (report.account_number, report.service_location_id) == ("9001", "SL-9001-1")
    assert sim.oms.tickets_created == 1
    assert "now points to 9001 / SL-9001-1" in window.statusBar().currentMessage()

    # Now it is ticketed: correcting the location asks whether to re-send it.
    move_to(qtbot, screen, "SL-9001-2")
    qtbot.waitUntil(
        lambda: (
            screen.message_box is not None
            and screen.message_box.objectName() == "mappingsResendConfirm"
        ),
        timeout=WAIT,
    )
    box = screen.message_box
    assert box is not None
    assert box.text() == (
        f"Re-send 1 ticketed report ({report.ticket_id}) with the corrected location?"
    )
    with qtbot.waitSignal(screen.changed, timeout=WAIT) as done:
        box.button(QMessageBox.StandardButton.Yes).click()
    assert f"{report.report_id} revision 3" in done.args[0]
    key = f"{report.report_id}.3"
    qtbot.waitUntil(lambda: any(k == key for k, _, _ in sim.oms.requests), timeout=WAIT)
    payload = next(p for k, p, _ in sim.oms.requests if k == key)
    assert payload["service_location_id"] == "SL-9001-2"
    assert payload["priority"] == "Urgent"  # SL-9001-2 is on life support
    qtbot.waitUntil(lambda: the_report(window).revision == 3, timeout=WAIT)
    assert the_report(window).ticket_id == report.ticket_id
    assert sim.oms.tickets_created == 1


def test_supervisor_menu_toolbar_and_review_count(
    qtbot: QtBot, farm_window: MainWindow, sim: Simulator
) -> None:
    window = farm_window
    # A dispatcher has the menu (the screen reads) but no review toolbar.
    window.set_actor(DISPATCHER)
    qtbot.waitUntil(window.supervisor_bar.isHidden, timeout=WAIT)
    mappings = window.findChild(QAction, "actionMappings")
    assert mappings is not None
    assert mappings.shortcut() == QKeySequence("Ctrl+Shift+M")
    for name in ("actionReviewQueue", "actionConflicts", "actionImportLinkCorrections"):
        assert window.findChild(QAction, name) is not None, name
    with window.backend.db.sessions() as s:
        for phone in ("+15055550170", "+15055550171"):
            link_phone(s, DISPATCHER, phone, "9001", None, resend=False)

    window.set_actor(SUPERVISOR)
    qtbot.waitUntil(lambda: window.review_button.text() == "Review: 2", timeout=WAIT)
    assert not window.supervisor_bar.isHidden()
    assert window.supervisor_bar.objectName() == "supervisorToolbar"
    assert window.review_button.objectName() == "reviewCountButton"

    qtbot.mouseClick(window.review_button, Qt.MouseButton.LeftButton)
    screen = window.mappings_screen
    assert screen is not None
    assert screen.tabs.currentIndex() == TAB_REVIEW
    qtbot.waitUntil(lambda: screen.review_model.rowCount() == 2, timeout=WAIT)
    screen.review_table.selectRow(0)
    screen.approve_action.trigger()
    qtbot.waitUntil(lambda: window.review_button.text() == "Review: 1", timeout=WAIT)

    # The menu raises the same screen on another tab; the import starts with a file dialog.
    mappings.trigger()
    assert window.mappings_screen is screen
    assert screen.tabs.currentIndex() == TAB_ALL
    trigger(window, "actionImportLinkCorrections")
    assert screen.file_dialog is not None
    assert screen.file_dialog.objectName() == "mappingsImportFileDialog"
    assert screen.file_dialog.isVisible()
    screen.file_dialog.reject()

    # Signed in as a dispatcher again: the toolbar goes.
    window.set_actor(DISPATCHER)
    assert window.supervisor_bar.isHidden()
