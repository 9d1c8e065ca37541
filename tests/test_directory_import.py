"""``outagedesk import-accounts``: validation, one-transaction upsert, re-import, CLI."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.exc import IntegrityError, OperationalError

from outagedesk import directory
from outagedesk.cli import main as cli_main
from outagedesk.config import Settings
from outagedesk.directory import (
    DirectoryFileError,
    ImportFailed,
    ImportReport,
    RowError,
    import_accounts_csv,
    import_directory_rows,
    run_import_command,
)
from outagedesk.directory_file import COLUMNS, FileReader, ReadRequest
from outagedesk.ops.base import Role
from outagedesk.ops.commands import TOKEN_ENV
from outagedesk.runtime import open_database
from outagedesk.sim import DirectoryRow
from outagedesk.store.db import make_engine, make_reader_engine, migrate, session_factory
from outagedesk.store.links import link_targets
from outagedesk.store.models import AuditEntry, PhoneLink, ServiceLocation

from authsupport import service_token
from dbsupport import DbUnderTest

PG_URL = os.environ.get(
    "OUTAGEDESK_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
HEADER = ",".join(COLUMNS)

GOOD = [
    HEADER,
    "A-100,SL-100-1,M-1,Ana Baca,1 Main St,+15055550101,no",
    'A-100,SL-100-2,,Ana Baca,"2 Main St, Unit B",+15055550101,no',
    "A-200,SL-200-1,M-3,Ben Duran,3 Oak Ave,(575) 555-0102; +1 505 555 0103,YES",
]


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 't.db'}")
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    probe = create_engine(PG_URL, connect_args={"connect_timeout": 3})
    try:
        with probe.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "skip with the reason"
        pytest.skip(f"no PostgreSQL server reachable at {PG_URL}: {str(exc).splitlines()[0]}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with probe.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    eng = create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        migrate(eng)
        yield eng
    finally:
        eng.dispose()
        with probe.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        probe.dispose()


def write_csv(path: Path, lines: Sequence[str], *, bom: bool = False) -> Path:
    body = "\r\n".join(lines) + "\r\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + body.encode("utf-8"))
    return path


def count(engine: Engine, model: type[Any]) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(model)) or 0)


def locations(engine: Engine) -> dict[str, tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                ServiceLocation.service_location_id,
                ServiceLocation.account_number,
                ServiceLocation.meter_id,
                ServiceLocation.customer_name,
                ServiceLocation.service_address,
                ServiceLocation.life_support,
                ServiceLocation.updated_at,
            )
        ).all()
    return {row[0]: tuple(row[1:]) for row in rows}


def links(engine: Engine) -> set[tuple[str, str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(PhoneLink.phone, PhoneLink.account_number, PhoneLink.service_location_id)
        ).all()
    return {(r[0], r[1], r[2]) for r in rows}


def fail_write(monkeypatch: pytest.MonkeyPatch, *, on_call: int) -> None:
    """The disk fails while the import writes its ``on_call``-th batch."""
    real_write = directory._Writer.write
    calls = 0

    def failing_write(self: Any, packed: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == on_call:
            raise RuntimeError("disk on fire")
        real_write(self, packed)

    monkeypatch.setattr(directory._Writer, "write", failing_write)


def snapshot(engine: Engine) -> tuple[Any, ...]:
    return (locations(engine), links(engine), count(engine, AuditEntry))


def settings_for(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, config_file=tmp_path / "none.toml", desk="desk-7")


def db_of(settings: Settings) -> Engine:
    return make_engine(settings.database_url)


@pytest.fixture
def import_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line acts as a supervisor's service token, as a nightly script would."""
    db = open_database(settings_for(tmp_path))
    try:
        token = service_token(db.sessions, Role.SUPERVISOR, "nightly-import")
    finally:
        db.close()
    monkeypatch.setenv(TOKEN_ENV, token)


# --------------------------------------------------------------------------- importing


def test_good_file_imports_with_counts(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "dir.csv", GOOD)
    seen: list[tuple[int, int]] = []

    report = import_accounts_csv(
        engine,
        path,
        actor="desk-7/import",
        desk="desk-7",
        progress=lambda d, t: seen.append((d, t)),
    )

    assert report == ImportReport(
        rows_read=3, locations_added=3, locations_updated=0, links_added=4, rows_skipped=0
    )
    assert seen[-1] == (3, 3)
    locs = locations(engine)
    assert {k: v[:5] for k, v in locs.items()} == {
        "SL-100-1": ("A-100", "M-1", "Ana Baca", "1 Main St", False),
        "SL-100-2": ("A-100", None, "Ana Baca", "2 Main St, Unit B", False),
        "SL-200-1": ("A-200", "M-3", "Ben Duran", "3 Oak Ave", True),
    }
    assert links(engine) == {
        ("+15055550101", "A-100", "SL-100-1"),
        ("+15055550101", "A-100", "SL-100-2"),
        ("+15755550102", "A-200", "SL-200-1"),
        ("+15055550103", "A-200", "SL-200-1"),
    }
    with session_factory(engine)() as s:
        link = s.scalars(select(PhoneLink).where(PhoneLink.phone == "+15755550102")).one()
        assert (link.source, link.created_by, link.desk) == ("directory", "desk-7/import", "desk-7")
        assert (link.reviewed, link.version) == (True, 1)
        assert link.created_at.tzinfo is not None
        audit = s.scalars(select(AuditEntry)).one()
        assert (audit.actor, audit.desk, audit.action) == (
            "desk-7/import",
            "desk-7",
            "directory_import",
        )
        assert audit.subject == "dir.csv"
        assert audit.after is not None
        assert audit.after["locations_added"] == 3
        assert audit.after["links_added"] == 4
        assert audit.after["rows_read"] == 3


