"""The scenario chooser shown by ``outagedesk --training`` when no ``--scenario`` was given.

The shipped scenarios are read off the GUI thread (``scenario_summaries``) before the dialog
opens; "Open file…" uses a non-modal file dialog, so nothing here runs a nested event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from outagedesk.training.scenario import ScenarioError, load_scenario, shipped_scenarios
from outagedesk.ui.training_controls import format_clock


@dataclass(frozen=True)
class ScenarioSummary:
    path: Path
    title: str
    description: str
    texts: int
    duration: float
    problem: str | None = None


def summarise(path: Path) -> ScenarioSummary:
    try:
        scenario = load_scenario(path)
    except ScenarioError as exc:
        return ScenarioSummary(path, path.stem, "", 0, 0.0, str(exc))
    return ScenarioSummary(
        path, scenario.title, scenario.description, len(scenario.messages), scenario.duration
    )


def scenario_summaries() -> list[ScenarioSummary]:
    """Every shipped scenario with its title and description (blocks: run it off the GUI)."""
    return [summarise(path) for path in shipped_scenarios()]


class ScenarioChooser(QDialog):
    """Pick a shipped scenario or open a scenario file; ``chosen`` is the file to train on."""

    def __init__(self, summaries: list[ScenarioSummary], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("scenarioChooser")
        self.setWindowTitle("OutageDesk — TRAINING: choose a scenario")
        self.setAccessibleName("Choose a training scenario")
        self.chosen: Path | None = None
        self.summaries = summaries
        self.resize(640, 460)

        layout = QVBoxLayout(self)
        intro = QLabel(
            "Training runs on the built-in simulator and a training database of its own: "
            "nothing reaches customers or the OMS.",
            self,
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.list = QListWidget(self)
        self.list.setObjectName("scenarioList")
        self.list.setAccessibleName("Shipped scenarios")
        self.list.setWordWrap(True)
        self.list.setAlternatingRowColors(True)
        self.list.setSpacing(3)
        for summary in summaries:
            if summary.problem:
                text = f"{summary.title}\n{summary.problem}"
            else:
                text = (
                    f"{summary.title}  ·  {summary.texts:,} texts over "
                    f"{format_clock(summary.duration)}\n{summary.description}"
                )
            item = QListWidgetItem(text, self.list)
            item.setData(Qt.ItemDataRole.UserRole, str(summary.path))
            item.setToolTip(summary.problem or summary.description)
            if summary.problem:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
        self.list.itemDoubleClicked.connect(lambda _item: self._start())
        layout.addWidget(self.list, 1)

        buttons = QDialogButtonBox(self)
        self.start_button = buttons.addButton(
            "&Start training", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.start_button.setObjectName("scenarioStart")
        self.start_button.setAccessibleName("Start training on the selected scenario")
        self.open_button = QPushButton("&Open file…", self)
        self.open_button.setObjectName("scenarioOpenFile")
        self.open_button.setAccessibleName("Open a scenario file")
        buttons.addButton(self.open_button, QDialogButtonBox.ButtonRole.ActionRole)
        cancel = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.setAccessibleName("Cancel: do not start training")
        # The box's accepted signal stays unconnected: the click handler knows which file.
        self.start_button.clicked.connect(self._start)
        self.open_button.clicked.connect(self.open_file)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

        first = next(
            (
                i
                for i in range(self.list.count())
                if self.list.item(i).flags() & Qt.ItemFlag.ItemIsEnabled
            ),
            None,
        )
        if first is not None:
            self.list.setCurrentRow(first)
        self.start_button.setEnabled(first is not None)
        self.list.setFocus()

    def choose(self, path: Path) -> None:
        self.chosen = path
        self.accept()

    def _start(self) -> None:
        item = self.list.currentItem()
        if item is None or not item.flags() & Qt.ItemFlag.ItemIsEnabled:
            return
        self.choose(Path(item.data(Qt.ItemDataRole.UserRole)))

    def open_file(self) -> None:
        dialog = QFileDialog(self, "Open a training scenario", "", "Scenarios (*.toml)")
        dialog.setObjectName("scenarioFileDialog")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda name: self.choose(Path(name)))
        dialog.open()
