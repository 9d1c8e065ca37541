"""The Mappings screen on a real database: listing, review queue, conflicts, files, refusals.

The screen runs on its own here (a DbWorker on the test's database, no engine): what reaches
the OMS is shown in test_mappings_window.py, on the real window with the simulator.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, QPoint, Qt
from PySide6.QtWidgets import QMessageBox, QTableView, QToolButton, QWidget
from pytestqt.qtbot import QtBot
from sqlalchemy import select, update

from outagedesk.directory import import_directory_rows
from outagedesk.ops.base import Actor, Role
from outagedesk.ops.links import link_phone, unlink
from outagedesk.ops.mappings import move_link
from outagedesk.sim import DirectoryRow
from outagedesk.store.mappings import MappingRow
from outagedesk.store.models import AuditEntry, PhoneLink, ServiceLocation, utcnow
from outagedesk.ui.mappings_dialogs import ImportPreviewDialog, MoveLinkDialog
from outagedesk.ui.mappings_model import L_ACCOUNT, L_PHONE, L_STATUS, REMOVED_TEXT
from outagedesk.ui.mappings_screen import TAB_ALL, TAB_CONFLICTS, TAB_REVIEW, MappingsScreen
from outagedesk.ui.worker import DbWorker

from dbsupport import DbUnderTest

WAIT = 15_000
SUPERVISOR = Actor("sam", "desk-2", Role.SUPERVISOR)
DISPATCHER = Actor("dana", "desk-1", Role.DISPATCHER)


def _phones(i: int) -> tuple[str, str]:
    """Two fake phones (555-01xx) of location ``i``: 240 links, more than one page."""
    first = f"+1505555{100 + i // 2:04d}" if i % 2 == 0 else f"+1702555{100 + i // 2:04d}"
    second = f"+1406555{100 + i:04d}" if i < 100 else f"+1307555{i:04d}"
    return first, second


DIRECTORY = [
    DirectoryRow(
        f"7{i:03d}",
        f"SL-7{i:03d}-1",
        None,
        f"Customer {i:03d}",
        f"{i + 1} Elm St",
        _phones(i),
        False,
    )
    for i in range(120)
]
FARM = [
    DirectoryRow("9001", "SL-9001-1", "M-90011", "Pat Farmer", "1 Barn Rd", (), False),
    DirectoryRow("9001", "SL-9001-2", None, "Pat Farmer", "2 Silo Ln", (), True),
    DirectoryRow("9002", "SL-9002-1", None, "Lee Miller", "3 Mill Rd", (), False),
]
NEW_PHONES = ("+15055550190", "+15055550191", "+15055550192")


@dataclass
class Desk:
    """Who acts from the screen; a test can change it while the screen is open."""

    actor: Actor


@pytest.fixture
def desk() -> Desk:
    return Desk(SUPERVISOR)


@pytest.fixture
def seeded(db: DbUnderTest) -> DbUnderTest:
    import_directory_rows(db.engine, [*DIRECTORY, *FARM], source="directory", actor="test")
    with db.sessions() as s:
        for phone in NEW_PHONES:
            link_phone(s, DISPATCHER, phone, "9001", "SL-9001-1", resend=False)
    return db


@pytest.fixture
def open_screen(
    qtbot: QtBot, seeded: DbUnderTest, desk: Desk
) -> Iterator[Callable[..., MappingsScreen]]:
    workers: list[DbWorker] = []

    def open_(tab: str = "all") -> MappingsScreen:
        worker = DbWorker(seeded.engine)
        workers.append(worker)
        screen = MappingsScreen(
            worker=worker, sessions=seeded.sessions, actor=lambda: desk.actor, tab=tab
        )
        qtbot.addWidget(screen)
        screen.show()
        wait_links(qtbot, screen)
        qtbot.waitUntil(lambda: screen.review_total is not None, timeout=WAIT)
        if tab == "conflicts":
            qtbot.waitUntil(lambda: screen.conflict_total is not None, timeout=WAIT)
        return screen

    yield open_
    for worker in workers:
        worker.shutdown()


def wait_links(qtbot: QtBot, screen: MappingsScreen) -> None:
    qtbot.waitUntil(
        lambda: not screen.all_model.busy and screen.all_model.count is not None, timeout=WAIT
    )


def shown(screen: MappingsScreen, col: int = L_PHONE) -> list[str]:
    m = screen.all_model
    return [m.data(m.index(r, col)) for r in range(m.rowCount())]


def links_in(db: DbUnderTest) -> set[tuple[str, str, str | None]]:
    with db.sessions() as s:
        rows = s.execute(
            select(PhoneLink.phone, PhoneLink.account_number, PhoneLink.service_location_id)
        )
        return {(phone, account, location) for phone, account, location in rows}


def find(qtbot: QtBot, screen: MappingsScreen, text: str) -> None:
    with qtbot.waitSignal(screen.all_model.loaded, timeout=WAIT):
        screen.search.setText(text)


def select_link(view: QTableView, phone_text: str) -> None:
    model = view.model()
    for r in range(model.rowCount()):
        if model.data(model.index(r, L_PHONE)) == phone_text:
            view.selectRow(r)
            view.setCurrentIndex(model.index(r, 0))
            return
    raise AssertionError(f"{phone_text} is not shown")


def button(screen: MappingsScreen, name: str) -> QToolButton:
    found = screen.findChild(QToolButton, name)
    assert found is not None, name
    return found


def error_text(qtbot: QtBot, screen: MappingsScreen) -> str:
    qtbot.waitUntil(
        lambda: (
            screen.message_box is not None and screen.message_box.objectName() == "mappingsError"
        ),
        timeout=WAIT,
    )
    assert screen.message_box is not None
    return screen.message_box.text()


def test_lists_pages_searches_filters_and_sorts_in_sql(
    qtbot: QtBot, qtmodeltester, open_screen: Callable[..., MappingsScreen]
) -> None:
    screen = open_screen()
    assert screen.objectName() == "mappingsScreen"
    assert screen.tabs.currentIndex() == TAB_ALL
    model = screen.all_model
    assert screen.count_label.text() == "243 links"
    # One page first; the rest pages in as the view asks for it, in order, never twice.
    assert model.rowCount() == 200
    # Conflicts scan every link: not on open, only when their tab is shown.
    assert screen.conflict_total is None
    # However far the view scrolls, a query loads at most max_rows.
    model.max_rows = 200
    assert not model.canFetchMore(QModelIndex())
    assert model.truncated
    model.max_rows = 1000
    assert model.canFetchMore(QModelIndex())
    model.fetchMore(QModelIndex())
    qtbot.waitUntil(lambda: model.rowCount() == 243 and not model.busy, timeout=WAIT)
    assert not model.canFetchMore(QModelIndex())
    ids = [model.link(r).link_id for r in range(model.rowCount())]  # type: ignore[union-attr]
    assert len(set(ids)) == 243
    qtmodeltester.check(model)

    # Every interactive widget is named for tests and screen readers.
    unnamed = [
        w.objectName() or type(w).__name__
        for w in screen.findChildren(QWidget)
        if w.focusPolicy() != Qt.FocusPolicy.NoFocus and w.isVisible() and not w.accessibleName()
    ]
    assert unnamed == []

    # Search (debounced) by phone digits, account, name words.
    with qtbot.waitSignal(model.loaded, timeout=WAIT):
        qtbot.keyClicks(screen.search, "702555")
    assert len(shown(screen)) == 60
    assert all(p.startswith("(702) 555-") for p in shown(screen))
    with qtbot.waitSignal(model.loaded, timeout=WAIT):
        screen.search.setText("Farmer")
    assert sorted(shown(screen)) == sorted(f"(505) 555-{p[-4:]}" for p in NEW_PHONES)
    wait_links(qtbot, screen)
    assert screen.count_label.text() == "3 links"

    # Filters: source and reviewed.
    with qtbot.waitSignal(model.loaded, timeout=WAIT):
        screen.search.clear()
        screen.source_filter.setCurrentIndex(screen.source_filter.findData("dispatcher"))
    assert len(shown(screen)) == 3
    with qtbot.waitSignal(model.loaded, timeout=WAIT):
        screen.source_filter.setCurrentIndex(0)
        screen.reviewed_filter.setCurrentIndex(screen.reviewed_filter.findData(False))
    assert len(shown(screen)) == 3

    # A header click sorts in SQL; a second click reverses.
    with qtbot.waitSignal(model.loaded, timeout=WAIT):
        screen.reviewed_filter.setCurrentIndex(0)
        screen.search.setText("Customer 00")
    header = screen.table.horizontalHeader()
    x = header.sectionViewportPosition(L_ACCOUNT) + 10
    with qtbot.waitSignal(model.loaded, timeout=WAIT):
        qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    accounts = shown(screen, L_ACCOUNT)
    assert accounts == sorted(accounts)
    assert len(accounts) == 20
    assert screen.query.sort == "account"
    assert not screen.query.descending
    assert screen.status.text() == ""
    with qtbot.waitSignal(model.loaded, timeout=WAIT):
        qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    assert shown(screen, L_ACCOUNT) == sorted(accounts, reverse=True)
    # A column SQL does not sort by keeps the order and says which ones do.
    x = header.sectionViewportPosition(L_STATUS) + 10
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    assert header.sortIndicatorSection() == L_ACCOUNT
    assert "Sort by phone, account" in screen.status.text()


def test_review_queue_approve_and_correct_in_place(
    qtbot: QtBot, qtmodeltester, seeded: DbUnderTest, open_screen: Callable[..., MappingsScreen]
) -> None:
    screen = open_screen("review")
    assert screen.tabs.currentIndex() == TAB_REVIEW
    assert screen.tabs.tabText(TAB_REVIEW) == "&Review queue (3)"
    review = screen.review_model
    assert review.rowCount() == 3
    qtmodeltester.check(review)
    counts: list[int] = []
    screen.reviewCountChanged.connect(counts.append)

    # Approve the first one.
    select_link(screen.review_table, "(505) 555-0190")
    with qtbot.waitSignal(screen.changed, timeout=WAIT) as done:
        button(screen, "mappingsApproveButton").click()
    assert done.args[0] == "Approved 1 link."
    qtbot.waitUntil(lambda: counts[-1:] == [2], timeout=WAIT)
    assert screen.tabs.tabText(TAB_REVIEW) == "&Review queue (2)"
    with seeded.sessions() as s:
        link = s.scalars(select(PhoneLink).where(PhoneLink.phone == NEW_PHONES[0])).one()
        assert (link.reviewed, link.reviewed_by) == (True, "sam")

    # Correct the next one in place: it moves and is approved in one go.
    qtbot.waitUntil(lambda: review.rowCount() == 2 and not review.busy, timeout=WAIT)
    select_link(screen.review_table, "(505) 555-0191")
    screen.correct_selected()
    dialog = screen.move_dialog
    assert isinstance(dialog, MoveLinkDialog)
    assert dialog.windowTitle().startswith("Correct link")
    qtbot.waitUntil(lambda: dialog.model.rowCount() >= 2, timeout=WAIT)  # prefilled: 9001
    qtbot.keyClicks(dialog.search, "-")  # "9001-" finds nothing; clearing finds the other
    dialog.search.setText("Miller")
    qtbot.waitUntil(
        lambda: [h.service_location_id for h in dialog.model.hits] == ["SL-9002-1"], timeout=WAIT
    )
    with qtbot.waitSignal(screen.changed, timeout=WAIT) as done:
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert "now points to 9002 / SL-9002-1" in done.args[0]
    qtbot.waitUntil(lambda: counts[-1:] == [1], timeout=WAIT)
    with seeded.sessions() as s:
        link = s.scalars(select(PhoneLink).where(PhoneLink.phone == NEW_PHONES[1])).one()
        assert (link.account_number, link.service_location_id) == ("9002", "SL-9002-1")
        assert (link.reviewed, link.source) == (True, "supervisor")


def test_csv_bulk_correction_previews_and_applies_nothing_until_confirmed(
    qtbot: QtBot,
    qtmodeltester,
    tmp_path: Path,
    seeded: DbUnderTest,
    open_screen: Callable[..., MappingsScreen],
) -> None:
    path = tmp_path / "corrections.csv"
    rows = [
        ("phone", "account_number", "service_location_id", "action"),
        ("+15055550180", "9001", "SL-9001-2", "add"),  # line 2: added
        (NEW_PHONES[0], "9002", "", "move"),  # line 3: moved from 9001
        ("not a phone", "9001", "", "add"),  # line 4: invalid
        ("+15055550181", "4040", "", "add"),  # line 5: invalid (no such account)
        (NEW_PHONES[1], "9001", "SL-9001-1", "remove"),  # line 6: removed
        (NEW_PHONES[2], "9001", "SL-9001-1", "add"),  # line 7: unchanged
    ]
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    before = links_in(seeded)
    screen = open_screen()
    progress: list[tuple[int, int]] = []
    screen.relay.progressed.connect(lambda done, total: progress.append((done, total)))

    with qtbot.waitSignal(screen.planned, timeout=WAIT):
        screen.plan_file(path)
    preview = screen.preview
    assert isinstance(preview, ImportPreviewDialog)
    assert preview.objectName() == "mappingsImportPreview"
    counts = {o.value: label.text() for o, label in preview.count_labels.items()}
    assert counts == {
        "added": "Added: 1",
        "moved": "Moved: 1",
        "removed": "Removed: 1",
        "unchanged": "Unchanged: 1",
        "invalid": "⚠ Invalid: 2",
    }
    # The invalid rows come first, with their line numbers and reasons.
    qtmodeltester.check(preview.model)
    m = preview.model
    invalid = [(m.data(m.index(r, 0)), m.data(m.index(r, 5))) for r in range(m.rowCount())]
    assert [line for line, _ in invalid] == ["4", "5"]
    assert all(reason for _, reason in invalid)
    assert not preview.apply_button.isEnabled()
    assert "2 invalid rows" in preview.status.text()
    preview.request_apply()  # refused while invalid rows are not skipped
    qtbot.wait(200)
    assert links_in(seeded) == before

    preview.skip.setChecked(True)
    assert preview.apply_button.isEnabled()
    assert preview.apply_button.text() == "&Apply 3 changes"
    preview.filter.setCurrentIndex(0)
    assert m.rowCount() == 6
    qtbot.mouseClick(preview.cancel_button, Qt.MouseButton.LeftButton)
    assert "nothing changed" in screen.status.text()
    qtbot.wait(200)
    assert links_in(seeded) == before

    # Again, and this time apply: one transaction, progress reported, one audit row.
    with qtbot.waitSignal(screen.planned, timeout=WAIT):
        screen.plan_file(path)
    preview = screen.preview
    assert preview is not None
    preview.skip.setChecked(True)
    with qtbot.waitSignal(screen.imported, timeout=WAIT) as done:
        qtbot.mouseClick(preview.apply_button, Qt.MouseButton.LeftButton)
    assert "2 invalid rows skipped" in done.args[0]
    assert progress
    assert progress[-1][0] == progress[-1][1]
    after = links_in(seeded)
    assert ("+15055550180", "9001", "SL-9001-2") in after
    assert (NEW_PHONES[0], "9002", None) in after
    assert (NEW_PHONES[0], "9001", "SL-9001-1") not in after
    assert (NEW_PHONES[1], "9001", "SL-9001-1") not in after
    assert (NEW_PHONES[2], "9001", "SL-9001-1") in after
    with seeded.sessions() as s:
        uploads = s.scalars(select(AuditEntry).where(AuditEntry.subject.contains(path.name)))
        assert len(list(uploads)) == 1


def test_links_changed_after_the_preview_apply_nothing(
    qtbot: QtBot, tmp_path: Path, seeded: DbUnderTest, open_screen: Callable[..., MappingsScreen]
) -> None:
    path = tmp_path / "moves.csv"
    path.write_text(
        f"phone,account_number,service_location_id,action\n{NEW_PHONES[0]},9002,,move\n",
        encoding="utf-8",
    )
    screen = open_screen()
    with qtbot.waitSignal(screen.planned, timeout=WAIT):
        screen.plan_file(path)
    preview = screen.preview
    assert preview is not None
    assert preview.apply_button.text() == "&Apply 1 change"
    with seeded.sessions() as s:  # another desk edits that phone's links meanwhile
        link_phone(s, DISPATCHER, NEW_PHONES[0], "9001", "SL-9001-2", resend=False)
    before = links_in(seeded)
    preview.request_apply()
    assert "preview" in error_text(qtbot, screen).lower()
    assert screen.preview is None
    assert links_in(seeded) == before


def test_unreadable_file_is_refused_with_a_message(
    qtbot: QtBot, tmp_path: Path, open_screen: Callable[..., MappingsScreen]
) -> None:
    path = tmp_path / "links.csv"
    path.write_text("who,what\n1,2\n", encoding="utf-8")
    screen = open_screen()
    screen.plan_file(path)
    assert "could not be read" in error_text(qtbot, screen)
    assert screen.preview is None
    assert not screen.progress.isVisible()


def test_dispatcher_is_refused_with_a_clear_message(
    qtbot: QtBot,
    tmp_path: Path,
    seeded: DbUnderTest,
    desk: Desk,
    open_screen: Callable[..., MappingsScreen],
) -> None:
    desk.actor = DISPATCHER
    screen = open_screen()
    find(qtbot, screen, "Farmer")
    # The buttons say who may, but the operation is what refuses.
    move = button(screen, "mappingsMoveButton")
    assert not move.isEnabled()
    assert "Only a supervisor or an administrator may edit, move and delete links" in (
        move.toolTip()
    )
    assert not button(screen, "mappingsImportButton").isEnabled()
    assert not button(screen, "mappingsExportButton").isEnabled()
    before = links_in(seeded)
    select_link(screen.table, "(505) 555-0190")
    link = screen.current_link()
    assert link is not None
    refusals: list[str] = []
    screen.failed.connect(refusals.append)
    screen.move_link_to(link, "9002", None)
    text = error_text(qtbot, screen)
    assert "dana (dispatcher) may not edit, move and delete links" in text
    assert "ask a supervisor" in text
    assert screen.status.text().startswith("⚠ ")

    screen.delete_selected()
    assert screen.message_box is not None
    assert screen.message_box.objectName() == "mappingsDeleteConfirm"
    assert screen.message_box.text() == "Delete 1 link?"
    screen.message_box.button(QMessageBox.StandardButton.Yes).click()
    assert "may not edit, move and delete links" in error_text(qtbot, screen)
    screen.approve_selected()
    qtbot.waitUntil(lambda: len(refusals) == 3, timeout=WAIT)
    assert "may not review dispatchers' links" in refusals[-1]
    out = tmp_path / "links.csv"
    screen.export_to(out)
    qtbot.waitUntil(lambda: len(refusals) == 4, timeout=WAIT)
    assert "may not import and correct links" in refusals[-1]
    assert not out.exists()
    assert links_in(seeded) == before


def test_second_editor_gets_the_current_value(
    qtbot: QtBot, seeded: DbUnderTest, open_screen: Callable[..., MappingsScreen]
) -> None:
    screen = open_screen()
    find(qtbot, screen, "Farmer")
    select_link(screen.table, "(505) 555-0190")
    seen = screen.current_link()
    assert seen is not None
    # Another desk moves the same link first.
    with seeded.sessions() as s:
        move_link(
            s, Actor("jo", "desk-9", Role.SUPERVISOR), seen.link_id, seen.version, "9002", None
        )
    screen.move_link_to(seen, "9001", "SL-9001-2")
    text = error_text(qtbot, screen)
    assert "9002" in text
    assert "not applied" in text
    row = screen.all_model.row_of(seen.link_id)
    assert row is not None
    now = screen.all_model.link(row)
    assert isinstance(now, MappingRow)
    assert (now.account_number, now.service_location_id) == ("9002", None)
    assert now.version > seen.version
    with seeded.sessions() as s:
        link = s.get(PhoneLink, seen.link_id)
        assert link is not None
        assert (link.account_number, link.created_by) == ("9002", "jo")


def test_link_removed_meanwhile_leaves_the_list(
    qtbot: QtBot, seeded: DbUnderTest, open_screen: Callable[..., MappingsScreen]
) -> None:
    screen = open_screen()
    find(qtbot, screen, "Farmer")
    select_link(screen.table, "(505) 555-0191")
    seen = screen.current_link()
    assert seen is not None
    with seeded.sessions() as s:
        unlink(s, Actor("jo", "desk-9", Role.SUPERVISOR), seen.link_id)
    screen.approve_selected()
    assert "Someone removed this link" in error_text(qtbot, screen)
    assert screen.all_model.row_of(seen.link_id) is None
    assert sorted(shown(screen)) == ["(505) 555-0190", "(505) 555-0192"]


def test_delete_selected_links_after_confirmation(
    qtbot: QtBot, seeded: DbUnderTest, open_screen: Callable[..., MappingsScreen]
) -> None:
    screen = open_screen()
    find(qtbot, screen, "Farmer")
    screen.table.selectAll()
    screen.delete_selected()
    box = screen.message_box
    assert box is not None
    assert box.text() == "Delete 3 links?"
    box.button(QMessageBox.StandardButton.No).click()
    qtbot.wait(100)
    assert all(any(p == phone for p, _, _ in links_in(seeded)) for phone in NEW_PHONES)
    screen.table.selectAll()
    screen.delete_selected()
    assert screen.message_box is not None
    with qtbot.waitSignal(screen.changed, timeout=WAIT) as done:
        screen.message_box.button(QMessageBox.StandardButton.Yes).click()
    assert done.args[0] == "Deleted 3 links."
    assert not any(p in NEW_PHONES for p, _, _ in links_in(seeded))
    qtbot.waitUntil(lambda: screen.all_model.rowCount() == 0, timeout=WAIT)


def test_export_writes_the_filtered_links(
    qtbot: QtBot, tmp_path: Path, open_screen: Callable[..., MappingsScreen]
) -> None:
    screen = open_screen()
    with qtbot.waitSignal(screen.all_model.loaded, timeout=WAIT):
        screen.search.setText("9001")
    out = tmp_path / "links.csv"
    with qtbot.waitSignal(screen.exported, timeout=WAIT) as done:
        screen.export_to(out)
    assert done.args[0] == f"Exported 3 links to {out}."
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["phone"] for r in rows) == sorted(NEW_PHONES)
    assert {r["account_number"] for r in rows} == {"9001"}


def test_conflicts_are_listed_with_icon_and_text(
    qtbot: QtBot, qtmodeltester, seeded: DbUnderTest, open_screen: Callable[..., MappingsScreen]
) -> None:
    with seeded.sessions() as s:
        # One phone on two customers' accounts; one location dropped by the directory.
        link_phone(s, DISPATCHER, NEW_PHONES[0], "9002", "SL-9002-1", resend=False)
        s.execute(
            update(ServiceLocation)
            .where(ServiceLocation.service_location_id == "SL-7000-1")
            .values(removed_at=utcnow())
        )
        s.commit()
    screen = open_screen("conflicts")
    assert screen.tabs.currentIndex() == TAB_CONFLICTS
    model = screen.conflicts_model
    qtmodeltester.check(model)
    kinds = {
        model.data(model.index(r, 0)): model.data(model.index(r, 1))
        for r in range(model.rowCount())
    }
    assert kinds["Several customers"] == "(505) 555-0190"
    assert REMOVED_TEXT in kinds
    assert screen.tabs.tabText(TAB_CONFLICTS) == f"&Conflicts ({screen.conflict_total})"
    for r in range(model.rowCount()):
        assert model.data(model.index(r, 0), Qt.ItemDataRole.DecorationRole) is not None
    # Enter on a conflict lists that phone's links.
    row = next(r for r in range(model.rowCount()) if model.conflict(r).kind == "several_customers")  # type: ignore[union-attr]
    screen.conflicts_table.setCurrentIndex(model.index(row, 0))
    with qtbot.waitSignal(screen.all_model.loaded, timeout=WAIT):
        screen.show_links_action.trigger()
    assert screen.tabs.currentIndex() == TAB_ALL
    assert sorted(shown(screen, L_ACCOUNT)) == ["9001", "9002"]
    # In All links, the removed location is marked with an icon and words, not colour alone.
    with qtbot.waitSignal(screen.all_model.loaded, timeout=WAIT):
        screen.search.setText("SL-7000-1")
    m = screen.all_model
    assert m.data(m.index(0, L_STATUS)) == REMOVED_TEXT
    assert m.data(m.index(0, L_STATUS), Qt.ItemDataRole.DecorationRole) is not None


def test_keyboard_delete_and_conflicts_on_demand(
    qtbot: QtBot, open_screen: Callable[..., MappingsScreen]
) -> None:
    screen = open_screen()
    screen.activateWindow()
    qtbot.waitUntil(screen.isActiveWindow, timeout=WAIT)
    find(qtbot, screen, "Farmer")
    screen.table.setFocus()
    screen.table.selectRow(0)
    qtbot.keyClick(screen.table, Qt.Key.Key_Delete)
    box = screen.message_box
    assert box is not None
    assert box.objectName() == "mappingsDeleteConfirm"
    box.button(QMessageBox.StandardButton.No).click()
    assert screen.tabs.tabText(TAB_CONFLICTS) == "&Conflicts"
    qtbot.keyClick(screen.tabs.tabBar(), Qt.Key.Key_C, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: screen.conflict_total is not None, timeout=WAIT)
    assert screen.tabs.currentIndex() == TAB_CONFLICTS
    assert screen.tabs.tabText(TAB_CONFLICTS) == "&Conflicts (0)"
    assert screen.conflicts_label.text() == "No conflicts."
