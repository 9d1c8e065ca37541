"""Databases for tests: a fresh migrated one per test, on SQLite or PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from outagedesk.store.db import make_engine, migrate, session_factory

PG_URL = os.environ.get(
    "OUTAGEDESK_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_unreachable() -> str | None:
    """The reason PostgreSQL tests cannot run here, or None when the server answers."""
    probe = create_engine(PG_URL, connect_args={"connect_timeout": 3})
    try:
        with probe.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "skip with the reason"
        return f"no PostgreSQL server reachable at {PG_URL}: {str(exc).splitlines()[0]}"
    finally:
        probe.dispose()
    return None


_PG_SKIP: list[str | None] = []


def postgres_skip_reason() -> str | None:
    if not _PG_SKIP:
        _PG_SKIP.append(_postgres_unreachable())
    return _PG_SKIP[0]


class DbUnderTest:
    """A migrated, empty database that the test owns."""

    def __init__(self, engine: Engine, url: str, backend: str) -> None:
        self.engine = engine
        self.url = url
        self.backend = backend
        self.sessions: sessionmaker[Session] = session_factory(engine)


def sqlite_db_at(tmp_path: Path) -> Iterator[DbUnderTest]:
    url = f"sqlite:///{tmp_path / 'outagedesk.db'}"
    engine = make_engine(url)
    migrate(engine)
    yield DbUnderTest(engine, url, "sqlite")
    engine.dispose()


def postgres_db() -> Iterator[DbUnderTest]:
    reason = postgres_skip_reason()
    if reason:
        pytest.skip(reason)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    # The schema name travels in the URL so that a separate process (the crash test's engine)
    # lands in the same isolated schema.
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    migrate(engine)
    try:
        yield DbUnderTest(engine, url, "postgres")
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
