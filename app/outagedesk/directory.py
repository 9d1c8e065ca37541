"""``outagedesk import-accounts FILE.csv``: load the account directory.

The file has one row per service location, with these header names (any case, any order;
extra columns are ignored and named once in the summary)::

    account_number, service_location_id, meter_id, customer_name, service_address,
    phones, life_support

``phones`` holds numbers separated by ``;``; each is normalised to E.164 and becomes a
phone link to the row's account and service location. ``life_support`` is
yes/no/true/false/y/n/1/0 (empty means no). Every header column is required, even those whose
values are optional: a file without a ``life_support`` column would otherwise clear every
life-support flag on re-import.

The whole import is one transaction. A child process reads and validates the file
(:mod:`outagedesk.directory_file`) while the calling thread writes the valid rows in batches
(a few statements per table and batch, so the database works while the next batch is
checked). The first invalid row stops the writing; the rest of the file is still checked, so
every error is reported with its line number, and then the transaction is rolled back:
nothing is applied. With ``skip_bad`` the invalid rows are reported and the others imported.

Re-importing updates, never duplicates: service locations are matched on
``service_location_id`` (a changed row is rewritten with a new ``updated_at``; an unchanged
one is not touched) and a phone link is added only when its (phone, account, location) is
new. An import never removes links, not even when a phone disappears from the directory or a
location moves to another account: removing a link is a supervisor action. A full import
marks the locations it does not list as removed (their links then show as conflicts on the
Mappings screen); ``--partial`` is for a file that lists only some locations.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import sys
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO, TypeVar

from sqlalchemy import Connection, Engine, TextClause, bindparam, text
from sqlalchemy.exc import SQLAlchemyError

from outagedesk.config import Settings, SettingsError
from outagedesk.directory_file import (
    DirectoryFileError as DirectoryFileError,  # raised by import_accounts_csv
)
from outagedesk.directory_file import (
    FileReader,
    JsonBatch,
    Location,
    Packed,
    ReadRequest,
    ValuesBatch,
    packer,
    survey,
)
from outagedesk.directory_file import (
    RowError as RowError,  # in ImportReport.errors
)
from outagedesk.ops.base import Actor, OperationError, Permission, PermissionDenied, require
from outagedesk.runtime import open_database
from outagedesk.store.audit_refs import insert_audit_rows
from outagedesk.store.models import UTCDateTime, utcnow

log = logging.getLogger(__name__)

# Rows per batch: what the reading process hands over at a time, and a progress report.
BATCH_ROWS = 20_000
MAX_SHOWN_ERRORS = 50
# PostgreSQL statistics are refreshed after an import that changed at least this many rows.
ANALYZE_AFTER_ROWS = 10_000
# SQLite page cache for the import connection (KiB): index pages stay in memory.
_SQLITE_CACHE_KIB = 256 * 1024
# SQLite: a file of at least this many rows, and at least four times as many as the table
# holds, is written with the secondary indexes and the full-text insert trigger dropped, then
# built once at the end (sorting a million keys is several times cheaper than inserting them at
# random places). The DDL is part of the import's transaction: a failed import rolls it back.
_DEFER_MIN_ROWS = 50_000
_DEFER_RATIO = 4
# The table's locations counted up to a limit (the rule above needs no more).
_SQLITE_HELD = "SELECT count(*) FROM (SELECT 1 FROM service_locations LIMIT ?)"
# SQLite sorts an index's keys in memory up to the page cache's size, on one thread. While the
# dropped indexes are built, a small cache makes it sort runs of keys on helper threads as the
# table is read, then merge them: the seven builds of a million-location import took 6-19 %
# less time on two cores with 8 MiB, and about a tenth less again with 2 MiB.
_SORT_THREADS = 2
_SORT_CACHE_KIB = 2 * 1024
_FTS_INSERT_TRIGGER = "service_locations_fts_ai"
_LINKS_UNIQUE_INDEX = "uq_phone_link"
# Indexes whose new keys all land at their end (the row ID grows, the rest of the key is the
# same for the whole import): kept, as they cost little more than the table itself.
_APPENDED_INDEXES = (
    "ix_phone_links_created",
    "ix_phone_links_review",
    "ix_phone_links_source",
    "ix_service_locations_removed",
)

_V = TypeVar("_V")


class DirectoryRecord(Protocol):
    """One already-valid directory row (``outagedesk.sim.DirectoryRow`` is one)."""

    @property
    def account_number(self) -> str: ...
    @property
    def service_location_id(self) -> str: ...
    @property
    def meter_id(self) -> str | None: ...
    @property
    def customer_name(self) -> str: ...
    @property
    def service_address(self) -> str: ...
    @property
    def phones(self) -> tuple[str, ...]: ...
    @property
    def life_support(self) -> bool: ...


@dataclass
class ImportReport:
    rows_read: int = 0
    locations_added: int = 0
    locations_updated: int = 0
    links_added: int = 0
    rows_skipped: int = 0
    errors: list[RowError] = field(default_factory=list)
    locations_unchanged: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    locations_removed: int = 0
    """Locations a full import did not list, now marked removed."""

    @property
    def bad_rows(self) -> int:
        """How many rows had at least one error."""
        return len({e.line for e in self.errors})

    def counts(self) -> dict[str, int]:
        return {
            "rows_read": self.rows_read,
            "locations_added": self.locations_added,
            "locations_updated": self.locations_updated,
            "locations_unchanged": self.locations_unchanged,
            "locations_removed": self.locations_removed,
            "links_added": self.links_added,
            "rows_skipped": self.rows_skipped,
        }


class ImportFailed(Exception):
    """Some rows are invalid and ``skip_bad`` was not given: nothing was written."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__(f"{report.bad_rows} invalid rows; nothing was imported")
        self.report = report


