"""Training widgets on their own: the clock field, the OMS line, the chooser, the debrief chart."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from sqlalchemy import create_engine

from outagedesk.training.debrief import Debrief, DebriefRow, MissedOptOut
from outagedesk.training.scenario import Scenario, shipped_scenarios
from outagedesk.ui import theme
from outagedesk.ui.debrief_window import (
    LINKED_COLOUR,
    NEVER_COLOUR,
    WRONG_COLOUR,
    DebriefWindow,
    duration_text,
)
from outagedesk.ui.training_chooser import ScenarioChooser, ScenarioSummary, summarise
from outagedesk.ui.training_controls import ReplayControls, format_clock, oms_summary, parse_clock
from outagedesk.ui.worker import DbWorker

T0 = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)


def test_clock_format_and_parse() -> None:
    assert format_clock(0) == "00:00"
    assert format_clock(750.9) == "12:30"
    assert format_clock(2700) == "45:00"
    assert format_clock(3723) == "1:02:03"
    assert format_clock(-5) == "00:00"
    assert parse_clock("12:30") == 750
    assert parse_clock(" 0:05 ") == 5
    assert parse_clock("1:02:03") == 3723
    assert parse_clock("12") == 720, "a bare number is minutes"
    for bad in ("", "abc", "12:60", "1:60:00", "-1:00", "1:2:3:4", "12.5"):
        assert parse_clock(bad) is None, bad


def test_oms_line_reads_the_scenario_outages() -> None:
    outages = ((1500.0, 2100.0), (3000.0, 3100.0))
    assert oms_summary(0, ()) == "OMS up in scenario"
    assert oms_summary(100, outages) == "OMS up · goes down at 25:00 until 35:00"
    assert oms_summary(1500, outages) == "OMS down in scenario until 35:00"
    assert oms_summary(2100, outages) == "OMS up · goes down at 50:00 until 51:40"
    assert oms_summary(3200, outages) == "OMS up in scenario"


def test_replay_controls_emit_what_the_trainer_asks(qtbot: QtBot) -> None:
    controls = ReplayControls(((60.0, 120.0),))
    qtbot.addWidget(controls)
    controls.show()
    with qtbot.waitSignal(controls.speedChosen) as chosen:
        controls.step_speed(1)
    assert chosen.args == [2.0]
    controls.speed.setCurrentIndex(controls.speed.count() - 1)
    with qtbot.assertNotEmitted(controls.speedChosen):
        controls.step_speed(1)  # already the fastest
    with qtbot.waitSignal(controls.seekRequested) as sought:
        controls.jump_field.setText("0:45")
        qtbot.mouseClick(controls.jump_button, Qt.MouseButton.LeftButton)
    assert sought.args == [45.0]
    with qtbot.assertNotEmitted(controls.seekRequested):
        controls.jump_field.setText("later")
        qtbot.keyClick(controls.jump_field, Qt.Key.Key_Return)
    assert "mm:ss" in controls.jump_field.toolTip()
    with qtbot.waitSignal(controls.restartRequested):
        qtbot.mouseClick(controls.restart_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(controls.playToggled):
        qtbot.mouseClick(controls.play_button, Qt.MouseButton.LeftButton)


def test_chooser_lists_the_shipped_scenarios_and_returns_the_pick(
    qtbot: QtBot, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('title = "Broken"\n[[messages]]\nat = "soon"\n', encoding="utf-8")
    summaries = [summarise(p) for p in shipped_scenarios()] + [summarise(broken)]
    assert summaries[-1].problem, "a bad file is listed with its problem"
    chooser = ScenarioChooser(summaries)
    qtbot.addWidget(chooser)
    chooser.open()
    assert chooser.list.count() == len(shipped_scenarios()) + 1
    first = chooser.list.item(0).text()
    assert "Afternoon thunderstorm" in first
    assert "texts over 45:00" in first
    assert summaries[0].description.split()[0] in first, "the description is shown"
    last = chooser.list.item(chooser.list.count() - 1)
    assert not last.flags() & Qt.ItemFlag.ItemIsEnabled
    chooser.list.setCurrentRow(2)
    with qtbot.waitSignal(chooser.finished):
        qtbot.mouseClick(chooser.start_button, Qt.MouseButton.LeftButton)
    assert chooser.chosen == shipped_scenarios()[2]
    assert chooser.result() == ScenarioChooser.DialogCode.Accepted

    empty = ScenarioChooser([ScenarioSummary(broken, "broken", "", 0, 0.0, "bad")])
    qtbot.addWidget(empty)
    assert not empty.start_button.isEnabled()
    empty.choose(broken)  # what "Open file…" does with the file picked
    assert empty.chosen == broken


def _row(i: int, outcome: str, seconds: float | None) -> DebriefRow:
    received = T0 + timedelta(minutes=i)
    return DebriefRow(
        report_id=f"R-{i}",
        phone=f"+1208555016{i}",
        received_at=received,
        linked_at=received + timedelta(seconds=seconds) if seconds is not None else None,
        seconds_to_link=seconds,
        linked_account="8101" if seconds is not None else None,
        expected_account="8101" if outcome != "wrong_account" else "8102",
        outcome=outcome,  # type: ignore[arg-type]
    )


SCRIPTED = Debrief(
    since=T0,
    rows=(
        _row(1, "linked", 30.0),
        _row(2, "wrong_account", 90.0),
        _row(3, "linked", 240.0),
        _row(4, "never_handled", None),
    ),
    missed_opt_outs=(MissedOptOut("+15055550132", "please stop texting me", 5.0),),
    median_seconds=90.0,
    worst_seconds=240.0,
    linked=2,
    wrong_account=1,
    never_handled=1,
)


@pytest.fixture
def debrief_window(qtbot: QtBot, tmp_path: Path) -> Iterator[DebriefWindow]:
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    worker = DbWorker(engine)
    scenario = Scenario("scripted", "Scripted", "", 60.0, (), ())
    window = DebriefWindow(worker=worker, scenario=scenario, since=lambda: T0)
    qtbot.addWidget(window)
    yield window
    worker.shutdown()
    engine.dispose()


def test_debrief_window_shows_the_figures_chart_and_table(
    qtbot: QtBot, qtmodeltester, debrief_window: DebriefWindow
) -> None:
    window = debrief_window
    window.resize(900, 600)
    window.show()
    assert not window.export_button.isEnabled(), "nothing to export before the first debrief"
    window._on_debrief(SCRIPTED)
    shown = {k: v.text() for k, v in window.figure_labels.items()}
    assert shown == {
        "Unlinked reports": "4",
        "Linked": "2",
        "Median time to link": "1 min 30 s",
        "Worst time to link": "4 min 00 s",
        "Linked to the wrong account": "1",
        "Never handled": "1",
        "Opt-outs missed": "1",
    }
    description = window.chart.accessibleDescription()
    for label, value in shown.items():
        assert f"{label}: {value}" in description
    assert "(505) 555-0132" in window.missed.text()
    assert window.model.rowCount() == 4
    qtmodeltester.check(window.model)
    outcome = window.model.index(3, 6)
    assert window.model.data(outcome) == "NEVER HANDLED"
    assert window.model.data(outcome, Qt.ItemDataRole.ForegroundRole) is not None
    assert window.model.data(window.model.index(1, 3)) == "1 min 30 s"

    for name in theme.THEMES:
        theme.apply_theme(name)
        QApplication.processEvents()
        image = window.chart.grab().toImage()
        colours = {
            image.pixelColor(x, y).name()
            for x in range(image.width())
            for y in range(image.height())
        }
        for colour in (LINKED_COLOUR, WRONG_COLOUR, NEVER_COLOUR):
            assert QColor(colour).name() in colours, (name, colour)
        # The axis labels take the theme's text colour, so they read on its background.
        text = window.chart.palette().color(window.chart.foregroundRole()).name()
        assert text in colours, name
    theme.apply_theme(theme.LIGHT)


def test_debrief_export_writes_csv_and_reports_failure(
    qtbot: QtBot, debrief_window: DebriefWindow, tmp_path: Path
) -> None:
    window = debrief_window
    window._on_debrief(SCRIPTED)
    out = tmp_path / "debrief.csv"
    window.export_to(out)
    qtbot.waitUntil(lambda: bool(window.exported), timeout=5000)
    [(path, lines)] = window.exported
    assert path == out
    text = out.read_text(encoding="utf-8")
    assert lines == 5, "four reports and one missed opt-out"
    assert "R-4" in text
    assert "+15055550132" in text

    window.export_to(tmp_path / "no-such-folder" / "debrief.csv")
    qtbot.waitUntil(lambda: bool(window.errors), timeout=5000)
    assert "could not be written" in window.errors[0]
    assert window.export_button.isEnabled()


def test_duration_text() -> None:
    assert duration_text(None) == "–"
    assert duration_text(0) == "0 s"
    assert duration_text(59.4) == "59 s"
    assert duration_text(61) == "1 min 01 s"
    assert duration_text(3725) == "1 h 02 min"
