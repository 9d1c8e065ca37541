"""Table models of the Mappings screen: links paged from SQL, conflicts, an import preview.

``LinksModel`` holds one compact tuple per link shown and pages on demand (``canFetchMore`` /
``fetchMore``) with a keyset cursor: the last row shown is the "after" of the next page, so a
million links cost what one page costs. Every read runs on the window's ``DbWorker``; answers
from an earlier query (the supervisor typed on) are dropped by a generation number.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QIcon
from sqlalchemy.orm import Session

from outagedesk.domain.phones import format_phone
from outagedesk.ops.bulk_links import Outcome, PlannedRow
from outagedesk.store.mappings import Conflict, MappingRow
from outagedesk.ui import theme
from outagedesk.ui.worker import DbWorker

log = logging.getLogger(__name__)

Pager = Callable[[Session, MappingRow | None, int], list[MappingRow]]
Counter = Callable[[Session], tuple[int, bool]]

PAGE_SIZE = 200
MAX_ROWS = 20_000
"""Rows one query loads at most, however far the view scrolls: a search finds the rest."""

# Columns of the links tables (All links and the review queue).
(
    L_PHONE,
    L_ACCOUNT,
    L_LOCATION,
    L_ADDRESS,
    L_CUSTOMER,
    L_SOURCE,
    L_BY,
    L_WHEN,
    L_REVIEWED,
    L_STATUS,
) = range(10)
LINK_COLUMNS = (
    "Phone",
    "Account",
    "Location",
    "Address",
    "Customer",
    "Source",
    "By",
    "When",
    "Reviewed",
    "Status",
)
LINK_TIPS = (
    "The linked phone number (click to sort)",
    "Account number (click to sort)",
    "Service location, or all locations of the account",
    "Service address of the location",
    "Customer name in the account directory",
    "Where the link came from: directory import, dispatcher, supervisor or list upload "
    "(click to sort)",
    "Who made the link, at which desk",
    "When the link was made (click to sort)",
    "Whether a supervisor has reviewed the link, and who",
    "Problems with the link (a location the latest directory import removed)",
)
SOURCE_LABELS = {
    "directory": "Directory import",
    "dispatcher": "Dispatcher",
    "supervisor": "Supervisor",
    "upload": "List upload",
}
REMOVED_TEXT = "Location removed"
ROW_ROLE = Qt.ItemDataRole.UserRole
ID_ROLE = Qt.ItemDataRole.UserRole + 1

_DISPLAY = Qt.ItemDataRole.DisplayRole
_ACCESSIBLE = Qt.ItemDataRole.AccessibleTextRole
_TOOLTIP = Qt.ItemDataRole.ToolTipRole
_DECORATION = Qt.ItemDataRole.DecorationRole


def when_text(at: datetime | None) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M") if at else "—"


def source_label(source: str) -> str:
    return SOURCE_LABELS.get(source, source)


def link_cells(row: MappingRow, region: str = "US") -> tuple[str, ...]:
    """What the table shows of one link (built on the worker thread, once per row)."""
    by = f"{row.created_by} @ {row.desk}" if row.desk else row.created_by
    if row.reviewed:
        reviewed = f"✓ {row.reviewed_by}" if row.reviewed_by else "✓ reviewed"
    else:
        reviewed = "not reviewed"
    return (
        format_phone(row.phone, region),
        row.account_number,
        row.service_location_id or "(all locations)",
        row.service_address or "—",
        row.customer_name or "—",
        source_label(row.source),
        by or "—",
        when_text(row.created_at),
        reviewed,
        REMOVED_TEXT if row.location_removed else "",
    )


def describe_link(row: MappingRow, region: str = "US") -> str:
    where = row.service_location_id or "all locations"
    return f"{format_phone(row.phone, region)} → {row.account_number} / {where}"


Entry = tuple[MappingRow, tuple[str, ...]]


def _job_page(pager: Pager, after: MappingRow | None, limit: int, region: str,
              session: Session) -> list[Entry]:  # fmt: skip
    return [(row, link_cells(row, region)) for row in pager(session, after, limit)]


class LinksModel(QAbstractTableModel):
    """Links, one page at a time, in the order the query sorts them."""

    loaded = Signal()
    """The first page of a query is in."""
    counted = Signal()
    failed = Signal(str)

    def __init__(
        self,
        worker: DbWorker | None,
        *,
        region: str = "US",
        page_size: int = PAGE_SIZE,
        max_rows: int = MAX_ROWS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._worker = worker
        self.region = region
        self.page_size = page_size
        self.max_rows = max_rows
        self._rows: list[Entry] = []
        self._pager: Pager | None = None
        self._counter: Counter | None = None
        self._generation = 0
        self._busy = False
        self._exhausted = True
        self.count: tuple[int, bool] | None = None
        self._removed_icon = theme.icon("rejected")

    # -- loading -----------------------------------------------------------------------------
    def set_source(self, pager: Pager, counter: Counter | None = None) -> None:
        """Show what ``pager`` lists, from its first row; earlier answers are dropped."""
        self._pager = pager
        self._counter = counter
        self._generation += 1
        self.beginResetModel()
        self._rows = []
        self._exhausted = False
        self.count = None
        self.endResetModel()
        self._busy = False
        if self._worker is None:
            return
        self._fetch(first=True)
        if counter is not None:
            gen = self._generation
            self._worker.submit(counter, partial(self._on_count, gen), partial(self._failed, gen))

    def reload(self) -> None:
        if self._pager is not None:
            self.set_source(self._pager, self._counter)

    def _fetch(self, *, first: bool) -> None:
        assert self._worker is not None
        assert self._pager is not None
        self._busy = True
        gen = self._generation
        after = self._rows[-1][0] if self._rows and not first else None
        self._worker.submit(
            partial(_job_page, self._pager, after, self.page_size, self.region),
            partial(self._on_page, gen, first),
            partial(self._failed, gen),
        )

    def _on_page(self, gen: int, first: bool, entries: list[Entry]) -> None:
        if gen != self._generation:
            return
        self._busy = False
        self._exhausted = len(entries) < self.page_size
        known = {e[0].link_id for e in self._rows}
        fresh = [e for e in entries if e[0].link_id not in known]
        if fresh:
            start = len(self._rows)
            self.beginInsertRows(QModelIndex(), start, start + len(fresh) - 1)
            self._rows.extend(fresh)
            self.endInsertRows()
        if first:
            self.loaded.emit()

    def _on_count(self, gen: int, count: tuple[int, bool]) -> None:
        if gen == self._generation:
            self.count = count
            self.counted.emit()

    def _failed(self, gen: int, exc: BaseException) -> None:
        if gen != self._generation:
            return
        self._busy = False
        self._exhausted = True
        self.failed.emit(f"Reading the links failed: {str(exc).splitlines()[0]}")

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def has_more(self) -> bool:
        return not self._exhausted

    @property
    def truncated(self) -> bool:
        """More rows match than the model will load."""
        return not self._exhausted and len(self._rows) >= self.max_rows

    # -- rows --------------------------------------------------------------------------------
    def link(self, row: int) -> MappingRow | None:
        return self._rows[row][0] if 0 <= row < len(self._rows) else None

    def row_of(self, link_id: int) -> int | None:
        for i, (link, _cells) in enumerate(self._rows):
            if link.link_id == link_id:
                return i
        return None

    def replace(self, link_id: int, current: MappingRow | None) -> None:
        """Show a link's current value (another desk changed it), or drop it if deleted."""
        i = self.row_of(link_id)
        if i is None:
            return
        if current is None:
            self.beginRemoveRows(QModelIndex(), i, i)
            del self._rows[i]
            self.endRemoveRows()
            return
        self._rows[i] = (current, link_cells(current, self.region))
        self.dataChanged.emit(self.index(i, 0), self.index(i, len(LINK_COLUMNS) - 1))

    # -- Qt model ----------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(LINK_COLUMNS)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = _DISPLAY) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        link, cells = self._rows[index.row()]
        col = index.column()
        if role in (_DISPLAY, _ACCESSIBLE):
            return cells[col]
        if role == _TOOLTIP:
            if col == L_STATUS and link.location_removed:
                return (
                    f"The latest directory import no longer lists {link.service_location_id}: "
                    "move the link to a current location or delete it"
                )
            return cells[col] or None
        if role == _DECORATION and col == L_STATUS and link.location_removed:
            return self._removed_icon
        if role == ROW_ROLE:
            return link
        if role == ID_ROLE:
            return link.link_id
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(LINK_COLUMNS):
            if role == _DISPLAY:
                return LINK_COLUMNS[section]
            if role == _TOOLTIP:
                return LINK_TIPS[section]
        return None

    def canFetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> bool:
        return (
            not parent.isValid()
            and self._worker is not None
            and self._pager is not None
            and not self._exhausted
            and not self._busy
            and len(self._rows) < self.max_rows
        )

    def fetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> None:
        if self.canFetchMore(parent):
            self._fetch(first=False)


