"""The feed's table view: a large repaint is done in strips, so the GUI thread never stalls."""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QRect, Qt, QTimer
from PySide6.QtGui import QPainter, QPaintEvent, QRegion
from PySide6.QtWidgets import QTableView, QWidget


class FeedView(QTableView):
    """During a storm each batch of new texts shifts every visible row, so the whole viewport
    is repainted: 35 rows of fresh text took 30-50 ms of CPU on a slow host, and as long
    again waiting for a core beside the engine. Painting it as strips of ``STRIP_ROWS`` rows,
    one per turn of the event loop, lets keys, clicks and timers in between: the rows appear
    top to bottom within a few frames, and no single paint holds the thread for long.

    The viewport is opaque, so the part left for the next turn keeps showing the rows it
    showed until it is painted (never a blank band)."""

    STRIP_ROWS = 5

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewport().setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self._deferred = QRegion()
        self._split = False
        self._flush = QTimer(self, singleShot=True, interval=0)
        self._flush.timeout.connect(self._paint_deferred)

    def setModel(self, model: QAbstractItemModel | None) -> None:
        old = self.model()
        if old is not None:
            old.rowsInserted.disconnect(self._rows_inserted)
            old.dataChanged.disconnect(self._data_changed)
        super().setModel(model)
        if model is not None:
            model.rowsInserted.connect(self._rows_inserted)
            model.dataChanged.connect(self._data_changed)

    # Only the repaint that follows rows arriving or changing in bulk is split: any other
    # (an expose, a resize, a grab() of the window for a screenshot) is done whole.
    def _rows_inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        if last - first + 1 >= self.STRIP_ROWS:
            self._split = True

    def _data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex) -> None:
        if bottom_right.row() - top_left.row() + 1 >= self.STRIP_ROWS:
            self._split = True

    def paintEvent(self, event: QPaintEvent) -> None:
        region = event.region()
        bounds = region.boundingRect()
        strip_height = self.STRIP_ROWS * max(1, self.verticalHeader().defaultSectionSize())
        if self._split and bounds.height() > strip_height + strip_height // 2:
            strip = QRect(bounds.x(), bounds.y(), bounds.width(), strip_height)
            self._deferred = self._deferred.united(region.subtracted(QRegion(strip)))
            self._flush.start()
            region = region.intersected(QRegion(strip))
            event = QPaintEvent(region)
        elif self._deferred.isEmpty():
            self._split = False
        viewport = self.viewport()
        # What the background fill would have done: cells paint only where rows are.
        painter = QPainter(viewport)
        painter.setClipRegion(region)
        painter.fillRect(region.boundingRect(), viewport.palette().brush(viewport.backgroundRole()))
        painter.end()
        super().paintEvent(event)

    def _paint_deferred(self) -> None:
        region, self._deferred = self._deferred, QRegion()
        self.viewport().update(region)
