"""Training ▸ Debrief: how the session's unlinked reports were handled, as figures, a chart and
a table, exportable to CSV.

The debrief is computed on the window's database worker (``compute_debrief`` reads the reports
and the link audit rows) and the CSV is written there too: the GUI thread only shows results.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFontMetrics, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from outagedesk.domain.phones import format_phone
from outagedesk.training.debrief import Debrief, DebriefRow, compute_debrief, write_debrief_csv
from outagedesk.training.scenario import Scenario
from outagedesk.ui.worker import DbWorker

log = logging.getLogger(__name__)

COLUMNS = ("Report", "Phone", "Received", "Time to link", "Linked to", "Expected", "Outcome")
OUTCOME_TEXT = {
    "linked": "Linked",
    "wrong_account": "WRONG ACCOUNT",
    "never_handled": "NEVER HANDLED",
}
LINKED_COLOUR = "#16a34a"
WRONG_COLOUR = "#ea580c"
NEVER_COLOUR = "#dc2626"
MISSED_SHOWN = 8

Index = QModelIndex | QPersistentModelIndex


def duration_text(seconds: float | None) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``; an en dash when there is no figure."""
    if seconds is None:
        return "–"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _phone(raw: str) -> str:
    try:
        return format_phone(raw)
    except Exception:  # noqa: BLE001 - a number that will not format is shown as stored
        return raw


def _clock(at: datetime | None) -> str:
    return at.astimezone().strftime("%H:%M:%S") if at is not None else "–"


def figures(debrief: Debrief) -> list[tuple[str, str]]:
    """The debrief's figures as (label, value) lines, for the window and its description."""
    return [
        ("Unlinked reports", f"{debrief.unlinked_reports:,}"),
        ("Linked", f"{debrief.linked:,}"),
        ("Median time to link", duration_text(debrief.median_seconds)),
        ("Worst time to link", duration_text(debrief.worst_seconds)),
        ("Linked to the wrong account", f"{debrief.wrong_account:,}"),
        ("Never handled", f"{debrief.never_handled:,}"),
        ("Opt-outs missed", f"{len(debrief.missed_opt_outs):,}"),
    ]


