"""Benchmark ``outagedesk import-accounts``: import, re-import and phone look-up latency.

Run by hand (not a test)::

    .venv/bin/python bench/import_accounts.py                  # 1,000,000 rows into SQLite
    .venv/bin/python bench/import_accounts.py --rows 100000
    .venv/bin/python bench/import_accounts.py \\
        --db-url postgresql+psycopg://postgres@127.0.0.1:5432/test

The CSV comes from the simulator's directory generator. ``--unique-phones`` rewrites every
phone to a distinct valid number (the generator's fictional 555-01NN block holds only ~35,000
numbers, so a big directory repeats them), which is the worst case for phone normalisation.
On PostgreSQL the run happens in a throw-away schema that is dropped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, func, select

from outagedesk.directory import ImportReport, import_accounts_csv
from outagedesk.sim import DirectoryRow, generate_directory, write_directory_csv
from outagedesk.store.db import make_engine, migrate, session_factory
from outagedesk.store.links import link_targets
from outagedesk.store.models import PhoneLink, ServiceLocation

from pgschema import drop_schema, postgres_schema


def unique_phones(rows: Iterator[DirectoryRow]) -> Iterator[DirectoryRow]:
    """Give every account numbers of its own (+1 AAA 2XX XXXX, all valid NANP numbers).

    The rows of an account are consecutive, so only the current account is remembered.
    """
    areas = ("505", "575", "303", "720", "602", "480", "915", "801")
    serial = 0
    account = ""
    phones: tuple[str, ...] = ()
    for row in rows:
        if row.account_number != account:
            account = row.account_number
            fresh = []
            for _ in row.phones:
                serial += 1
                fresh.append(f"+1{areas[serial % 8]}{2_000_000 + serial // 8:07d}")
            phones = tuple(fresh)
        yield dataclasses.replace(row, phones=phones)


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the file's reading process)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class ChildMemory:
    """The highest peak memory (VmHWM) seen in this process's children, sampled while they run
    (Linux). ``ru_maxrss`` of the children would count the memory a child shared with this
    process between its start and its exec."""

    def __init__(self) -> None:
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> ChildMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            for children in Path("/proc/self/task").glob("*/children"):
                for pid in children.read_text().split():
                    with contextlib.suppress(OSError):
                        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                            if line.startswith("VmHWM:"):
                                self.peak_kib = max(self.peak_kib, int(line.split()[1]))


def timed_import(engine: Engine, csv_path: Path, label: str) -> ImportReport:
    started, cpu = time.perf_counter(), cpu_seconds()
    with ChildMemory() as reader:
        report = import_accounts_csv(engine, csv_path)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    print(
        f"{label}: {report.rows_read:,} rows in {seconds:.2f} s "
        f"({report.rows_read / seconds:,.0f} rows/s; {cpu:.1f} s CPU with the reading process; "
        f"load average {os.getloadavg()[0]:.2f}): added {report.locations_added:,}, "
        f"updated {report.locations_updated:,}, unchanged {report.locations_unchanged:,}, "
        f"links added {report.links_added:,}; the reading process's peak memory "
        f"{reader.peak_kib / 1024:.0f} MB"
    )
    return report


def lookups(engine: Engine, count: int, seed: int) -> None:
    sessions = session_factory(engine)
    with sessions() as session:
        phones = list(session.scalars(select(PhoneLink.phone).distinct()))
    rng = random.Random(seed)
    sample = [rng.choice(phones) for _ in range(count)]
    timings: list[float] = []
    targets = 0
    with sessions() as session:
        for phone in sample:
            started = time.perf_counter()
            found = link_targets(session, [phone])
            timings.append(time.perf_counter() - started)
            targets += len(found.get(phone, ()))
            session.rollback()
    q = statistics.quantiles(timings, n=100)
    print(
        f"look-up: {count:,} random phones one at a time: p50 {q[49] * 1000:.2f} ms, "
        f"p99 {q[98] * 1000:.2f} ms, max {max(timings) * 1000:.2f} ms "
        f"({targets / count:.1f} targets per phone, {len(phones):,} distinct phones)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db-url", help="SQLAlchemy URL (default: a fresh SQLite file)")
    parser.add_argument("--lookups", type=int, default=10_000)
    parser.add_argument("--unique-phones", action="store_true")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep the files")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="outagedesk-bench-") as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        csv_path = work / f"directory-{args.rows}.csv"
        started = time.perf_counter()
        rows = generate_directory(args.rows, args.seed)
        if args.unique_phones:
            rows = unique_phones(rows)
        write_directory_csv(rows, csv_path)
        print(
            f"generated {csv_path.name} ({csv_path.stat().st_size / 1e6:.0f} MB) "
            f"in {time.perf_counter() - started:.1f} s"
        )

        schema = None
        if args.db_url:
            url = args.db_url
            if url.startswith("postgresql"):
                schema, url = postgres_schema(url)
        else:
            # A kept directory still holds the last run's database: start empty, or the first
            # import would silently be a re-import.
            for stale in work.glob("bench.db*"):
                stale.unlink()
            url = f"sqlite:///{work / 'bench.db'}"
        engine = make_engine(url)
        try:
            migrate(engine)
            print(f"database: {engine.url.render_as_string(hide_password=True)}")
            timed_import(engine, csv_path, "import")
            timed_import(engine, csv_path, "re-import (unchanged)")
            with engine.connect() as conn:
                locations = conn.scalar(select(func.count()).select_from(ServiceLocation))
                links = conn.scalar(select(func.count()).select_from(PhoneLink))
            print(f"rows in the database: {locations:,} locations, {links:,} phone links")
            lookups(engine, args.lookups, args.seed)
        finally:
            engine.dispose()
            if schema and args.db_url:
                drop_schema(args.db_url, schema)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS): {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
