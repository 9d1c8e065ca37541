"""The feed model on its own: SQL paging, the live head, trimming, changes in place."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import insert, select, update

from outagedesk.store.feed import FeedFilter, FeedQuery
from outagedesk.store.models import InboundMessage, Report
from outagedesk.ui.feed_model import C_STATE, C_TEXT, FeedModel, format_row
from outagedesk.ui.worker import DbWorker

from dbsupport import DbUnderTest

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
WAIT = 10_000


class Feeder:
    def __init__(self, db: DbUnderTest) -> None:
        self.db = db
        self.n = 0

    def add(self, count: int, state: str = "forwarded") -> list[int]:
        start = self.n
        self.n += count
        messages = [
            {
                "gateway_message_id": f"m-{i}",
                "phone": f"+1505555{i % 10000:04d}",
                "to": "85700",
                "body": f"OUT number {i}",
                "received_at": T0 + timedelta(seconds=i),
                "stored_at": T0 + timedelta(seconds=i),
                "kind": "outage",
                "keyword": "OUT",
                "remarks": "",
                "revocation_suspected": False,
                "tags": [],
                "raw": {"id": f"m-{i}"},
            }
            for i in range(start, self.n)
        ]
        with self.db.engine.begin() as conn:
            conn.execute(insert(InboundMessage), messages)
            ids = list(
                conn.scalars(
                    select(InboundMessage.id)
                    .where(InboundMessage.id > 0)
                    .order_by(InboundMessage.id.desc())
                    .limit(count)
                )
            )[::-1]
            conn.execute(
                insert(Report),
                [
                    {
                        "report_id": f"r-{mid}",
                        "message_id": mid,
                        "phone": "+15055550000",
                        "received_at": T0,
                        "state": state,
                        "resolved_level": "Unresolved",
                        "priority": "Normal",
                        "ticket_id": f"T-{mid}",
                        "revision": 1,
                        "remarks": "",
                        "updated_at": T0,
                    }
                    for mid in ids
                ],
            )
        return ids

    def set_state(self, message_id: int, state: str) -> int:
        with self.db.engine.begin() as conn:
            conn.execute(update(Report).where(Report.message_id == message_id).values(state=state))
            pk = conn.scalar(select(Report.id).where(Report.message_id == message_id))
            assert pk is not None
            return int(pk)


@pytest.fixture
def worker(sqlite_db: DbUnderTest) -> Iterator[DbWorker]:
    w = DbWorker(sqlite_db.engine)
    yield w
    w.shutdown()
    w.deleteLater()


def keys(model: FeedModel) -> list[int]:
    return [model.key_at(i) or 0 for i in range(model.rowCount())]


def fetch_all(qtbot: QtBot, model: FeedModel) -> None:
    root = model.index(0, 0).parent()
    while model.has_more:
        model.fetchMore(root)
        qtbot.waitUntil(lambda: not model.busy, timeout=WAIT)


def test_model_tester_pages_through_everything(
    qtbot: QtBot, qtmodeltester, sqlite_db: DbUnderTest, worker: DbWorker
) -> None:
    feeder = Feeder(sqlite_db)
    first = feeder.add(120)
    model = FeedModel(worker, page_size=20)
    qtmodeltester.check(model)
    with qtbot.waitSignal(model.loaded, timeout=WAIT):
        model.set_query(FeedQuery())
    # The C++ tester calls fetchMore after every change, so it pulls every page in turn.
    qtbot.waitUntil(lambda: not model.has_more and not model.busy, timeout=WAIT)
    assert keys(model) == first[::-1]
    newer = feeder.add(7)
    with qtbot.waitSignal(model.headInserted, timeout=WAIT):
        model.notify_new()
    assert keys(model) == (first + newer)[::-1]


def test_pages_head_and_trim_keep_every_row_once(
    qtbot: QtBot, sqlite_db: DbUnderTest, worker: DbWorker
) -> None:
    feeder = Feeder(sqlite_db)
    first = feeder.add(200)
    model = FeedModel(worker, page_size=20, max_rows=50, head_limit=100)
    with qtbot.waitSignal(model.loaded, timeout=WAIT):
        model.set_query(FeedQuery())
    assert keys(model) == first[::-1][:20]
    assert model.canFetchMore(model.index(0, 0).parent())

    newer = feeder.add(45)
    with qtbot.waitSignal(model.headInserted, timeout=WAIT) as inserted:
        model.notify_new()
    assert inserted.args == [45]
    assert model.rowCount() == 50, "trimmed to max_rows"
    assert keys(model)[:45] == newer[::-1]

    fetch_all(qtbot, model)
    assert keys(model) == (first + newer)[::-1], "no gap and no duplicate after trimming"

    # More rows than head_limit at once: the model reloads from the top.
    feeder.add(150)
    with qtbot.waitSignal(model.loaded, timeout=WAIT):
        model.notify_new()
    assert model.rowCount() == 20


def test_reports_changed_update_rows_and_enter_filtered_views(
    qtbot: QtBot, qtmodeltester, sqlite_db: DbUnderTest, worker: DbWorker
) -> None:
    feeder = Feeder(sqlite_db)
    ids = feeder.add(30, state="queued")
    all_model = FeedModel(worker)
    needs_model = FeedModel(worker)
    qtmodeltester.check(needs_model)
    with qtbot.waitSignal(all_model.loaded, timeout=WAIT):
        all_model.set_query(FeedQuery())
    with qtbot.waitSignal(needs_model.loaded, timeout=WAIT):
        needs_model.set_query(FeedQuery(FeedFilter.NEEDS_LINKING))
    assert needs_model.rowCount() == 0

    changed = [feeder.set_state(ids[i], "unlinked") for i in (3, 17, 9)]
    with qtbot.waitSignal(all_model.rowsUpdated, timeout=WAIT) as updated:
        all_model.notify_changed(changed)
    assert updated.args[0] == {ids[3], ids[17], ids[9]}
    row = all_model.row_of(ids[17])
    assert row is not None
    assert all_model.row_tuple(row)[C_STATE].startswith("UNLINKED")

    needs_model.notify_changed(changed)
    qtbot.waitUntil(lambda: needs_model.rowCount() == 3, timeout=WAIT)
    assert keys(needs_model) == [ids[17], ids[9], ids[3]], "in feed order"


def test_search_is_a_fresh_query(qtbot: QtBot, sqlite_db: DbUnderTest, worker: DbWorker) -> None:
    feeder = Feeder(sqlite_db)
    feeder.add(300)
    model = FeedModel(worker, page_size=50)
    with qtbot.waitSignal(model.loaded, timeout=WAIT):
        model.set_query(FeedQuery(search="number 123"))
    assert [model.row_tuple(i)[C_TEXT] for i in range(model.rowCount())] == ["OUT number 123"]
    assert not model.has_more


def test_rows_are_compact_preformatted_tuples(sqlite_db: DbUnderTest) -> None:
    from outagedesk.store import feed

    feeder = Feeder(sqlite_db)
    feeder.add(1)
    with sqlite_db.sessions() as s:
        row = feed.feed_page(s, FeedQuery()).rows[0]
    formatted = format_row(row, 0)
    assert isinstance(formatted, tuple)
    assert all(isinstance(v, str) for v in formatted[:8])
    assert formatted[C_STATE] == f"Forwarded · T-{row.key}"