def test_reimport_updates_and_never_duplicates(engine: Engine, tmp_path: Path) -> None:
    first = write_csv(tmp_path / "dir.csv", GOOD)
    import_accounts_csv(engine, first)
    before = locations(engine)

    changed = list(GOOD)
    changed[1] = "A-100,SL-100-1,M-1,Ana Baca,99 New Rd,+15055550101,no"  # address moved
    changed[3] = changed[3].replace("YES", "yes") + ""  # same value, other spelling
    changed.append("A-300,SL-300-1,M-9,Cy Esquibel,9 Elm St,+15055550101,0")  # shared phone
    second = write_csv(tmp_path / "dir2.csv", changed)

    report = import_accounts_csv(engine, second)

    assert report.rows_read == 4
    assert (report.locations_added, report.locations_updated, report.locations_unchanged) == (
        1,
        1,
        2,
    )
    assert report.links_added == 1
    after = locations(engine)
    assert after["SL-100-1"][3] == "99 New Rd"
    assert after["SL-100-1"][5] > before["SL-100-1"][5]  # updated_at moved on
    assert after["SL-100-2"] == before["SL-100-2"]  # unchanged rows are not rewritten
    assert after["SL-200-1"] == before["SL-200-1"]
    assert count(engine, ServiceLocation) == 4
    assert count(engine, PhoneLink) == 5
    assert count(engine, AuditEntry) == 2

    again = import_accounts_csv(engine, second)
    assert (again.locations_added, again.locations_updated, again.links_added) == (0, 0, 0)
    assert again.locations_unchanged == 4
    assert count(engine, PhoneLink) == 5


