"""The live feed as a table model: compact pre-formatted rows, batched inserts, SQL paging.

Rows are plain tuples formatted on the database worker (strings ready to paint, a few ints);
the GUI thread only moves them in and out. New rows arrive in batches at the top (one
``beginInsertRows`` per batch); older rows are paged from the database through
``canFetchMore``/``fetchMore`` with keyset queries; the model keeps at most ``max_rows`` rows
and trims the oldest, so memory stays flat through a storm. Filters and search are SQL
(``outagedesk.store.feed``), never a proxy model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from functools import lru_cache, partial
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QIcon
from sqlalchemy.orm import Session

from outagedesk.domain.keywords import MessageKind
from outagedesk.domain.phones import format_phone
from outagedesk.domain.reports import ReportState
from outagedesk.store import feed
from outagedesk.store.feed import (
    QUARANTINED,
    SOURCES,
    Cursor,
    FeedFilter,
    FeedPage,
    FeedQuery,
    FeedRow,
    Marks,
    NewerRows,
)
from outagedesk.ui import theme
from outagedesk.ui.worker import DbWorker

log = logging.getLogger(__name__)

COLUMNS = (
    "Received",
    "Phone",
    "Kind",
    "Rpt",
    "Text",
    "Account / location",
    "State",
    "OMS message",
)
C_TIME, C_PHONE, C_KIND, C_REPEAT, C_TEXT, C_ACCOUNT, C_STATE, C_OMS = range(len(COLUMNS))
HEADER_TIPS = (
    "When the gateway received the text (local time)",
    "The sender's number",
    "What the text is: outage, status, help, opt-out, opt-in or unknown",
    "Repeats: how many texts this number sent within 30 minutes, up to this one",
    "The text as the customer wrote it",
    "The account and service location the number is linked to",
    "Where the report stands: queued, forwarded with its ticket, unlinked, rejected…",
    "What the OMS said when it refused, or why an entry was quarantined",
)

# Row tuple layout: the display strings first, then:
R_KEY = 8
R_REPORT = 9
R_FLAGS = 10
R_TONE = 11
R_ORDER = 12
R_SOURCE = 13
R_SOURCE_ID = 14
R_TIP = 15
R_STATE = 16

F_NEEDS_LINK = 1
F_NOT_LINKED = 2
F_FAILED = 4
F_RETRYING = 8
F_FORWARDED = 16
F_QUARANTINED = 32
F_OPT = 64
F_URGENT = 128
F_REVOCATION = 256
F_REPEAT = 512

KEY_ROLE = int(Qt.ItemDataRole.UserRole)
FLAGS_ROLE = KEY_ROLE + 1
STATE_ROLE = KEY_ROLE + 2

_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_DECORATION = int(Qt.ItemDataRole.DecorationRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_BACKGROUND = int(Qt.ItemDataRole.BackgroundRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_FONT = int(Qt.ItemDataRole.FontRole)
_ALIGN = int(Qt.ItemDataRole.TextAlignmentRole)
_ACCESSIBLE = int(Qt.ItemDataRole.AccessibleTextRole)
_CENTER = int(Qt.AlignmentFlag.AlignCenter)
_HORIZONTAL = Qt.Orientation.Horizontal
_NCOLS = len(COLUMNS)

KIND_LABELS = {
    MessageKind.OUTAGE.value: "Outage",
    MessageKind.STATUS.value: "Status",
    MessageKind.HELP.value: "Help",
    MessageKind.OPT_OUT.value: "Opt-out",
    MessageKind.OPT_IN.value: "Opt-in",
    MessageKind.UNKNOWN.value: "Unknown",
    QUARANTINED: "Quarantined",
}
STATE_TIPS = {
    ReportState.UNLINKED.value: "The OMS does not know this number: link it to an account "
    "and location, then re-send the report.",
    ReportState.HELD.value: "No account is linked to this number: the report is held here "
    "until a dispatcher links it.",
    ReportState.QUEUED.value: "Waiting to be sent to the OMS.",
    ReportState.RETRYING.value: "The OMS could not take it yet; it is retried automatically.",
    ReportState.FORWARDED.value: "The OMS opened or attached a trouble ticket.",
    ReportState.REJECTED.value: "The OMS refused the report; see its message.",
    QUARANTINED: "The gateway sent an entry that breaks the contract; kept raw with the reason.",
}
TEXT_LIMIT = 240


@lru_cache(maxsize=8192)
def _phone(e164: str) -> str:
    return format_phone(e164)


def _time(at: datetime, today: date) -> str:
    local = at.astimezone()
    if local.date() == today:
        return local.strftime("%H:%M:%S")
    return local.strftime("%b %d %H:%M")


def _one_line(body: str) -> str:
    text = " ".join(body.split())
    if len(text) > TEXT_LIMIT:
        text = text[: TEXT_LIMIT - 1] + "…"
    return text


def format_row(row: FeedRow, source: int, today: date | None = None) -> tuple[Any, ...]:
    """The compact tuple the model keeps for one feed row (runs on the worker thread)."""
    today = today or datetime.now().astimezone().date()
    flags = 0
    tone = theme.TONE_NORMAL
    state = row.state
    if row.kind == QUARANTINED:
        phone = row.phone or "—"
        text = _one_line(row.body)
        state_text = "Quarantined"
        flags |= F_QUARANTINED
        tone = theme.TONE_QUARANTINED
    else:
        phone = _phone(row.phone) if row.phone else "—"
        text = _one_line(row.body) if row.body.strip() else "(empty text)"
        state_text = "—"
        if row.kind == MessageKind.OPT_OUT:
            state_text = "Opt-out recorded"
        elif row.kind == MessageKind.OPT_IN:
            state_text = "Opt-in recorded"
    kind = KIND_LABELS.get(row.kind, row.kind.title())
    if row.revocation_suspected:
        kind = "Opt-out?"
        flags |= F_REVOCATION | F_OPT
        tone = theme.TONE_OPT
    if row.kind in (MessageKind.OPT_OUT, MessageKind.OPT_IN, MessageKind.HELP):
        flags |= F_OPT
        tone = theme.TONE_OPT
    account = ""
    if state is not None and state != QUARANTINED:
        if row.state == ReportState.UNLINKED:
            state_text = "UNLINKED – needs link"
            flags |= F_NEEDS_LINK
            tone = theme.TONE_NEEDS_LINK
        elif row.state == ReportState.HELD:
            state_text = "HELD – needs link"
            flags |= F_NEEDS_LINK
            tone = theme.TONE_NEEDS_LINK
        elif row.state == ReportState.FORWARDED:
            state_text = f"Forwarded · {row.ticket_id}" if row.ticket_id else "Forwarded"
            flags |= F_FORWARDED
        elif row.state == ReportState.REJECTED:
            state_text = "Rejected"
            flags |= F_FAILED
            tone = theme.TONE_FAILED
        elif row.state == ReportState.RETRYING:
            state_text = "Retrying"
            flags |= F_RETRYING
            tone = theme.TONE_RETRYING
        elif row.state == ReportState.QUEUED:
            state_text = "Queued"
        else:
            state_text = row.state.title() if row.state else "—"
        if row.account_number:
            where = row.service_address or row.service_location_id or "whole account"
            account = f"{row.account_number} · {where}"
        else:
            account = "not linked"
            flags |= F_NOT_LINKED
        if row.priority == "Urgent":
            account = f"{account} · LIFE SUPPORT"
            flags |= F_URGENT
    repeat = ""
    if row.repeat > 1:
        repeat = f"×{row.repeat}"
        flags |= F_REPEAT
    oms = _one_line(row.oms_message) if row.oms_message else ""
    tip = row.body if row.body and row.body != text else None
    return (
        _time(row.received_at, today),
        phone,
        kind,
        repeat,
        text,
        account,
        state_text,
        oms,
        row.key,
        row.report_pk or 0,
        flags,
        tone,
        (row.stored_at.timestamp(), row.source_id),
        source,
        row.source_id,
        tip,
        state or "",
    )


def source_index(query: FeedQuery, row: FeedRow) -> int:
    """Which of the filter's sources a row belongs to."""
    for i, source in enumerate(SOURCES[query.filter]):
        if source.table == "quarantine":
            if row.kind == QUARANTINED:
                return i
        elif source.table == "report":
            if source.state == row.state:
                return i
        elif row.kind != QUARANTINED:
            return i
    return 0