# -- conflicts ---------------------------------------------------------------------------------
C_KIND, C_PHONE, C_LINKS, C_DETAIL = range(4)
CONFLICT_COLUMNS = ("Conflict", "Phone", "Links", "Detail")
CONFLICT_LABELS = {
    "several_customers": "Several customers",
    "too_many_accounts": "Too many accounts",
    "removed_location": REMOVED_TEXT,
}
CONFLICT_TIPS = {
    "several_customers": "The phone is linked to accounts of different customers",
    "too_many_accounts": "The phone is linked to more accounts than the set limit",
    "removed_location": "A link points at a location the latest directory import removed",
}


class ConflictsModel(QAbstractTableModel):
    """Conflicts to resolve, as ``find_conflicts`` lists them."""

    def __init__(self, region: str = "US", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.region = region
        self.conflicts: list[Conflict] = []
        self._icons: dict[str, QIcon] = {
            "several_customers": theme.icon("unlinked"),
            "too_many_accounts": theme.icon("unlinked"),
            "removed_location": theme.icon("rejected"),
        }

    def set_conflicts(self, conflicts: Sequence[Conflict]) -> None:
        self.beginResetModel()
        self.conflicts = list(conflicts)
        self.endResetModel()

    def conflict(self, row: int) -> Conflict | None:
        return self.conflicts[row] if 0 <= row < len(self.conflicts) else None

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.conflicts)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(CONFLICT_COLUMNS)

    def cell(self, conflict: Conflict, col: int) -> str:
        if col == C_KIND:
            return CONFLICT_LABELS.get(conflict.kind, conflict.kind)
        if col == C_PHONE:
            return format_phone(conflict.phone, self.region)
        if col == C_LINKS:
            n = len(conflict.link_ids)
            return f"{n} link{'s' if n != 1 else ''}"
        if col == C_DETAIL:
            return conflict.detail
        return ""

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = _DISPLAY) -> Any:
        if not index.isValid():
            return None
        conflict = self.conflict(index.row())
        if conflict is None:
            return None
        col = index.column()
        if role in (_DISPLAY, _ACCESSIBLE):
            return self.cell(conflict, col)
        if role == _TOOLTIP:
            if col == C_KIND:
                return CONFLICT_TIPS.get(conflict.kind)
            return self.cell(conflict, col) or None
        if role == _DECORATION and col == C_KIND:
            return self._icons.get(conflict.kind)
        if role == ROW_ROLE:
            return conflict
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == _DISPLAY
            and 0 <= section < len(CONFLICT_COLUMNS)
        ):
            return CONFLICT_COLUMNS[section]
        return None


