"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from outagedesk.store.db import (
    current_revision,
    head_revision,
    include_object,
    make_engine,
    migrate,
)
from outagedesk.store.models import Base

from dbsupport import DbUnderTest


def test_migrated_schema_matches_the_models(db: DbUnderTest) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_object})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
    assert current_revision(db.engine) == head_revision(db.engine)


def test_migrating_twice_changes_nothing(sqlite_db: DbUnderTest) -> None:
    assert migrate(sqlite_db.engine) is None


def test_sqlite_settings_for_durability(sqlite_db: DbUnderTest) -> None:
    with sqlite_db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL


def test_a_failed_upgrade_leaves_a_backup_with_the_data(tmp_path: Path) -> None:
    path = tmp_path / "desk.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO gateway_cursors (gateway, cursor, updated_at) "
                "VALUES ('gw', 'c-42', '2026-11-24 10:00:00')"
            )
        )
        # A database from a release whose migrations this one does not know.
        conn.execute(text("UPDATE alembic_version SET version_num = 'from-the-future'"))
    with pytest.raises(Exception, match="from-the-future"):
        migrate(engine)
    engine.dispose()
    backups = list(tmp_path.glob("desk.db.*.bak"))
    assert len(backups) == 1
    backup = sqlite3.connect(backups[0])
    try:
        assert backup.execute("SELECT cursor FROM gateway_cursors").fetchone() == ("c-42",)
    finally:
        backup.close()
