"""The link dialog on the real window, a real engine thread and the simulator on loopback."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableView,
    QWidget,
)
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from outagedesk.directory import import_directory_rows
from outagedesk.ops.base import Actor, Role
from outagedesk.ops.consent import force_opt_out
from outagedesk.ops.links import link_phone
from outagedesk.sim import DirectoryRow, Simulator
from outagedesk.store.models import AuditEntry, OutboundText, PhoneLink, Report
from outagedesk.ui.backend import Backend
from outagedesk.ui.feed_model import C_STATE, C_TEXT
from outagedesk.ui.link_dialog import ALL_LOCATIONS, LinkDialog
from outagedesk.ui.main_window import MainWindow
from ui.uisupport import UNLINKED

WAIT = 20_000


def trigger(window: MainWindow, name: str) -> None:
    action = window.findChild(QAction, name)
    assert action is not None, name
    action.trigger()


FARM = [
    DirectoryRow("9001", "SL-9001-1", "M-90011", "Pat Farmer", "1 Barn Rd", (), False),
    DirectoryRow("9001", "SL-9001-2", None, "Pat Farmer", "2 Silo Ln", (), True),
]


@pytest.fixture
def farm_window(
    open_window: Callable[..., MainWindow], make_backend: Callable[[], Backend], sim: Simulator
) -> MainWindow:
    backend = make_backend()
    import_directory_rows(backend.db.engine, FARM, source="directory", actor="test")
    sim.oms.add_known_account("9001")
    return open_window(backend)


def row_of(window: MainWindow, text: str) -> int | None:
    m = window.model
    for i in range(m.rowCount()):
        if m.row_tuple(i)[C_TEXT] == text:
            return i
    return None


def state_of(window: MainWindow, text: str) -> str:
    row = row_of(window, text)
    return "" if row is None else str(window.model.row_tuple(row)[C_STATE])


def unlinked_report(qtbot: QtBot, window: MainWindow, sim: Simulator, body: str) -> None:
    """A text from an unknown number: the OMS refuses it, the feed flags it; select it."""
    sim.gateway.add_message(from_=UNLINKED, body=body)
    qtbot.waitUntil(lambda: state_of(window, body).startswith("UNLINKED"), timeout=WAIT)
    row = row_of(window, body)
    assert row is not None
    window.view.selectRow(row)
    window.view.setCurrentIndex(window.model.index(row, 0))


def wait_dialog(qtbot: QtBot, window: MainWindow, old: LinkDialog | None) -> LinkDialog:
    """The link dialog the window opened after ``old``, once its suggestions are in."""
    qtbot.waitUntil(lambda: window.link_dialog not in (None, old), timeout=WAIT)
    dialog = window.link_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.context is not None, timeout=WAIT)
    return dialog


def open_dialog(qtbot: QtBot, window: MainWindow) -> LinkDialog:
    old = window.link_dialog
    trigger(window, "actionLink")
    return wait_dialog(qtbot, window, old)


def search(qtbot: QtBot, dialog: LinkDialog, text: str, expect: str) -> None:
    dialog.search.clear()
    qtbot.keyClicks(dialog.search, text)
    qtbot.waitUntil(
        lambda: any(h.service_location_id == expect for h in dialog.model.hits), timeout=WAIT
    )


def pick(dialog: LinkDialog, location_id: str) -> None:
    row = next(i for i, h in enumerate(dialog.model.hits) if h.service_location_id == location_id)
    dialog.select_row(row)
    assert dialog.current_hit() is not None
    assert dialog.current_hit().service_location_id == location_id  # type: ignore[union-attr]


def reports(window: MainWindow) -> list[Report]:
    with window.backend.db.sessions() as s:
        return list(s.scalars(select(Report).where(Report.phone == UNLINKED)))


def test_whole_path_link_and_resend_opens_one_ticket(
    qtbot: QtBot, qtmodeltester, farm_window: MainWindow, sim: Simulator
) -> None:
    window = farm_window
    body = "OUT whole street dark"
    unlinked_report(qtbot, window, sim, body)
    dialog = open_dialog(qtbot, window)
    # Named, accessible, keyboard-first.
    assert dialog.objectName() == "linkDialog"
    for name, kind in (
        ("linkSearch", QLineEdit),
        ("linkResults", QTableView),
        ("linkLocation", QComboBox),
        ("linkAndResendButton", QPushButton),
        ("linkOnlyButton", QPushButton),
    ):
        assert dialog.findChild(kind, name) is not None, name
    unnamed = [
        w.objectName() or type(w).__name__
        for w in dialog.findChildren(QWidget)
        if w.focusPolicy() != Qt.FocusPolicy.NoFocus and w.isVisible() and not w.accessibleName()
    ]
    assert unnamed == []
    assert "(208) 555-0150" in dialog.windowTitle()
    assert dialog.body.toPlainText() == body

    search(qtbot, dialog, "Farmer", "SL-9001-1")
    qtmodeltester.check(dialog.model)
    pick(dialog, "SL-9001-1")
    assert dialog.location.count() == 2  # the location, or the whole account
    with qtbot.waitSignal(dialog.linked, timeout=WAIT) as linked:
        qtbot.mouseClick(dialog.link_resend_button, Qt.MouseButton.LeftButton)
    assert "revision 2 queued" in linked.args[0]
    qtbot.waitUntil(lambda: state_of(window, body).startswith("Forwarded · T-"), timeout=WAIT)
    assert sim.oms.tickets_created == 1
    [report] = reports(window)
    assert (report.account_number, report.service_location_id) == ("9001", "SL-9001-1")
    assert report.resolved_level == "Meter"

    # A second re-send of the same report opens no second ticket.
    row = row_of(window, body)
    assert row is not None
    window.view.selectRow(row)
    trigger(window, "actionResendSelected")
    box = window.resend_box
    assert box is not None
    assert "Re-send 1 report " in box.text()
    box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(
        lambda: "Re-sent 0 reports" in window.statusBar().currentMessage(), timeout=WAIT
    )
    qtbot.wait(300)
    assert sim.oms.tickets_created == 1
    assert [r.ticket_id for r in reports(window)] == [report.ticket_id]


def test_failed_oms_call_stays_queued_and_is_retried(
    qtbot: QtBot, farm_window: MainWindow, sim: Simulator
) -> None:
    window = farm_window
    body = "OUT no power since noon"
    unlinked_report(qtbot, window, sim, body)
    dialog = open_dialog(qtbot, window)
    search(qtbot, dialog, "9001", "SL-9001-1")
    pick(dialog, "SL-9001-1")
    sim.oms.fail_next(status=503, count=2)
    seen: set[str] = set()

    def forwarded() -> bool:
        state = state_of(window, body)
        seen.add(state.split(" ·")[0])
        return state.startswith("Forwarded · T-")

    with qtbot.waitSignal(dialog.linked, timeout=WAIT):
        qtbot.mouseClick(dialog.link_resend_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(forwarded, timeout=WAIT)
    [report] = reports(window)
    failed = [key for key, _, status in sim.oms.requests if status == 503]
    assert failed == [f"{report.report_id}.2"] * 2
    assert sim.oms.tickets_created == 1
    assert seen - {"UNLINKED – needs link"} <= {"Queued", "Retrying", "Forwarded"}


def test_suggestions_before_typing_say_why(
    qtbot: QtBot, qtmodeltester, farm_window: MainWindow, sim: Simulator
) -> None:
    window = farm_window
    unlinked_report(qtbot, window, sim, "OUT acct 9001 lights out")
    dialog = open_dialog(qtbot, window)
    qtbot.waitUntil(lambda: dialog.model.rowCount() >= 2, timeout=WAIT)
    qtmodeltester.check(dialog.model)
    accounts = {h.account_number for h in dialog.model.hits}
    assert accounts == {"9001"}
    assert all("account 9001 is written in the text" in h.reason for h in dialog.model.hits)
    assert dialog.results_label.text().startswith("Suggestions (2)")
    life = [dialog.model.data(dialog.model.index(r, 5)) for r in range(2)]
    assert "♥ LIFE SUPPORT" in life
    why = dialog.model.data(dialog.model.index(0, 7))
    assert "written in the text" in why
    # Typing replaces the suggestions; clearing brings them back.
    search(qtbot, dialog, "Silo", "SL-9001-2")
    dialog.search.clear()
    qtbot.waitUntil(lambda: dialog.results_label.text().startswith("Suggestions"), timeout=WAIT)


def test_multi_location_account_links_all_locations_at_address_level(
    qtbot: QtBot, farm_window: MainWindow, sim: Simulator
) -> None:
    window = farm_window
    body = "OUT farm is dark"
    unlinked_report(qtbot, window, sim, body)
    dialog = open_dialog(qtbot, window)
    search(qtbot, dialog, "9001", "SL-9001-2")
    pick(dialog, "SL-9001-2")
    assert dialog.location.isEnabled()
    dialog.choose_all_locations()
    assert dialog.location.currentData() == ALL_LOCATIONS
    assert "Address level" in dialog.location.currentText()
    assert dialog.chosen_location() is None
    with qtbot.waitSignal(dialog.linked, timeout=WAIT):
        dialog.link_and_resend()
    qtbot.waitUntil(lambda: state_of(window, body).startswith("Forwarded"), timeout=WAIT)
    payload = sim.oms.requests[-1][1]
    assert (payload["resolved_level"], payload["service_location_id"]) == ("Address", None)
    with window.backend.db.sessions() as s:
        link = s.scalars(select(PhoneLink).where(PhoneLink.phone == UNLINKED)).one()
    assert (link.account_number, link.service_location_id) == ("9001", None)


def test_keyboard_only(qtbot: QtBot, farm_window: MainWindow, sim: Simulator) -> None:
    window = farm_window
    body = "OUT dark at 2 Silo Ln"
    unlinked_report(qtbot, window, sim, body)
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_Return)  # Enter on an unlinked row opens the dialog
    first = wait_dialog(qtbot, window, None)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is first.search, timeout=WAIT)
    # Esc closes; the dialog opens again on the same row.
    qtbot.keyClick(first.search, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not shiboken6.isValid(first) or not first.isVisible())
    window.activateWindow()  # what a window manager does when the dialog closes
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT)
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_Return)
    dialog = wait_dialog(qtbot, window, first)
    assert dialog.isVisible()
    qtbot.keyClicks(dialog.search, "Pat Farmer")
    qtbot.waitUntil(lambda: dialog.model.rowCount() == 2, timeout=WAIT)
    qtbot.keyClick(dialog.search, Qt.Key.Key_Down)  # ↓ moves through the results
    hit = dialog.current_hit()
    assert hit is not None
    assert hit.service_location_id == "SL-9001-2"
    qtbot.keyClick(dialog.search, Qt.Key.Key_Up)
    hit = dialog.current_hit()
    assert hit is not None
    assert hit.service_location_id == "SL-9001-1"
    qtbot.keyClick(dialog.search, Qt.Key.Key_Down)
    with qtbot.waitSignal(dialog.linked, timeout=WAIT):
        qtbot.keyClick(dialog.search, Qt.Key.Key_Return)  # Enter = Link & re-send
    qtbot.waitUntil(lambda: state_of(window, body).startswith("Forwarded"), timeout=WAIT)
    [report] = reports(window)
    assert report.service_location_id == "SL-9001-2"
    assert report.priority == "Urgent"  # life support


def test_link_only_with_alt_l_then_resend_only(
    qtbot: QtBot, farm_window: MainWindow, sim: Simulator
) -> None:
    window = farm_window
    body = "OUT pole down"
    unlinked_report(qtbot, window, sim, body)
    dialog = open_dialog(qtbot, window)
    search(qtbot, dialog, "SL-9001-1", "SL-9001-1")
    with qtbot.waitSignal(dialog.linked, timeout=WAIT) as linked:
        qtbot.keyClick(dialog.search, Qt.Key.Key_L, Qt.KeyboardModifier.AltModifier)
    assert "no report re-sent" in linked.args[0]
    qtbot.wait(300)
    assert state_of(window, body).startswith("UNLINKED")
    assert sim.oms.tickets_created == 0
    dialog = open_dialog(qtbot, window)
    assert dialog.existing.isVisible()
    assert "account 9001" in dialog.existing_label.text()
    with qtbot.waitSignal(dialog.linked, timeout=WAIT):
        qtbot.mouseClick(dialog.resend_only_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: state_of(window, body).startswith("Forwarded"), timeout=WAIT)
    assert sim.oms.tickets_created == 1


def test_existing_link_move_and_confirmation_text(
    qtbot: QtBot, farm_window: MainWindow, sim: Simulator
) -> None:
    window = farm_window
    other = sim.directory[0].account_number
    with window.backend.db.sessions() as s:
        link_phone(s, Actor("t", "d", Role.SUPERVISOR), UNLINKED, "9001", "SL-9001-2", resend=False)
    # The OMS does not know the simulated phone: the report is still unlinked at the OMS.
    body = "OUT at the barn"
    sim.gateway.add_message(from_=UNLINKED, body=body)
    qtbot.waitUntil(lambda: row_of(window, body) is not None, timeout=WAIT)
    row = row_of(window, body)
    assert row is not None
    window.view.selectRow(row)
    dialog = open_dialog(qtbot, window)
    assert dialog.existing.isVisible()
    assert "SL-9001-2" in dialog.existing_label.text()
    search(qtbot, dialog, other, sim.directory[0].service_location_id)
    pick(dialog, sim.directory[0].service_location_id)
    dialog.move_radio.setChecked(True)
    dialog.confirm.setChecked(True)
    assert sim.directory[0].service_address in dialog.preview.text()
    with qtbot.waitSignal(dialog.linked, timeout=WAIT) as linked:
        dialog.link_only()
    assert "old link(s) removed" in linked.args[0]
    assert "confirmation text queued" in linked.args[0]
    with window.backend.db.sessions() as s:
        links = s.scalars(select(PhoneLink).where(PhoneLink.phone == UNLINKED)).all()
        texts = s.scalars(select(OutboundText).where(OutboundText.purpose == "link_confirmation"))
        actions = s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        [text] = list(texts)
    assert [(link.account_number, link.service_location_id) for link in links] == [
        (other, sim.directory[0].service_location_id)
    ]
    assert sim.directory[0].service_address in text.body
    assert "link_move" in actions


def test_opted_out_number_gets_no_confirmation(
    qtbot: QtBot, farm_window: MainWindow, sim: Simulator
) -> None:
    window = farm_window
    body = "OUT still dark"
    unlinked_report(qtbot, window, sim, body)
    with window.backend.db.sessions() as s:
        force_opt_out(s, Actor("t", "d", Role.SUPERVISOR), UNLINKED, None, "asked by phone")
    dialog = open_dialog(qtbot, window)
    assert not dialog.confirm.isEnabled()
    assert "opted out" in dialog.preview.text()
    # Even if the box were ticked (consent changed while the dialog was open), the guard
    # blocks the text, and the dialog says so.
    dialog.confirm.setEnabled(True)
    dialog.confirm.setChecked(True)
    search(qtbot, dialog, "9001", "SL-9001-1")
    pick(dialog, "SL-9001-1")
    with qtbot.waitSignal(dialog.linked, timeout=WAIT) as linked:
        dialog.link_only()
    assert "confirmation text NOT sent: the number has opted out" in linked.args[0]
    with window.backend.db.sessions() as s:
        [text] = s.scalars(
            select(OutboundText).where(OutboundText.purpose == "link_confirmation")
        ).all()
    assert text.state == "blocked"


def test_operation_error_is_shown_in_the_status_line(
    qtbot: QtBot, farm_window: MainWindow, sim: Simulator
) -> None:
    window = farm_window
    unlinked_report(qtbot, window, sim, "OUT here")
    dialog = open_dialog(qtbot, window)
    search(qtbot, dialog, "9001", "SL-9001-1")
    pick(dialog, "SL-9001-1")
    # The account disappears between the search and the click (a directory re-import).
    with window.backend.db.sessions() as s:
        from outagedesk.store.models import ServiceLocation

        for loc in s.scalars(
            select(ServiceLocation).where(ServiceLocation.account_number == "9001")
        ):
            s.delete(loc)
        s.commit()
    dialog.link_and_resend()
    qtbot.waitUntil(lambda: "not in the account directory" in dialog.status.text(), timeout=WAIT)
    assert dialog.isVisible()
    assert dialog.link_resend_button.isEnabled()


def test_details_pane_offers_link(qtbot: QtBot, farm_window: MainWindow, sim: Simulator) -> None:
    window = farm_window
    unlinked_report(qtbot, window, sim, "OUT details link")
    qtbot.waitUntil(lambda: "outagedesk://link/" in window.details.toHtml(), timeout=WAIT)
    key = window.model.key_at(row_of(window, "OUT details link") or 0)
    from PySide6.QtCore import QUrl

    window.details.anchorClicked.emit(QUrl(f"outagedesk://link/{key}"))
    qtbot.waitUntil(lambda: window.link_dialog is not None, timeout=WAIT)
    assert window.link_dialog is not None
    assert window.link_dialog.ref.body == "OUT details link"