# -- import preview ----------------------------------------------------------------------------
P_LINE, P_OUTCOME, P_PHONE, P_ACCOUNT, P_LOCATION, P_DETAIL = range(6)
PLAN_COLUMNS = ("Line", "Outcome", "Phone", "Account", "Location", "Detail")
OUTCOME_LABELS = {
    Outcome.ADDED: "Added",
    Outcome.MOVED: "Moved",
    Outcome.REMOVED: "Removed",
    Outcome.UNCHANGED: "Unchanged",
    Outcome.INVALID: "Invalid",
}


class PlanModel(QAbstractTableModel):
    """The rows of a correction plan, all of them or those of one outcome."""

    def __init__(self, rows: Sequence[PlannedRow], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._all = list(rows)
        self._shown = self._all
        self._invalid_icon = theme.icon("rejected")

    def show_outcome(self, outcome: Outcome | None) -> None:
        self.beginResetModel()
        self._shown = (
            self._all if outcome is None else [r for r in self._all if r.outcome == outcome]
        )
        self.endResetModel()

    def planned(self, row: int) -> PlannedRow | None:
        return self._shown[row] if 0 <= row < len(self._shown) else None

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._shown)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(PLAN_COLUMNS)

    @staticmethod
    def cell(row: PlannedRow, col: int) -> str:
        if col == P_LINE:
            return str(row.line)
        if col == P_OUTCOME:
            return OUTCOME_LABELS.get(row.outcome, str(row.outcome))
        if col == P_PHONE:
            return row.phone
        if col == P_ACCOUNT:
            return row.account_number
        if col == P_LOCATION:
            return row.service_location_id or "(all locations)"
        if col == P_DETAIL:
            return row.detail
        return ""

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = _DISPLAY) -> Any:
        if not index.isValid():
            return None
        row = self.planned(index.row())
        if row is None:
            return None
        col = index.column()
        if role in (_DISPLAY, _ACCESSIBLE):
            return self.cell(row, col)
        if role == _TOOLTIP:
            return self.cell(row, col) or None
        if role == _DECORATION and col == P_OUTCOME and row.outcome == Outcome.INVALID:
            return self._invalid_icon
        if role == Qt.ItemDataRole.TextAlignmentRole and col == P_LINE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == ROW_ROLE:
            return row
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == _DISPLAY
            and 0 <= section < len(PLAN_COLUMNS)
        ):
            return PLAN_COLUMNS[section]
        return None
