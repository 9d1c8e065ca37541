"""The feed view paints a flood of new rows in strips, and ends showing exactly what a whole
paint would show."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import QAbstractTableModel, QEvent, QModelIndex, QObject, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from outagedesk.ui.feed_view import FeedView

COLUMNS = 4


class PaintLog(QObject):
    """Heights of the regions the viewport was asked to paint, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.heights: list[int] = []

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.heights.append(event.region().boundingRect().height())  # type: ignore[attr-defined]
        return False


class Rows(QAbstractTableModel):
    """Rows of text; a batch goes in at the top with one insertion, as the feed's model does."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.rows = [self._row("old", n) for n in range(count)]

    @staticmethod
    def _row(prefix: str, n: int) -> list[str]:
        return [f"{prefix} {n}.{c}" for c in range(COLUMNS)]

    def rowCount(self, parent: Any = None) -> int:
        return len(self.rows)

    def columnCount(self, parent: Any = None) -> int:
        return COLUMNS

    def data(self, index: Any, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return self.rows[index.row()][index.column()]
        return None

    def add_batch(self, count: int = 40) -> None:
        self.beginInsertRows(QModelIndex(), 0, count - 1)
        self.rows[:0] = [self._row("new", n) for n in range(count)]
        self.endInsertRows()


def on_screen(view: FeedView) -> QImage:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    return app.primaryScreen().grabWindow(view.winId()).toImage()


@pytest.fixture
def view(qtbot: QtBot) -> Iterator[tuple[FeedView, Rows, PaintLog]]:
    model = Rows(80)
    view = FeedView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.verticalHeader().setDefaultSectionSize(20)
    view.resize(500, 700)
    view.show()
    qtbot.waitExposed(view)
    qtbot.wait(50)
    log = PaintLog()
    view.viewport().installEventFilter(log)
    yield view, model, log
    view.viewport().removeEventFilter(log)


def test_a_batch_arriving_at_the_top_is_painted_in_strips(
    qtbot: QtBot, view: tuple[FeedView, Rows, PaintLog]
) -> None:
    feed, model, log = view
    strip = FeedView.STRIP_ROWS * 20
    model.add_batch()
    qtbot.waitUntil(lambda: len(log.heights) >= 2)
    qtbot.wait(100)
    viewport = feed.viewport().height()
    assert log.heights[0] >= viewport - 1
    # Each later paint is what the one before it left: the viewport less a strip.
    for before, after in zip(log.heights, log.heights[1:], strict=False):
        assert after <= before - strip + 1
    assert len(log.heights) >= viewport // strip - 1
    split = on_screen(feed)
    # The end result is exactly a whole paint's.
    feed.viewport().repaint()
    assert on_screen(feed) == split
    assert feed.model().index(0, 0).data() == "new 0.0"


def test_other_paints_are_whole(qtbot: QtBot, view: tuple[FeedView, Rows, PaintLog]) -> None:
    feed, model, log = view
    model.insertRows(0, 2)  # a quiet night: a text or two at a time
    qtbot.wait(100)
    log.heights.clear()
    feed.viewport().update()
    qtbot.waitUntil(lambda: len(log.heights) >= 1)
    qtbot.wait(100)
    assert log.heights == [feed.viewport().height()]
    # A grab (screenshots, accessibility tools) renders the whole view in one paint, too.
    image = feed.viewport().grab().toImage()
    assert image.size() == feed.viewport().size()
    assert on_screen(feed).copy(feed.viewport().geometry()) == image


def test_rows_not_yet_painted_keep_showing_what_they_showed(
    qtbot: QtBot, view: tuple[FeedView, Rows, PaintLog]
) -> None:
    feed, model, _ = view
    strip = FeedView.STRIP_ROWS * 20
    before = on_screen(feed)
    model.add_batch()
    feed.viewport().repaint()  # the first strip only, now
    first = on_screen(feed)
    top = feed.viewport().geometry().top()
    width = feed.viewport().width()
    assert first.copy(0, top, width, strip) != before.copy(0, top, width, strip)
    # Below the strip: the old rows, not a blank band.
    below = (0, top + strip + 20, width, 200)
    assert first.copy(*below) == before.copy(*below)
