"""PySide6 6.12.0 on Python 3.11 frees ``None`` after a few thousand void calls (such as
``beginInsertRows``) and aborts the process. The dependency marker keeps it out; these tests
prove both the marker and the model's survival of 20,000 one-row inserts."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import PySide6

SCRIPT = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime

    from PySide6.QtWidgets import QApplication

    from outagedesk.store.feed import FeedRow
    from outagedesk.ui.feed_model import FeedModel, format_row

    app = QApplication([])
    model = FeedModel(max_rows=30_000)
    now = datetime.now(UTC)
    template = FeedRow(0, 0, now, now, "+15055550123", "outage", "OUT", False, 1, "queued",
                       None, None, None, None, "Normal", None)
    for i in range(1, 20_001):
        row = format_row(template._replace(key=i, source_id=i), 0)
        model.insert_at_top([row])          # one beginInsertRows/endInsertRows per call
        model.dataChanged.emit(model.index(0, 0), model.index(0, 7))
    assert model.rowCount() == 20_000, model.rowCount()
    assert model.key_at(0) == 20_000
    print("inserted", 20_000, "rows", flush=True)
    sys.exit(0)
    """
)


def test_twenty_thousand_single_row_inserts_do_not_abort() -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, (done.returncode, done.stdout[-2000:], done.stderr[-4000:])
    assert "inserted 20000 rows" in done.stdout


def test_installed_pyside6_is_not_the_aborting_release() -> None:
    version = tuple(int(p) for p in PySide6.__version__.split(".")[:3])
    if sys.version_info < (3, 12):
        assert version != (6, 12, 0), "PySide6 6.12.0 aborts on Python 3.11: see pyproject.toml"