class DebriefModel(QAbstractTableModel):
    """One row per unlinked report, pre-formatted once."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[tuple[str, ...]] = []
        self._outcomes: list[str] = []

    def set_rows(self, rows: tuple[DebriefRow, ...]) -> None:
        self.beginResetModel()
        self._rows = [
            (
                r.report_id,
                _phone(r.phone),
                _clock(r.received_at),
                duration_text(r.seconds_to_link),
                r.linked_account or "–",
                r.expected_account or "–",
                OUTCOME_TEXT.get(r.outcome, r.outcome),
            )
            for r in rows
        ]
        self._outcomes = [r.outcome for r in rows]
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._rows[index.row()][index.column()]
        if role == Qt.ItemDataRole.ForegroundRole and index.column() == len(COLUMNS) - 1:
            outcome = self._outcomes[index.row()]
            if outcome in ("never_handled", "wrong_account"):
                colour = QColor(NEVER_COLOUR if outcome == "never_handled" else WRONG_COLOUR)
                # On a dark table the plain red is too dim to read: lighten it there.
                dark = QApplication.palette().color(QPalette.ColorRole.Base).lightness() < 128
                return QBrush(colour.lighter(150) if dark else colour)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            role == Qt.ItemDataRole.DisplayRole
            and orientation == Qt.Orientation.Horizontal
            and 0 <= section < len(COLUMNS)
        ):
            return COLUMNS[section]
        return None


class DebriefChart(QWidget):
    """One bar per unlinked report, in order of arrival: its height is the time to link.

    Wrong-account links are orange, never-handled reports a full-height red hatched bar; the
    legend and axes use the palette's text colour, so the chart reads in both themes.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("debriefChart")
        self.setAccessibleName("Chart: time to link each unlinked report")
        self.setMinimumSize(360, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.rows: tuple[DebriefRow, ...] = ()

    def set_rows(self, rows: tuple[DebriefRow, ...], description: str) -> None:
        self.rows = rows
        self.setAccessibleDescription(description)
        self.setToolTip(description)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.WindowText)
        painter.fillRect(self.rect(), pal.color(QPalette.ColorRole.Base))
        fm = QFontMetrics(self.font())
        line = fm.height()
        left = fm.horizontalAdvance("00 min 00 s") + 12
        # Rows from the top: the legend, the axis title, half a tick label; then the plot.
        top = line * 3 + 8
        bottom = line * 2 + 8
        plot = QRectF(
            left, top, max(10, self.width() - left - 12), max(10, self.height() - top - bottom)
        )

        painter.setPen(text)
        self._legend(painter, fm, line)
        seconds = [r.seconds_to_link for r in self.rows if r.seconds_to_link is not None]
        top_value = max(seconds, default=0.0) or 60.0
        # Axes with three ticks: 0, half, the worst time.
        painter.setPen(QPen(text, 1))
        painter.drawLine(plot.bottomLeft(), plot.topLeft())
        painter.drawLine(plot.bottomLeft(), plot.bottomRight())
        for share in (0.0, 0.5, 1.0):
            y = plot.bottom() - share * plot.height()
            painter.drawLine(int(plot.left()) - 4, int(y), int(plot.left()), int(y))
            label = duration_text(top_value * share)
            painter.drawText(
                QRectF(0, y - line / 2, left - 8, line),
                int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                label,
            )
        painter.drawText(
            QRectF(plot.left(), plot.bottom() + 4, plot.width(), line),
            int(Qt.AlignmentFlag.AlignCenter),
            "unlinked reports, in order of arrival",
        )
        painter.drawText(
            QRectF(8, line + 6, left + 200, line),
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            "time to link",
        )
        if not self.rows:
            painter.drawText(plot, int(Qt.AlignmentFlag.AlignCenter), "No unlinked report yet")
            painter.end()
            return
        n = len(self.rows)
        slot = plot.width() / n
        width = max(1.0, min(28.0, slot * 0.7))
        for i, row in enumerate(self.rows):
            x = plot.left() + i * slot + (slot - width) / 2
            if row.outcome == "never_handled":
                bar = QRectF(x, plot.top(), width, plot.height())
                painter.fillRect(bar, QColor(NEVER_COLOUR).lighter(170))
                painter.fillRect(bar, QBrush(QColor(NEVER_COLOUR), Qt.BrushStyle.BDiagPattern))
                painter.setPen(QPen(QColor(NEVER_COLOUR), 1))
                painter.drawRect(bar)
                continue
            value = row.seconds_to_link or 0.0
            h = max(2.0, plot.height() * value / top_value)
            colour = WRONG_COLOUR if row.outcome == "wrong_account" else LINKED_COLOUR
            painter.fillRect(QRectF(x, plot.bottom() - h, width, h), QColor(colour))
        painter.end()

    def _legend(self, painter: QPainter, fm: QFontMetrics, line: int) -> None:
        x = 8.0
        for label, colour, hatched in (
            ("linked", LINKED_COLOUR, False),
            ("wrong account", WRONG_COLOUR, False),
            ("never handled", NEVER_COLOUR, True),
        ):
            box = QRectF(x, 4, line * 0.9, line * 0.9)
            if hatched:
                painter.fillRect(box, QColor(colour).lighter(170))
                painter.fillRect(box, QBrush(QColor(colour), Qt.BrushStyle.BDiagPattern))
            else:
                painter.fillRect(box, QColor(colour))
            x += box.width() + 4
            painter.drawText(
                QRectF(x, 4, fm.horizontalAdvance(label) + 4, line),
                int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                label,
            )
            x += fm.horizontalAdvance(label) + 18


