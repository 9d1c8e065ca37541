"""Benchmark the Mappings screen on N links, and bulk corrections from a CSV file.

Run by hand (not a test)::

    .venv/bin/python bench/mappings.py                        # 1,000,000 links, SQLite
    .venv/bin/python bench/mappings.py --links 100000 --bulk 100000
    .venv/bin/python bench/mappings.py --postgres [--pg-url URL]

A generated directory (one location per link, each with a number of its own) is imported
through the directory import; one link in twenty becomes a dispatcher's, unreviewed. Then the
screen's queries are timed: the first page as the screen opens (a page and the capped count),
searches by phone prefix, account, and name/address words, each sort order both ways, and
next pages. ``--bulk N`` also times the preview and the apply of N corrections (a third each
add, move and remove). On PostgreSQL the run happens in a throw-away schema.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Engine, select, text

from outagedesk.directory import import_directory_rows
from outagedesk.ops.base import Actor, Role
from outagedesk.ops.bulk_links import apply_corrections, plan_corrections
from outagedesk.sim import DirectoryRow, generate_directory
from outagedesk.store.db import make_engine, migrate, session_factory
from outagedesk.store.mappings import MappingQuery, MappingSort, count_mappings, page_mappings
from outagedesk.store.models import PhoneLink

from pgschema import drop_schema, postgres_schema

PAGE = 100
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
AREAS = ("505", "575", "303", "720", "602", "480", "915", "801")


def phone(serial: int) -> str:
    return f"+1{AREAS[serial % 8]}{2_000_000 + serial // 8:07d}"


def rows(count: int, seed: int) -> Iterator[DirectoryRow]:
    for serial, row in enumerate(generate_directory(count, seed)):
        yield dataclasses.replace(row, phones=(phone(serial),))


def timed(label: str, samples: int, run: Callable[[int], object]) -> None:
    took: list[float] = []
    for i in range(samples):
        started = time.perf_counter()
        run(i)
        took.append((time.perf_counter() - started) * 1000)
    q = statistics.quantiles(took, n=100) if len(took) > 1 else [took[0]] * 99
    print(f"{label:<34} p50 {q[49]:7.1f} ms  p95 {q[94]:7.1f} ms  p99 {q[98]:7.1f} ms")


def screen(engine: Engine, seed: int, samples: int) -> None:
    rng = random.Random(seed)
    with session_factory(engine)() as s:
        sample = s.execute(
            select(PhoneLink.phone, PhoneLink.account_number).order_by(PhoneLink.id).limit(5000)
        ).all()
        names = list(s.scalars(text("SELECT customer_name FROM service_locations LIMIT 5000")))

    def first_page(query: MappingQuery) -> None:
        with session_factory(engine)() as s:
            page_mappings(s, query, None, PAGE)
            count_mappings(s, query)

    timed("open (first page + count)", samples, lambda _i: first_page(MappingQuery()))
    timed(
        "search phone prefix (7 digits)",
        samples,
        lambda _i: first_page(MappingQuery(text=rng.choice(sample)[0][2:9])),
    )
    timed(
        "search account",
        samples,
        lambda _i: first_page(MappingQuery(text=rng.choice(sample)[1])),
    )
    timed(
        "search name words",
        samples,
        lambda _i: first_page(MappingQuery(text=rng.choice(names))),
    )
    timed(
        "filter unreviewed dispatcher links",
        samples,
        lambda _i: first_page(MappingQuery(source="dispatcher", reviewed=False)),
    )
    for sort in MappingSort:
        for descending in (False, True):
            query = MappingQuery(sort=sort, descending=descending)
            timed(
                f"sort {sort.value}{' desc' if descending else ''}",
                samples,
                lambda _i, q=query: first_page(q),  # type: ignore[misc]
            )

    def next_pages(_i: int) -> None:
        query = MappingQuery(sort=rng.choice(list(MappingSort)))
        with session_factory(engine)() as s:
            page = page_mappings(s, query, None, PAGE)
            for _ in range(5):
                page = page_mappings(s, query, page[-1], PAGE)

    timed("first page and 5 next pages", max(samples // 5, 2), next_pages)


def bulk(engine: Engine, size: int, links: int, seed: int, work: Path) -> None:
    rng = random.Random(seed + 1)
    with session_factory(engine)() as s:
        targets = s.execute(
            text("SELECT account_number, service_location_id FROM service_locations")
        ).all()
        linked = {
            p: (a, loc)
            for p, a, loc in s.execute(
                select(PhoneLink.phone, PhoneLink.account_number, PhoneLink.service_location_id)
            )
        }
    path = work / "corrections.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("phone,account_number,service_location_id,action\n")
        for i, serial in enumerate(rng.sample(range(links), size)):
            kind = i % 3
            if kind == 0:
                account, location = rng.choice(targets)
                out.write(f"{phone(links + serial)},{account},{location},add\n")
            elif kind == 1:
                account, location = rng.choice(targets)
                out.write(f"{phone(serial)},{account},{location},move\n")
            else:
                account, location = linked[phone(serial)]
                out.write(f"{phone(serial)},{account},{location},remove\n")
    sessions = session_factory(engine)
    with sessions() as s:
        started = time.perf_counter()
        plan = plan_corrections(s, path)
        planned = time.perf_counter() - started
        started = time.perf_counter()
        result = apply_corrections(s, Actor("bench", "bench", Role.SUPERVISOR), plan)
        applied = time.perf_counter() - started
    counts = ", ".join(f"{n:,} {o.value}" for o, n in plan.counts.items())
    print(f"bulk {size:,} corrections: preview {planned:.1f} s ({counts}); apply {applied:.1f} s")
    print(f"  {result.links_added:,} links added, {result.links_removed:,} removed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--bulk", type=int, default=0, metavar="N")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--pg-url", default=PG_URL)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="outagedesk-bench-") as tmp:
        schema = None
        if args.postgres:
            schema, url = postgres_schema(args.pg_url)
        else:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(url)
        try:
            migrate(engine)
            started = time.perf_counter()
            import_directory_rows(engine, rows(args.links, args.seed))
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "UPDATE phone_links SET source = 'dispatcher', reviewed = false "
                        "WHERE id % 20 = 0"
                    )
                )
                if args.postgres:
                    conn.execute(text("ANALYZE phone_links"))
            print(
                f"{engine.dialect.name}: {args.links:,} links built in "
                f"{time.perf_counter() - started:.0f} s"
            )
            screen(engine, args.seed, args.samples)
            if args.bulk:
                bulk(engine, args.bulk, args.links, args.seed, Path(tmp))
        finally:
            engine.dispose()
            if schema:
                drop_schema(args.pg_url, schema)
    return 0


if __name__ == "__main__":
    sys.exit(main())
