"""Engine set-up for SQLite (one desk) and PostgreSQL (a control room), and migrations."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the desk read while the engine (another process) writes; FULL sync makes every
    # acknowledged commit survive a power cut; foreign keys are off by default in SQLite. The
    # busy timeout queues the window's writes (links, re-sends) behind the engine's and back.
    # A first directory import may hold the database in rollback-journal mode (see
    # outagedesk.directory._rollback_journal); it puts WAL back itself when it ends.
    try:
        cur.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError:
        log.info("the database is being imported into; it returns to WAL mode afterwards")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine with the per-backend settings the app relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own BEGIN handling defers locks and breaks SAVEPOINTs: take it over.
        event.listen(engine, "connect", _sqlite_autocommit_off)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _sqlite_autocommit_off(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    dbapi_conn.isolation_level = None


def _sqlite_begin_immediate(conn: Any) -> None:
    # IMMEDIATE takes the write lock up front, so two writers queue instead of one failing
    # with "database is locked" half-way through a transaction.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_reader_engine(engine: Engine) -> tuple[Engine, bool]:
    """An engine for reads beside ``engine``; True when the caller must dispose it.

    SQLite writers here begin IMMEDIATE; a window or dialog reading through them would queue
    behind a long import. Readers begin deferred and are query-only: in WAL mode they neither
    block the writer nor wait for it. Other backends need nothing special.
    """
    if engine.url.get_backend_name() != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return engine, False
    reader = create_engine(engine.url)
    event.listen(reader, "connect", _sqlite_reader_pragmas)
    event.listen(reader, "begin", _sqlite_begin_deferred)
    return reader, True


def _sqlite_reader_pragmas(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA query_only=ON")
    cur.close()


def _sqlite_begin_deferred(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def migrate(engine: Engine) -> Path | None:
    """Bring the schema to the newest revision; returns the SQLite backup made, if any.

    An SQLite file that already holds data is copied aside first, so a failed upgrade never
    costs data.
    """
    current = current_revision(engine)
    if current == head_revision(engine):
        return None
    backup: Path | None = None
    db_path = engine.url.database
    on_file = engine.url.get_backend_name() == "sqlite" and db_path not in (None, "", ":memory:")
    if current is not None and on_file and db_path:
        source = Path(db_path)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        backup = source.with_name(f"{source.name}.{stamp}.bak")
        with sqlite3.connect(source) as src, sqlite3.connect(backup) as dst:
            src.backup(dst)
        log.info("backed up the database to %s before migrating", backup)
    command.upgrade(alembic_config(engine), "head")
    return backup


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object | None
) -> bool:
    """Leave out of schema comparisons what migrations 0002, 0004, 0007 and 0009 build
    outside the models: the SQLite full-text table (and its shadow tables), the
    case-insensitive, full-text and byte-order indexes, and PostgreSQL's account index of the
    phone links and exact meter index, which SQLAlchemy models cannot describe on both
    backends."""
    if not reflected or compare_to is not None or not name:
        return True
    if type_ == "table" and name.startswith("service_locations_fts"):
        return False
    if type_ == "index" and name.startswith("ix_phone_links_") and name.endswith("_bytes"):
        return False  # migration 0004's byte-order prefix indexes
    if type_ == "index" and name in ("ix_phone_links_account", "ix_service_locations_meter_id"):
        return False  # PostgreSQL only (migrations 0007 and 0009)
    return not (
        type_ == "index"
        and name.startswith("ix_service_locations_")
        and (name.endswith("_ci") or name == "ix_service_locations_fts")
    )