# --------------------------------------------------------------------------- writing

# SQLite: a batch is bound as rows of VALUES, about a thousand rows a statement. Binding is a
# quick loop in the driver; the statement then runs (and sorts its rows for the indexes)
# without holding the GIL. Only placeholders are repeated: the statements are otherwise spelled
# out in full. The values are all text (see ValuesBatch): no meter is '', life support '1'/'0'.
_SQLITE_UPSERT = """
INSERT INTO service_locations (service_location_id, account_number, meter_id, customer_name,
                               service_address, life_support, updated_at)
SELECT column1, column2, NULLIF(column3, ''), column4, column5, CAST(column6 AS INTEGER), ?
FROM (VALUES {rows}) WHERE true
ORDER BY column1
ON CONFLICT (service_location_id) DO UPDATE SET
    account_number = excluded.account_number, meter_id = excluded.meter_id,
    customer_name = excluded.customer_name, service_address = excluded.service_address,
    life_support = excluded.life_support, updated_at = excluded.updated_at, removed_at = NULL
WHERE service_locations.removed_at IS NOT NULL
   OR service_locations.account_number IS NOT excluded.account_number
   OR service_locations.meter_id IS NOT excluded.meter_id
   OR service_locations.customer_name IS NOT excluded.customer_name
   OR service_locations.service_address IS NOT excluded.service_address
   OR service_locations.life_support IS NOT excluded.life_support
"""
_SQLITE_UPSERT_ROW = "(?, ?, ?, ?, ?, ?)"
# New locations get row IDs above every existing one (the import holds the write lock), so
# the rows a batch added are counted from the last ID before it.
_SQLITE_ADDED = "SELECT count(*), max(id) FROM service_locations WHERE id > ?"
_SQLITE_LINKS = """
INSERT INTO phone_links (phone, account_number, service_location_id, source, created_by, desk,
                         created_at, reviewed, version)
SELECT column1, column2, column3, ?, ?, ?, ?, ?, 1
FROM (VALUES {rows}) WHERE true
ORDER BY column1
ON CONFLICT (phone, account_number, service_location_id) DO NOTHING
"""
# Into a table that held no links: a file lists each location once and each of its phones
# once, so its links are distinct and none can conflict. The unique index is built at the end.
_SQLITE_NEW_LINKS = """
INSERT INTO phone_links (phone, account_number, service_location_id, source, created_by, desk,
                         created_at, reviewed, version)
SELECT column1, column2, column3, ?, ?, ?, ?, ?, 1
FROM (VALUES {rows})
"""
_SQLITE_LINKS_ROW = "(?, ?, ?)"
_SQLITE_ROWS_PER_STATEMENT = 1024

