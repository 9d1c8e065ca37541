"""The directory picker on its own, on a real database: search, keys, locations, stale answers.

The two dialogs that use it are tested in test_link_dialog.py and test_mappings_screen.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QTableView
from pytestqt.qtbot import QtBot

from outagedesk.directory import import_directory_rows
from outagedesk.sim import DirectoryRow
from outagedesk.store.search import LocationHit
from outagedesk.ui.directory_picker import ALL_LOCATIONS, DirectoryPicker
from outagedesk.ui.worker import DbWorker

from dbsupport import DbUnderTest

WAIT = 15_000
FARM = [
    DirectoryRow("9001", "SL-9001-1", "M-90011", "Pat Farmer", "1 Barn Rd", (), False),
    DirectoryRow("9001", "SL-9001-2", None, "Pat Farmer", "2 Silo Ln", (), True),
    DirectoryRow("9002", "SL-9002-1", None, "Lee Miller", "3 Mill Rd", (), False),
]
SUGGESTED = LocationHit(
    "9002", "SL-9002-1", None, "Lee Miller", "3 Mill Rd", False, (), 1, "named in the text"
)


@pytest.fixture
def make_picker(qtbot: QtBot, db: DbUnderTest) -> Iterator[Callable[..., DirectoryPicker]]:
    import_directory_rows(db.engine, FARM, source="directory", actor="test")
    worker = DbWorker(db.engine)

    def make(*, suggests: bool = False) -> DirectoryPicker:
        picker = DirectoryPicker(
            worker,
            prefix="test",
            search_name="Search",
            search_hint="Type",
            location_name="Location",
            location_text=lambda hit: f"only {hit.service_location_id}",
            all_locations_text=lambda hit: f"all {hit.account_locations} of {hit.account_number}",
            suggests=suggests,
        )
        qtbot.addWidget(picker)
        picker.show()
        return picker

    yield make
    worker.shutdown()


def type_and_wait(qtbot: QtBot, picker: DirectoryPicker, text: str) -> None:
    with qtbot.waitSignal(picker.resultsShown, timeout=WAIT):
        picker.search.setText(text)


def test_search_picks_with_the_keys_and_offers_the_whole_account(
    qtbot: QtBot, qtmodeltester, make_picker: Callable[..., DirectoryPicker]
) -> None:
    picker = make_picker()
    for name, kind in (
        ("testSearch", QLineEdit),
        ("testResultsLabel", QLabel),
        ("testResults", QTableView),
        ("testLocation", QComboBox),
    ):
        assert picker.findChild(kind, name) is not None, name
    assert picker.current_hit() is None
    assert picker.chosen_location() is None

    type_and_wait(qtbot, picker, "Farmer")
    qtmodeltester.check(picker.model)
    assert [h.service_location_id for h in picker.model.hits] == ["SL-9001-1", "SL-9001-2"]
    assert picker.results_label.text() == "2 match(es) for “Farmer”"
    assert picker.results.accessibleDescription() == picker.results_label.text()
    # The first hit is picked at once; its account has two locations, so both are offered.
    assert picker.results.currentIndex().row() == 0
    assert [picker.location.itemText(i) for i in range(picker.location.count())] == [
        "only SL-9001-1",
        "all 2 of 9001",
    ]
    assert picker.location.isEnabled()
    assert picker.chosen_location() == "SL-9001-1"
    picker.choose_all_locations()
    assert picker.location.currentData() == ALL_LOCATIONS
    assert picker.chosen_location() is None

    # ↑/↓ in the search field move through the results and stop at either end.
    qtbot.keyClick(picker.search, Qt.Key.Key_Up)
    assert picker.results.currentIndex().row() == 0
    for _ in range(3):
        qtbot.keyClick(picker.search, Qt.Key.Key_Down)
    assert picker.results.currentIndex().row() == 1
    hit = picker.current_hit()
    assert hit is not None
    assert hit.service_location_id == "SL-9001-2"
    assert picker.search.text() == "Farmer"  # the keys did not reach the field

    # A one-location account: nothing else to choose, the chooser is disabled.
    type_and_wait(qtbot, picker, "Miller")
    assert picker.location.count() == 1
    assert not picker.location.isEnabled()
    assert picker.chosen_location() == "SL-9002-1"
    centre = picker.results.visualRect(picker.model.index(0, 0)).center()
    with qtbot.waitSignal(picker.chosen, timeout=WAIT):
        # The view takes a double-click only on the row that the first click pressed.
        qtbot.mouseClick(picker.results.viewport(), Qt.MouseButton.LeftButton, pos=centre)
        qtbot.mouseDClick(picker.results.viewport(), Qt.MouseButton.LeftButton, pos=centre)


def test_no_match_and_an_empty_search_leave_nothing_picked(
    qtbot: QtBot, make_picker: Callable[..., DirectoryPicker]
) -> None:
    picker = make_picker()
    type_and_wait(qtbot, picker, "Farmer")
    with qtbot.waitSignal(picker.hitChanged, timeout=WAIT):
        type_and_wait(qtbot, picker, "no such customer")
    assert picker.model.rowCount() == 0
    assert picker.results_label.text() == "0 match(es) for “no such customer”"
    assert picker.current_hit() is None
    assert picker.location.count() == 0
    assert not picker.location.isEnabled()
    assert picker.chosen_location() is None
    qtbot.keyClick(picker.search, Qt.Key.Key_Down)  # nothing to move to: no error
    assert picker.current_hit() is None
    type_and_wait(qtbot, picker, "")
    assert picker.results_label.text() == "Type to search the directory"


def test_an_older_answer_never_replaces_a_newer_one(
    qtbot: QtBot, make_picker: Callable[..., DirectoryPicker]
) -> None:
    picker = make_picker()
    shown: list[list[str]] = []
    picker.resultsShown.connect(
        lambda: shown.append([h.service_location_id for h in picker.model.hits])
    )
    # Two searches before either answer is back (as when typing faster than the database).
    picker.search.blockSignals(True)  # no debounce: both go to the worker now
    picker.search.setText("Farmer")
    picker.run_search()
    picker.search.setText("Miller")
    picker.run_search()
    picker.search.blockSignals(False)
    qtbot.waitUntil(lambda: picker.worker.pending == 0, timeout=WAIT)
    assert shown == [["SL-9002-1"]]


def test_suggestions_fill_an_empty_search_and_never_hide_what_was_typed(
    qtbot: QtBot, make_picker: Callable[..., DirectoryPicker]
) -> None:
    picker = make_picker(suggests=True)
    assert picker.results_label.text() == "Suggestions"
    picker.set_suggestions([])
    assert picker.results_label.text() == "No suggestions: type to search the directory"
    assert picker.current_hit() is None

    type_and_wait(qtbot, picker, "Farmer")
    picker.set_suggestions([SUGGESTED])  # late: the search stays on screen
    assert [h.service_location_id for h in picker.model.hits] == ["SL-9001-1", "SL-9001-2"]

    type_and_wait(qtbot, picker, "")
    assert picker.model.hits == [SUGGESTED]
    assert picker.results_label.text() == (
        "Suggestions (1) — why each is offered is in the Why column"
    )
    assert picker.model.data(picker.model.index(0, 7)) == "named in the text"
    assert picker.chosen_location() == "SL-9002-1"
