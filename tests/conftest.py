"""Shared fixtures: a fresh database per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher, profiles

from outagedesk.ops import people

from dbsupport import DbUnderTest, postgres_db, sqlite_db_at


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at full cost takes a fifth of a second per hash here; tests hash hundreds."""
    monkeypatch.setattr(people, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DbUnderTest]:
    """The same test on SQLite and on PostgreSQL, so nothing SQLite-only creeps in."""
    if request.param == "sqlite":
        yield from sqlite_db_at(tmp_path)
    else:
        yield from postgres_db()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[DbUnderTest]:
    yield from sqlite_db_at(tmp_path)