# PostgreSQL: the same JSON, read with jsonb_array_elements (far cheaper to send than one
# array parameter per column, which psycopg quotes element by element in Python).
_PG_UPSERT = """
INSERT INTO service_locations (service_location_id, account_number, meter_id, customer_name,
                               service_address, life_support, updated_at)
SELECT e->>0, e->>1, e->>2, e->>3, e->>4, CAST(e->>5 AS BOOLEAN), :now
FROM jsonb_array_elements(CAST(:rows AS JSONB)) AS e
ON CONFLICT (service_location_id) DO UPDATE SET
    account_number = excluded.account_number, meter_id = excluded.meter_id,
    customer_name = excluded.customer_name, service_address = excluded.service_address,
    life_support = excluded.life_support, updated_at = excluded.updated_at, removed_at = NULL
WHERE service_locations.removed_at IS NOT NULL
   OR service_locations.account_number IS DISTINCT FROM excluded.account_number
   OR service_locations.meter_id IS DISTINCT FROM excluded.meter_id
   OR service_locations.customer_name IS DISTINCT FROM excluded.customer_name
   OR service_locations.service_address IS DISTINCT FROM excluded.service_address
   OR service_locations.life_support IS DISTINCT FROM excluded.life_support
"""
_PG_KNOWN = """
SELECT count(*) FROM service_locations WHERE service_location_id IN
    (SELECT e->>0 FROM jsonb_array_elements(CAST(:rows AS JSONB)) AS e)
"""
_PG_LINKS = """
INSERT INTO phone_links (phone, account_number, service_location_id, source, created_by, desk,
                         created_at, reviewed, version)
SELECT p, l->>1, l->>0, :source, :actor, :desk, :now, :reviewed, 1
FROM jsonb_array_elements(CAST(:rows AS JSONB)) AS l, jsonb_array_elements_text(l->6) AS p
ORDER BY p
ON CONFLICT (phone, account_number, service_location_id) DO NOTHING
"""


# A full import marks the locations it does not list as removed (and a listed one is no
# longer removed: the upserts above clear the mark). The listed IDs go through a temporary
# table, and only when the table holds more locations than the file listed.
_SQLITE_LISTED = (
    "CREATE TEMP TABLE import_listed (id TEXT PRIMARY KEY)",
    "INSERT OR IGNORE INTO import_listed SELECT value FROM json_each(:ids)",
    "DROP TABLE temp.import_listed",
)
_PG_LISTED = (
    "CREATE TEMP TABLE import_listed (id TEXT PRIMARY KEY) ON COMMIT DROP",
    "INSERT INTO import_listed SELECT jsonb_array_elements_text(CAST(:ids AS JSONB)) "
    "ON CONFLICT DO NOTHING",
    "DROP TABLE import_listed",
)
# What a deferred-index import drops and builds again: the two tables' non-unique indexes but
# the appended ones (the unique ones decide the upserts' conflicts), the full-text insert
# trigger, and the links' unique index when the import starts with no links (see
# _SQLITE_NEW_LINKS).
_SQLITE_DEFERRABLE = """
SELECT type, name, sql FROM sqlite_master
WHERE tbl_name IN ('service_locations', 'phone_links') AND sql IS NOT NULL
  AND ((type = 'index' AND sql NOT LIKE 'CREATE UNIQUE %' AND name NOT IN :appended)
       OR (type = 'index' AND name = :links_unique AND :links_empty)
       OR (type = 'trigger' AND name = :trigger))
ORDER BY type, name
"""
_SQLITE_FTS_FILL = """
INSERT INTO service_locations_fts (rowid, customer_name, service_address)
SELECT id, customer_name, service_address FROM service_locations WHERE id > :after
"""
# FTS5 writes its pending terms out as a new segment whenever they pass "hashsize" (1 MiB by
# default) and keeps merging the segments as they pile up. For the one bulk fill a 64 MiB hash
# writes a few big segments instead: a million locations fill in about a quarter less time, and
# searches are as fast. The setting is stored in the index's own table: the fill puts it back.
_SQLITE_FTS_HASHSIZE = """
INSERT INTO service_locations_fts (service_locations_fts, rank) VALUES ('hashsize', :size)
"""
_SQLITE_FTS_HASHSIZE_NOW = "SELECT v FROM service_locations_fts_config WHERE k = 'hashsize'"
_FTS_BULK_HASHSIZE = 64 * 1024 * 1024
_FTS_DEFAULT_HASHSIZE = 1024 * 1024

_MARK_REMOVED = """
UPDATE service_locations SET removed_at = :now
WHERE removed_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM import_listed WHERE import_listed.id = service_location_id)
"""


def _sql(statement: str) -> TextClause:
    return text(statement).bindparams(bindparam("now", type_=UTCDateTime()))


