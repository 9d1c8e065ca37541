"""The real window, a real engine thread, the simulator on loopback: what a dispatcher sees."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QFont, QFontMetrics
from PySide6.QtWidgets import (
    QApplication,
    QLineEdit,
    QPushButton,
    QTableView,
    QTextBrowser,
    QToolButton,
    QWidget,
)
from pytestqt.qtbot import QtBot

from outagedesk.domain.phones import format_phone
from outagedesk.sim import Simulator
from outagedesk.store.feed import FeedFilter
from outagedesk.ui import theme
from outagedesk.ui.feed_model import C_KIND, C_PHONE, C_STATE, C_TEXT, F_NEEDS_LINK, R_FLAGS
from outagedesk.ui.main_window import MainWindow
from ui.uisupport import UNLINKED, close_window, our_threads

WAIT = 15_000


def texts(window: MainWindow) -> list[str]:
    m = window.model
    return [m.row_tuple(i)[C_TEXT] for i in range(m.rowCount())]


def row_with(window: MainWindow, text: str) -> tuple[object, ...] | None:
    m = window.model
    for i in range(m.rowCount()):
        row = m.row_tuple(i)
        if row[C_TEXT] == text:
            return row
    return None


def state_of(window: MainWindow, text: str) -> str:
    row = row_with(window, text)
    return str(row[C_STATE]) if row else ""


def test_objects_are_findable_by_stable_names(window: MainWindow) -> None:
    assert window.windowTitle() == "OutageDesk"
    for name, kind in (
        ("feedView", QTableView),
        ("feedSearch", QLineEdit),
        ("filterBar", QWidget),
        ("detailsPane", QTextBrowser),
        ("statusGateway", QWidget),
        ("statusOms", QWidget),
        ("needsLinkingBadge", QPushButton),
    ):
        found = window.findChild(kind, name)
        assert found is not None, name
    interactive = [
        w
        for w in window.findChildren(QWidget)
        if w.focusPolicy() != Qt.FocusPolicy.NoFocus and w.isVisible()
    ]
    assert interactive
    unnamed = [w.objectName() or type(w).__name__ for w in interactive if not w.accessibleName()]
    assert unnamed == []


def test_texts_appear_unlinked_flagged_and_counted(
    qtbot: QtBot, qtmodeltester, window: MainWindow, sim: Simulator, linked_phone: str
) -> None:
    qtmodeltester.check(window.model)
    sim.gateway.add_message(from_=linked_phone, body="OUT tree on line")
    sim.gateway.add_message(from_=UNLINKED, body="OUT whole street dark")
    sim.gateway.add_message(from_=linked_phone, body="STATUS")

    qtbot.waitUntil(lambda: len(texts(window)) == 3, timeout=WAIT)
    assert texts(window)[0] == "STATUS", "newest on top"
    qtbot.waitUntil(lambda: state_of(window, "OUT tree on line").startswith("Forwarded · T-"),
                    timeout=WAIT)  # fmt: skip
    qtbot.waitUntil(lambda: "UNLINKED" in state_of(window, "OUT whole street dark"), timeout=WAIT)

    unlinked = row_with(window, "OUT whole street dark")
    assert unlinked is not None
    assert unlinked[C_PHONE] == format_phone(UNLINKED) == "(208) 555-0150"
    flags = unlinked[R_FLAGS]
    assert isinstance(flags, int)
    assert flags & F_NEEDS_LINK
    row = texts(window).index("OUT whole street dark")
    index = window.model.index(row, C_STATE)
    assert window.model.data(index, Qt.ItemDataRole.DecorationRole) is not None, "icon too"
    assert window.model.data(index, Qt.ItemDataRole.BackgroundRole) is not None, "and colour"
    assert row_with(window, "STATUS")[C_KIND] == "Status"  # type: ignore[index]

    qtbot.waitUntil(lambda: window.badge.text() == "Needs linking: 1", timeout=WAIT)
    assert window.badge.property("alert") is True
    qtbot.waitUntil(lambda: bool(window.notifier.sent), timeout=WAIT)
    assert "need" in window.notifier.sent[0][0]
    assert window.errors == []


def test_filters_search_and_badge_narrow_the_feed(
    qtbot: QtBot, window: MainWindow, sim: Simulator, linked_phone: str
) -> None:
    sim.gateway.add_message(from_=linked_phone, body="OUT tree on line")
    sim.gateway.add_message(from_=UNLINKED, body="OUT pole down")
    sim.gateway.add_message(from_=linked_phone, body="HELP")
    sim.gateway.add_raw({"id": "bad-1", "from": "not-a-phone", "body": "OUT",
                         "received_at": "2026-11-24T10:00:00Z"})  # fmt: skip
    qtbot.waitUntil(lambda: len(texts(window)) == 4, timeout=WAIT)
    qtbot.waitUntil(lambda: "UNLINKED" in state_of(window, "OUT pole down"), timeout=WAIT)
    qtbot.waitUntil(lambda: state_of(window, "OUT tree on line").startswith("Forwarded"),
                    timeout=WAIT)  # fmt: skip

    ticket = state_of(window, "OUT tree on line").split("· ")[1]
    qtbot.mouseClick(window.badge, Qt.MouseButton.LeftButton)
    assert window.current_filter == FeedFilter.NEEDS_LINKING
    qtbot.waitUntil(lambda: texts(window) == ["OUT pole down"], timeout=WAIT)

    qtbot.mouseClick(window.filter_buttons[FeedFilter.FORWARDED], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: texts(window) == ["OUT tree on line"], timeout=WAIT)

    qtbot.mouseClick(window.filter_buttons[FeedFilter.OPT_OUT_HELP], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: texts(window) == ["HELP"], timeout=WAIT)

    qtbot.mouseClick(window.filter_buttons[FeedFilter.QUARANTINE], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=WAIT)
    quarantined = window.model.row_tuple(0)
    assert quarantined[C_STATE] == "Quarantined"
    assert "phone" in str(quarantined[7]).lower(), quarantined[7]

    qtbot.mouseClick(window.filter_buttons[FeedFilter.ALL], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(texts(window)) == 4, timeout=WAIT)
    qtbot.keyClicks(window.search, "tree")
    qtbot.waitUntil(lambda: texts(window) == ["OUT tree on line"], timeout=WAIT)
    window.search.clear()
    qtbot.keyClicks(window.search, "208-555-0150")
    qtbot.waitUntil(lambda: texts(window) == ["OUT pole down"], timeout=WAIT)
    window.search.clear()
    qtbot.keyClicks(window.search, ticket.lower())
    qtbot.waitUntil(lambda: texts(window) == ["OUT tree on line"], timeout=WAIT)
    assert window.errors == []


def test_rows_change_in_place_and_filtered_views_pick_up_changes(
    qtbot: QtBot, qtmodeltester, window: MainWindow, sim: Simulator
) -> None:
    window.set_filter(FeedFilter.NEEDS_LINKING)
    qtmodeltester.check(window.model)
    sim.oms.set_down(True)
    sim.gateway.add_message(from_=UNLINKED, body="OUT later unlinked")
    qtbot.waitUntil(lambda: window.status_oms.level in ("warn", "bad"), timeout=WAIT)
    assert texts(window) == []
    sim.oms.set_down(False)
    # The report was stored as queued; the OMS's number_not_found arrives later and moves it
    # into this filter through a ReportsChanged event.
    qtbot.waitUntil(lambda: texts(window) == ["OUT later unlinked"], timeout=WAIT)


def test_status_bar_follows_a_gateway_that_goes_down_and_comes_back(
    qtbot: QtBot, window: MainWindow, sim: Simulator
) -> None:
    qtbot.waitUntil(lambda: window.status_gateway.level == "ok", timeout=WAIT)
    assert "online" in window.status_gateway.text()
    assert not window.banner.isVisible()

    sim.gateway.set_down(True)
    qtbot.waitUntil(lambda: window.status_gateway.level == "bad", timeout=WAIT)
    assert "OFFLINE" in window.status_gateway.text()
    assert "last good poll" in window.status_gateway.text()
    assert window.banner.isVisible()
    assert "Gateway OFFLINE" in window.banner.label.text()

    sim.gateway.set_down(False)
    qtbot.waitUntil(lambda: window.status_gateway.level == "ok", timeout=WAIT)
    assert "online" in window.status_gateway.text()
    qtbot.waitUntil(lambda: not window.banner.isVisible(), timeout=WAIT)


def test_details_pane_shows_everything_about_the_selected_row(
    qtbot: QtBot, window: MainWindow, sim: Simulator, linked_phone: str
) -> None:
    sim.gateway.add_message(from_=linked_phone, body="OUT first")
    sim.gateway.add_message(from_=linked_phone, body="OUT second")
    qtbot.waitUntil(lambda: state_of(window, "OUT second").startswith("Forwarded"), timeout=WAIT)
    window.focus_feed()
    window.go_newest()
    qtbot.waitUntil(lambda: "Report r-" in window.details.toPlainText(), timeout=WAIT)
    text = window.details.toPlainText()
    for part in ("OUT second", "OMS answers", "ticket", "OUT first", "Raw message",
                 "Links of this number", "Replies sent"):  # fmt: skip
        assert part in text, part
    assert "Text 2 from this number" in text

    window.details_action.trigger()
    assert not window.details.isVisible()
    window.details_action.trigger()
    assert window.details.isVisible()


def test_keyboard_first(
    qtbot: QtBot, window: MainWindow, sim: Simulator, linked_phone: str
) -> None:
    sim.gateway.add_message(from_=UNLINKED, body="OUT one")
    sim.gateway.add_message(from_=linked_phone, body="OUT two")
    sim.gateway.add_message(from_=linked_phone, body="OUT three")
    qtbot.waitUntil(lambda: "UNLINKED" in state_of(window, "OUT one"), timeout=WAIT)

    actions = {a.objectName(): a for a in window.findChildren(QAction)}
    keys = {name: [k.toString() for k in a.shortcuts()] for name, a in actions.items()}
    assert keys["actionFilter_all"] == ["Alt+1"]
    assert keys["actionFilter_quarantine"] == ["Alt+6"]
    assert "Ctrl+F" in keys["actionSearch"]
    assert "F8" in keys["actionNextUnlinked"]
    assert "Ctrl+Q" in keys["actionQuit"]

    window.activateWindow()
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_F8)
    qtbot.waitUntil(lambda: window.view.currentIndex().isValid(), timeout=WAIT)
    assert texts(window)[window.view.currentIndex().row()] == "OUT one"

    actions["actionFilter_needs_linking"].trigger()
    assert window.current_filter == FeedFilter.NEEDS_LINKING
    actions["actionSearch"].trigger()
    assert QApplication.focusWidget() is window.search or window.search.hasFocus()

    before = window.font_scale
    actions["actionZoomIn"].trigger()
    assert window.font_scale > before
    height = window.view.verticalHeader().defaultSectionSize()
    actions["actionZoomOut"].trigger()
    assert window.view.verticalHeader().defaultSectionSize() < height

    actions["actionShortcuts"].trigger()
    dialog = window.shortcuts_dialog
    items = [dialog.table.item(i, 0) for i in range(dialog.table.rowCount())]
    listed = {item.text() for item in items if item is not None}
    assert "Next report needing a link" in listed
    assert "Show Needs linking" in listed
    dialog.close()

    window.dark_action.trigger()
    assert window.theme_name == theme.DARK
    assert window.errors == []


def test_window_state_persists_between_runs(
    qtbot: QtBot, open_window: Callable[..., MainWindow], make_backend, tmp_path: Path
) -> None:
    state = tmp_path / "persist.ini"
    first = open_window(state_file=state)
    first.set_theme(theme.DARK)
    first.set_font_scale(1.25)
    first.mute_action.setChecked(True)
    first.set_filter(FeedFilter.FORWARDED)
    first.view.horizontalHeader().resizeSection(C_TEXT, 333)
    close_window(qtbot, first)

    second = open_window(make_backend(), state_file=state)
    assert second.theme_name == theme.DARK
    assert second.font_scale == 1.25
    assert second.notifier.muted
    assert second.current_filter == FeedFilter.FORWARDED
    assert second.filter_buttons[FeedFilter.FORWARDED].isChecked()
    assert second.view.horizontalHeader().sectionSize(C_TEXT) == 333
    second.set_theme(theme.LIGHT)


def test_ctrl_q_stops_everything_cleanly(qtbot: QtBot, window: MainWindow) -> None:
    engine_thread = window.backend.engine
    assert engine_thread is not None
    assert engine_thread.running
    quit_action = window.findChild(QAction, "actionQuit")
    assert quit_action is not None
    with qtbot.waitSignal(window.shutdownFinished, timeout=30_000):
        quit_action.trigger()
    assert window.stopped
    assert not engine_thread.running
    assert engine_thread.error is None
    qtbot.waitUntil(lambda: our_threads() == [], timeout=10_000)


def test_a_chosen_filter_keeps_its_whole_label_in_bold(window: MainWindow, qtbot: QtBot) -> None:
    # The style sheets set the chosen filter's label in bold (and its focus frame a pixel wider);
    # a button sized for its plain label cut a long one off at both ends once it was chosen.
    chosen = window.theme_name
    try:
        for name in theme.THEMES:
            window.set_theme(name)
            button = window.filter_buttons[FeedFilter.FAILED]
            button.setText("Failed/Rejected (12,345)")
            button.click()
            button.setFocus()
            QApplication.processEvents()
            bold_twin = QToolButton(window.filter_bar)  # styled as a filter, never shown
            bold_twin.setText(button.text())
            font = QFont(button.font())
            font.setBold(True)
            bold_twin.setFont(font)
            needed = bold_twin.sizeHint().width() + 2
            assert button.sizeHint().width() >= needed, name
            assert button.minimumSizeHint().width() >= needed, name
            qtbot.waitUntil(partial(_at_least_as_wide, button, needed), timeout=2_000)
            bold_twin.deleteLater()
    finally:
        window.set_theme(chosen)


def _at_least_as_wide(widget: QWidget, width: int) -> bool:
    return widget.width() >= width


def test_larger_text_widens_the_feed_columns_and_reaches_the_details(
    window: MainWindow,
) -> None:
    header = window.view.horizontalHeader()
    phone_before = header.sectionSize(C_PHONE)
    header.resizeSection(C_TEXT, 300)  # a width the dispatcher chose grows as well
    point_size = window.details.font().pointSizeF()
    header_size = header.font().pointSizeF()

    window.set_font_scale(1.5)
    assert header.sectionSize(C_PHONE) == round(phone_before * 1.5)
    assert header.sectionSize(C_TEXT) == 450
    assert window.details.font().pointSizeF() == pytest.approx(point_size * 1.5)
    assert header.font().pointSizeF() == pytest.approx(header_size * 1.5)
    # The whole phone number still fits its column.
    phone = window.model.index(0, C_PHONE).data() or "(505) 555-0123"
    assert QFontMetrics(window.view.font()).horizontalAdvance(phone) < header.sectionSize(C_PHONE)

    window.zoom_reset()
    assert header.sectionSize(C_PHONE) == phone_before
    assert header.sectionSize(C_TEXT) == 300
    assert window.details.font().pointSizeF() == pytest.approx(point_size)
