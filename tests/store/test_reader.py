"""Reads from the window never wait behind a long write (an import) on SQLite."""

from __future__ import annotations

from sqlalchemy import func, select, text

from outagedesk.store.db import make_reader_engine
from outagedesk.store.models import ServiceLocation

from dbsupport import DbUnderTest


def test_a_reader_does_not_wait_for_a_writer_holding_the_lock(sqlite_db: DbUnderTest) -> None:
    reader, owned = make_reader_engine(sqlite_db.engine)
    assert owned
    try:
        with sqlite_db.engine.connect() as writer:
            writer.execute(
                text("INSERT INTO service_locations (service_location_id, account_number, "
                     "customer_name, service_address, life_support, updated_at) "
                     "VALUES ('SL-1', '1', '', '', 0, '2026-11-24 10:00:00')")
            )  # fmt: skip
            # The writer's transaction is open (BEGIN IMMEDIATE): the reader sees the last
            # committed state at once instead of timing out.
            with reader.connect() as conn:
                seen = conn.scalar(select(func.count()).select_from(ServiceLocation))
                assert conn.execute(text("PRAGMA query_only")).scalar() == 1
            writer.rollback()
        assert seen == 0
    finally:
        reader.dispose()


def test_other_backends_share_the_engine(db: DbUnderTest) -> None:
    reader, owned = make_reader_engine(db.engine)
    if db.backend == "postgres":
        assert (reader, owned) == (db.engine, False)
    else:
        reader.dispose()
        assert owned