def test_sqlite_writes_a_batch_in_statements_of_a_few_sizes(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch is bound as rows of VALUES: full statements, then the rest in powers of two,
    so that only a few statement sizes are ever prepared. The counts stay exact with new,
    changed and unchanged locations in one batch."""
    monkeypatch.setattr(directory, "_SQLITE_ROWS_PER_STATEMENT", 4)
    sizes: dict[str, list[int]] = {"service_locations": [], "phone_links": []}

    @event.listens_for(engine, "before_cursor_execute")
    def note_size(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        for table, row in (
            ("service_locations", "(?, ?, ?, ?, ?, ?)"),
            ("phone_links", "(?, ?, ?)"),
        ):
            if statement.lstrip().startswith(f"INSERT INTO {table} ("):
                sizes[table].append(statement.count(row))

    report = import_accounts_csv(
        engine, write_csv(tmp_path / "a.csv", [HEADER, *numbered_rows(0, 23, "Baca")])
    )

    assert (report.locations_added, report.links_added) == (23, 23)
    assert sizes["service_locations"] == [4, 4, 4, 4, 4, 2, 1]
    assert sizes["phone_links"] == [4, 4, 4, 4, 4, 2, 1]
    assert sorted(locations(engine)) == sorted(f"SL-{i}" for i in range(23))
    assert links(engine) == {(f"+1505555{i:04d}", f"A-{i}", f"SL-{i}") for i in range(23)}

    second = [HEADER, *numbered_rows(0, 31, "Baca")]
    second[6] = second[6].replace("Main St", "Mesa Rd")  # SL-5 moved
    second[18] = second[18].replace(",no", ",yes")  # SL-17 now on life support
    event.remove(engine, "before_cursor_execute", note_size)
    again = import_accounts_csv(engine, write_csv(tmp_path / "b.csv", second))
    assert (again.locations_added, again.locations_updated, again.locations_unchanged) == (
        8,
        2,
        21,
    )
    assert again.links_added == 8
    assert locations(engine)["SL-5"][3] == "5 Mesa Rd"
    assert locations(engine)["SL-17"][4] is True


class RecordedReader(FileReader):
    """The real reading process, kept where a test can look at it."""

    made: ClassVar[list[RecordedReader]] = []

    def __init__(self, request: ReadRequest) -> None:
        super().__init__(request)
        RecordedReader.made.append(self)

    @property
    def child(self) -> subprocess.Popen[bytes]:
        return self._child


@pytest.fixture
def readers(monkeypatch: pytest.MonkeyPatch) -> list[RecordedReader]:
    RecordedReader.made = []
    monkeypatch.setattr(directory, "FileReader", RecordedReader)
    return RecordedReader.made


def many_rows(count: int) -> list[str]:
    return [HEADER] + [
        f"A-{n},SL-{n},M-{n},Name {n},{n} Main St,+1505555{n % 100:04d},no" for n in range(count)
    ]


def test_the_file_is_read_by_a_child_process_that_is_gone_afterwards(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, readers: list[RecordedReader]
) -> None:
    monkeypatch.setattr(directory, "BATCH_ROWS", 1)
    running: list[bool] = []

    def note(*_: int) -> None:
        child = readers[-1].child
        running.append(child.pid != os.getpid() and child.poll() is None)

    report = import_accounts_csv(engine, write_csv(tmp_path / "a.csv", GOOD), progress=note)
    assert report.locations_added == 3
    assert running[0]
    assert readers[-1].child.returncode is not None
    bad = write_csv(tmp_path / "bad.csv", [*GOOD, "A-1,,M-1,N,1 Main St,,no"])
    with pytest.raises(ImportFailed):
        import_accounts_csv(engine, bad)
    assert readers[-1].child.returncode is not None


def test_a_reading_process_killed_midway_fails_the_import_and_applies_nothing(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, readers: list[RecordedReader]
) -> None:
    import_accounts_csv(engine, write_csv(tmp_path / "a.csv", GOOD))
    before = snapshot(engine)
    # 100-row batches: the child can be only a few batches ahead of the writing (the queue and
    # the pipe are full), far from the end of 20,000 rows, when it is killed.
    monkeypatch.setattr(directory, "BATCH_ROWS", 100)

    def kill(done: int, _total: int) -> None:
        if done == 100:
            readers[-1].child.kill()

    big = write_csv(tmp_path / "big.csv", many_rows(20_000))
    with pytest.raises(DirectoryFileError, match=r"ended unexpectedly \(exit code -9\)"):
        import_accounts_csv(engine, big, progress=kill)
    assert snapshot(engine) == before


class CrashingReader(FileReader):
    """A reading process that dies before it says anything (as when it runs out of memory)."""

    def _command(self) -> list[str]:
        return [sys.executable, "-c", "import sys; sys.stdin.buffer.read(); sys.exit(3)"]


def test_a_reading_process_that_dies_at_once_is_a_clear_error(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(directory, "FileReader", CrashingReader)
    path = write_csv(tmp_path / "a.csv", GOOD)
    with pytest.raises(DirectoryFileError, match=r"ended unexpectedly \(exit code 3\)"):
        import_accounts_csv(engine, path)
    assert count(engine, ServiceLocation) == 0


def test_the_reading_process_is_stopped_when_the_import_is_interrupted(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, readers: list[RecordedReader]
) -> None:
    """Ctrl+C (or a failing disk) mid-import: nothing applied, no process left behind."""
    monkeypatch.setattr(directory, "BATCH_ROWS", 100)

    def interrupt(done: int, _total: int) -> None:
        if done == 200:
            raise KeyboardInterrupt

    big = write_csv(tmp_path / "big.csv", many_rows(20_000))
    with pytest.raises(KeyboardInterrupt):
        import_accounts_csv(engine, big, progress=interrupt)
    assert readers[-1].child.returncode is not None
    assert count(engine, ServiceLocation) == 0
    fail_write(monkeypatch, on_call=3)
    with pytest.raises(RuntimeError, match="disk on fire"):
        import_accounts_csv(engine, big)
    assert readers[-1].child.returncode is not None
    assert count(engine, ServiceLocation) == 0


def test_a_location_id_with_a_nul_lists_no_other_location(engine: Engine, tmp_path: Path) -> None:
    """The IDs a file lists cross the pipe NUL-separated: an ID holding a NUL must not turn
    into the ID before it."""
    import_accounts_csv(engine, write_csv(tmp_path / "a.csv", GOOD))
    again = [HEADER, GOOD[1], GOOD[2], "A-200,SL-200-1\x00,M-3,Ben Duran,3 Oak Ave,,no"]
    report = import_accounts_csv(engine, write_csv(tmp_path / "b.csv", again), skip_bad=True)
    assert report.errors == [RowError(4, "service_location_id: contains a NUL character")]
    assert report.locations_removed == 1  # SL-200-1: its only row names another ID
    with engine.connect() as conn:
        removed = conn.scalars(
            select(ServiceLocation.service_location_id).where(
                ServiceLocation.removed_at.is_not(None)
            )
        ).all()
    assert removed == ["SL-200-1"]


def test_links_are_not_removed_by_a_reimport(engine: Engine, tmp_path: Path) -> None:
    import_accounts_csv(engine, write_csv(tmp_path / "a.csv", GOOD))
    no_phones = [HEADER, "A-100,SL-100-1,M-1,Ana Baca,1 Main St,,no"]
    import_accounts_csv(engine, write_csv(tmp_path / "b.csv", no_phones))
    assert ("+15055550101", "A-100", "SL-100-1") in links(engine)


def test_multi_location_accounts_and_a_phone_on_several_accounts(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tiny batches: an account's locations straddle batch boundaries.
    monkeypatch.setattr(directory, "BATCH_ROWS", 2)
    landlord = "+15055550150"
    lines = [
        HEADER,
        f"A-1,SL-1-1,M-11,Ana Baca,1 Main St,+15055550111;{landlord},no",
        f"A-1,SL-1-2,M-12,Ana Baca,2 Main St,+15055550111;{landlord},yes",
        f"A-1,SL-1-3,,Ana Baca,3 Main St,+15055550111;{landlord},no",
        f"A-2,SL-2-1,M-21,Ben Duran,4 Oak Ave,{landlord},no",
        "A-3,SL-3-1,M-31,Cy Esquibel,5 Elm St,505-555-0150,no",  # same phone, national form
    ]
    report = import_accounts_csv(engine, write_csv(tmp_path / "d.csv", lines))

    assert (report.locations_added, report.links_added) == (5, 8)
    with session_factory(engine)() as s:
        found = link_targets(s, [landlord, "+15055550111"])
    assert sorted((t.account_number, t.service_location_id) for t in found[landlord]) == [
        ("A-1", "SL-1-1"),
        ("A-1", "SL-1-2"),
        ("A-1", "SL-1-3"),
        ("A-2", "SL-2-1"),
        ("A-3", "SL-3-1"),
    ]
    by_location = {t.service_location_id: t for t in found["+15055550111"]}
    assert by_location["SL-1-2"].life_support is True
    assert by_location["SL-1-3"].meter_id is None
    assert len(by_location) == 3


BAD_FILE = [
    HEADER,  # 1
    "A-1,SL-1,M-1,Ana Baca,1 Main St,+15055550101,no",  # 2 good
    ",SL-2,M-2,Ben Duran,2 Main St,,no",  # 3 no account
    "A-3,,M-3,Cy Esquibel,3 Main St,,no",  # 4 no location
    "A-4,SL-4,M-4,Di Ortiz,4 Main St,+15055550104,maybe",  # 5 bad life_support
    "A-5,SL-5,M-5,Ed Lucero,5 Main St,+15055550105;12345;not-a-number,no",  # 6 two bad phones
    "A-6,SL-1,M-6,Fay Romero,6 Main St,,no",  # 7 repeats line 2's location
    "A-7,SL-7,M-7,Gus Valdez,7 Main St,no",  # 8 six columns
    f"{'A' * 65},SL-8,M-8,Hal Zamora,8 Main St,,no",  # 9 account too long
    f"A-9,{'S' * 65},M-9,Ida Chavez,9 Main St,,no",  # 10 location too long
    f"A-10,SL-10,{'M' * 65},Jo Marquez,10 Main St,,no",  # 11 meter too long
    f"A-11,SL-11,M-11,{'N' * 201},11 Main St,,no",  # 12 name too long
    f"A-12,SL-12,M-12,Kim Nakai,{'x' * 301},,no",  # 13 address too long
    'A-13,SL-13,M-13,"Lu\nPadilla",13 Main St,,no',  # 14-15: a quoted line break is fine
    "A-14,SL-14,M-14,Mo Quintana,14 Main St,,y,extra",  # 16 eight columns
    "",  # 17 blank lines are skipped
    "A-15,SL-15,M-15,Ned\x00Stroud,15 Main St,,n",  # 18 NUL character
    "A-16,SL-16,M-16,Ona Trujillo,16 Main St,+15055550116,TRUE",  # 19 good
]
BAD_ERRORS = [
    RowError(3, "account_number: required"),
    RowError(4, "service_location_id: required"),
    RowError(5, "life_support: 'maybe' is not yes/no/true/false/1/0"),
    RowError(6, "phones: not a valid phone number: '12345'"),
    RowError(6, "phones: not a phone number: 'not-a-number'"),
    RowError(7, "service_location_id: 'SL-1' is already on line 2"),
    RowError(8, "expected 7 columns, found 6"),
    RowError(9, "account_number: longer than 64 characters (65)"),
    RowError(10, "service_location_id: longer than 64 characters (65)"),
    RowError(11, "meter_id: longer than 64 characters (65)"),
    RowError(12, "customer_name: longer than 200 characters (201)"),
    RowError(13, "service_address: longer than 300 characters (301)"),
    RowError(16, "expected 7 columns, found 8"),
    RowError(18, "customer_name: contains a NUL character"),
]


def test_every_validation_error_has_its_line_and_nothing_is_applied(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(directory, "BATCH_ROWS", 2)  # good rows were already written...
    import_accounts_csv(engine, write_csv(tmp_path / "old.csv", GOOD))
    before = snapshot(engine)

    with pytest.raises(ImportFailed) as failed:
        import_accounts_csv(engine, write_csv(tmp_path / "bad.csv", BAD_FILE))

    report = failed.value.report
    assert report.errors == BAD_ERRORS
    assert report.rows_read == 16
    assert report.bad_rows == 13
    assert (report.locations_added, report.links_added) == (0, 0)
    assert snapshot(engine) == before  # ...and rolled back: nothing applied, no audit row


def test_skip_bad_imports_the_good_rows_and_reports_the_bad(engine: Engine, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    report = import_accounts_csv(
        engine,
        write_csv(tmp_path / "bad.csv", BAD_FILE),
        skip_bad=True,
        progress=lambda done, total: seen.append((done, total)),
    )

    assert report.errors == BAD_ERRORS
    assert report.rows_skipped == 13
    assert report.rows_read == 16
    # SL-1 (line 2), SL-13 (multi-line name) and SL-16 are the good ones.
    assert set(locations(engine)) == {"SL-1", "SL-13", "SL-16"}
    assert locations(engine)["SL-13"][2] == "Lu\nPadilla"
    assert report.locations_added == 3
    assert links(engine) == {
        ("+15055550101", "A-1", "SL-1"),
        ("+15055550116", "A-16", "SL-16"),
    }
    with engine.connect() as conn:
        after = conn.scalar(select(AuditEntry.after))
    assert after is not None
    assert after["rows_skipped"] == 13


def test_a_phones_field_repeated_on_several_rows_is_judged_the_same_on_each(
    engine: Engine, tmp_path: Path
) -> None:
    """An account's locations repeat its phones field; each row gets the same verdict."""
    rows = [
        HEADER,
        "A-1,SL-1,M-1,Ana Baca,1 Main St,(505) 555-0101; 12345,no",
        "A-1,SL-2,M-2,Ana Baca,2 Main St,(505) 555-0101; 12345,no",
        "A-2,SL-3,M-3,Ben Duran,3 Main St,+15055550102;(505) 555-0102,no",
        "A-2,SL-4,M-4,Ben Duran,4 Main St,+15055550102;(505) 555-0102,no",
    ]
    report = import_accounts_csv(engine, write_csv(tmp_path / "r.csv", rows), skip_bad=True)

    assert report.errors == [
        RowError(2, "phones: not a valid phone number: ' 12345'"),
        RowError(3, "phones: not a valid phone number: ' 12345'"),
    ]
    assert links(engine) == {
        ("+15055550102", "A-2", "SL-3"),
        ("+15055550102", "A-2", "SL-4"),
    }


def test_header_any_case_any_order_with_bom_and_extra_columns(
    engine: Engine, tmp_path: Path
) -> None:
    lines = [
        "Phones, LIFE_SUPPORT ,Notes,Service_Location_ID,Account_Number,Meter_ID,"
        "Customer_Name,Service_Address,Route",
        "+15055550101,Yes,call first,SL-1,A-1,M-1,Ana Baca,1 Main St,7",
    ]
    report = import_accounts_csv(engine, write_csv(tmp_path / "x.csv", lines, bom=True))

    assert report.locations_added == 1
    assert report.ignored_columns == ["Notes", "Route"]
    assert locations(engine)["SL-1"][:5] == ("A-1", "M-1", "Ana Baca", "1 Main St", True)
    assert links(engine) == {("+15055550101", "A-1", "SL-1")}


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            ["account_number,service_location_id,meter_id,customer_name,service_address,phones"],
            "the header line has no life_support column",
        ),
        (
            ["account,location,phones", "A-1,SL-1,"],
            "has no account_number, service_location_id, meter_id, customer_name, "
            "service_address, life_support columns",
        ),
        ([], "is empty"),
        ([f"{HEADER},Phones"], "column phones appears twice"),
    ],
)
def test_header_problems_are_file_errors(
    engine: Engine, tmp_path: Path, lines: list[str], expected: str
) -> None:
    path = tmp_path / "h.csv"
    if lines:
        write_csv(path, lines)
    else:
        path.write_bytes(b"")
    with pytest.raises(DirectoryFileError, match=expected) as err:
        import_accounts_csv(engine, path)
    assert "the first line must name the columns" in str(err.value) or "twice" in str(err.value)
    assert count(engine, AuditEntry) == 0


