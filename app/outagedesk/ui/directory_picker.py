"""Directory search for dialogs that pick a service location (the link and Move-link dialogs).

A search field (debounced, searched on the worker, stale answers dropped), the matching
locations in a table that the search field's ↑/↓ move through, and a chooser for the picked
location or, when its account has several, all of them. The dialog around it acts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from outagedesk.domain.phones import format_phone
from outagedesk.store.search import LocationHit, search_directory
from outagedesk.ui.worker import DbWorker

SEARCH_DELAY_MS = 200
SEARCH_LIMIT = 50
ALL_LOCATIONS = "__all__"

HIT_COLUMNS = ("Account", "Location", "Address", "Meter", "Name", "Life support", "Phones", "Why")
H_ACCOUNT, H_LOCATION, H_ADDRESS, H_METER, H_NAME, H_LIFE, H_PHONES, H_WHY = range(8)
HIT_ROLE = Qt.ItemDataRole.UserRole


class HitsModel(QAbstractTableModel):
    """Directory hits (suggestions or search results), one row per service location."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.hits: list[LocationHit] = []

    def set_hits(self, hits: Sequence[LocationHit]) -> None:
        self.beginResetModel()
        self.hits = list(hits)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.hits)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HIT_COLUMNS)

    def hit(self, row: int) -> LocationHit | None:
        return self.hits[row] if 0 <= row < len(self.hits) else None

    @staticmethod
    def cell(hit: LocationHit, col: int) -> str:
        if col == H_ACCOUNT:
            return hit.account_number + (
                f" ({hit.account_locations} locations)" if hit.account_locations > 1 else ""
            )
        if col == H_LOCATION:
            return hit.service_location_id
        if col == H_ADDRESS:
            return hit.service_address
        if col == H_METER:
            return hit.meter_id or "—"
        if col == H_NAME:
            return hit.customer_name
        if col == H_LIFE:
            return "♥ LIFE SUPPORT" if hit.life_support else ""
        if col == H_PHONES:
            return ", ".join(format_phone(p) for p in hit.linked_phones) or "none"
        if col == H_WHY:
            return hit.reason
        return ""

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid():
            return None
        hit = self.hit(index.row())
        if hit is None:
            return None
        col = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return self.cell(hit, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.cell(hit, col) or None
        if role == Qt.ItemDataRole.ForegroundRole and col == H_LIFE and hit.life_support:
            return QColor("#dc2626")
        if role == HIT_ROLE:
            return hit
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(HIT_COLUMNS)
        ):
            return HIT_COLUMNS[section]
        return None