class _Writer:
    """Upserts batches of valid locations and their phone links on one connection."""

    def __init__(
        self, conn: Connection, report: ImportReport, *, source: str, actor: str, desk: str
    ) -> None:
        self.conn = conn
        self.report = report
        self.source = source
        self.actor = actor[:100]
        self.desk = desk[:100]
        self.now = utcnow()
        self.dialect = conn.dialect.name
        if self.dialect not in ("sqlite", "postgresql"):
            raise NotImplementedError(f"the directory import does not support {self.dialect}")
        self.pg = self.dialect == "postgresql"
        self.pack = packer(self.dialect)
        # PostgreSQL: while the table is empty every row is new: no need to count known ones.
        self.locations_known = self.pg and bool(
            conn.exec_driver_sql("SELECT 1 FROM service_locations LIMIT 1").first()
        )
        self.upsert = _sql(_PG_UPSERT)
        self.known = text(_PG_KNOWN)
        self.links = _sql(_PG_LINKS)
        # SQLite: the highest location ID so far (the rows above it are the batch's new ones),
        # the statements by their number of rows, the links' statement (without conflict
        # handling once defer_indexes() drops the unique index), and the import's time as the
        # driver takes it.
        self.last_id = 0
        if not self.pg:
            self.last_id = int(
                conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM service_locations").scalar()
                or 0
            )
        self.statements: dict[tuple[str, int], str] = {}
        self.links_statement = _SQLITE_LINKS
        process_now = UTCDateTime().dialect_impl(conn.dialect).bind_processor(conn.dialect)
        self.bound_now = self.now if process_now is None else process_now(self.now)
        # (type, name, CREATE statement) of what defer_indexes() dropped
        self.deferred: list[tuple[str, str, str]] = []
        self.fts_after_id = 0
        self.link_constants: dict[str, Any] = {
            "source": source,
            "actor": self.actor,
            "desk": self.desk,
            "now": self.now,
            "reviewed": source == "directory",
        }

    @contextlib.contextmanager
    def tuned(self) -> Iterator[None]:
        """A big SQLite page cache while importing (restored afterwards: pooled connection).

        In rollback-journal mode (see :func:`_rollback_journal`) writing a page out of a
        full cache needs the database to itself; without a busy timeout, when a desk opened
        meanwhile is reading, the cache grows instead of the import waiting for each read.
        The timeout is back for the commit, which waits for the readers as any commit does.
        """
        if self.pg:
            yield
            return
        conn = self.conn
        before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
        conn.exec_driver_sql(f"PRAGMA cache_size = -{_SQLITE_CACHE_KIB}")
        rollback_journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "delete"
        busy_timeout = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
        if rollback_journal:
            conn.exec_driver_sql("PRAGMA busy_timeout = 0")
        try:
            yield
        finally:
            # A connection interrupted mid-statement (Ctrl+C) is invalidated: it is closed,
            # never reused, and has nothing to restore.
            if not conn.invalidated:
                conn.exec_driver_sql(f"PRAGMA cache_size = {int(before or -2000)}")
                if rollback_journal:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(busy_timeout or 0)}")

    def defer_indexes(self, expected_rows: int) -> None:
        """Drop the secondary indexes (SQLite) when ``expected_rows`` dwarfs the table;
        :meth:`build_deferred` builds them again."""
        conn = self.conn
        if self.pg or not _dwarfs_table(
            expected_rows, lambda n: int(conn.exec_driver_sql(_SQLITE_HELD, (n,)).scalar() or 0)
        ):
            return
        # Locations written from here on have IDs above the highest one so far.
        self.fts_after_id = self.last_id
        links_empty = not conn.exec_driver_sql("SELECT 1 FROM phone_links LIMIT 1").first()
        deferrable = text(_SQLITE_DEFERRABLE).bindparams(bindparam("appended", expanding=True))
        found = conn.execute(
            deferrable,
            {
                "trigger": _FTS_INSERT_TRIGGER,
                "appended": _APPENDED_INDEXES,
                "links_unique": _LINKS_UNIQUE_INDEX,
                "links_empty": links_empty,
            },
        )
        self.deferred = [(kind, name, sql) for kind, name, sql in found]
        if any(name == _LINKS_UNIQUE_INDEX for _, name, _ in self.deferred):
            self.links_statement = _SQLITE_NEW_LINKS
        for kind, name, _ in self.deferred:
            conn.exec_driver_sql(f'DROP {kind.upper()} "{name}"')

    def build_deferred(self) -> None:
        """Build what :meth:`defer_indexes` dropped, and index the new locations' names and
        addresses for the full-text search."""
        if not self.deferred:
            return
        conn = self.conn
        cache = conn.exec_driver_sql("PRAGMA cache_size").scalar()
        conn.exec_driver_sql(f"PRAGMA threads = {_SORT_THREADS}")
        conn.exec_driver_sql(f"PRAGMA cache_size = -{_SORT_CACHE_KIB}")
        try:
            for kind, _, sql in self.deferred:
                if kind == "trigger":
                    self._fill_fts()
                conn.exec_driver_sql(sql)
        finally:
            if not conn.invalidated:  # see tuned()
                conn.exec_driver_sql("PRAGMA threads = 0")
                conn.exec_driver_sql(f"PRAGMA cache_size = {int(cache or -2000)}")
        self.deferred = []

    def _fill_fts(self) -> None:
        conn = self.conn
        before = conn.exec_driver_sql(_SQLITE_FTS_HASHSIZE_NOW).scalar()
        hashsize = text(_SQLITE_FTS_HASHSIZE)
        conn.execute(hashsize, {"size": _FTS_BULK_HASHSIZE})
        conn.execute(text(_SQLITE_FTS_FILL), {"after": self.fts_after_id})
        conn.execute(hashsize, {"size": int(before or _FTS_DEFAULT_HASHSIZE)})

    def write(self, packed: Packed) -> None:
        if isinstance(packed, ValuesBatch):
            self._write_values(packed)
        else:
            self._write_json(packed)

    def _write_json(self, packed: JsonBatch) -> None:
        conn, report = self.conn, self.report
        rows = {"rows": packed.rows}
        known = int(conn.execute(self.known, rows).scalar() or 0) if self.locations_known else 0
        written = conn.execute(self.upsert, {**rows, "now": self.now}).rowcount
        added = packed.count - known
        report.locations_added += added
        report.locations_updated += written - added
        report.locations_unchanged += known - (written - added)
        if packed.has_phones:
            params = {**rows, **self.link_constants}
            report.links_added += conn.execute(self.links, params).rowcount

    def _write_values(self, packed: ValuesBatch) -> None:
        conn, report = self.conn, self.report
        written = 0
        for sql, values in self._chunks(_SQLITE_UPSERT, _SQLITE_UPSERT_ROW, 6, packed.locations):
            written += conn.exec_driver_sql(sql, (self.bound_now, *values)).rowcount
        added, top = conn.exec_driver_sql(_SQLITE_ADDED, (self.last_id,)).one()
        self.last_id = top or self.last_id
        report.locations_added += added
        report.locations_updated += written - added
        report.locations_unchanged += packed.count - written
        c = self.link_constants
        constants = (c["source"], c["actor"], c["desk"], self.bound_now, c["reviewed"])
        template = self.links_statement
        for sql, phones in self._chunks(template, _SQLITE_LINKS_ROW, 3, packed.links):
            report.links_added += conn.exec_driver_sql(sql, (*constants, *phones)).rowcount

    def _chunks(
        self, template: str, row: str, width: int, values: list[_V]
    ) -> Iterator[tuple[str, list[_V]]]:
        """``values`` (``width`` a row) cut into statements of ``template`` with
        ``_SQLITE_ROWS_PER_STATEMENT`` rows, the rest in statements of a power of two rows.
        Preparing a statement takes more than linear time in its rows (4,000 rows: 75 ms,
        10,000: 800 ms), so only these few sizes are ever prepared; the driver keeps them by
        their text."""
        rows, start = len(values) // width, 0
        size = _SQLITE_ROWS_PER_STATEMENT
        while rows:
            while size > rows:
                size //= 2
            sql = self.statements.get((template, size))
            if sql is None:
                sql = self.statements[(template, size)] = template.format(
                    rows=", ".join([row] * size)
                )
            yield sql, values[start : start + size * width]
            start += size * width
            rows -= size

    def mark_removed(self, listed: Collection[str]) -> None:
        """Mark every location not in ``listed`` as removed (a full import)."""
        conn = self.conn
        total = int(conn.exec_driver_sql("SELECT count(*) FROM service_locations").scalar() or 0)
        if total <= len(listed):
            return  # every location was listed (each listed one is in the table now)
        create, fill, drop = _PG_LISTED if self.pg else _SQLITE_LISTED
        conn.exec_driver_sql(create)
        ids = list(listed)
        for start in range(0, len(ids), BATCH_ROWS):
            conn.execute(text(fill), {"ids": json.dumps(ids[start : start + BATCH_ROWS])})
        marked = conn.execute(_sql(_MARK_REMOVED), {"now": self.now}).rowcount
        self.report.locations_removed += marked
        conn.exec_driver_sql(drop)

    def audit(self, subject: str, extra: dict[str, Any] | None = None) -> None:
        after: dict[str, Any] = {**self.report.counts(), "source": self.source, **(extra or {})}
        row = {
            "at": utcnow(),
            "actor": self.actor,
            "desk": self.desk,
            "action": "directory_import",
            "subject": subject[:200],
            "before": None,
            "after": after,
        }
        insert_audit_rows(self.conn, [row])