def test_unreadable_files_are_file_errors(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(DirectoryFileError, match=r"cannot read .*check the file name"):
        import_accounts_csv(engine, tmp_path / "missing.csv")

    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(
        (HEADER + "\nA-1,SL-1,M-1,Ana Baca,1 Main St,,no\n").encode()
        + "A-2,SL-2,M-2,José Peña,2 Main St,,no\n".encode("latin-1")
    )
    with pytest.raises(DirectoryFileError, match=r"latin1.csv:3: not UTF-8 text.*save the file"):
        import_accounts_csv(engine, latin1)
    assert count(engine, ServiceLocation) == 0


def test_a_failing_write_rolls_back_and_stops_the_reader_thread(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(directory, "BATCH_ROWS", 1)
    fail_write(monkeypatch, on_call=2)
    lines = [HEADER] + [f"A-{i},SL-{i},M-{i},N,{i} Main St,,no" for i in range(50)]
    with pytest.raises(RuntimeError, match="disk on fire"):
        import_accounts_csv(engine, write_csv(tmp_path / "f.csv", lines))
    assert count(engine, ServiceLocation) == 0
    assert not [t for t in threading.enumerate() if t.name == "directory-reader"]


def test_import_directory_rows_uses_the_same_upsert(engine: Engine) -> None:
    from outagedesk.sim import generate_directory

    rows = list(generate_directory(300, seed=7))
    report = import_directory_rows(engine, rows, actor="demo", desk="d")
    assert report.locations_added == 300
    expected_links = {(p, r.account_number, r.service_location_id) for r in rows for p in r.phones}
    assert report.links_added == len(expected_links)
    assert links(engine) == expected_links

    again = import_directory_rows(engine, rows)
    assert (again.locations_added, again.locations_unchanged, again.links_added) == (0, 300, 0)
    assert count(engine, AuditEntry) == 2
    with pytest.raises(ValueError, match="given twice"):
        import_directory_rows(engine, [rows[0], rows[0]])


# --------------------------------------------------------------------------- command line


def test_run_import_command_success(
    import_token: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path)
    lines = [*GOOD[:1], *GOOD[1:]]
    lines[0] += ",notes"
    lines[1:] = [line + "," for line in lines[1:]]
    path = write_csv(tmp_path / "dir.csv", lines)

    assert run_import_command(settings, str(path), skip_bad=False) == 0

    out, err = capsys.readouterr()
    assert "ignored unknown columns: notes" in out
    assert f"imported {path}: 3 rows read; 3 locations added, 0 updated, 0 unchanged, " in out
    assert "0 marked removed; " in out
    assert "4 phone links added; 0 rows skipped" in out
    assert "Traceback" not in err
    eng = db_of(settings)
    try:
        assert count(eng, ServiceLocation) == 3
        with eng.connect() as conn:
            audit = conn.execute(
                select(AuditEntry.actor, AuditEntry.desk).where(
                    AuditEntry.action == "directory_import"
                )
            ).one()
        assert tuple(audit) == ("token:nightly-import", "desk-7")
    finally:
        eng.dispose()


def test_run_import_command_invalid_rows(
    import_token: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path)
    path = write_csv(tmp_path / "bad.csv", BAD_FILE)

    assert run_import_command(settings, str(path), skip_bad=False) == 1

    _, err = capsys.readouterr()
    assert f"{path}:3: account_number: required" in err
    assert f"{path}:7: service_location_id: 'SL-1' is already on line 2" in err
    assert "nothing was imported: 13 of 16 rows are invalid" in err
    assert "--skip-bad-rows" in err
    eng = db_of(settings)
    try:
        assert count(eng, ServiceLocation) == 0
    finally:
        eng.dispose()

    assert run_import_command(settings, str(path), skip_bad=True) == 0
    out, err = capsys.readouterr()
    assert f"{path}:3: account_number: required" in err
    assert "3 locations added" in out
    assert "13 rows skipped" in out


def test_run_import_command_shows_the_first_50_errors(
    import_token: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [HEADER] + [f"A-{i},SL-{i},M-{i},N,Main St,,perhaps" for i in range(120)]
    path = write_csv(tmp_path / "many.csv", lines)

    assert run_import_command(settings_for(tmp_path), str(path), skip_bad=False) == 1

    _, err = capsys.readouterr()
    shown = [line for line in err.splitlines() if line.startswith(f"{path}:")]
    assert len(shown) == 50
    assert shown[0] == f"{path}:2: life_support: 'perhaps' is not yes/no/true/false/1/0"
    assert "... and 70 more" in err


def test_run_import_command_file_problems_exit_2(
    import_token: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path)
    assert run_import_command(settings, str(tmp_path / "nope.csv"), skip_bad=False) == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1
    assert "nope.csv does not exist; give the path of the directory CSV file" in err

    path = write_csv(tmp_path / "h.csv", ["account_number,phones", "A-1,"])
    assert run_import_command(settings, str(path), skip_bad=False) == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1
    assert "the header line has no service_location_id" in err
    assert "the first line must name the columns" in err


def test_progress_lines_when_not_a_terminal(
    import_token: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(directory, "BATCH_ROWS", 50_000)
    lines = [HEADER] + [f"A-{i},SL-{i},,N,Main St,,no" for i in range(250_000)]
    path = write_csv(tmp_path / "big.csv", lines)

    assert run_import_command(settings_for(tmp_path), str(path), skip_bad=False) == 0

    _, err = capsys.readouterr()
    assert err.splitlines() == [
        "importing big.csv: 100,000 / 250,000 rows (40%)",
        "importing big.csv: 200,000 / 250,000 rows (80%)",
    ]


def test_run_import_command_database_error_exits_2(
    import_token: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def locked(self: Any, packed: Any) -> None:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(directory._Writer, "write", locked)
    path = write_csv(tmp_path / "dir.csv", GOOD)

    assert run_import_command(settings_for(tmp_path), str(path), skip_bad=False) == 2

    _, err = capsys.readouterr()
    assert err.startswith("outagedesk: the database refused the import, nothing was imported")
    assert "database is locked" in err
    assert "Traceback" not in err


def test_ctrl_c_mid_statement_applies_nothing_and_puts_wal_back(
    import_token: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl+C while SQLite runs a statement: SQLAlchemy closes the connection (a first import
    was in rollback-journal mode); the command says so in one line and exits 130."""
    monkeypatch.setattr(directory, "_DEFER_MIN_ROWS", 20)
    monkeypatch.setattr(directory, "BATCH_ROWS", 50)
    real_execute: Callable[..., None] = DefaultDialect.do_execute

    def interrupted(self: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().startswith("INSERT INTO phone_links"):
            raise KeyboardInterrupt
        real_execute(self, cursor, statement, *args)

    monkeypatch.setattr(DefaultDialect, "do_execute", interrupted)
    path = write_csv(tmp_path / "dir.csv", many_rows(200))
    settings = settings_for(tmp_path)

    assert run_import_command(settings, str(path), skip_bad=False) == 130

    _, err = capsys.readouterr()
    assert err.splitlines()[-1] == "outagedesk: interrupted; nothing was imported"
    assert "Traceback" not in err
    db = tmp_path / "outagedesk.db"
    assert journal_mode(db) == "wal"
    monkeypatch.setattr(DefaultDialect, "do_execute", real_execute)
    assert count(db_of(settings), ServiceLocation) == 0


def test_an_import_closed_mid_statement_puts_wal_back(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    importer = sqlite3.connect(db, isolation_level=None)
    importer.execute("CREATE TABLE t (x)")
    assert importer.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete"
    importer.close()  # as SQLAlchemy closes a connection interrupted mid-statement
    directory._back_to_wal(importer, str(db))
    assert journal_mode(db) == "wal"


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_counter_on_a_terminal() -> None:
    term = FakeTerminal()
    show = directory._Progress(term, "importing d.csv")
    show(20_000, 50_000)
    show(50_000, 50_000)
    show.end()
    assert term.getvalue() == (
        "\rimporting d.csv: 20,000 / 50,000 rows (40%)"
        "\rimporting d.csv: 50,000 / 50,000 rows (100%)\n"
    )


def test_cli_end_to_end(
    import_token: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OUTAGEDESK_CONFIG_FILE", str(tmp_path / "none.toml"))
    # Tokens from the environment keep the OS keyring out of the test.
    monkeypatch.setenv("OUTAGEDESK_GATEWAY_TOKEN", "t")
    monkeypatch.setenv("OUTAGEDESK_OMS_TOKEN", "t")
    path = write_csv(tmp_path / "dir.csv", GOOD)

    assert cli_main(["import-accounts", str(path), "--data-dir", str(tmp_path)]) == 0
    out, _ = capsys.readouterr()
    assert "3 locations added" in out

    bad = write_csv(tmp_path / "bad.csv", BAD_FILE)
    assert cli_main(["import-accounts", str(bad), "--data-dir", str(tmp_path)]) == 1
    assert (
        cli_main(["import-accounts", str(bad), "--skip-bad-rows", "--data-dir", str(tmp_path)]) == 0
    )
    out, _ = capsys.readouterr()
    assert "13 rows skipped" in out
    eng = make_engine(f"sqlite:///{tmp_path / 'outagedesk.db'}")
    try:
        assert set(locations(eng)) == {
            "SL-100-1",
            "SL-100-2",
            "SL-200-1",
            "SL-1",
            "SL-13",
            "SL-16",
        }
    finally:
        eng.dispose()


# --------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_postgres_import_reimport_and_rollback(
    pg_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(directory, "ANALYZE_AFTER_ROWS", 5)
    report = import_accounts_csv(pg_engine, write_csv(tmp_path / "dir.csv", GOOD))
    assert (report.locations_added, report.links_added) == (3, 4)
    with pg_engine.connect() as conn:  # statistics refreshed: the planner knows the rows
        analyzed = conn.scalar(
            text("SELECT reltuples FROM pg_class WHERE oid = 'phone_links'::regclass")
        )
    assert analyzed == 4
    assert locations(pg_engine)["SL-200-1"][:5] == ("A-200", "M-3", "Ben Duran", "3 Oak Ave", True)
    assert locations(pg_engine)["SL-100-2"][1] is None

    changed = [*GOOD, "A-300,SL-300-1,M-9,Cy Esquibel,9 Elm St,+15055550101,no"]
    changed[1] = "A-100,SL-100-1,M-1,Ana Baca,99 New Rd,+15055550101,no"
    again = import_accounts_csv(pg_engine, write_csv(tmp_path / "dir2.csv", changed))
    assert (again.locations_added, again.locations_updated, again.locations_unchanged) == (
        1,
        1,
        2,
    )
    assert again.links_added == 1
    assert count(pg_engine, ServiceLocation) == 4
    assert count(pg_engine, PhoneLink) == 5

    before = snapshot(pg_engine)
    with pytest.raises(ImportFailed):
        import_accounts_csv(pg_engine, write_csv(tmp_path / "bad.csv", BAD_FILE))
    assert snapshot(pg_engine) == before

    skipped = import_accounts_csv(
        pg_engine, write_csv(tmp_path / "bad.csv", BAD_FILE), skip_bad=True
    )
    assert skipped.locations_added == 3
    assert locations(pg_engine)["SL-13"][2] == "Lu\nPadilla"


def removed(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(
            conn.scalars(
                select(ServiceLocation.service_location_id).where(
                    ServiceLocation.removed_at.is_not(None)
                )
            )
        )


def test_a_full_import_marks_unlisted_locations_removed_and_a_partial_one_does_not(
    db: DbUnderTest, tmp_path: Path
) -> None:
    everything = write_csv(tmp_path / "all.csv", GOOD)
    first_only = write_csv(tmp_path / "one.csv", GOOD[:2])
    import_accounts_csv(db.engine, everything)
    assert import_accounts_csv(db.engine, first_only, partial=True).locations_removed == 0
    assert removed(db.engine) == set()
    report = import_accounts_csv(db.engine, first_only)
    assert report.locations_removed == 2
    assert removed(db.engine) == {"SL-100-2", "SL-200-1"}
    # The links stay: the Mappings screen shows them as conflicts to resolve.
    assert count(db.engine, PhoneLink) == 4
    relisted = import_accounts_csv(db.engine, everything)
    assert (relisted.locations_removed, relisted.locations_updated) == (0, 2)
    assert removed(db.engine) == set()
    rows = [DirectoryRow("A-100", "SL-100-1", "M-1", "Ana Baca", "1 Main St", (), False)]
    assert import_directory_rows(db.engine, rows, partial=True).locations_removed == 0
    assert import_directory_rows(db.engine, rows).locations_removed == 2


# --------------------------------------------------------------------------- deferred indexes


def schema_of(engine: Engine) -> list[tuple[str, str, str]]:
    """The two tables' indexes and triggers, with their CREATE statements."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name IN "
            "('service_locations', 'phone_links') AND type IN ('index', 'trigger') ORDER BY name"
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def name_search(engine: Engine, word: str) -> set[str]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT service_location_id FROM service_locations WHERE id IN (SELECT rowid "
            "FROM service_locations_fts WHERE service_locations_fts MATCH ?)",
            (word,),
        ).all()
    return {r[0] for r in rows}


def fts_is_consistent(engine: Engine) -> bool:
    """FTS5's own check that the index holds exactly what the table holds."""
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO service_locations_fts (service_locations_fts) "
                "VALUES ('integrity-check')"
            )
    except OperationalError:
        return False
    return True


def pragmas(dbapi_conn: Any) -> tuple[int, int]:
    """The connection's sorter threads and page cache size."""
    threads = dbapi_conn.execute("PRAGMA threads").fetchone()[0]
    return int(threads), int(dbapi_conn.execute("PRAGMA cache_size").fetchone()[0])


def fts_hashsize(dbapi_conn: Any) -> int:
    """The full-text index's stored "hashsize" (1 MiB when never set)."""
    row = dbapi_conn.execute(
        "SELECT v FROM service_locations_fts_config WHERE k = 'hashsize'"
    ).fetchone()
    return int(row[0]) if row else 1024 * 1024


def numbered_rows(first: int, count: int, name: str) -> list[str]:
    return [
        f"A-{i},SL-{i},M-{i},{name} {i},{i} Main St,+1505555{i % 100:04d},no"
        for i in range(first, first + count)
    ]


def test_a_big_import_into_a_small_table_builds_its_indexes_at_the_end(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Indexes and the full-text trigger are dropped for the writing and come back exactly as
    they were; the names already there are not indexed twice."""
    import_accounts_csv(
        engine, write_csv(tmp_path / "few.csv", [HEADER, *numbered_rows(0, 5, "Baca")])
    )
    schema = schema_of(engine)
    assert any(kind == "trigger" for kind, _, _ in schema)
    monkeypatch.setattr(directory, "_DEFER_MIN_ROWS", 20)
    dropped: list[list[tuple[str, str, str]]] = []
    real_build = directory._Writer.build_deferred

    def spy_build(self: Any) -> None:
        dropped.append(list(self.deferred))
        real_build(self)

    monkeypatch.setattr(directory._Writer, "build_deferred", spy_build)
    many = [HEADER, *numbered_rows(0, 5, "Baca"), *numbered_rows(5, 40, "Duran")]
    hashsizes: list[int] = []  # the full-text hash size in force at each statement
    sorting: set[tuple[int, int]] = set()  # (sorter threads, cache size) at each index build

    @event.listens_for(engine, "after_cursor_execute")
    def note_hashsize(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().startswith("INSERT INTO service_locations_fts (rowid"):  # the fill
            hashsizes.append(fts_hashsize(conn.connection.driver_connection))

    @event.listens_for(engine, "before_cursor_execute")
    def note_sorting(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("CREATE INDEX"):
            sorting.add(pragmas(conn.connection.driver_connection))

    report = import_accounts_csv(engine, write_csv(tmp_path / "many.csv", many))
    event.remove(engine, "after_cursor_execute", note_hashsize)
    event.remove(engine, "before_cursor_execute", note_sorting)

    assert (report.locations_added, report.locations_unchanged) == (40, 5)
    assert report.links_added == 40
    assert len(dropped) == 1
    assert dropped[0], "the indexes were not deferred"
    assert {name for _, name, _ in dropped[0]} >= {
        "ix_phone_links_account_bytes",
        "ix_service_locations_meter_id_ci",
        "service_locations_fts_ai",
    }
    # The table held links: the unique index stays to decide the conflicts.
    assert "uq_phone_link" not in {name for _, name, _ in dropped[0]}
    assert schema_of(engine) == schema
    assert fts_is_consistent(engine)
    # The indexes were sorted on helper threads; the pooled connection is as it was.
    assert sorting == {(2, -2 * 1024)}
    with engine.connect() as conn:
        assert pragmas(conn.connection.driver_connection) == (0, -2000)
    # One fill, with a big hash of pending terms; the index keeps its own setting afterwards.
    assert hashsizes == [64 * 1024 * 1024]
    with engine.connect() as conn:
        assert fts_hashsize(conn.connection.driver_connection) == 1024 * 1024
    assert name_search(engine, "duran") == {f"SL-{i}" for i in range(5, 45)}
    with session_factory(engine)() as s:
        assert [t.account_number for t in link_targets(s, ["+15055550007"])["+15055550007"]] == [
            "A-7"
        ]
    # Each location is indexed once: after a rename its old name no longer finds it.
    renamed = [HEADER, "A-0,SL-0,M-0,Zamora 0,0 Main St,+15055550000,no"]
    import_accounts_csv(engine, write_csv(tmp_path / "renamed.csv", renamed), partial=True)
    assert name_search(engine, "baca") == {f"SL-{i}" for i in range(1, 5)}
    assert name_search(engine, "zamora") == {"SL-0"}
    # The trigger is back: a location added later is found by name.
    import_directory_rows(
        engine,
        [DirectoryRow("A-99", "SL-99", None, "Cy Esquibel", "9 Elm St", (), False)],
        partial=True,
    )
    assert name_search(engine, "esquibel") == {"SL-99"}
    assert fts_is_consistent(engine)


def test_a_big_import_into_no_links_builds_their_unique_index_at_the_end(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no links yet, the links go in without their unique index, which is built at the
    end and then refuses a second copy of a link as before."""
    monkeypatch.setattr(directory, "_DEFER_MIN_ROWS", 20)
    schema = schema_of(engine)
    statements: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def note(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split()))

    rows = [HEADER, *numbered_rows(0, 40, "Baca")]
    rows[40] = "A-39,SL-39,M-39,Baca 39,39 Main St,+15055550039;+15055550001,no"  # SL-1's too
    report = import_accounts_csv(engine, write_csv(tmp_path / "first.csv", rows))
    event.remove(engine, "before_cursor_execute", note)

    assert (report.locations_added, report.links_added) == (40, 41)
    assert 'DROP INDEX "uq_phone_link"' in statements
    link_inserts = [s for s in statements if s.startswith("INSERT INTO phone_links")]
    assert link_inserts
    assert not any("ON CONFLICT" in s for s in link_inserts)
    assert schema_of(engine) == schema
    expected = {(f"+1505555{i:04d}", f"A-{i}", f"SL-{i}") for i in range(40)}
    assert links(engine) == expected | {("+15055550001", "A-39", "SL-39")}
    with session_factory(engine)() as s:
        found = link_targets(s, ["+15055550001"])["+15055550001"]
        assert sorted(t.service_location_id or "" for t in found) == ["SL-1", "SL-39"]
    again = import_accounts_csv(engine, write_csv(tmp_path / "again.csv", rows))
    assert (again.locations_unchanged, again.links_added) == (40, 0)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO phone_links (phone, account_number, service_location_id, source, "
            "created_by, desk, created_at, reviewed, version) VALUES "
            "('+15055550001', 'A-1', 'SL-1', 'directory', 'x', '', '2026-11-28 00:00:00', 1, 1)"
        )


def test_a_failed_big_import_keeps_every_index(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(directory, "_DEFER_MIN_ROWS", 20)
    schema = schema_of(engine)
    bad = [HEADER, *numbered_rows(0, 40, "Baca"), "A-1,,M-1,N,1 Main St,,no"]
    with pytest.raises(ImportFailed):
        import_accounts_csv(engine, write_csv(tmp_path / "bad.csv", bad))
    assert schema_of(engine) == schema
    assert count(engine, ServiceLocation) == 0
    assert journal_mode(tmp_path / "t.db") == "wal"

    monkeypatch.setattr(directory, "BATCH_ROWS", 10)
    fail_write(monkeypatch, on_call=3)
    good = [HEADER, *numbered_rows(0, 40, "Baca")]
    with pytest.raises(RuntimeError, match="disk on fire"):
        import_accounts_csv(engine, write_csv(tmp_path / "good.csv", good))
    assert schema_of(engine) == schema
    assert count(engine, ServiceLocation) == 0
    assert fts_is_consistent(engine)
    assert journal_mode(tmp_path / "t.db") == "wal"


# --------------------------------------------------------------------------- journal mode


def journal_mode(path: Path) -> str:
    """The database file's journal mode, as a newly opened connection finds it."""
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        conn.close()


def journal_files(path: Path) -> set[str]:
    return {p.name.removeprefix(path.name) for p in path.parent.glob(path.name + "-*")}


def test_a_first_big_import_writes_with_a_rollback_journal_then_returns_to_wal(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alone with an empty database, the import writes each page once (no WAL to copy back),
    and the database is in WAL mode again afterwards."""
    monkeypatch.setattr(directory, "_DEFER_MIN_ROWS", 20)
    monkeypatch.setattr(directory, "BATCH_ROWS", 10)
    db = tmp_path / "t.db"
    assert journal_mode(db) == "wal"
    during: list[set[str]] = []

    def note(done: int, total: int) -> None:
        during.append(journal_files(db))

    timeouts: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def note_timeout(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith(("PRAGMA busy_timeout", "COMMIT")):
            timeouts.append(statement)

    rows = [HEADER, *numbered_rows(0, 40, "Baca")]
    report = import_accounts_csv(engine, write_csv(tmp_path / "first.csv", rows), progress=note)
    event.remove(engine, "before_cursor_execute", note_timeout)

    assert report.locations_added == 40
    # No waiting for readers while writing pages out; the commit waits for them as always.
    assert timeouts == [
        "PRAGMA busy_timeout",
        "PRAGMA busy_timeout = 0",
        "PRAGMA busy_timeout = 10000",
    ]
    assert during
    assert all(files == {"-journal"} for files in during)
    assert journal_mode(db) == "wal"
    assert len(locations(engine)) == 40
    assert fts_is_consistent(engine)
    # A re-import into the full table is an ordinary one, in WAL mode.
    during.clear()
    again = import_accounts_csv(engine, write_csv(tmp_path / "again.csv", rows), progress=note)
    assert again.locations_unchanged == 40
    assert during
    assert all("-wal" in files and "-journal" not in files for files in during)


def test_a_big_import_stays_in_wal_while_another_connection_is_open(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(directory, "_DEFER_MIN_ROWS", 20)
    db = tmp_path / "t.db"
    desk = make_engine(f"sqlite:///{db}")
    seen: list[set[str]] = []
    try:
        with desk.connect() as open_elsewhere:
            open_elsewhere.exec_driver_sql("SELECT 1").all()
            open_elsewhere.rollback()  # open, idle
            report = import_accounts_csv(
                engine,
                write_csv(tmp_path / "first.csv", [HEADER, *numbered_rows(0, 40, "Baca")]),
                progress=lambda done, total: seen.append(journal_files(db)),
            )
    finally:
        desk.dispose()
    assert report.locations_added == 40
    assert seen
    assert all("-journal" not in files for files in seen)
    assert journal_mode(db) == "wal"


def test_a_desk_opening_during_a_first_import_reads_and_switches_to_wal_with_it(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection opened while the import holds the database in rollback-journal mode
    opens (its own request for WAL is refused), reads what was there before, and is in WAL
    mode with everyone else once the import has committed."""
    monkeypatch.setattr(directory, "_DEFER_MIN_ROWS", 20)
    monkeypatch.setattr(directory, "BATCH_ROWS", 10)
    db = tmp_path / "t.db"
    desk = make_engine(f"sqlite:///{db}")
    reads, _ = make_reader_engine(desk)
    read_during: list[int] = []
    opened: list[Any] = []

    def open_a_desk(done: int, total: int) -> None:
        if not opened:
            opened.append(desk.connect())
        read_during.append(count(reads, ServiceLocation))

    try:
        report = import_accounts_csv(
            engine,
            write_csv(tmp_path / "first.csv", [HEADER, *numbered_rows(0, 40, "Baca")]),
            progress=open_a_desk,
        )
        assert report.locations_added == 40
        assert read_during
        assert set(read_during) == {0}
        assert journal_mode(db) == "wal"
        assert count(desk, ServiceLocation) == 40
        with desk.begin() as conn:
            conn.exec_driver_sql("UPDATE service_locations SET meter_id = NULL WHERE id = 1")
        assert "-wal" in journal_files(db)
    finally:
        for conn in opened:
            conn.close()
        reads.dispose()
        desk.dispose()


def test_the_return_to_wal_waits_for_a_reader_and_gives_up_in_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "r.db"
    importer = sqlite3.connect(db, isolation_level=None, timeout=2)
    reader = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    try:
        importer.execute("CREATE TABLE t (x)")
        assert importer.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete"
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM t").fetchone()  # holds the database open
        done = threading.Timer(0.3, reader.execute, ("COMMIT",))
        done.start()
        directory._back_to_wal(importer, str(db))  # waits for the reader to finish
        done.join()
        assert journal_mode(db) == "wal"

        assert importer.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete"
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM t").fetchone()
        importer.execute("PRAGMA busy_timeout = 200")
        with caplog.at_level("WARNING", logger="outagedesk.directory"):
            directory._back_to_wal(importer, str(db))  # the reader outlasts the busy timeout
        assert "stays in rollback-journal mode" in caplog.text
        reader.execute("COMMIT")
    finally:
        importer.close()
        reader.close()
    assert journal_mode(db) == "delete"
    # The next connection the app opens asks for WAL.
    eng = make_engine(f"sqlite:///{db}")
    try:
        with eng.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        eng.dispose()
