"""Benchmark the link dialog's directory search and suggestions on a big directory.

Run by hand (not a test)::

    .venv/bin/python bench/directory_search.py                  # 1,000,000 locations, SQLite
    .venv/bin/python bench/directory_search.py --rows 100000
    .venv/bin/python bench/directory_search.py \\
        --db-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/directory_search.py --import-cost    # what the FTS triggers cost

The directory comes from the simulator's generator, written as CSV and loaded with
``import_accounts_csv``. Then it times 500 searches (account prefixes, full account, location
and meter IDs, meter prefixes, name prefixes, "12 Main" style addresses, phone numbers in
several formats, words that match nothing) and 200 suggestion calls, each in its own
transaction, and prints p50/p95/p99/max per kind. ``--import-cost`` first imports the same file
into a database migrated only to 0001 (no search indexes, no FTS triggers), then into one at
head, and times the 0001 -> 0002 upgrade of the filled baseline. ``--keep DIR`` keeps the CSV
(the next run reuses it) and the SQLite database.

On PostgreSQL the run happens in a throw-away schema of the given database, dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from alembic import command
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.orm import Session

from outagedesk.directory import import_accounts_csv
from outagedesk.sim import generate_directory, write_directory_csv
from outagedesk.store.db import alembic_config, make_engine, migrate, session_factory
from outagedesk.store.models import PhoneLink, ServiceLocation, utcnow
from outagedesk.store.search import search_directory, suggest_for_message

from pgschema import drop_schema, postgres_schema

NO_MATCH = ("zqxv", "qwzzy", "xylophonic", "brightwatr", "zz top", "kettleman zqx", "99999999")
UNKNOWN_PHONES = ("+12085550100", "+14065550177", "+12085550142")


def timed_import(engine: Engine, csv_path: Path, label: str) -> tuple[float, float]:
    """Wall-clock seconds and this process's CPU seconds (on SQLite that includes the
    database's own work, and it is far less sensitive to other load on the machine)."""
    started, cpu = time.perf_counter(), time.process_time()
    report = import_accounts_csv(engine, csv_path)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"{label}: {report.rows_read:,} rows in {seconds:.1f} s, {cpu:.1f} s CPU here "
        f"({report.rows_read / seconds:,.0f} rows/s), {report.links_added:,} links",
        flush=True,
    )
    return seconds, cpu


class Database:
    """A fresh database for the run: an SQLite file in ``work``, or a throw-away schema."""

    def __init__(self, work: Path, name: str, db_url: str | None) -> None:
        self.db_url = db_url
        self.schema: str | None = None
        self.files: list[Path] = []
        if db_url:
            url = db_url
            if url.startswith("postgresql"):
                self.schema, url = postgres_schema(url)
        else:
            path = work / f"{name}.db"
            self.files = [path, path.with_name(f"{name}.db-wal"), path.with_name(f"{name}.db-shm")]
            self.remove_files()
            url = f"sqlite:///{path}"
        self.engine = make_engine(url)

    def remove_files(self) -> None:
        for path in self.files:
            path.unlink(missing_ok=True)

    def close(self, *, keep: bool = False) -> None:
        self.engine.dispose()
        if self.schema and self.db_url:
            drop_schema(self.db_url, self.schema)
        if not keep:
            self.remove_files()


def import_cost(work: Path, csv_path: Path, db_url: str | None) -> None:
    """The same import without (0001) and with (head) the search objects."""
    base = Database(work, "baseline", db_url)
    try:
        command.upgrade(alembic_config(base.engine), "0001")
        without = timed_import(base.engine, csv_path, "import at 0001 (no search objects)")
        started = time.perf_counter()
        command.upgrade(alembic_config(base.engine), "head")
        print(f"upgrade 0001 -> 0002 of the filled database: {time.perf_counter() - started:.1f} s")
    finally:
        base.close()
    full = Database(work, "head", db_url)
    try:
        migrate(full.engine)
        with_search = timed_import(full.engine, csv_path, "import at head (search objects)")
    finally:
        full.close()
    (wall, cpu), (wall0, cpu0) = with_search, without
    print(
        f"search objects cost {wall - wall0:+.1f} s wall ({wall / wall0 - 1:+.0%}), "
        f"{cpu - cpu0:+.1f} s CPU ({cpu / cpu0 - 1:+.0%}) on a "
        f"{csv_path.stat().st_size / 1e6:.0f} MB import (load average {os.getloadavg()[0]:.2f})",
        flush=True,
    )