# --------------------------------------------------------------------------- public API


def import_accounts_csv(
    engine: Engine,
    path: Path,
    *,
    skip_bad: bool = False,
    region: str = "US",
    source: str = "directory",
    actor: str = "import",
    desk: str = "",
    progress: Callable[[int, int], None] | None = None,
    partial: bool = False,
) -> ImportReport:
    """Import the directory CSV at ``path`` in one transaction and return the counts.

    A full import (the default) marks the locations the file does not list as removed
    (``removed_at``), and a location listed again is no longer removed; with ``partial``
    (a file listing only some locations) nothing is marked removed.

    Raises :class:`ImportFailed` (nothing written) when a row is invalid and ``skip_bad`` is
    false, and :class:`DirectoryFileError` (nothing written) when the file cannot be read,
    its header lacks a column, or the process reading it ends unexpectedly.
    ``progress(rows_done, rows_total)`` is called after every batch of ``BATCH_ROWS`` rows and
    at the end; ``rows_total`` counts the lines after the header, which is exact unless quoted
    fields span lines (a last call then gives the exact count).
    Phone links are only ever added, never removed (see the module docstring).
    """
    path = Path(path)
    try:
        lines, nul = survey(path)
    except OSError as exc:
        raise DirectoryFileError(
            f"cannot read {path}: {exc.strerror or exc}; check the file name and permissions"
        ) from exc
    total = max(lines - 1, 0)
    report = ImportReport()
    request = ReadRequest(
        path=path,
        region=region,
        skip_bad=skip_bad,
        dialect=engine.dialect.name,
        batch_rows=BATCH_ROWS,
        nul_free=not nul,
    )
    with FileReader(request) as reader:  # the header is read: a bad one stops here
        report.ignored_columns = reader.ignored
        with (
            engine.connect() as conn,
            _rollback_journal(conn, total),
            conn.begin(),
        ):
            writer = _Writer(conn, report, source=source, actor=actor, desk=desk)
            with writer.tuned():
                writer.defer_indexes(total)
                for rows_read, packed in reader.batches():
                    if packed is not None:
                        writer.write(packed)
                    if progress is not None:
                        progress(rows_read, max(total, rows_read))
                read = reader.summary
                if progress is not None and read.rows != total:
                    progress(read.rows, read.rows)  # blank or multi-line rows: now exact
                if read.errors and not skip_bad:
                    # Leaving the block by an exception rolls the transaction back.
                    raise ImportFailed(
                        ImportReport(
                            rows_read=read.rows,
                            errors=read.errors,
                            ignored_columns=reader.ignored,
                        )
                    )
                writer.build_deferred()
                report.rows_read = read.rows
                report.errors = read.errors
                report.rows_skipped = read.bad_rows
                if not partial:
                    writer.mark_removed(read.listed_ids())
                extra: dict[str, Any] = {"file": str(path)}
                if reader.ignored:
                    extra["ignored_columns"] = reader.ignored
                writer.audit(path.name, extra)
    _refresh_statistics(engine, report)
    return report