class DebriefWindow(QWidget):
    """A window of its own (non-modal); ``refresh()`` computes the debrief again."""

    def __init__(
        self,
        *,
        worker: DbWorker,
        scenario: Scenario,
        since: Callable[[], datetime],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("debriefWindow")
        self.setWindowTitle(f"Debrief — {scenario.title} — OutageDesk TRAINING")
        self.setAccessibleName("Training debrief")
        self.worker = worker
        self.scenario = scenario
        self.since = since
        self.debrief: Debrief | None = None
        self.busy = False
        self.exported: list[tuple[Path, int]] = []
        self.errors: list[str] = []
        self.resize(1000, 700)

        layout = QVBoxLayout(self)
        head = QHBoxLayout()
        self.form = QFormLayout()
        self.form.setObjectName("debriefFigures")
        self.figure_labels: dict[str, QLabel] = {}
        for label, value in figures(_EMPTY):
            field = QLabel(value, self)
            bold = field.font()
            bold.setBold(True)
            field.setFont(bold)
            field.setObjectName(
                "debriefFigure_" + label.lower().replace(" ", "_").replace("-", "_")
            )
            field.setAccessibleName(label)
            field.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.form.addRow(label + ":", field)
            self.figure_labels[label] = field
        head.addLayout(self.form)
        self.chart = DebriefChart(self)
        head.addWidget(self.chart, 1)

        self.missed = QLabel("", self)
        self.missed.setObjectName("debriefMissedOptOuts")
        self.missed.setAccessibleName("Opt-outs missed")
        self.missed.setWordWrap(True)
        self.missed.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.model = DebriefModel(self)
        self.table = QTableView(self)
        self.table.setObjectName("debriefTable")
        self.table.setAccessibleName("Unlinked reports and how they were handled")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        for col, width in enumerate((170, 130, 90, 110, 120, 120)):
            self.table.setColumnWidth(col, width)

        top = QWidget(self)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addLayout(head, 1)
        top_layout.addWidget(self.missed)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.setObjectName("debriefSplitter")
        split.addWidget(top)
        split.addWidget(self.table)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)
        layout.addWidget(split, 1)

        self.status = QLabel("", self)
        self.status.setObjectName("debriefStatus")
        self.status.setAccessibleName("Debrief status")
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        self.refresh_button = QPushButton("&Refresh", self)
        self.refresh_button.setObjectName("debriefRefresh")
        self.refresh_button.setAccessibleName("Compute the debrief again")
        self.refresh_button.setShortcut("F5")
        self.refresh_button.setToolTip("Compute the debrief again (F5)")
        self.refresh_button.clicked.connect(self.refresh)
        self.export_button = QPushButton("&Export CSV…", self)
        self.export_button.setObjectName("debriefExport")
        self.export_button.setAccessibleName("Export the debrief to a CSV file")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.choose_export_file)
        close = QPushButton("&Close", self)
        close.setObjectName("debriefClose")
        close.setAccessibleName("Close the debrief")
        close.setShortcut("Esc")
        close.clicked.connect(self.close)
        for button in (self.refresh_button, self.export_button, close):
            buttons.addWidget(button)
        layout.addLayout(buttons)

    # -- computing ---------------------------------------------------------------------------
    def refresh(self) -> None:
        if self.busy:
            return
        self.busy = True
        self.refresh_button.setEnabled(False)
        self.status.setText("Computing the debrief…")
        self.worker.submit(
            partial(compute_debrief, scenario=self.scenario, since=self.since()),
            self._on_debrief,
            self._on_failed,
        )

    def _on_debrief(self, debrief: Debrief) -> None:
        self.busy = False
        self.refresh_button.setEnabled(True)
        self.debrief = debrief
        lines = figures(debrief)
        for label, value in lines:
            self.figure_labels[label].setText(value)
        description = "; ".join(f"{label}: {value}" for label, value in lines)
        self.setAccessibleDescription(description)
        self.chart.set_rows(debrief.rows, description)
        self.model.set_rows(debrief.rows)
        self.missed.setText(_missed_text(debrief))
        self.export_button.setEnabled(True)
        self.status.setText(f"Reports since {_clock(debrief.since)}.")

    def _on_failed(self, exc: BaseException) -> None:
        self.busy = False
        self.refresh_button.setEnabled(True)
        text = (
            f"The debrief could not be computed: {str(exc).splitlines()[0] if str(exc) else exc!r}"
        )
        self.errors.append(text)
        self.status.setText(text)

    # -- export ------------------------------------------------------------------------------
    def choose_export_file(self) -> None:
        if self.debrief is None:
            return
        dialog = QFileDialog(self, "Export the debrief", "", "CSV files (*.csv)")
        dialog.setObjectName("debriefExportDialog")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("csv")
        dialog.selectFile(f"debrief-{self.scenario.key}.csv")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda name: self.export_to(Path(name)))
        dialog.open()

    def export_to(self, path: Path) -> None:
        """Write the shown debrief to ``path`` on the worker thread."""
        debrief = self.debrief
        if debrief is None:
            return
        self.export_button.setEnabled(False)
        self.status.setText(f"Writing {path.name}…")

        def write(_session: Any) -> int:
            return write_debrief_csv(debrief, path)

        self.worker.submit(write, partial(self._on_exported, path), self._on_export_failed)

    def _on_exported(self, path: Path, lines: int) -> None:
        self.export_button.setEnabled(True)
        self.exported.append((path, lines))
        self.status.setText(f"Exported {lines:,} line{'s' if lines != 1 else ''} to {path}.")

    def _on_export_failed(self, exc: BaseException) -> None:
        self.export_button.setEnabled(True)
        text = f"The CSV could not be written: {exc}"
        self.errors.append(text)
        self.status.setText(text)


def _missed_text(debrief: Debrief) -> str:
    missed = debrief.missed_opt_outs
    if not missed:
        return "Opt-outs missed: none."
    lines = [f"{_phone(m.phone)}: “{' '.join(m.body.split())[:60]}”" for m in missed[:MISSED_SHOWN]]
    more = f" … and {len(missed) - MISSED_SHOWN} more" if len(missed) > MISSED_SHOWN else ""
    return "Opt-outs missed (no opt-out recorded): " + "; ".join(lines) + more


_EMPTY = Debrief(
    since=datetime.min,
    rows=(),
    missed_opt_outs=(),
    median_seconds=None,
    worst_seconds=None,
    linked=0,
    wrong_account=0,
    never_handled=0,
)