def add_dispatcher_links(engine: Engine, rng: random.Random, count: int) -> list[str]:
    """Links made by dispatchers (so suggestions have "linked here before" to find)."""
    with engine.begin() as conn:
        top = conn.scalar(select(ServiceLocation.id).order_by(ServiceLocation.id.desc()).limit(1))
        ids = rng.sample(range(1, int(top or 0) + 1), count)
        rows = conn.execute(
            select(ServiceLocation.account_number, ServiceLocation.service_location_id).where(
                ServiceLocation.id.in_(ids)
            )
        ).all()
        phones = [f"+1208{2_000_000 + i:07d}" for i in range(len(rows))]
        conn.execute(
            insert(PhoneLink),
            [
                {
                    "phone": phone,
                    "account_number": account,
                    "service_location_id": location if i % 4 else None,
                    "source": "dispatcher",
                    "created_by": "bench",
                    "desk": "",
                    "created_at": utcnow(),
                    "reviewed": False,
                    "version": 1,
                }
                for i, (phone, (account, location)) in enumerate(zip(phones, rows, strict=True))
            ],
        )
    return phones


def sample_rows(session: Session, rng: random.Random, count: int) -> list[ServiceLocation]:
    top = session.scalar(select(ServiceLocation.id).order_by(ServiceLocation.id.desc()).limit(1))
    ids = rng.sample(range(1, int(top or 0) + 1), count)
    return list(session.scalars(select(ServiceLocation).where(ServiceLocation.id.in_(ids))))


def phone_formats(e164: str, rng: random.Random) -> str:
    digits = e164[2:]
    area, exchange, line = digits[:3], digits[3:6], digits[6:]
    return rng.choice(
        (
            e164,
            f"({area}) {exchange}-{line}",
            f"{area}.{exchange}.{line}",
            f"1 {area} {exchange} {line}",
            digits,
        )
    )


def search_workload(
    session: Session, rng: random.Random, phones: list[str]
) -> list[tuple[str, str]]:
    rows = sample_rows(session, rng, 400)
    work: list[tuple[str, str]] = []

    def pick() -> ServiceLocation:
        return rng.choice(rows)

    for _ in range(50):
        acct = pick().account_number
        work.append(("account prefix", acct[: rng.randint(2, len(acct) - 1)]))
    for _ in range(50):
        work.append(("full account", pick().account_number))
    for _ in range(50):
        sl = pick().service_location_id
        work.append(("location id", sl.lower() if rng.random() < 0.5 else sl))
    meters = [r.meter_id for r in rows if r.meter_id]
    for _ in range(50):
        work.append(("meter id", rng.choice(meters)))
    for _ in range(50):
        meter = rng.choice(meters).lower()
        work.append(("meter prefix", meter[: rng.randint(3, len(meter) - 1)]))
    for _ in range(75):
        words = pick().customer_name.split()
        if rng.random() < 0.3 and len(words) > 1:
            query = f"{words[0]} {words[1][: rng.randint(1, 4)]}"
        else:
            word = rng.choice(words)
            query = word[: rng.randint(3, max(3, len(word)))]
        work.append(("name prefix", query.lower()))
    for _ in range(75):
        number, *street = pick().service_address.split()
        query = f"{number} {street[0]}" if rng.random() < 0.7 else f"{number} {' '.join(street)}"
        work.append(("address", query))
    for _ in range(50):
        work.append(("phone", phone_formats(rng.choice(phones), rng)))
    for _ in range(50):
        work.append(("no match", rng.choice(NO_MATCH)))
    rng.shuffle(work)
    return work


def suggestion_workload(
    session: Session, rng: random.Random, phones: list[str], dispatcher_phones: list[str]
) -> list[tuple[str, str, str]]:
    rows = sample_rows(session, rng, 200)
    work: list[tuple[str, str, str]] = []
    for i in range(200):
        row = rows[i % len(rows)]
        phone = rng.choice(phones)
        kind = ("account", "meter", "address", "earlier link", "on file", "unknown")[i % 6]
        if kind == "account":
            body = f"OUT acct {row.account_number}"
        elif kind == "meter":
            body = f"OUT meter {row.meter_id or 'M-1'} since 3pm"
        elif kind == "address":
            body = f"power out at {row.service_address} since 3 pm"
        elif kind == "earlier link":
            phone, body = rng.choice(dispatcher_phones), "OUT"
        elif kind == "on file":
            body = "OUT"
        else:
            phone, body = rng.choice(UNKNOWN_PHONES), "OUT no lights on my street"
        work.append((kind, phone, body))
    return work