class DirectoryPicker(QWidget):
    """Search the directory and pick a service location (or all of its account's).

    Its widgets are named ``<prefix>Search``, ``<prefix>ResultsLabel``, ``<prefix>Results``
    and ``<prefix>Location``. With ``suggests``, an empty search shows the suggestions given
    to :meth:`set_suggestions` (why each is offered is in the Why column); without it, an
    empty search shows nothing.
    """

    resultsShown = Signal()
    hitChanged = Signal()
    """The picked location changed (or none is picked); the location chooser was rebuilt."""
    chosen = Signal()
    """A result was double-clicked: the dialog takes the picked location."""

    def __init__(
        self,
        worker: DbWorker,
        *,
        prefix: str,
        search_name: str,
        search_hint: str,
        location_name: str,
        location_text: Callable[[LocationHit], str],
        all_locations_text: Callable[[LocationHit], str],
        suggests: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.worker = worker
        self.location_text = location_text
        self.all_locations_text = all_locations_text
        self.suggests = suggests
        self.suggestions: list[LocationHit] = []
        self._gen = 0
        self.setObjectName(f"{prefix}Picker")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)

        self.search = QLineEdit(self)
        self.search.setObjectName(f"{prefix}Search")
        self.search.setAccessibleName(search_name)
        self.search.setPlaceholderText(search_hint)
        self.search.setClearButtonEnabled(True)
        self.search.installEventFilter(self)
        layout.addWidget(self.search)

        self.results_label = QLabel("Suggestions" if suggests else "", self)
        self.results_label.setObjectName(f"{prefix}ResultsLabel")
        layout.addWidget(self.results_label)
        self.model = HitsModel(self)
        self.results = QTableView(self)
        self.results.setObjectName(f"{prefix}Results")
        self.results.setAccessibleName("Matching service locations")
        self.results.setModel(self.model)
        self.results.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.results.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results.setAlternatingRowColors(True)
        self.results.setWordWrap(False)
        self.results.verticalHeader().hide()
        hh = self.results.horizontalHeader()
        hh.setStretchLastSection(True)
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for col, width in ((0, 150), (1, 100), (2, 190), (3, 80), (4, 140), (5, 110), (6, 150)):
            hh.resizeSection(col, width)
        layout.addWidget(self.results, 1)

        row = QHBoxLayout()
        label = QLabel("Locatio&n:", self)
        self.location = QComboBox(self)
        self.location.setObjectName(f"{prefix}Location")
        self.location.setAccessibleName(location_name)
        self.location.setMinimumWidth(420)
        label.setBuddy(self.location)
        row.addWidget(label)
        row.addWidget(self.location, 1)
        layout.addLayout(row)

        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.run_search)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.results.selectionModel().currentRowChanged.connect(self._hit_changed)
        self.results.doubleClicked.connect(lambda _i: self.chosen.emit())

    # -- keyboard ------------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.search and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if event.key() in (Qt.Key.Key_Up, Qt.Key.Key_Down):
                self.move_selection(1 if event.key() == Qt.Key.Key_Down else -1)
                return True
        return super().eventFilter(watched, event)

    def move_selection(self, step: int) -> None:
        n = self.model.rowCount()
        if not n:
            return
        current = self.results.currentIndex()
        row = current.row() + step if current.isValid() else 0
        self.select_row(max(0, min(n - 1, row)))

    def select_row(self, row: int) -> None:
        index = self.model.index(row, 0)
        flags = (
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows
        )
        self.results.selectionModel().setCurrentIndex(index, flags)
        self.results.scrollTo(index)

    # -- searching -----------------------------------------------------------------------------
    def set_suggestions(self, hits: Sequence[LocationHit]) -> None:
        """What an empty search shows; shown now unless the person has typed something."""
        self.suggestions = list(hits)
        if not self.search.text().strip():
            self._show(self.suggestions)

    def run_search(self) -> None:
        self._search_timer.stop()
        text = self.search.text().strip()
        self._gen += 1
        if not text:
            self._show(self.suggestions)
            return
        gen = self._gen
        self.worker.submit(
            lambda s: search_directory(s, text, limit=SEARCH_LIMIT), partial(self._on_hits, gen)
        )

    def _on_hits(self, gen: int, hits: list[LocationHit]) -> None:
        if gen == self._gen:  # an answer to an older search would overwrite the newer one
            self._show(hits)

    def _show(self, hits: Sequence[LocationHit]) -> None:
        self.model.set_hits(hits)
        text = self.search.text().strip()
        if text:
            label = f"{len(hits)} match(es) for “{text}”"
        elif not self.suggests:
            label = "Type to search the directory"
        elif hits:
            label = f"Suggestions ({len(hits)}) — why each is offered is in the Why column"
        else:
            label = "No suggestions: type to search the directory"
        self.results_label.setText(label)
        self.results.setAccessibleDescription(label)
        if hits:
            self.select_row(0)
        else:
            self.update_location()
        self.resultsShown.emit()

    # -- choosing ------------------------------------------------------------------------------
    def current_hit(self) -> LocationHit | None:
        index = self.results.currentIndex()
        return self.model.hit(index.row()) if index.isValid() else None

    def _hit_changed(self, _current: QModelIndex, _previous: QModelIndex) -> None:
        self.update_location()

    def update_location(self) -> None:
        """Offer the picked hit's location, and its whole account when it has several."""
        hit = self.current_hit()
        # Listeners hear one hitChanged once the chooser is rebuilt, not each step of it.
        self.location.blockSignals(True)
        self.location.clear()
        if hit is not None:
            self.location.addItem(self.location_text(hit), hit.service_location_id)
            if hit.account_locations > 1:
                self.location.addItem(self.all_locations_text(hit), ALL_LOCATIONS)
        self.location.blockSignals(False)
        self.location.setEnabled(hit is not None and hit.account_locations > 1)
        self.hitChanged.emit()

    def choose_all_locations(self) -> None:
        i = self.location.findData(ALL_LOCATIONS)
        if i >= 0:
            self.location.setCurrentIndex(i)

    def chosen_location(self) -> str | None:
        """The picked service location ID; None for all locations of the account."""
        data = self.location.currentData()
        return None if data in (None, ALL_LOCATIONS) else str(data)
