"""The Audit screen: who changed what, from which desk, filtered, paged from SQL, exported as CSV.

Read-only by design: there is no control to edit or delete a row (and the database refuses
both). Supervisors and administrators only: the screen's first read (``audit_choices``) checks
the permission, and a refusal is shown in the screen itself, with every control disabled.

Rows are paged newest first from the database (``canFetchMore``/``fetchMore`` with keyset
queries, formatted on the worker thread); every filter is SQL. The CSV export of the current
filter also runs on the worker thread and reports how many rows it wrote.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QDateTime,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from outagedesk.domain.phones import InvalidPhoneError, normalize_phone
from outagedesk.gateway.contract import format_timestamp
from outagedesk.ops.audit_trail import AuditChoices, audit_choices, audit_page, export_audit_file
from outagedesk.ops.base import Actor, OperationError
from outagedesk.store.audit import PAGE_SIZE, AuditQuery, AuditRow
from outagedesk.ui.link_dialog import Failure
from outagedesk.ui.worker import DbWorker

log = logging.getLogger(__name__)

FILTER_DELAY_MS = 250
SUMMARY_LIMIT = 160
CHANGED_MARK = "◆ changed"
ADDED_MARK = "+ added"
REMOVED_MARK = "− removed"
EMPTY = "(none)"

COLUMNS = ("Time", "Person", "Desk", "Action", "Subject", "What changed")
C_TIME, C_PERSON, C_DESK, C_ACTION, C_SUBJECT, C_CHANGE = range(len(COLUMNS))
HEADER_TIPS = (
    "When it happened (local time)",
    "Who did it",
    "From which desk",
    "What was done",
    "What it was done to: a phone number, an account, a report…",
    "The fields that changed, before → after",
)
R_ID = len(COLUMNS)
R_ROW = R_ID + 1
ID_ROLE = Qt.ItemDataRole.UserRole


# -- what changed (plain Python, no Qt) ------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Change:
    field: str
    before: str | None
    """None: the field did not exist before."""
    after: str | None
    """None: the field is gone after."""

    @property
    def kind(self) -> str:
        if self.before is None:
            return "added"
        if self.after is None:
            return "removed"
        return "changed" if self.before != self.after else "same"


def _flatten(value: Any, prefix: str, out: dict[str, str]) -> None:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _flatten(inner, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, list) and value:
        for i, inner in enumerate(value):
            _flatten(inner, f"{prefix}[{i}]", out)
    else:
        out[prefix or "(value)"] = _scalar(value)


def _scalar(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return EMPTY
    return str(value)


def changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[Change]:
    """Every field of before and after, flattened (``links[0].account_number``), in order."""
    old: dict[str, str] = {}
    new: dict[str, str] = {}
    if before is not None:
        _flatten(before, "", old)
    if after is not None:
        _flatten(after, "", new)
    fields = [
        f
        for f in list(old) + [f for f in new if f not in old]
        # An empty list or mapping that gained (or lost) entries shows as those entries.
        if not (f in old) ^ (f in new) or not _emptied(f, old, new)
    ]
    return [Change(f, old.get(f), new.get(f)) for f in fields]


def _emptied(field: str, old: dict[str, str], new: dict[str, str]) -> bool:
    mine, other = (old, new) if field in old else (new, old)
    return mine[field] == EMPTY and any(k.startswith((f"{field}[", f"{field}.")) for k in other)


def summary(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """One line: the fields that changed, ``field: old → new``."""
    parts = []
    for c in changes(before, after):
        if c.kind == "changed":
            parts.append(f"{c.field}: {c.before} → {c.after}")
        elif c.kind == "added":
            parts.append(f"{c.field}: {c.after}" if before is None else f"+{c.field}: {c.after}")
        elif c.kind == "removed":
            parts.append(f"−{c.field}: {c.before}")
    if not parts:
        return "(no field changed)" if before is not None or after is not None else ""
    if before is None:
        text = "new: " + "; ".join(parts)
    elif after is None:
        text = "removed: " + "; ".join(p.lstrip("−") for p in parts)
    else:
        text = "; ".join(parts)
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1] + "…"


def local_time(at: datetime) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def format_row(row: AuditRow) -> tuple[Any, ...]:
    return (
        local_time(row.at),
        row.person,
        row.desk,
        row.action,
        row.subject,
        summary(row.before, row.after),
        row.id,
        row,
    )


def render_details(row: AuditRow | None) -> str:
    """Before → after as HTML; changed fields are marked in words, not by colour alone."""
    if row is None:
        return "<p><i>Select a row to see what changed (Enter).</i></p>"
    head = (
        f"<h3>{escape(row.action)} — {escape(row.subject or '(no subject)')}</h3>"
        f"<p><b>{escape(local_time(row.at))}</b> (local) · {escape(format_timestamp(row.at))}"
        f"<br>by <b>{escape(row.person)}</b> at desk {escape(row.desk or '—')}"
        f" · audit row #{row.id}</p>"
    )
    found = changes(row.before, row.after)
    if not found:
        return head + "<p>Nothing recorded before or after.</p>"
    marks = {"changed": CHANGED_MARK, "added": ADDED_MARK, "removed": REMOVED_MARK, "same": ""}
    lines = [
        "<table cellspacing='0' cellpadding='3' border='1' width='100%'>"
        "<tr><th align='left'>Field</th><th align='left'>Before</th><th width='3%'></th>"
        "<th align='left'>After</th><th align='left'></th></tr>"
    ]
    for c in found:
        changed = c.kind != "same"
        cell = "<b>{}</b>" if changed else "{}"
        style = " style='background:#fff3cd;color:#000'" if changed else ""
        lines.append(
            f"<tr{style}><td>{cell.format(escape(c.field))}</td>"
            f"<td>{escape(c.before if c.before is not None else '(absent)')}</td>"
            f"<td>→</td>"
            f"<td>{cell.format(escape(c.after if c.after is not None else '(absent)'))}</td>"
            f"<td>{marks[c.kind]}</td></tr>"
        )
    lines.append("</table>")
    n = sum(c.kind != "same" for c in found)
    return head + f"<p>{n} field(s) changed, marked {escape(CHANGED_MARK)} / {ADDED_MARK} / " \
        f"{REMOVED_MARK}.</p>" + "".join(lines)  # fmt: skip


# -- jobs for the worker thread ----------------------------------------------------------------
def _guarded(fn: Callable[[Session], Any], session: Session) -> Any:
    """Refusals and bad filters come back as a Failure to show, not as a logged crash."""
    try:
        return fn(session)
    except (OperationError, InvalidPhoneError) as exc:
        return Failure(str(exc))


def _job_page(
    actor: Actor, query: AuditQuery, before: int | None, limit: int, session: Session
) -> Any:
    return _guarded(
        lambda s: [format_row(r) for r in audit_page(s, actor, query, before, limit)], session
    )


def _job_choices(actor: Actor, session: Session) -> Any:
    return _guarded(lambda s: audit_choices(s, actor), session)


def _job_export(actor: Actor, query: AuditQuery, path: Path, session: Session) -> Any:
    return _guarded(lambda s: export_audit_file(s, actor, query, path), session)


# -- the table model ---------------------------------------------------------------------------
class AuditModel(QAbstractTableModel):
    """Audit rows of one query, newest first, paged from SQL as the view scrolls."""

    loaded = Signal()
    """The first page of the current query is in."""
    failed = Signal(str)

    def __init__(
        self,
        worker: DbWorker | None,
        actor: Actor,
        parent: QObject | None = None,
        *,
        page_size: int = PAGE_SIZE,
    ) -> None:
        super().__init__(parent)
        self._worker = worker
        self._actor = actor
        self.page_size = page_size
        self._rows: list[tuple[Any, ...]] = []
        self._query: AuditQuery | None = None
        self._generation = 0
        self._busy = False
        self._exhausted = True

    # -- Qt model interface
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return row[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return row[index.column()] or None
        if role == ID_ROLE:
            return row[R_ID]
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(COLUMNS):
            if role == Qt.ItemDataRole.DisplayRole:
                return COLUMNS[section]
            if role == Qt.ItemDataRole.ToolTipRole:
                return HEADER_TIPS[section]
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        # Selectable, never editable.
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def canFetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> bool:
        if parent.isValid() or self._worker is None or self._query is None:
            return False
        return not self._exhausted and not self._busy

    def fetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> None:
        if not self.canFetchMore(parent) or self._query is None or self._worker is None:
            return
        before = self._rows[-1][R_ID] if self._rows else None
        self._submit(self._query, before)

    # -- state seen by the screen
    @property
    def query(self) -> AuditQuery | None:
        return self._query

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def has_more(self) -> bool:
        return not self._exhausted

    def audit_row(self, row: int) -> AuditRow | None:
        return self._rows[row][R_ROW] if 0 <= row < len(self._rows) else None

    def ids(self) -> list[int]:
        return [r[R_ID] for r in self._rows]

    # -- loading
    def set_query(self, query: AuditQuery) -> None:
        """Show ``query`` from the newest row; answers to earlier queries are dropped."""
        self._query = query
        self._generation += 1
        self.beginResetModel()
        self._rows = []
        self._exhausted = self._worker is None
        # Busy already: a view asking for more during the reset must not fetch the first page
        # a second time.
        self._busy = self._worker is not None
        self.endResetModel()
        if self._worker is not None:
            self._submit(query, None)

    def clear(self) -> None:
        self._generation += 1
        self.beginResetModel()
        self._rows = []
        self._query = None
        self._exhausted = True
        self._busy = False
        self.endResetModel()

    def _submit(self, query: AuditQuery, before: int | None) -> None:
        assert self._worker is not None
        self._busy = True
        gen = self._generation
        self._worker.submit(
            partial(_job_page, self._actor, query, before, self.page_size),
            partial(self._on_page, gen, before is None),
            partial(self._on_error, gen),
        )

    def _on_page(self, gen: int, first: bool, result: Any) -> None:
        if gen != self._generation:
            return
        self._busy = False
        if isinstance(result, Failure):
            self._exhausted = True
            self.failed.emit(result.message)
            return
        rows: list[tuple[Any, ...]] = result
        self._exhausted = len(rows) < self.page_size
        if rows:
            start = len(self._rows)
            self.beginInsertRows(QModelIndex(), start, start + len(rows) - 1)
            self._rows.extend(rows)
            self.endInsertRows()
        if first:
            self.loaded.emit()

    def _on_error(self, gen: int, exc: BaseException) -> None:
        if gen != self._generation:
            return
        self._busy = False
        self._exhausted = True
        self.failed.emit(f"Reading the audit trail failed: {str(exc).splitlines()[0]}")


# -- the screen --------------------------------------------------------------------------------
class AuditScreen(QDialog):
    """Audit trail (non-modal): filters, the rows, what changed, CSV export."""

    ready = Signal()
    """The filter choices are in (or the screen was refused)."""
    exported = Signal(str)

    def __init__(
        self,
        *,
        worker: DbWorker,
        actor: Actor,
        region: str = "US",
        phone: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.worker = worker
        self.actor = actor
        self.region = region
        self.refused: str | None = None
        self.file_dialog: QFileDialog | None = None
        self._closed = False
        self._choices_in = False
        self.setObjectName("auditScreen")
        self.setWindowTitle("Audit trail")
        self.setAccessibleName("Audit trail: who changed what, from which desk")
        self.model = AuditModel(worker, actor, self)
        self._filter_timer = QTimer(self, singleShot=True, interval=FILTER_DELAY_MS)
        self._filter_timer.timeout.connect(self.apply_filters)
        self._build()
        if phone:
            self.phone.setText(phone)
        self.resize(1280, 760)
        self._set_enabled(False)
        self.status.setText("Loading…")
        worker.submit(partial(_job_choices, actor), self._on_choices, self._on_choices_error)

    # -- building ------------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        self.refusal = QLabel(self)
        self.refusal.setObjectName("auditRefusal")
        self.refusal.setAccessibleName("Why the audit trail cannot be shown")
        self.refusal.setWordWrap(True)
        self.refusal.setStyleSheet(
            "QLabel { background: #f8d7da; color: #58151c; border: 2px solid #b02a37;"
            " padding: 10px; font-weight: bold; }"
        )
        self.refusal.hide()
        layout.addWidget(self.refusal)

        self.filters = QWidget(self)
        self.filters.setObjectName("auditFilters")
        self.filters.setAccessibleName("Audit filters")
        grid = QGridLayout(self.filters)
        grid.setContentsMargins(0, 0, 0, 0)
        self.person = self._combo("auditPerson", "Filter by person")
        self.action = self._combo("auditAction", "Filter by action")
        self.phone = self._line(
            "auditPhone", "Filter by phone number", "any form, e.g. 505-555-0123"
        )
        self.account = self._line("auditAccount", "Filter by account number", "account number")
        self.text = self._line("auditText", "Filter by text anywhere in the row", "any text")
        self.since_on, self.since = self._when("auditFrom", "From (included)")
        self.until_on, self.until = self._when("auditTo", "To (not included)")
        now = QDateTime.currentDateTime()
        self.since.setDateTime(now.addDays(-7))
        self.until.setDateTime(now.addSecs(3600))
        row0 = (
            ("&Person:", self.person), ("&Action:", self.action),
            ("P&hone:", self.phone), ("A&ccount:", self.account),
        )  # fmt: skip
        for col, (text, widget) in enumerate(row0):
            label = QLabel(text, self.filters)
            label.setBuddy(widget)
            grid.addWidget(label, 0, col * 2)
            grid.addWidget(widget, 0, col * 2 + 1)
        grid.addWidget(self.since_on, 1, 0)
        grid.addWidget(self.since, 1, 1)
        grid.addWidget(self.until_on, 1, 2)
        grid.addWidget(self.until, 1, 3)
        text_label = QLabel("Te&xt:", self.filters)
        text_label.setBuddy(self.text)
        grid.addWidget(text_label, 1, 4)
        grid.addWidget(self.text, 1, 5)
        self.clear_button = self._button("C&lear filters", "auditClearFilters", "Clear filters")
        grid.addWidget(self.clear_button, 1, 7)
        for col in (1, 3, 5, 7):
            grid.setColumnStretch(col, 1)
        layout.addWidget(self.filters)

        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.setObjectName("auditSplitter")
        self.table = QTableView(self.splitter)
        self.table.setObjectName("auditTable")
        self.table.setAccessibleName("Audit rows, newest first")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setTabKeyNavigation(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        for col, width in ((C_TIME, 150), (C_PERSON, 110), (C_DESK, 100), (C_ACTION, 170),
                           (C_SUBJECT, 150)):  # fmt: skip
            header.resizeSection(col, width)
        self.details = QTextBrowser(self.splitter)
        self.details.setObjectName("auditDetails")
        self.details.setAccessibleName("What changed in the selected audit row, before and after")
        self.details.setHtml(render_details(None))
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        layout.addWidget(self.splitter, 1)

        bottom = QHBoxLayout()
        self.status = QLabel(self)
        self.status.setObjectName("auditStatus")
        self.status.setAccessibleName("Audit screen status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bottom.addWidget(self.status, 1)
        self.export_button = self._button(
            "&Export CSV…", "auditExportButton", "Export the rows of the current filter as CSV"
        )
        self.close_button = self._button("Close", "auditCloseButton", "Close the audit trail")
        bottom.addWidget(self.export_button)
        bottom.addWidget(self.close_button)
        layout.addLayout(bottom)

        for combo in (self.person, self.action):
            combo.currentIndexChanged.connect(self._filters_changed)
        for line in (self.phone, self.account, self.text):
            line.textChanged.connect(self._filters_changed)
            line.returnPressed.connect(self.apply_filters)
        for check in (self.since_on, self.until_on):
            check.toggled.connect(self._dates_toggled)
        for edit in (self.since, self.until):
            edit.dateTimeChanged.connect(self._filters_changed)
        self.clear_button.clicked.connect(self.clear_filters)
        self.export_button.clicked.connect(self.choose_export_file)
        self.close_button.clicked.connect(self.close)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.model.loaded.connect(self._update_status)
        self.model.rowsInserted.connect(self._update_status)
        self.model.failed.connect(self._on_failed)
        find = QShortcut(QKeySequence("Ctrl+F"), self)
        find.activated.connect(self.focus_filters)
        enter = QShortcut(QKeySequence("Return"), self.table)
        enter.setContext(Qt.ShortcutContext.WidgetShortcut)
        enter.activated.connect(self.show_details)
        self.table.activated.connect(lambda _index: self.show_details())

    def _combo(self, name: str, accessible: str) -> QComboBox:
        combo = QComboBox(self.filters)
        combo.setObjectName(name)
        combo.setAccessibleName(accessible)
        combo.setMinimumContentsLength(14)
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        return combo

    def _line(self, name: str, accessible: str, placeholder: str) -> QLineEdit:
        line = QLineEdit(self.filters)
        line.setObjectName(name)
        line.setAccessibleName(accessible)
        line.setPlaceholderText(placeholder)
        line.setClearButtonEnabled(True)
        return line

    def _when(self, name: str, text: str) -> tuple[QCheckBox, QDateTimeEdit]:
        check = QCheckBox(text + ":", self.filters)
        check.setObjectName(name + "Enabled")
        check.setAccessibleName(f"Filter {text.lower()} a time")
        edit = QDateTimeEdit(self.filters)
        edit.setObjectName(name)
        edit.setAccessibleName(f"{text}, local time")
        edit.setCalendarPopup(True)
        edit.setDisplayFormat("yyyy-MM-dd HH:mm")
        edit.setEnabled(False)
        inner = edit.findChild(QLineEdit)
        if inner is not None:
            inner.setAccessibleName(f"{text}, local time")
        return check, edit

    def _button(self, text: str, name: str, accessible: str) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.setAccessibleName(accessible)
        button.setAutoDefault(False)
        return button

    def _set_enabled(self, enabled: bool) -> None:
        for widget in (self.filters, self.table, self.details, self.export_button):
            widget.setEnabled(enabled)

    # -- choices and refusal -------------------------------------------------------------------
    def _on_choices(self, result: AuditChoices | Failure) -> None:
        if self._closed:
            return
        if isinstance(result, Failure):
            self._refuse(result.message)
            return
        self._fill_choices(result)
        self._choices_in = True
        self._set_enabled(True)
        self.apply_filters()
        self.ready.emit()

    def _on_choices_error(self, exc: BaseException) -> None:
        if not self._closed:
            self._refuse(f"Reading the audit trail failed: {str(exc).splitlines()[0]}")

    def _refuse(self, message: str) -> None:
        self.refused = message
        self.refusal.setText(f"⚠ The audit trail cannot be shown: {message}")
        self.refusal.show()
        self.status.setText("")
        self._set_enabled(False)
        self.close_button.setFocus(Qt.FocusReason.OtherFocusReason)
        self.ready.emit()

    def _fill_choices(self, choices: AuditChoices) -> None:
        self.person.blockSignals(True)
        self.action.blockSignals(True)
        self.person.clear()
        self.person.addItem("Everyone", "")
        for name in choices.people:
            self.person.addItem(name, name)
        self.action.clear()
        self.action.addItem("All actions", "")
        groups: dict[str, int] = {}
        for name in choices.actions:
            head, sep, _ = name.partition("_")
            if sep:
                groups[head + "_"] = groups.get(head + "_", 0) + 1
        for name in choices.actions:
            head = name.partition("_")[0] + "_"
            if groups.pop(head, 0) > 1:
                self.action.addItem(f"{head}* (every {head} action)", head)
            self.action.addItem(name, name)
        self.person.blockSignals(False)
        self.action.blockSignals(False)

    # -- filters -------------------------------------------------------------------------------
    def _filters_changed(self, *_args: Any) -> None:
        if self._choices_in and not self._closed:
            self._filter_timer.start()

    def _dates_toggled(self, _checked: bool) -> None:
        self.since.setEnabled(self.since_on.isChecked())
        self.until.setEnabled(self.until_on.isChecked())
        self._filters_changed()

    def current_query(self) -> AuditQuery:
        """The filters as a query; raises InvalidPhoneError for a phone that is not one."""
        phone = self.phone.text().strip()
        return AuditQuery(
            person=self.person.currentData() or "",
            action=self.action.currentData() or "",
            phone=normalize_phone(phone, self.region) if phone else "",
            account=self.account.text().strip(),
            since=_utc(self.since) if self.since_on.isChecked() else None,
            until=_utc(self.until) if self.until_on.isChecked() else None,
            text=self.text.text().strip(),
            region=self.region,
        )

    def apply_filters(self) -> None:
        self._filter_timer.stop()
        if not self._choices_in or self._closed:
            return
        try:
            query = self.current_query()
        except InvalidPhoneError as exc:
            self.status.setText(f"⚠ Phone: {exc}")
            return
        if query.since and query.until and query.until <= query.since:
            self.status.setText("⚠ “To” is not after “From”.")
            return
        if query == self.model.query:
            return
        self.status.setText("Loading…")
        self.details.setHtml(render_details(None))
        self.model.set_query(query)

    def clear_filters(self) -> None:
        for widget in (self.person, self.action, self.phone, self.account, self.text):
            widget.blockSignals(True)
        self.person.setCurrentIndex(0)
        self.action.setCurrentIndex(0)
        for line in (self.phone, self.account, self.text):
            line.clear()
        for widget in (self.person, self.action, self.phone, self.account, self.text):
            widget.blockSignals(False)
        self.since_on.setChecked(False)
        self.until_on.setChecked(False)
        self.apply_filters()

    def choose_action(self, action: str) -> None:
        index = self.action.findData(action)
        if index >= 0:
            self.action.setCurrentIndex(index)

    def choose_person(self, person: str) -> None:
        index = self.person.findData(person)
        if index >= 0:
            self.person.setCurrentIndex(index)

    def focus_filters(self) -> None:
        if self.filters.isEnabled():
            self.person.setFocus(Qt.FocusReason.ShortcutFocusReason)

    # -- rows and details ----------------------------------------------------------------------
    def _update_status(self, *_args: Any) -> None:
        n = self.model.rowCount()
        more = " · scroll down for older" if self.model.has_more else ""
        query = self.model.query
        what = "matching the filters" if query is not None and not query.empty else "in all"
        self.status.setText(f"{n:,} audit row(s) shown {what}{more}.")

    def _on_failed(self, message: str) -> None:
        self.status.setText(f"⚠ {message}")

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        row = self.model.audit_row(current.row()) if current.isValid() else None
        self.details.setHtml(render_details(row))

    def show_details(self) -> None:
        index = self.table.currentIndex()
        if index.isValid():
            self.details.setHtml(render_details(self.model.audit_row(index.row())))
            self.details.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def select_row(self, row: int) -> None:
        index = self.model.index(row, 0)
        self.table.setCurrentIndex(index)
        self.table.scrollTo(index)

    # -- export --------------------------------------------------------------------------------
    def choose_export_file(self) -> None:
        if self.model.query is None:
            return
        dialog = QFileDialog(self, "Export the audit trail", "audit.csv")
        dialog.setObjectName("auditExportFileDialog")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilter("CSV files (*.csv)")
        dialog.setDefaultSuffix("csv")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda name: self.export_to(Path(name)))
        self.file_dialog = dialog
        dialog.open()

    def export_to(self, path: Path) -> None:
        """Export the rows of the filter shown (not of half-typed ones) to ``path``."""
        query = self.model.query
        if query is None or self._closed:
            return
        self.file_dialog = None
        self.export_button.setEnabled(False)
        self.status.setText(f"Exporting to {path}…")
        self.worker.submit(
            partial(_job_export, self.actor, query, path),
            partial(self._on_exported, path),
            self._on_export_error,
        )

    def _on_exported(self, path: Path, result: int | Failure) -> None:
        if self._closed:
            return
        self.export_button.setEnabled(True)
        if isinstance(result, Failure):
            self.status.setText(f"⚠ The export failed: {result.message}")
            return
        text = f"Exported {result:,} audit row(s) to {path}."
        self.status.setText(text)
        self.exported.emit(text)

    def _on_export_error(self, exc: BaseException) -> None:
        if self._closed:
            return
        self.export_button.setEnabled(True)
        self.status.setText(f"⚠ The export failed: {str(exc).splitlines()[0]}")

    # -- closing -------------------------------------------------------------------------------
    def done(self, code: int) -> None:
        self._closed = True
        self._filter_timer.stop()
        super().done(code)


def _utc(edit: QDateTimeEdit) -> datetime:
    local = edit.dateTime().toPython()
    assert isinstance(local, datetime)
    return local.astimezone().astimezone(UTC)


__all__ = [
    "AuditModel",
    "AuditScreen",
    "Change",
    "changes",
    "format_row",
    "render_details",
    "summary",
]