def timed(
    sessions: Callable[[], Session], work: list[tuple[str, Callable[[Session], int]]]
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Milliseconds and hits per kind; each call in its own transaction."""
    timings: dict[str, list[float]] = defaultdict(list)
    hits: dict[str, int] = defaultdict(int)
    with sessions() as session:
        for _kind, call in work[:20]:  # warm the caches: the dialog runs on a live database
            call(session)
            session.rollback()
        for kind, call in work:
            started = time.perf_counter()
            hits[kind] += call(session)
            timings[kind].append((time.perf_counter() - started) * 1000)
            session.rollback()
    return timings, hits


def report(title: str, timings: dict[str, list[float]], counts: dict[str, int]) -> None:
    print(f"\n{title} (ms)")
    print(f"  {'kind':<16}{'n':>5}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}{'hits/call':>11}")
    everything = [t for values in timings.values() for t in values]
    for kind, values in [*sorted(timings.items()), ("ALL", everything)]:
        q = statistics.quantiles(values, n=100, method="inclusive")
        hits = counts.get(kind, sum(counts.values())) / len(values)
        print(
            f"  {kind:<16}{len(values):>5}{q[49]:>9.2f}{q[94]:>9.2f}{q[98]:>9.2f}"
            f"{max(values):>9.2f}{hits:>11.1f}"
        )


def run(engine: Engine, rng: random.Random) -> None:
    sessions = session_factory(engine)
    dispatcher_phones = add_dispatcher_links(engine, rng, 300)
    with sessions() as session:
        phones = list(
            session.scalars(
                select(PhoneLink.phone).where(PhoneLink.source == "directory").limit(20_000)
            )
        )
        searches = search_workload(session, rng, phones)
        suggestions = suggestion_workload(session, rng, phones, dispatcher_phones)

    def search(query: str) -> Callable[[Session], int]:
        return lambda session: len(search_directory(session, query))

    timings, hits = timed(sessions, [(kind, search(query)) for kind, query in searches])
    report(f"search_directory, {len(searches)} searches, limit 50", timings, hits)

    def suggest(phone: str, body: str) -> Callable[[Session], int]:
        return lambda session: len(suggest_for_message(session, phone, body))

    work = [(kind, suggest(phone, body)) for kind, phone, body in suggestions]
    timings, hits = timed(sessions, work)
    report(f"suggest_for_message, {len(suggestions)} calls, limit 10", timings, hits)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db-url", help="SQLAlchemy URL (default: a fresh SQLite file)")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep the files")
    parser.add_argument(
        "--import-cost",
        type=int,
        nargs="?",
        const=1,
        default=0,
        metavar="ROUNDS",
        help="also time the import without the search objects (migrated to 0001 only) and "
        "with them, ROUNDS times (default 1)",
    )
    parser.add_argument(
        "--no-search", action="store_true", help="with --import-cost: only time the imports"
    )
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory(prefix="outagedesk-bench-") as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        csv_path = work / f"directory-{args.rows}-{args.seed}.csv"
        if not csv_path.exists():
            started = time.perf_counter()
            write_directory_csv(generate_directory(args.rows, args.seed), csv_path)
            print(f"generated {csv_path.name} in {time.perf_counter() - started:.1f} s")
        for _ in range(args.import_cost):
            import_cost(work, csv_path, args.db_url)
        if args.import_cost and args.no_search:
            return 0

        database = Database(work, "search", args.db_url)
        engine = database.engine
        try:
            migrate(engine)
            print(f"database: {engine.url.render_as_string(hide_password=True)}")
            timed_import(engine, csv_path, "import")
            if engine.dialect.name == "postgresql":
                with engine.begin() as conn:
                    conn.execute(text("ANALYZE service_locations, phone_links"))
            print(f"cpus: {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
            run(engine, rng)
        finally:
            database.close(keep=bool(args.keep))
    return 0


if __name__ == "__main__":
    sys.exit(main())
