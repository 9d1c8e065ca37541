"""The supervisor's Mappings screen: every phone ↔ account/location link, reviews, conflicts.

Three tabs. *All links* pages the links from SQL (search, filters and sort are the query's;
the count stops at a cap so that a million links open at once). *Review queue* lists the
dispatchers' links nobody has reviewed yet: approve them, or correct one in place.
*Conflicts* lists phones on several customers' accounts, on more accounts than the limit, and
links to locations the latest directory import removed.

Every read and write runs on the window's ``DbWorker``; each write is one operation (one
transaction, one audit row) that checks the acting person's role itself: a disabled button
only saves a refusal. The acting person is asked for at the moment of acting (``actor()``),
since the window's signed-in person can change while the screen is open. Dialogs and message
boxes are opened with ``open()``, never ``exec()``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QProgressBar,
    QSpinBox,
    QTableView,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session, sessionmaker

from outagedesk.domain.phones import format_phone
from outagedesk.ops.base import (
    ROLE_PERMISSIONS,
    Actor,
    OperationError,
    Permission,
    Role,
    require,
)
from outagedesk.ops.bulk_links import (
    CorrectionPlan,
    CorrectionResult,
    PlanOutdated,
    apply_corrections,
    export_links_csv,
    plan_corrections,
)
from outagedesk.ops.mappings import (
    MappingChange,
    StaleLinkError,
    TicketedReport,
    approve_links,
    correct_and_approve,
    delete_links,
    move_link,
    ticketed_reports,
)
from outagedesk.store.mappings import (
    Conflict,
    MappingQuery,
    MappingRow,
    MappingSort,
    count_conflicts,
    count_mappings,
    find_conflicts,
    page_mappings,
    review_count,
    review_queue,
)
from outagedesk.ui.mappings_dialogs import ImportPreviewDialog, MoveLinkDialog
from outagedesk.ui.mappings_model import (
    L_ACCOUNT,
    L_ADDRESS,
    L_BY,
    L_CUSTOMER,
    L_LOCATION,
    L_PHONE,
    L_REVIEWED,
    L_SOURCE,
    L_WHEN,
    SOURCE_LABELS,
    ConflictsModel,
    LinksModel,
    describe_link,
)
from outagedesk.ui.worker import DbWorker

log = logging.getLogger(__name__)

SEARCH_DELAY_MS = 200
COUNT_CAP = 10_000
CONFLICT_LIMIT = 500
DEFAULT_ACCOUNT_LIMIT = 3
TAB_ALL, TAB_REVIEW, TAB_CONFLICTS = range(3)
TABS = {"all": TAB_ALL, "review": TAB_REVIEW, "conflicts": TAB_CONFLICTS}
SORTABLE = {
    L_PHONE: MappingSort.PHONE,
    L_ACCOUNT: MappingSort.ACCOUNT,
    L_SOURCE: MappingSort.SOURCE,
    L_WHEN: MappingSort.CREATED,
}
COLUMN_WIDTHS = {
    L_PHONE: 125,
    L_ACCOUNT: 90,
    L_LOCATION: 110,
    L_ADDRESS: 190,
    L_CUSTOMER: 150,
    L_SOURCE: 115,
    L_BY: 130,
    L_WHEN: 130,
    L_REVIEWED: 100,
}
REVIEWED_CHOICES: tuple[tuple[str, bool | None], ...] = (
    ("Reviewed or not", None),
    ("Not reviewed", False),
    ("Reviewed", True),
)


def roles_that_may(permission: Permission) -> str:
    """'a supervisor or an administrator': who to ask, for tooltips."""
    names = {
        Role.DISPATCHER: "a dispatcher",
        Role.SUPERVISOR: "a supervisor",
        Role.TRAINER: "a trainer",
        Role.ADMIN: "an administrator",
    }
    allowed = [names[r] for r in Role if permission in ROLE_PERMISSIONS[r]]
    return " or ".join(allowed)


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def count_text(count: tuple[int, bool] | None) -> str:
    if count is None:
        return "Counting links…"
    n, capped = count
    return f"{n:,}+ links" if capped else plural(n, "link")


def run_write(
    worker: DbWorker,
    sessions: sessionmaker[Session],
    fn: Callable[[Session], Any],
    on_done: Callable[[Any], None],
) -> None:
    """Run one operation in a session of its own on the worker; a refusal comes back as the
    OperationError itself (a StaleLinkError carries the link's current value)."""

    def job(_reader: Session) -> Any:
        try:
            with sessions() as session:
                return fn(session)
        except OperationError as exc:
            return exc
        except Exception as exc:
            log.exception("a change from the Mappings screen failed")
            return OperationError(f"The database refused the change: {str(exc).splitlines()[0]}")

    worker.submit(job, on_done)


class ProgressRelay(QObject):
    """Carries progress from the worker thread to the GUI thread (a queued signal)."""

    progressed = Signal(int, int)

    def report(self, done: int, total: int) -> None:
        self.progressed.emit(done, total)


# -- jobs run on the worker thread -------------------------------------------------------------
def _page_all(query: MappingQuery, session: Session, after: MappingRow | None,
              limit: int) -> list[MappingRow]:  # fmt: skip
    return page_mappings(session, query, after, limit)


def _count_all(query: MappingQuery, session: Session) -> tuple[int, bool]:
    return count_mappings(session, query, cap=COUNT_CAP)


def _page_review(session: Session, after: MappingRow | None, limit: int) -> list[MappingRow]:
    return review_queue(session, after.link_id if after is not None else None, limit)


def _count_review(session: Session) -> tuple[int, bool]:
    return review_count(session), False


def _load_conflicts(account_limit: int, session: Session) -> tuple[list[Conflict], int]:
    conflicts = find_conflicts(session, account_limit, CONFLICT_LIMIT)
    if len(conflicts) < CONFLICT_LIMIT:
        return conflicts, len(conflicts)
    return conflicts, count_conflicts(session, account_limit)


def _write_export(actor: Actor, path: Path, query: MappingQuery, session: Session) -> int:
    require(actor, Permission.IMPORT_LINKS)  # before the file is created
    with path.open("w", encoding="utf-8", newline="") as out:
        return export_links_csv(session, actor, query, out)


class MappingsScreen(QDialog):
    """Mappings, review queue and conflicts (non-modal)."""

    changed = Signal(str)
    """A summary of a change made here, for the window's status bar."""
    reviewCountChanged = Signal(int)
    conflictsLoaded = Signal()
    planned = Signal()
    imported = Signal(str)
    exported = Signal(str)
    failed = Signal(str)
    """An operation was refused: the message shown to the supervisor."""

    def __init__(
        self,
        *,
        worker: DbWorker,
        sessions: sessionmaker[Session],
        actor: Callable[[], Actor],
        region: str = "US",
        wake: Callable[[], None] | None = None,
        tab: str = "all",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.worker = worker
        self.sessions = sessions
        self.actor = actor
        self.region = region
        self.wake = wake
        self.query = MappingQuery()
        self.review_total: int | None = None
        self.conflict_total: int | None = None
        self.message_box: QMessageBox | None = None
        self.file_dialog: QFileDialog | None = None
        self.move_dialog: MoveLinkDialog | None = None
        self.preview: ImportPreviewDialog | None = None
        self.busy = False
        self._closed = False
        self.setObjectName("mappingsScreen")
        self.setWindowTitle("Mappings — phone ↔ account links")
        self.setAccessibleName("Mappings: phone to account links")
        self.setWindowFlag(Qt.WindowType.WindowMaximizeButtonHint, True)
        self.all_model = LinksModel(worker, region=region, parent=self)
        self.review_model = LinksModel(worker, region=region, parent=self)
        self.conflicts_model = ConflictsModel(region, self)
        self.relay = ProgressRelay(self)
        self._build()
        self._build_actions()
        self._connect()
        self.resize(1400, 760)
        self.refresh_permissions()
        self._apply_query()
        self.review_model.set_source(_page_review, _count_review)
        self._conflicts_stale = True
        self.show_tab(tab)

    # -- building ------------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("mappingsTabs")
        self.tabs.setAccessibleName("Mappings tabs")
        self.tabs.tabBar().setObjectName("mappingsTabBar")
        self.tabs.tabBar().setAccessibleName("All links, review queue, conflicts (Alt+A, R, C)")
        layout.addWidget(self.tabs, 1)

        # All links
        page = QWidget(self.tabs)
        page.setObjectName("mappingsAllTab")
        col = QVBoxLayout(page)
        row = QHBoxLayout()
        label = QLabel("&Search:", page)
        self.search = QLineEdit(page)
        self.search.setObjectName("mappingsSearch")
        self.search.setAccessibleName("Search the links")
        self.search.setAccessibleDescription(
            "Phone digits, account or location prefix, or customer name and address words"
        )
        self.search.setPlaceholderText(
            "Phone, account, location, name or address…  (Ctrl+F; Esc clears)"
        )
        self.search.setClearButtonEnabled(True)
        label.setBuddy(self.search)
        row.addWidget(label)
        row.addWidget(self.search, 1)
        source_label = QLabel("S&ource:", page)
        self.source_filter = QComboBox(page)
        self.source_filter.setObjectName("mappingsSourceFilter")
        self.source_filter.setAccessibleName("Show links from this source only")
        self.source_filter.addItem("Any source", None)
        for value, text in SOURCE_LABELS.items():
            self.source_filter.addItem(text, value)
        source_label.setBuddy(self.source_filter)
        row.addWidget(source_label)
        row.addWidget(self.source_filter)
        reviewed_label = QLabel("Re&viewed:", page)
        self.reviewed_filter = QComboBox(page)
        self.reviewed_filter.setObjectName("mappingsReviewedFilter")
        self.reviewed_filter.setAccessibleName("Show reviewed or unreviewed links only")
        for choice, reviewed in REVIEWED_CHOICES:
            self.reviewed_filter.addItem(choice, reviewed)
        reviewed_label.setBuddy(self.reviewed_filter)
        row.addWidget(reviewed_label)
        row.addWidget(self.reviewed_filter)
        self.count_label = QLabel("Counting links…", page)
        self.count_label.setObjectName("mappingsCount")
        self.count_label.setAccessibleName("Number of links matching")
        self.count_label.setMinimumWidth(120)
        row.addWidget(self.count_label)
        col.addLayout(row)
        self.table = self._table(page, "mappingsTable", "Phone to account links", self.all_model)
        header = self.table.horizontalHeader()
        header.setSortIndicatorShown(True)
        header.setSectionsClickable(True)
        default = MappingQuery()
        header.setSortIndicator(
            next(c for c, s in SORTABLE.items() if s == default.sort),
            Qt.SortOrder.DescendingOrder if default.descending else Qt.SortOrder.AscendingOrder,
        )
        col.addWidget(self.table, 1)
        self.all_buttons = QHBoxLayout()
        col.addLayout(self.all_buttons)
        self.tabs.addTab(page, "&All links")

        # Review queue
        page = QWidget(self.tabs)
        page.setObjectName("mappingsReviewTab")
        col = QVBoxLayout(page)
        self.review_label = QLabel("Links made by dispatchers that nobody has reviewed yet.", page)
        self.review_label.setObjectName("mappingsReviewLabel")
        self.review_label.setWordWrap(True)
        col.addWidget(self.review_label)
        self.review_table = self._table(
            page, "mappingsReviewTable", "Links waiting for review, oldest first", self.review_model
        )
        col.addWidget(self.review_table, 1)
        self.review_buttons = QHBoxLayout()
        col.addLayout(self.review_buttons)
        self.tabs.addTab(page, "&Review queue")

        # Conflicts
        page = QWidget(self.tabs)
        page.setObjectName("mappingsConflictsTab")
        col = QVBoxLayout(page)
        row = QHBoxLayout()
        self.conflicts_label = QLabel("Looking for conflicts…", page)
        self.conflicts_label.setObjectName("mappingsConflictsLabel")
        self.conflicts_label.setWordWrap(True)
        row.addWidget(self.conflicts_label, 1)
        limit_label = QLabel("Accounts per phone &limit:", page)
        self.account_limit = QSpinBox(page)
        self.account_limit.setObjectName("mappingsAccountLimit")
        self.account_limit.setAccessibleName("Most accounts one phone may be linked to")
        self.account_limit.setRange(1, 100)
        self.account_limit.setValue(DEFAULT_ACCOUNT_LIMIT)
        limit_label.setBuddy(self.account_limit)
        row.addWidget(limit_label)
        row.addWidget(self.account_limit)
        col.addLayout(row)
        self.conflicts_table = QTableView(page)
        self.conflicts_table.setObjectName("mappingsConflictsTable")
        self.conflicts_table.setAccessibleName("Conflicts to resolve")
        self.conflicts_table.setModel(self.conflicts_model)
        self._table_look(self.conflicts_table)
        self.conflicts_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        for c, width in enumerate((190, 140, 80)):
            self.conflicts_table.horizontalHeader().resizeSection(c, width)
        col.addWidget(self.conflicts_table, 1)
        self.conflict_buttons = QHBoxLayout()
        col.addLayout(self.conflict_buttons)
        self.tabs.addTab(page, "&Conflicts")

        self.progress = QProgressBar(self)
        self.progress.setObjectName("mappingsProgress")
        self.progress.setAccessibleName("Progress of the file import or export")
        self.progress.hide()
        layout.addWidget(self.progress)
        self.status = QLabel(self)
        self.status.setObjectName("mappingsStatus")
        self.status.setAccessibleName("Mappings screen status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)

    def _table_look(self, view: QTableView) -> None:
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.setAlternatingRowColors(True)
        view.setShowGrid(False)
        view.setWordWrap(False)
        view.setTabKeyNavigation(False)
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        view.verticalHeader().hide()
        height = view.fontMetrics().height() + 8
        view.verticalHeader().setMinimumSectionSize(height)
        view.verticalHeader().setDefaultSectionSize(height)
        view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        hh = view.horizontalHeader()
        hh.setStretchLastSection(True)
        hh.setHighlightSections(False)
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)

    def _table(self, parent: QWidget, name: str, accessible: str, model: LinksModel) -> QTableView:
        view = QTableView(parent)
        view.setObjectName(name)
        view.setAccessibleName(accessible)
        view.setModel(model)
        self._table_look(view)
        view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        for c, width in COLUMN_WIDTHS.items():
            view.horizontalHeader().resizeSection(c, width)
        return view

    def _make_action(self, text: str, name: str, keys: Sequence[str], slot: Any,
                     tip: str) -> QAction:  # fmt: skip
        action = QAction(text, self)
        action.setObjectName(name)
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.setIconText(text.replace("&", ""))  # buttons keep the "…" of a dialog
        action.setToolTip(tip)
        action.setStatusTip(tip)
        action.setProperty("plainTip", tip)
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)
        return action

    def _button(self, layout: QHBoxLayout, action: QAction, name: str) -> QToolButton:
        button = QToolButton(self)
        button.setDefaultAction(action)
        button.setObjectName(name)
        button.setAccessibleName(action.text().replace("&", "").rstrip("…"))
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        layout.addWidget(button)
        return button

    def _build_actions(self) -> None:
        self.move_action = self._make_action(
            "&Move…", "mappingsActionMove", ("Ctrl+E",), self.move_selected,
            "Move the selected link to another account or location (Ctrl+E)",
        )  # fmt: skip
        self.correct_action = self._make_action(
            "C&orrect…", "mappingsActionCorrect", ("Ctrl+Shift+E",), self.correct_selected,
            "Correct the selected link and approve it (Ctrl+Shift+E)",
        )  # fmt: skip
        self.delete_action = self._make_action(
            "&Delete…", "mappingsActionDelete", ("Delete",), self.delete_selected,
            "Delete the selected links, after a confirmation (Del)",
        )  # fmt: skip
        self.approve_action = self._make_action(
            "A&pprove", "mappingsActionApprove", ("Ctrl+Return", "Ctrl+Enter"),
            self.approve_selected, "Approve the selected links as reviewed (Ctrl+Enter)",
        )  # fmt: skip
        self.export_action = self._make_action(
            "E&xport CSV…", "mappingsActionExport", ("Ctrl+S",), self.export_csv,
            "Export the links the current search and filters show, as CSV (Ctrl+S)",
        )  # fmt: skip
        self.import_action = self._make_action(
            "&Import corrections…", "mappingsActionImport", ("Ctrl+I",), self.import_corrections,
            "Correct links from a CSV file (phone, account_number, service_location_id, "
            "action): a preview first, nothing changes until you apply (Ctrl+I)",
        )  # fmt: skip
        self.show_links_action = self._make_action(
            "&Show links", "mappingsActionShowLinks", ("Return",), self.show_conflict_links,
            "List the links of the selected conflict's phone in All links (Enter)",
        )  # fmt: skip
        self.refresh_action = self._make_action(
            "Re&fresh", "mappingsActionRefresh", ("F5",), self.refresh,
            "Read the links, the review queue and the conflicts again (F5)",
        )  # fmt: skip
        self._make_action(
            "Search", "mappingsActionSearch", ("Ctrl+F",), self.focus_search,
            "Search the links (Ctrl+F)",
        )  # fmt: skip
        self.show_links_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.conflicts_table.addAction(self.show_links_action)
        self.removeAction(self.show_links_action)

        self._button(self.all_buttons, self.move_action, "mappingsMoveButton")
        self._button(self.all_buttons, self.delete_action, "mappingsDeleteButton")
        self._button(self.all_buttons, self.approve_action, "mappingsApproveAllButton")
        self.all_buttons.addStretch(1)
        self._button(self.all_buttons, self.export_action, "mappingsExportButton")
        self._button(self.all_buttons, self.import_action, "mappingsImportButton")
        self._button(self.all_buttons, self.refresh_action, "mappingsRefreshButton")
        self._button(self.review_buttons, self.approve_action, "mappingsApproveButton")
        self._button(self.review_buttons, self.correct_action, "mappingsCorrectButton")
        self._button(self.review_buttons, self.delete_action, "mappingsReviewDeleteButton")
        self.review_buttons.addStretch(1)
        self._button(self.conflict_buttons, self.show_links_action, "mappingsShowLinksButton")
        self.conflict_buttons.addStretch(1)

    def _connect(self) -> None:
        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._apply_query)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.search.returnPressed.connect(self._apply_query)
        esc = QAction(self.search)
        esc.setShortcut(QKeySequence("Esc"))
        esc.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        esc.triggered.connect(self._clear_search)
        self.search.addAction(esc)
        self.source_filter.currentIndexChanged.connect(lambda _i: self._apply_query())
        self.reviewed_filter.currentIndexChanged.connect(lambda _i: self._apply_query())
        self.table.horizontalHeader().sectionClicked.connect(self.sort_by_column)
        self.all_model.counted.connect(self._show_count)
        self.all_model.rowsInserted.connect(self._check_truncated)
        self.all_model.failed.connect(self._set_error_status)
        self.review_model.failed.connect(self._set_error_status)
        self.review_model.counted.connect(self._show_review_count)
        self.account_limit.valueChanged.connect(lambda _v: self.load_conflicts())
        self.tabs.currentChanged.connect(self._tab_changed)
        self.relay.progressed.connect(self._on_progress)
        for view in (self.table, self.review_table, self.conflicts_table):
            view.customContextMenuRequested.connect(partial(self._context_menu, view))
        self.table.doubleClicked.connect(lambda _i: self.move_selected())
        self.review_table.doubleClicked.connect(lambda _i: self.correct_selected())
        self.conflicts_table.doubleClicked.connect(lambda _i: self.show_conflict_links())

    # -- permissions ---------------------------------------------------------------------------
    def refresh_permissions(self) -> None:
        """Disable what the acting person's role cannot do; the tooltip says who can."""
        actor = self.actor()
        for action, permission in (
            (self.move_action, Permission.EDIT_LINKS),
            (self.delete_action, Permission.EDIT_LINKS),
            (self.correct_action, Permission.EDIT_LINKS),
            (self.approve_action, Permission.REVIEW_LINKS),
            (self.import_action, Permission.IMPORT_LINKS),
            (self.export_action, Permission.IMPORT_LINKS),
        ):
            allowed = actor.may(permission)
            action.setEnabled(allowed)
            tip = str(action.property("plainTip"))
            if not allowed:
                tip = (
                    f"Only {roles_that_may(permission)} may {permission.value} "
                    f"(you are signed in as a {actor.role.value})"
                )
            action.setToolTip(tip)
        self.correct_action.setEnabled(
            actor.may(Permission.EDIT_LINKS) and actor.may(Permission.REVIEW_LINKS)
        )
        if self.busy:  # one file at a time
            self.import_action.setEnabled(False)
            self.export_action.setEnabled(False)

    # -- tabs and queries ----------------------------------------------------------------------
    def _tab_changed(self, index: int) -> None:
        self.refresh_permissions()
        if index == TAB_CONFLICTS and self._conflicts_stale:
            self.load_conflicts()

    def show_tab(self, tab: str) -> None:
        self.tabs.setCurrentIndex(TABS.get(tab, TAB_ALL))
        self._tab_changed(self.tabs.currentIndex())
        if self.tabs.currentIndex() == TAB_ALL:
            self.search.setFocus(Qt.FocusReason.OtherFocusReason)
        else:
            self.current_view().setFocus(Qt.FocusReason.OtherFocusReason)

    def current_view(self) -> QTableView:
        return (self.table, self.review_table, self.conflicts_table)[self.tabs.currentIndex()]

    def focus_search(self) -> None:
        self.tabs.setCurrentIndex(TAB_ALL)
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def _clear_search(self) -> None:
        self.search.clear()
        self._apply_query()
        self.table.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def current_query(self) -> MappingQuery:
        header = self.table.horizontalHeader()
        sort = SORTABLE.get(header.sortIndicatorSection(), MappingSort.PHONE)
        return MappingQuery(
            text=self.search.text().strip(),
            source=self.source_filter.currentData(),
            reviewed=self.reviewed_filter.currentData(),
            sort=sort,
            descending=header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder,
            region=self.region,
        )

    def _apply_query(self) -> None:
        self._search_timer.stop()
        self.query = self.current_query()
        self.count_label.setText("Counting links…")
        self.all_model.set_source(partial(_page_all, self.query), partial(_count_all, self.query))

    def sort_by_column(self, column: int) -> None:
        """A header click sorts in SQL; columns the query cannot sort by keep the old order."""
        header = self.table.horizontalHeader()
        if column not in SORTABLE:
            current = next(c for c, s in SORTABLE.items() if s == self.query.sort)
            order = (
                Qt.SortOrder.DescendingOrder
                if self.query.descending
                else Qt.SortOrder.AscendingOrder
            )
            header.setSortIndicator(current, order)
            self.status.setText(
                "Sort by phone, account, source or when the link was made (click those headers)."
            )
            return
        self.status.clear()
        self._apply_query()

    def _check_truncated(self) -> None:
        if self.all_model.truncated:
            self.status.setText(
                f"The first {self.all_model.rowCount():,} links are shown: narrow the search or "
                "the filters to see the others (Export CSV… writes them all)."
            )

    def _show_count(self) -> None:
        self.count_label.setText(count_text(self.all_model.count))
        self.count_label.setAccessibleDescription(self.count_label.text())

    def _show_review_count(self) -> None:
        count = self.review_model.count
        if count is None:
            return
        n = count[0]
        self.review_total = n
        self.tabs.setTabText(TAB_REVIEW, f"&Review queue ({n:,})")
        self.review_label.setText(
            f"{plural(n, 'link')} made by dispatchers waiting for review, oldest first. "
            "Approve them, or correct one in place (it is approved with the correction)."
            if n
            else "Nothing to review: every dispatcher's link has been reviewed."
        )
        self.reviewCountChanged.emit(n)

    def load_conflicts(self) -> None:
        """Look for conflicts (a scan of every link: done when the tab is shown, not on open,
        so that the screen opens at once on a million links)."""
        if self._closed:
            return
        self._conflicts_stale = False
        self.conflicts_label.setText("Looking for conflicts…")
        self.worker.submit(
            partial(_load_conflicts, self.account_limit.value()),
            self._on_conflicts,
            lambda exc: self._set_error_status(f"Reading the conflicts failed: {exc}"),
        )

    def _on_conflicts(self, result: tuple[list[Conflict], int]) -> None:
        conflicts, total = result
        self.conflict_total = total
        self.conflicts_model.set_conflicts(conflicts)
        self.tabs.setTabText(TAB_CONFLICTS, f"&Conflicts ({total:,})")
        shown = "" if total <= len(conflicts) else f" (the first {len(conflicts):,} shown)"
        self.conflicts_label.setText(
            f"{plural(total, 'conflict')} to resolve{shown}. Enter lists the phone's links; "
            "move or delete them there."
            if total
            else "No conflicts."
        )
        self.conflictsLoaded.emit()

    def refresh(self) -> None:
        self.refresh_permissions()
        self.all_model.reload()
        self.review_model.reload()
        if self.tabs.currentIndex() == TAB_CONFLICTS:
            self.load_conflicts()
        else:
            self._conflicts_stale = True

    # -- selections ----------------------------------------------------------------------------
    def _links_view(self) -> tuple[QTableView, LinksModel] | None:
        index = self.tabs.currentIndex()
        if index == TAB_ALL:
            return self.table, self.all_model
        if index == TAB_REVIEW:
            return self.review_table, self.review_model
        return None

    def selected_links(self) -> list[MappingRow]:
        found = self._links_view()
        if found is None:
            return []
        view, model = found
        rows = sorted({i.row() for i in view.selectionModel().selectedRows()})
        if not rows and view.currentIndex().isValid():
            rows = [view.currentIndex().row()]
        return [link for r in rows if (link := model.link(r)) is not None]

    def current_link(self) -> MappingRow | None:
        found = self._links_view()
        if found is None:
            return None
        view, model = found
        index = view.currentIndex()
        link = model.link(index.row()) if index.isValid() else None
        if link is None:
            chosen = self.selected_links()
            link = chosen[0] if chosen else None
        return link

    def _context_menu(self, view: QTableView, pos: QPoint) -> None:
        menu = QMenu(self)
        menu.setObjectName("mappingsContextMenu")
        if view is self.conflicts_table:
            menu.addAction(self.show_links_action)
        else:
            menu.addAction(self.correct_action if view is self.review_table else self.move_action)
            menu.addAction(self.approve_action)
            menu.addAction(self.delete_action)
            if view is self.table:
                menu.addSeparator()
                menu.addAction(self.export_action)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(view.viewport().mapToGlobal(pos))

    # -- moving and correcting -----------------------------------------------------------------
    def move_selected(self) -> None:
        self._open_move(approve=False)

    def correct_selected(self) -> None:
        self._open_move(approve=True)

    def _open_move(self, *, approve: bool) -> None:
        if self._closed:
            return
        link = self.current_link()
        if link is None:
            self.status.setText("Select a link first.")
            return
        dialog = MoveLinkDialog(
            link,
            worker=self.worker,
            verb="Correct" if approve else "Move",
            region=self.region,
            parent=self,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.chosen.connect(partial(self.move_link_to, link, approve=approve))
        self.move_dialog = dialog
        dialog.open()

    def move_link_to(
        self, link: MappingRow, account: str, location: str | None, *, approve: bool = False
    ) -> None:
        """Ask about the phone's ticketed reports (if it has any), then move the link."""
        self.move_dialog = None
        self.status.setText("Looking for reports of this number that already have a ticket…")
        self.worker.submit(
            lambda s: ticketed_reports(s, link.phone),
            partial(self._on_ticketed, link, account, location, approve),
            lambda exc: self._set_error_status(f"Reading the reports failed: {exc}"),
        )

    def _on_ticketed(self, link: MappingRow, account: str, location: str | None, approve: bool,
                     reports: Sequence[TicketedReport]) -> None:  # fmt: skip
        if self._closed:
            return
        if not reports:
            self._move(link, account, location, approve, resend_ticketed=False)
            return
        n = len(reports)
        tickets = sorted({r.ticket_id for r in reports})
        shown = ", ".join(tickets[:5]) + (", …" if len(tickets) > 5 else "")
        box = self._box(
            "mappingsResendConfirm",
            QMessageBox.Icon.Question,
            "Re-send ticketed reports",
            f"Re-send {plural(n, 'ticketed report')} ({shown}) with the corrected location?",
        )
        box.setInformativeText(
            "Yes: the OMS gets a new revision of each, with the corrected location, and decides "
            "what to do with its ticket. No: only the link changes. Reports without a ticket "
            "are re-sent either way."
        )
        box.setStandardButtons(
            QMessageBox.StandardButton.Yes
            | QMessageBox.StandardButton.No
            | QMessageBox.StandardButton.Cancel
        )
        box.setDefaultButton(QMessageBox.StandardButton.Yes)
        box.finished.connect(partial(self._on_resend_answer, link, account, location, approve))
        box.open()

    def _on_resend_answer(self, link: MappingRow, account: str, location: str | None,
                          approve: bool, code: int) -> None:  # fmt: skip
        self.message_box = None
        if self._closed or code == QMessageBox.StandardButton.Cancel.value:
            self.status.setText("Nothing changed.")
            return
        yes = code == QMessageBox.StandardButton.Yes.value
        self._move(link, account, location, approve, resend_ticketed=yes)

    def _move(self, link: MappingRow, account: str, location: str | None, approve: bool, *,
              resend_ticketed: bool) -> None:  # fmt: skip
        actor = self.actor()
        op = correct_and_approve if approve else move_link
        self.status.setText("Correcting the link…" if approve else "Moving the link…")
        run_write(
            self.worker,
            self.sessions,
            lambda s: op(
                s,
                actor,
                link.link_id,
                link.version,
                account,
                location,
                resend_ticketed=resend_ticketed,
            ),
            partial(self._on_moved, link, account, location),
        )

    def _on_moved(self, link: MappingRow, account: str, location: str | None,
                  result: MappingChange | OperationError) -> None:  # fmt: skip
        if isinstance(result, OperationError):
            self._refused(result, [link])
            return
        resent = result.resent
        if resent and self.wake is not None:
            self.wake()
        where = f"{account} / {location or 'all locations'}"
        text = f"{format_phone(link.phone, self.region)} now points to {where}"
        if resent:
            revs = ", ".join(f"{r.report_id} revision {r.revision}" for r in resent)
            text += f"; re-sent to the OMS: {revs}"
        else:
            text += "; no report re-sent"
        self._done(text + ".")

    # -- deleting and approving ----------------------------------------------------------------
    def delete_selected(self) -> None:
        links = self.selected_links()
        if not links:
            self.status.setText("Select the links to delete first.")
            return
        n = len(links)
        listed = "\n".join(describe_link(link, self.region) for link in links[:8])
        if n > 8:
            listed += f"\n… and {n - 8:,} more"
        box = self._box(
            "mappingsDeleteConfirm",
            QMessageBox.Icon.Warning,
            "Delete links",
            f"Delete {plural(n, 'link')}?",
        )
        box.setInformativeText(
            f"{listed}\n\nAll or nothing: if another desk changed one of them meanwhile, none is "
            "deleted. No report is re-sent."
        )
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.finished.connect(partial(self._on_delete_answer, links))
        box.open()

    def _on_delete_answer(self, links: list[MappingRow], code: int) -> None:
        self.message_box = None
        if self._closed or code != QMessageBox.StandardButton.Yes.value:
            return
        actor = self.actor()
        pairs = [(link.link_id, link.version) for link in links]
        self.status.setText("Deleting…")
        run_write(
            self.worker,
            self.sessions,
            lambda s: delete_links(s, actor, pairs),
            partial(self._on_deleted, links),
        )

    def _on_deleted(self, links: list[MappingRow], result: Any) -> None:
        if not self._refused(result, links):
            self._done(f"Deleted {plural(len(links), 'link')}.")

    def approve_selected(self) -> None:
        links = self.selected_links()
        if not links:
            self.status.setText("Select the links to approve first.")
            return
        actor = self.actor()
        pairs = [(link.link_id, link.version) for link in links]
        self.status.setText("Approving…")
        run_write(
            self.worker,
            self.sessions,
            lambda s: approve_links(s, actor, pairs),
            partial(self._on_approved, links),
        )

    def _on_approved(self, links: list[MappingRow], result: Any) -> None:
        if not self._refused(result, links):
            self._done(f"Approved {plural(len(links), 'link')}.")

    # -- outcomes ------------------------------------------------------------------------------
    def _refused(self, result: Any, links: Sequence[MappingRow]) -> bool:
        """Show a refusal in a message box (and the link's current value); True if refused."""
        if not isinstance(result, OperationError):
            return False
        message = str(result)
        if isinstance(result, StaleLinkError):
            current = result.current
            if current is not None:
                self.all_model.replace(current.link_id, current)
                self.review_model.replace(current.link_id, current)
            elif len(links) == 1:
                self.all_model.replace(links[0].link_id, None)
                self.review_model.replace(links[0].link_id, None)
            else:
                self.refresh()  # which of several links went is unknown: read them again
        self._set_error_status(message)
        box = self._box(
            "mappingsError", QMessageBox.Icon.Warning, "The change was not made", message
        )
        box.setStandardButtons(QMessageBox.StandardButton.Ok)
        box.finished.connect(lambda _code: setattr(self, "message_box", None))
        box.open()
        self.failed.emit(message)
        return True

    def _done(self, text: str) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("")
        self.changed.emit(text)
        self.refresh()

    def _set_error_status(self, text: str) -> None:
        self.status.setText(f"⚠ {text}")
        self.status.setStyleSheet("color: #dc2626; font-weight: bold;")

    def _box(self, name: str, icon: QMessageBox.Icon, title: str, text: str) -> QMessageBox:
        old = self.message_box
        if old is not None and shiboken6.isValid(old):
            old.close()
        box = QMessageBox(self)
        box.setObjectName(name)
        box.setIcon(icon)
        box.setWindowTitle(title)
        box.setText(text)
        box.setAccessibleName(text)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.message_box = box
        return box

    # -- conflicts -----------------------------------------------------------------------------
    def show_conflict_links(self) -> None:
        index = self.conflicts_table.currentIndex()
        conflict = self.conflicts_model.conflict(index.row()) if index.isValid() else None
        if conflict is None:
            self.status.setText("Select a conflict first.")
            return
        self.source_filter.setCurrentIndex(0)
        self.reviewed_filter.setCurrentIndex(0)
        self.search.setText(conflict.phone)
        self._apply_query()
        self.tabs.setCurrentIndex(TAB_ALL)
        self.table.setFocus(Qt.FocusReason.OtherFocusReason)

    # -- files ---------------------------------------------------------------------------------
    def _file_dialog(self, name: str, title: str, save: bool) -> QFileDialog:
        dialog = QFileDialog(self, title)
        dialog.setObjectName(name)
        dialog.setAcceptMode(
            QFileDialog.AcceptMode.AcceptSave if save else QFileDialog.AcceptMode.AcceptOpen
        )
        if not save:
            dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilter("CSV files (*.csv)")
        dialog.setDefaultSuffix("csv")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.file_dialog = dialog
        return dialog

    def export_csv(self) -> None:
        dialog = self._file_dialog("mappingsExportFileDialog", "Export links", save=True)
        dialog.fileSelected.connect(lambda path: self.export_to(Path(path)))
        dialog.open()

    def export_to(self, path: Path) -> None:
        """Write the links the current search and filters show (all of them, not one page)."""
        if self.busy:
            return
        if self._search_timer.isActive():
            self._apply_query()  # export what was typed, even within the search delay
        query = self.query
        self._set_busy("Exporting…")
        self.worker.submit(
            partial(_write_export, self.actor(), path, query),
            partial(self._on_exported, path),
            self._on_file_failed,
        )

    def _on_exported(self, path: Path, count: int) -> None:
        self._set_idle()
        text = f"Exported {plural(count, 'link')} to {path}."
        self.status.setText(text)
        self.exported.emit(text)

    def _on_file_failed(self, exc: BaseException) -> None:
        self._set_idle()
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        self._refused(OperationError(message), [])

    def import_corrections(self) -> None:
        dialog = self._file_dialog("mappingsImportFileDialog", "Import link corrections", False)
        dialog.fileSelected.connect(lambda path: self.plan_file(Path(path)))
        dialog.open()

    def plan_file(self, path: Path) -> None:
        """Read and check every row of ``path`` (nothing is written), then show the preview."""
        if self.busy:
            return
        self.tabs.setCurrentIndex(TAB_ALL)
        self._set_busy(f"Reading {path.name}…")
        region = self.region
        relay = self.relay
        self.worker.submit(
            lambda s: plan_corrections(s, path, region, progress=relay.report),
            partial(self._on_planned, path),
            self._on_plan_failed,
        )

    def _on_plan_failed(self, exc: BaseException) -> None:
        self._set_idle()
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        self._refused(OperationError(f"The file could not be read: {text}"), [])

    def _on_planned(self, path: Path, plan: CorrectionPlan) -> None:
        self._set_idle()
        if self._closed:
            return
        self.status.setText(f"Preview of {path.name}: nothing is changed until you apply it.")
        old = self.preview
        if old is not None:
            old.close()
        dialog = ImportPreviewDialog(plan, path=path, region=self.region, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.applyRequested.connect(partial(self.apply_plan, plan))
        dialog.rejected.connect(lambda: self.status.setText("Import cancelled: nothing changed."))
        dialog.finished.connect(partial(self._preview_closed, dialog))
        self.preview = dialog
        dialog.open()
        self.planned.emit()

    def _preview_closed(self, dialog: ImportPreviewDialog, _code: int) -> None:
        if self.preview is dialog:
            self.preview = None

    def apply_plan(self, plan: CorrectionPlan, skip_invalid: bool) -> None:
        actor = self.actor()
        relay = self.relay
        self._set_busy("Applying the corrections…")
        if self.preview is not None:
            self.preview.set_applying(True)
        run_write(
            self.worker,
            self.sessions,
            lambda s: apply_corrections(s, actor, plan, relay.report, skip_invalid=skip_invalid),
            self._on_applied,
        )

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        if self.preview is not None and self.preview.applying:
            self.preview.show_progress(done, total)

    def _on_applied(self, result: CorrectionResult | OperationError) -> None:
        self._set_idle()
        preview = self.preview
        if isinstance(result, OperationError):
            if preview is not None:
                preview.set_applying(False)
                if isinstance(result, PlanOutdated):
                    preview.reject()  # this preview no longer says what would change
            self._refused(result, [])
            return
        self.preview = None
        if preview is not None:
            preview.accept()
        text = (
            f"Corrections applied: {plural(result.links_added, 'link')} added, "
            f"{plural(result.links_removed, 'link')} removed"
            + (
                f", {plural(result.rows_skipped, 'invalid row')} skipped."
                if result.rows_skipped
                else "."
            )
        )
        self.imported.emit(text)
        self._done(text)

    def _set_busy(self, text: str) -> None:
        self.busy = True
        self.status.setStyleSheet("")
        self.status.setText(text)
        self.progress.setRange(0, 0)  # moving bar until the first progress report
        self.progress.show()
        self.import_action.setEnabled(False)
        self.export_action.setEnabled(False)

    def _set_idle(self) -> None:
        self.busy = False
        self.progress.hide()
        self.export_action.setEnabled(True)
        self.refresh_permissions()

    # -- closing -------------------------------------------------------------------------------
    def done(self, code: int) -> None:
        self._closed = True
        self._search_timer.stop()
        super().done(code)


__all__ = ["MappingsScreen", "count_text", "roles_that_may"]