def import_accounts_as(
    actor: Actor,
    engine: Engine,
    path: Path,
    *,
    skip_bad: bool = False,
    region: str = "US",
    progress: Callable[[int, int], None] | None = None,
    partial: bool = False,
) -> ImportReport:
    """:func:`import_accounts_csv` as a person or a service token, who must be allowed to
    import links; the audit row and the links name them."""
    require(actor, Permission.IMPORT_LINKS)
    return import_accounts_csv(
        engine,
        path,
        skip_bad=skip_bad,
        region=region,
        actor=actor.name,
        desk=actor.desk,
        progress=progress,
        partial=partial,
    )


def _dwarfs_table(expected_rows: int, held_up_to: Callable[[int], int]) -> bool:
    """Whether an import of ``expected_rows`` is big next to the table (``_DEFER_MIN_ROWS``
    rows, ``_DEFER_RATIO`` times what it holds); ``held_up_to(n)`` counts the table's
    locations, stopping at ``n``."""
    if expected_rows < _DEFER_MIN_ROWS:
        return False
    enough = expected_rows // _DEFER_RATIO + 1
    return held_up_to(enough) < enough


@contextlib.contextmanager
def _rollback_journal(conn: Connection, expected_rows: int) -> Iterator[None]:
    """SQLite: a big import into a (nearly) empty database that nothing else has open runs
    in rollback-journal mode, and WAL comes back afterwards.

    In WAL mode every page is written twice: into the log at the commit, then into the
    database file by the checkpoint. A rollback journal keeps only the pages that existed
    before the import (a rollback cuts the file back to its old end), so the new pages are
    written once: a million locations commit in 1.5 s instead of 5-6 s. SQLite allows the
    switch only while no other connection has the database open; otherwise, and for any
    smaller import, the import runs in WAL as always. A desk that opens the database during
    such an import reads what was there before until the import writes its first pages out,
    and then waits for the commit.
    """
    driver = conn.connection.driver_connection
    if (
        conn.dialect.name != "sqlite"
        or not isinstance(driver, sqlite3.Connection)
        or conn.engine.url.database in (None, "", ":memory:")
    ):
        yield
        return

    def held_up_to(limit: int) -> int:
        return int(driver.execute(_SQLITE_HELD, (limit,)).fetchone()[0])

    mode = "wal"
    if _dwarfs_table(expected_rows, held_up_to):
        with contextlib.suppress(sqlite3.OperationalError):  # another connection is open
            mode = driver.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
    if mode != "delete":
        yield
        return
    log.info(
        "importing %d rows in rollback-journal mode (nothing else has the database open)",
        expected_rows,
    )
    try:
        yield
    finally:
        _back_to_wal(driver, str(conn.engine.url.database))


