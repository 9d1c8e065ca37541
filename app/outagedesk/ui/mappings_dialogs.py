"""Dialogs of the Mappings screen: where a link moves to; the preview of a corrections file.

Opened with ``open()`` (never ``exec()``); they only choose, the screen acts (on the worker).
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from outagedesk.ops.bulk_links import CorrectionPlan, Outcome
from outagedesk.store.mappings import MappingRow
from outagedesk.ui.directory_picker import DirectoryPicker
from outagedesk.ui.mappings_model import OUTCOME_LABELS, PlanModel, describe_link
from outagedesk.ui.worker import DbWorker


class MoveLinkDialog(QDialog):
    """Pick the account (and location) a link should point at, with directory search."""

    chosen = Signal(str, object)
    """account number, service location ID (None: every location of the account)."""
    resultsShown = Signal()

    def __init__(
        self,
        link: MappingRow,
        *,
        worker: DbWorker,
        verb: str = "Move",
        region: str = "US",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.link = link
        self.worker = worker
        self.verb = verb
        self.setObjectName("mappingsMoveDialog")
        what = describe_link(link, region)
        self.setWindowTitle(f"{verb} link {what}")
        self.setAccessibleName(f"{verb} the link {what}")
        self._build(what)
        self.picker.resultsShown.connect(self.resultsShown)
        self.picker.hitChanged.connect(self._hit_changed)
        self.picker.chosen.connect(self.accept_choice)
        self.ok_button.clicked.connect(self.accept_choice)
        self.cancel_button.clicked.connect(self.reject)
        self.resize(1000, 560)
        # Start from where the link points now: the supervisor usually moves nearby.
        self.search.setText(link.account_number)

    def _build(self, what: str) -> None:
        layout = QVBoxLayout(self)
        head = QLabel(f"<b>{self.verb}</b> {what}", self)
        head.setObjectName("mappingsMoveCurrent")
        head.setAccessibleName(f"Current link: {what}")
        layout.addWidget(head)
        self.picker = DirectoryPicker(
            self.worker,
            prefix="mappingsMove",
            search_name="Search the account directory for the new account",
            search_hint="Account, location ID, meter, name, address or phone…  "
            "(↑/↓ pick, Enter chooses)",
            location_name="Service location the link should point at",
            location_text=lambda hit: f"{hit.service_location_id} · {hit.service_address}",
            all_locations_text=lambda hit: (
                f"All locations of account {hit.account_number} ({hit.account_locations}) "
                "(Address level)"
            ),
            parent=self,
        )
        self.search = self.picker.search
        self.model = self.picker.model
        layout.addWidget(self.picker, 1)

        self.status = QLabel(self)
        self.status.setObjectName("mappingsMoveStatus")
        self.status.setAccessibleName("Move dialog status")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.ok_button = QPushButton(f"&{self.verb} link", self)
        self.ok_button.setObjectName("mappingsMoveOk")
        self.ok_button.setAccessibleName(f"{self.verb} the link to the chosen location")
        self.ok_button.setDefault(True)
        self.ok_button.setEnabled(False)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("mappingsMoveCancel")
        self.cancel_button.setAccessibleName("Cancel: change nothing")
        self.cancel_button.setAutoDefault(False)
        buttons.addWidget(self.ok_button)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)
        self.search.setFocus(Qt.FocusReason.OtherFocusReason)

    def _hit_changed(self) -> None:
        self.ok_button.setEnabled(self.picker.current_hit() is not None)

    def choice(self) -> tuple[str, str | None] | None:
        hit = self.picker.current_hit()
        if hit is None:
            return None
        return hit.account_number, self.picker.chosen_location()

    def accept_choice(self) -> None:
        choice = self.choice()
        if choice is None:
            self.status.setText("⚠ Pick a service location first (type to search, ↑/↓ to pick).")
            return
        account, location = choice
        if (account, location) == (self.link.account_number, self.link.service_location_id):
            self.status.setText("⚠ The link already points there: pick another location.")
            return
        self.chosen.emit(account, location)
        self.accept()


CHANGES = (Outcome.ADDED, Outcome.MOVED, Outcome.REMOVED)


class ImportPreviewDialog(QDialog):
    """What a corrections file would change, before anything is applied.

    "Apply N changes" stays disabled while the file has invalid rows, unless "skip invalid
    rows" is ticked; Cancel applies nothing. The screen applies (``applyRequested``) and
    reports progress here.
    """

    applyRequested = Signal(bool)
    """skip_invalid"""

    def __init__(
        self,
        plan: CorrectionPlan,
        *,
        path: Path,
        region: str = "US",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.plan = plan
        self.region = region
        self.applying = False
        self.setObjectName("mappingsImportPreview")
        self.setWindowTitle(f"Preview of link corrections — {path.name}")
        self.setAccessibleName(f"Preview of the link corrections in {path.name}")
        self._build(path)
        self.resize(1000, 640)
        self._update_buttons()

    def count(self, outcome: Outcome) -> int:
        return self.plan.counts.get(outcome, 0)

    @property
    def changes(self) -> int:
        return sum(self.count(o) for o in CHANGES)

    def _build(self, path: Path) -> None:
        layout = QVBoxLayout(self)
        rows = len(self.plan.rows)
        head = QLabel(
            f"<b>{escape(path.name)}</b>: {rows:,} row{'s' if rows != 1 else ''} read. "
            "Nothing has changed yet.",
            self,
        )
        head.setObjectName("importPreviewHead")
        layout.addWidget(head)
        counts = QHBoxLayout()
        self.count_labels: dict[Outcome, QLabel] = {}
        for outcome in Outcome:
            n = self.count(outcome)
            text = f"{OUTCOME_LABELS[outcome]}: {n:,}"
            label = QLabel(self)
            label.setObjectName(f"importCount_{outcome.value}")
            label.setAccessibleName(text)
            if outcome == Outcome.INVALID and n:
                text = f"⚠ {text}"  # a mark as well as the colour
                label.setStyleSheet("color: #dc2626; font-weight: bold;")
            label.setText(text)
            counts.addWidget(label)
            self.count_labels[outcome] = label
        counts.addStretch(1)
        show = QLabel("S&how:", self)
        self.filter = QComboBox(self)
        self.filter.setObjectName("importRowFilter")
        self.filter.setAccessibleName("Show the rows of one outcome")
        self.filter.addItem("All rows", None)
        for outcome in Outcome:
            self.filter.addItem(f"{OUTCOME_LABELS[outcome]} only", outcome)
        show.setBuddy(self.filter)
        counts.addWidget(show)
        counts.addWidget(self.filter)
        layout.addLayout(counts)

        self.model = PlanModel(self.plan.rows, self)
        self.table = QTableView(self)
        self.table.setObjectName("importPreviewTable")
        self.table.setAccessibleName("Rows of the file and what each would change")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTabKeyNavigation(False)
        vh = self.table.verticalHeader()
        vh.hide()
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(self.table.fontMetrics().height() + 8)
        hh = self.table.horizontalHeader()
        hh.setStretchLastSection(True)
        for col, width in ((0, 60), (1, 110), (2, 140), (3, 120), (4, 130)):
            hh.resizeSection(col, width)
        layout.addWidget(self.table, 1)

        invalid = self.count(Outcome.INVALID)
        self.skip = QCheckBox(
            f"&Skip the {invalid:,} invalid row{'s' if invalid != 1 else ''} and apply the rest",
            self,
        )
        self.skip.setObjectName("importSkipInvalid")
        self.skip.setAccessibleName("Skip invalid rows and apply the rest")
        self.skip.setEnabled(invalid > 0)
        self.skip.setVisible(invalid > 0)
        layout.addWidget(self.skip)

        self.progress = QProgressBar(self)
        self.progress.setObjectName("importProgress")
        self.progress.setAccessibleName("Progress of applying the corrections")
        self.progress.hide()
        layout.addWidget(self.progress)
        self.status = QLabel(self)
        self.status.setObjectName("importStatus")
        self.status.setAccessibleName("Import preview status")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.apply_button = QPushButton(self)
        self.apply_button.setObjectName("importApplyButton")
        self.apply_button.setAutoDefault(False)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("importCancelButton")
        self.cancel_button.setAccessibleName("Cancel: apply nothing")
        self.cancel_button.setDefault(True)
        buttons.addWidget(self.apply_button)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)

        self.filter.currentIndexChanged.connect(
            lambda _i: self.model.show_outcome(self.filter.currentData())
        )
        self.skip.toggled.connect(lambda _c: self._update_buttons())
        self.apply_button.clicked.connect(self.request_apply)
        self.cancel_button.clicked.connect(self.reject)
        if invalid:
            # The rows to fix come first: the dispatcher sees the reasons at once.
            self.filter.setCurrentIndex(self.filter.findData(Outcome.INVALID))

    def _update_buttons(self) -> None:
        n = self.changes
        invalid = self.count(Outcome.INVALID)
        self.apply_button.setText(f"&Apply {n:,} change{'s' if n != 1 else ''}")
        self.apply_button.setAccessibleName(self.apply_button.text().replace("&", ""))
        blocked = invalid > 0 and not self.skip.isChecked()
        self.apply_button.setEnabled(n > 0 and not blocked and not self.applying)
        self.cancel_button.setEnabled(not self.applying)
        self.skip.setEnabled(invalid > 0 and not self.applying)
        if blocked:
            self.status.setText(
                f"⚠ {invalid:,} invalid row{'s' if invalid != 1 else ''} (line numbers and "
                "reasons above): fix the file and import it again, or tick “skip invalid rows”."
            )
        elif n == 0:
            self.status.setText("Nothing to change: every row is already as the file says.")
        else:
            self.status.setText(f"{n:,} change{'s' if n != 1 else ''} ready, in one transaction.")

    def request_apply(self) -> None:
        if self.apply_button.isEnabled():
            self.applyRequested.emit(self.skip.isChecked())

    def set_applying(self, applying: bool) -> None:
        self.applying = applying
        self.progress.setVisible(applying)
        if applying:
            self.progress.setRange(0, 0)
            self.status.setText("Applying…")
        self._update_buttons()

    def show_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.show()

    def reject(self) -> None:
        if not self.applying:  # the transaction is running: it finishes or fails as a whole
            super().reject()