def _format_all(query: FeedQuery, rows: Iterable[FeedRow]) -> list[tuple[Any, ...]]:
    today = datetime.now().astimezone().date()
    return [format_row(r, source_index(query, r), today) for r in rows]


# -- jobs run on the worker ------------------------------------------------------------------


def _job_page(
    query: FeedQuery, cursor: Cursor | None, limit: int, session: Session
) -> tuple[FeedPage, list[tuple[Any, ...]]]:
    page = feed.feed_page(session, query, cursor, limit)
    return page, _format_all(query, page.rows)


def _job_newer(
    query: FeedQuery, marks: Marks, limit: int, session: Session
) -> tuple[NewerRows, list[tuple[Any, ...]]]:
    newer = feed.newer_rows(session, query, marks, limit)
    return newer, _format_all(query, newer.rows)


def _job_changed(
    query: FeedQuery, report_ids: list[int], session: Session
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    everything = feed.rows_for_reports(session, report_ids)
    matching = feed.rows_for_reports(session, report_ids, query)
    return _format_all(FeedQuery(), everything), _format_all(query, matching)


class FeedModel(QAbstractTableModel):
    """The feed. Without a worker (tests, benchmarks) rows are only added by hand."""

    loaded = Signal()
    """The first page of the current query is in."""
    headInserted = Signal(int)
    """A batch of this many new rows went in at the top."""
    rowsUpdated = Signal(object)
    """Keys of rows whose content changed in place."""

    HEAD_DELAY_MS = 120
    STORM_DELAY_MS = 350
    """During a storm (big batches) the head is fetched less often: each batch shifts every
    visible row, so it costs a full repaint, and nobody reads 1,000 rows a second anyway."""
    STORM_BATCH = 100
    CHANGE_DELAY_MS = 150

    def __init__(
        self,
        worker: DbWorker | None = None,
        parent: QObject | None = None,
        *,
        page_size: int = 200,
        max_rows: int = 10_000,
        head_limit: int = 2000,
        theme_name: str = theme.LIGHT,
    ) -> None:
        super().__init__(parent)
        self._worker = worker
        self._rows: list[tuple[Any, ...]] = []
        self._keys: set[int] = set()
        self.page_size = page_size
        self.max_rows = max_rows
        self.trim_slack = max(1, max_rows // 10)
        self.head_limit = head_limit
        self._query = FeedQuery()
        self._generation = 0
        self._cursor: Cursor | None = None
        self._marks: Marks | None = None
        self._older_busy = False
        self._head_busy = False
        self._head_dirty = False
        self._changes_busy = False
        self._changed: set[int] = set()
        self._stopped = False
        self._head_timer = QTimer(self, singleShot=True, interval=self.HEAD_DELAY_MS)
        self._head_timer.timeout.connect(self._load_head)
        self._change_timer = QTimer(self, singleShot=True, interval=self.CHANGE_DELAY_MS)
        self._change_timer.timeout.connect(self._load_changes)
        self._icons: dict[str, QIcon] = {}
        self._bold = QFont()
        self._bold.setBold(True)
        self.set_theme(theme_name)

    # -- look --------------------------------------------------------------------------------
    def set_theme(self, name: str) -> None:
        colours = theme.row_colours(name)
        self._backgrounds: tuple[QColor | None, ...] = colours.background
        self._foregrounds: tuple[QColor | None, ...] = colours.foreground
        self._ok = colours.state_ok
        self._repeat = colours.repeat
        self._icons = {
            ReportState.UNLINKED.value: theme.icon("unlinked"),
            ReportState.HELD.value: theme.icon("held"),
            ReportState.FORWARDED.value: theme.icon("forwarded"),
            ReportState.REJECTED.value: theme.icon("rejected"),
            ReportState.RETRYING.value: theme.icon("retrying"),
            ReportState.QUEUED.value: theme.icon("queued"),
            QUARANTINED: theme.icon("quarantined"),
            "opt": theme.icon("opt"),
        }
        if self._rows:
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(self._rows) - 1, len(COLUMNS) - 1)
            )

    def set_font(self, font: QFont) -> None:
        bold = QFont(font)
        bold.setBold(True)
        self._bold = bold
        if self._rows:
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(self._rows) - 1, len(COLUMNS) - 1)
            )

    # -- Qt model interface ------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    # Painting a cell costs the view one ``index()`` and one ``multiData()`` call into Python
    # instead of a ``rowCount``, a ``columnCount`` and seven ``data()`` calls. Each call from
    # C++ into Python takes the GIL, and with the database workers busy every take can wait:
    # fewer calls is what keeps painting short during a storm.
    def index(
        self,
        row: int,
        column: int,
        parent: QModelIndex | QPersistentModelIndex = QModelIndex(),  # noqa: B008
    ) -> QModelIndex:
        if parent.isValid() or not (0 <= row < len(self._rows) and 0 <= column < _NCOLS):
            return QModelIndex()
        return self.createIndex(row, column)

    def multiData(self, index: QModelIndex | QPersistentModelIndex, roleDataSpan: Any) -> None:
        if not index.isValid():
            return
        r = index.row()
        if r >= len(self._rows):
            return
        row = self._rows[r]
        col = index.column()
        value = self._value
        for role_data in roleDataSpan:
            role_data.setData(value(row, col, role_data.role()))

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = _DISPLAY) -> Any:
        if not index.isValid():
            return None
        r = index.row()
        if r >= len(self._rows):
            return None
        return self._value(self._rows[r], index.column(), role)

    def _value(self, row: tuple[Any, ...], col: int, role: int) -> Any:
        if role in (_DISPLAY, _ACCESSIBLE):
            return row[col]
        if role == _BACKGROUND:
            return self._backgrounds[row[R_TONE]]
        if role == _FOREGROUND:
            if col == C_STATE and row[R_FLAGS] & F_FORWARDED:
                return self._ok
            if col == C_REPEAT and row[R_FLAGS] & F_REPEAT:
                return self._repeat
            return self._foregrounds[row[R_TONE]]
        if role == _DECORATION:
            if col == C_STATE:
                state = row[R_STATE]
                if state:
                    return self._icons.get(state)
                if row[R_FLAGS] & F_OPT:
                    return self._icons["opt"]
                return None
            if col == C_TIME:
                flags = row[R_FLAGS]
                if flags & F_NEEDS_LINK:
                    return self._icons[ReportState.UNLINKED.value]
                if flags & F_FAILED:
                    return self._icons[ReportState.REJECTED.value]
                if flags & F_QUARANTINED:
                    return self._icons[QUARANTINED]
            return None
        if role == _FONT:
            flags = row[R_FLAGS]
            if flags & (F_NEEDS_LINK | F_URGENT) or (col == C_REPEAT and flags & F_REPEAT):
                return self._bold
            return None
        if role == _TOOLTIP:
            if col == C_TEXT:
                return row[R_TIP] or row[C_TEXT]
            if col == C_STATE:
                return STATE_TIPS.get(row[R_STATE], row[C_STATE])
            if col == C_REPEAT and row[C_REPEAT]:
                return f"Text {row[C_REPEAT][1:]} from this number within 30 minutes"
            return row[col] or None
        if role == _ALIGN:
            return _CENTER if col == C_REPEAT else None
        if role == KEY_ROLE:
            return row[R_KEY]
        if role == FLAGS_ROLE:
            return row[R_FLAGS]
        if role == STATE_ROLE:
            return row[R_STATE]
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:
        if orientation == _HORIZONTAL and 0 <= section < len(COLUMNS):
            if role == _DISPLAY:
                return COLUMNS[section]
            if role == _TOOLTIP:
                return HEADER_TIPS[section]
        return None

    def canFetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> bool:
        if parent.isValid() or self._worker is None or self._stopped:
            return False
        return self._cursor is not None and not self._cursor.exhausted and not self._older_busy

    def fetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> None:
        if not self.canFetchMore(parent):
            return
        assert self._worker is not None
        self._older_busy = True
        gen = self._generation
        self._worker.submit(
            partial(_job_page, self._query, self._cursor, self.page_size),
            partial(self._on_older, gen),
            partial(self._on_failed, gen),
        )

    # -- state seen by the window ------------------------------------------------------------
    @property
    def query(self) -> FeedQuery:
        return self._query

    @property
    def busy(self) -> bool:
        return self._older_busy or self._head_busy or self._changes_busy

    @property
    def has_more(self) -> bool:
        return self._cursor is not None and not self._cursor.exhausted

    def key_at(self, row: int) -> int | None:
        return self._rows[row][R_KEY] if 0 <= row < len(self._rows) else None

    def flags_at(self, row: int) -> int:
        return self._rows[row][R_FLAGS] if 0 <= row < len(self._rows) else 0

    def row_of(self, key: int) -> int | None:
        if key not in self._keys:
            return None
        for i, row in enumerate(self._rows):
            if row[R_KEY] == key:
                return i
        return None

    def find_flagged(self, start: int, flag: int, step: int = 1) -> int | None:
        """The next row from ``start`` (exclusive) with ``flag``, wrapping around."""
        n = len(self._rows)
        for offset in range(1, n + 1):
            i = (start + step * offset) % n
            if self._rows[i][R_FLAGS] & flag:
                return i
        return None

    def row_tuple(self, row: int) -> tuple[Any, ...]:
        return self._rows[row]

    # -- loading -----------------------------------------------------------------------------
    def set_query(self, query: FeedQuery) -> None:
        """Show ``query`` from the newest row; earlier answers still on the way are dropped."""
        self._query = query
        self._generation += 1
        self.beginResetModel()
        self._rows = []
        self._keys = set()
        self._cursor = None
        self._marks = None
        self.endResetModel()
        self._older_busy = False
        self._head_busy = False
        self._changes_busy = False
        self._changed.clear()
        if self._worker is None or self._stopped:
            return
        self._older_busy = True
        gen = self._generation
        self._worker.submit(
            partial(_job_page, query, None, self.page_size),
            partial(self._on_first, gen),
            partial(self._on_failed, gen),
        )

    def reload(self) -> None:
        self.set_query(self._query)

    def notify_new(self) -> None:
        """New messages were stored: fetch the head soon (many calls make one query)."""
        self._head_dirty = True
        if not self._head_busy and not self._head_timer.isActive() and not self._stopped:
            self._head_timer.start()

    def notify_changed(self, report_ids: Iterable[int]) -> None:
        """Reports changed state: re-read those rows soon."""
        self._changed.update(report_ids)
        if not self._changes_busy and not self._change_timer.isActive() and not self._stopped:
            self._change_timer.start()

    def stop(self) -> None:
        """No more queries (the window is closing)."""
        self._stopped = True
        self._head_timer.stop()
        self._change_timer.stop()

    def _on_failed(self, gen: int, exc: BaseException) -> None:
        if gen == self._generation:
            self._older_busy = self._head_busy = self._changes_busy = False
        if self._worker is not None:
            self._worker.failed.emit(f"Reading the feed failed: {str(exc).splitlines()[0]}")

    def _on_first(self, gen: int, result: tuple[FeedPage, list[tuple[Any, ...]]]) -> None:
        if gen != self._generation:
            return
        page, rows = result
        self._older_busy = False
        self._cursor = page.cursor
        self._marks = page.marks
        self._append(rows)
        self.loaded.emit()
        if self._head_dirty:
            self._head_timer.start()
        if self._changed:
            self._change_timer.start()

    def _on_older(self, gen: int, result: tuple[FeedPage, list[tuple[Any, ...]]]) -> None:
        if gen != self._generation:
            return
        page, rows = result
        self._older_busy = False
        self._cursor = page.cursor
        self._append(rows)

    def _append(self, rows: Sequence[tuple[Any, ...]]) -> None:
        fresh = [r for r in rows if r[R_KEY] not in self._keys]
        if not fresh:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
        self._rows.extend(fresh)
        self._keys.update(r[R_KEY] for r in fresh)
        self.endInsertRows()

    def _load_head(self) -> None:
        if self._stopped or self._worker is None:
            return
        if self._marks is None or self._head_busy:
            return  # the first page is still coming; it re-arms the timer
        self._head_dirty = False
        self._head_busy = True
        gen = self._generation
        self._worker.submit(
            partial(_job_newer, self._query, self._marks, self.head_limit),
            partial(self._on_head, gen),
            partial(self._on_failed, gen),
        )

    def _on_head(self, gen: int, result: tuple[NewerRows, list[tuple[Any, ...]]]) -> None:
        if gen != self._generation:
            return
        newer, rows = result
        self._head_busy = False
        if not newer.complete:
            log.info("more than %d new rows at once: reloading the feed", self.head_limit)
            self.reload()
            return
        self._marks = newer.marks
        self.insert_at_top(rows)
        storm = len(rows) >= self.STORM_BATCH
        self._head_timer.setInterval(self.STORM_DELAY_MS if storm else self.HEAD_DELAY_MS)
        if self._head_dirty:
            self._head_timer.start()

    def insert_at_top(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """One batch of newer rows, newest first, above everything shown."""
        fresh = [r for r in rows if r[R_KEY] not in self._keys]
        if fresh:
            self.beginInsertRows(QModelIndex(), 0, len(fresh) - 1)
            self._rows[0:0] = fresh
            self._keys.update(r[R_KEY] for r in fresh)
            self.endInsertRows()
            self.headInserted.emit(len(fresh))
        self._trim()

    def _trim(self) -> None:
        """Drop the oldest rows beyond ``max_rows`` (they page back in on demand); done in
        chunks, so a storm pays for it once per ``trim_slack`` rows, not on every batch."""
        if len(self._rows) <= self.max_rows + self.trim_slack:
            return
        keep = self.max_rows
        dropped = self._rows[keep:]
        if self._cursor is not None:
            self._cursor = self._cursor_after_trim(keep, dropped)
        self.beginRemoveRows(QModelIndex(), keep, len(self._rows) - 1)
        del self._rows[keep:]
        self._keys.difference_update(r[R_KEY] for r in dropped)
        self.endRemoveRows()

    def _cursor_after_trim(self, keep: int, dropped: Sequence[tuple[Any, ...]]) -> Cursor:
        """Where older pages continue once rows from ``keep`` on are dropped: per source,
        below the oldest row still shown (or just above the newest one dropped)."""
        assert self._cursor is not None
        befores = list(self._cursor.before)
        dones = list(self._cursor.done)
        highest_dropped: dict[int, int] = {}
        for row in dropped:
            src, sid = row[R_SOURCE], row[R_SOURCE_ID]
            if sid > highest_dropped.get(src, -1):
                highest_dropped[src] = sid
        lowest_kept: dict[int, int] = {}
        # Within a source ids fall down the list, so the last kept row of each is its lowest.
        for i in range(keep - 1, -1, -1):
            src = self._rows[i][R_SOURCE]
            if src in highest_dropped and src not in lowest_kept:
                lowest_kept[src] = self._rows[i][R_SOURCE_ID]
                if len(lowest_kept) == len(highest_dropped):
                    break
        for src, sid in highest_dropped.items():
            if src >= len(befores):
                continue
            befores[src] = lowest_kept.get(src, sid + 1)
            dones[src] = False
        return Cursor(tuple(befores), tuple(dones))

    def _load_changes(self) -> None:
        if self._stopped or self._worker is None or self._changes_busy or not self._changed:
            return
        if self._marks is None:
            return  # the first page is still coming; it re-arms the timer
        ids = sorted(self._changed)
        self._changed.clear()
        self._changes_busy = True
        gen = self._generation
        self._worker.submit(
            partial(_job_changed, self._query, ids),
            partial(self._on_changes, gen),
            partial(self._on_failed, gen),
        )

    def _on_changes(
        self, gen: int, result: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]
    ) -> None:
        if gen != self._generation:
            return
        self._changes_busy = False
        everything, matching = result
        self.apply_changes(everything, matching)
        if self._changed:
            self._change_timer.start()

    def apply_changes(
        self, updated: Sequence[tuple[Any, ...]], matching: Sequence[tuple[Any, ...]] = ()
    ) -> None:
        """Update rows in place; add rows that now match the filter where they belong."""
        by_key = {r[R_KEY]: r for r in updated}
        touched: list[int] = []
        if by_key.keys() & self._keys:
            rows = self._rows
            for i, old in enumerate(rows):
                new = by_key.get(old[R_KEY])
                if new is not None:
                    # Keep where the row came from: the cursor bookkeeping relies on it.
                    rows[i] = (*new[:R_SOURCE], old[R_SOURCE], old[R_SOURCE_ID], *new[15:])
                    touched.append(i)
        if touched:
            # One signal for the span: the view repaints what is visible of it, once.
            self.dataChanged.emit(
                self.index(touched[0], 0), self.index(touched[-1], len(COLUMNS) - 1)
            )
            self.rowsUpdated.emit({self._rows[i][R_KEY] for i in touched})
        marks = self._marks.after if self._marks is not None else ()
        for row in matching:
            if row[R_KEY] in self._keys:
                continue
            src = row[R_SOURCE]
            if src < len(marks) and row[R_SOURCE_ID] > marks[src]:
                continue  # above the marks: the head query brings it
            pos = self._position(row[R_ORDER])
            if pos == len(self._rows) and self.has_more:
                continue  # older than everything shown: paging brings it
            self.beginInsertRows(QModelIndex(), pos, pos)
            self._rows.insert(pos, row)
            self._keys.add(row[R_KEY])
            self.endInsertRows()

    def _position(self, order: tuple[float, int]) -> int:
        lo, hi = 0, len(self._rows)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._rows[mid][R_ORDER] > order:
                lo = mid + 1
            else:
                hi = mid
        return lo


def filter_label(f: FeedFilter) -> str:
    return {
        FeedFilter.ALL: "All",
        FeedFilter.NEEDS_LINKING: "Needs linking",
        FeedFilter.FAILED: "Failed/Rejected",
        FeedFilter.FORWARDED: "Forwarded",
        FeedFilter.OPT_OUT_HELP: "Opt-outs && help",
        FeedFilter.QUARANTINE: "Quarantine",
    }[f]


__all__ = ["COLUMNS", "FeedModel", "filter_label", "format_row"]