def _back_to_wal(driver: sqlite3.Connection, path: str) -> None:
    """WAL again, as soon as the desks that opened the database meanwhile have finished
    reading (the connection's busy timeout)."""
    with contextlib.suppress(sqlite3.OperationalError):
        try:
            if driver.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal":
                return
        except sqlite3.ProgrammingError:
            # Interrupted mid-statement (Ctrl+C), the import's connection was closed, which
            # rolled its transaction back: a connection of its own switches.
            with contextlib.closing(sqlite3.connect(path, timeout=2.0)) as fresh:
                if fresh.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal":
                    return
    # Every connection asks for WAL when it opens (store.db): the next one will switch.
    log.warning("the database stays in rollback-journal mode until it is next opened")


def _refresh_statistics(engine: Engine, report: ImportReport) -> None:
    """ANALYZE after a big PostgreSQL import: until autovacuum gets to it, the planner would
    take the fresh tables for empty and answer phone look-ups with sequential scans."""
    changed = report.locations_added + report.locations_updated + report.links_added
    if engine.dialect.name != "postgresql" or changed < ANALYZE_AFTER_ROWS:
        return
    with contextlib.suppress(SQLAlchemyError), engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE service_locations, phone_links")


def import_directory_rows(
    engine: Engine,
    rows: Iterable[DirectoryRecord],
    *,
    source: str = "directory",
    actor: str = "demo",
    desk: str = "",
    partial: bool = False,
) -> ImportReport:
    """Upsert rows that are already valid (the demo, tests), exactly as the CSV import does.

    Phones must already be E.164. A ``service_location_id`` given twice raises ValueError and
    writes nothing.
    """
    report = ImportReport()
    with engine.begin() as conn:
        writer = _Writer(conn, report, source=source, actor=actor, desk=desk)
        with writer.tuned():
            listed = _write_rows(writer, report, rows)
            if not partial:
                writer.mark_removed(listed)
        writer.audit(f"{source} rows")
    _refresh_statistics(engine, report)
    return report


def _write_rows(writer: _Writer, report: ImportReport, rows: Iterable[DirectoryRecord]) -> set[str]:
    """Writes the rows; returns their service location IDs."""
    seen: set[str] = set()
    batch: list[Location] = []
    for row in rows:
        if row.service_location_id in seen:
            raise ValueError(f"service_location_id {row.service_location_id!r} given twice")
        seen.add(row.service_location_id)
        report.rows_read += 1
        batch.append(
            (
                row.service_location_id,
                row.account_number,
                row.meter_id or None,
                row.customer_name,
                row.service_address,
                bool(row.life_support),
                tuple(dict.fromkeys(row.phones)),
            )
        )
        if len(batch) >= BATCH_ROWS:
            writer.write(writer.pack(batch))
            batch = []
    if batch:
        writer.write(writer.pack(batch))
    return seen


# --------------------------------------------------------------------------- command line


def _fmt(n: int) -> str:
    return f"{n:,}"


class _Progress:
    """Progress on stderr: a ``\\r`` counter on a terminal, a line per 100k rows otherwise."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self.tty = stream.isatty()
        self.next_line = 100_000
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        pct = f" ({100 * done // total}%)" if total else ""
        text = f"{self.label}: {_fmt(done)} / {_fmt(total)} rows{pct}"
        if self.tty:
            self.stream.write(f"\r{text}")
            self.stream.flush()
            self.drawn = True
        elif done >= self.next_line:
            self.stream.write(text + "\n")
            self.stream.flush()
            self.next_line = (done // 100_000 + 1) * 100_000

    def end(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


def _print_errors(file: str, errors: Sequence[RowError], out: TextIO) -> None:
    for err in errors[:MAX_SHOWN_ERRORS]:
        print(f"{file}:{err.line}: {err.message}", file=out)
    if len(errors) > MAX_SHOWN_ERRORS:
        print(f"... and {_fmt(len(errors) - MAX_SHOWN_ERRORS)} more", file=out)


def summary_line(file: str, report: ImportReport, seconds: float) -> str:
    r = report
    return (
        f"imported {file}: {_fmt(r.rows_read)} rows read; "
        f"{_fmt(r.locations_added)} locations added, {_fmt(r.locations_updated)} updated, "
        f"{_fmt(r.locations_unchanged)} unchanged, {_fmt(r.locations_removed)} marked removed; "
        f"{_fmt(r.links_added)} phone links added; "
        f"{_fmt(r.rows_skipped)} rows skipped ({seconds:.1f} s)"
    )


def run_import_command(
    settings: Settings,
    file: str,
    *,
    skip_bad: bool,
    partial: bool = False,
    user: str | None = None,
) -> int:
    """``outagedesk import-accounts``: exit 0 when imported, 1 when rows are invalid or the
    person may not import (nothing applied), 2 when the file, the database or the credentials
    cannot be used, 130 when interrupted (nothing applied). ``user`` is ``--user``; a service
    token comes from the environment."""
    from outagedesk.ops.commands import authenticate

    err = sys.stderr
    path = Path(file)
    if not path.is_file():
        why = "is a directory" if path.is_dir() else "does not exist"
        print(f"outagedesk: {file} {why}; give the path of the directory CSV file", file=err)
        return 2
    try:
        db = open_database(settings)
    except SettingsError as exc:
        print(f"outagedesk: {exc}", file=err)
        return 2
    try:
        with db.sessions() as session:
            actor = authenticate(settings, session, user)
        require(actor, Permission.IMPORT_LINKS)  # before the file is read
    except (SettingsError, OperationError) as exc:
        db.close()
        print(f"outagedesk: {exc}", file=err)
        return 1 if isinstance(exc, PermissionDenied) else 2
    show = _Progress(err, f"importing {path.name}")
    started = time.perf_counter()
    try:
        report = import_accounts_as(
            actor,
            db.engine,
            path,
            skip_bad=skip_bad,
            region=settings.region,
            progress=show,
            partial=partial,
        )
    except DirectoryFileError as exc:
        show.end()
        print(f"outagedesk: {exc}", file=err)
        return 2
    except SQLAlchemyError as exc:
        show.end()
        print(
            f"outagedesk: the database refused the import, nothing was imported: "
            f"{str(exc).splitlines()[0]}",
            file=err,
        )
        return 2
    except KeyboardInterrupt:
        show.end()
        print("outagedesk: interrupted; nothing was imported", file=err)
        return 130
    except ImportFailed as exc:
        show.end()
        failed = exc.report
        _print_errors(file, failed.errors, err)
        print(
            f"outagedesk: nothing was imported: {_fmt(failed.bad_rows)} of "
            f"{_fmt(failed.rows_read)} rows are invalid; fix them, or re-run with "
            "--skip-bad-rows to import the others",
            file=err,
        )
        return 1
    finally:
        db.close()
    show.end()
    seconds = time.perf_counter() - started
    if report.errors:
        _print_errors(file, report.errors, err)
    if report.ignored_columns:
        print(f"ignored unknown columns: {', '.join(report.ignored_columns)}")
    print(summary_line(file, report, seconds))
    return 0
