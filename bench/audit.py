"""Benchmark the Audit screen's queries on a big audit log.

Run by hand (not a test)::

    .venv/bin/python bench/audit.py                        # 1,000,000 audit rows, SQLite
    .venv/bin/python bench/audit.py --rows 100000
    .venv/bin/python bench/audit.py --postgres             # the test server on loopback
    .venv/bin/python bench/audit.py --postgres postgresql+psycopg://user@host/db
    .venv/bin/python bench/audit.py --keep /tmp/auditbench # keep (and next time reuse) SQLite

The log is written with bulk Core inserts (rows and their refs): people at a few desks linking,
moving and removing numbers (phone as subject, accounts inside the JSON), re-sending reports
(report IDs as subject, accounts inside the JSON), forcing opt-outs, signing in, over a year.
The number and size of the refs are printed; a kept database from before migration 0005 gets
them on the next run (the time the schema took is printed). Then each filter the screen offers
is timed on its first page (200 rows, what the screen asks for) and on a page from deep inside
the log, ``--queries`` times with varied values, each in its own transaction; p50/p95/max are
printed per filter. The filters' choices (people, actions) and the CSV export of one person's
rows are timed too.

On PostgreSQL the run happens in a throw-away schema, dropped at the end.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from outagedesk.store.audit import (
    PAGE_SIZE,
    AuditQuery,
    distinct_actions,
    distinct_people,
    export_audit_csv,
    page_audit,
)
from outagedesk.store.audit_refs import insert_audit_rows
from outagedesk.store.db import make_engine, migrate, session_factory
from outagedesk.store.models import AuditEntry, AuditRef

from pgschema import drop_schema, postgres_schema

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
START = datetime(2025, 12, 1, tzinfo=UTC)
YEAR = timedelta(days=365)
PEOPLE = [f"person{n:02d}" for n in range(40)]
DESKS = ("north", "south", "storm-1", "storm-2", "night")
# (action, weight): what a year of a control room writes.
ACTIONS = (
    ("link_add", 30),
    ("report_resend", 25),
    ("sign_in", 20),
    ("link_move", 8),
    ("link_remove", 5),
    ("consent_force_opt_out", 5),
    ("mapping_correct", 4),
    ("people_update", 2),
    ("directory_import", 1),
)
BATCH = 10_000


AREA_CODES = (505, 208, 406, 212, 303, 415, 617, 702, 312, 206, 503, 512, 602, 801, 907, 808)


def phone(n: int) -> str:
    # Fictional numbers only: 555 exchanges, spread over area codes.
    area = AREA_CODES[n % len(AREA_CODES)]
    return f"+1{area}555{n // len(AREA_CODES) % 10_000:04d}"


def account(n: int) -> str:
    return f"{100_000 + n}"


class Log:
    """The values a row was built from, to pick filters that match something."""

    def __init__(self, rows: int, seed: int) -> None:
        self.random = random.Random(seed)
        self.rows = rows
        self.phones = max(1000, rows // 5)
        self.accounts = max(1000, rows // 8)
        names, weights = zip(*ACTIONS, strict=True)
        self.actions = names
        self.weights = weights

    def row(self, i: int) -> dict[str, Any]:
        r = self.random
        at = START + YEAR * (i / self.rows) + timedelta(seconds=r.random())
        action = r.choices(self.actions, self.weights)[0]
        who = r.choice(PEOPLE)
        p = phone(r.randrange(self.phones))
        acct = account(r.randrange(self.accounts))
        before: dict[str, Any] | None
        after: dict[str, Any] | None
        link = {"phone": p, "account_number": acct, "service_location_id": f"SL-{acct}-1"}
        if action == "link_add":
            subject, before, after = p, {"links": []}, {"links": [link]}
        elif action == "link_move":
            old = {**link, "account_number": account(r.randrange(self.accounts))}
            subject, before, after = p, {"links": [old]}, {"links": [link]}
        elif action == "link_remove":
            subject, before, after = p, {"links": [link]}, None
        elif action == "report_resend":
            rid = f"r-{r.getrandbits(40):010x}"
            snap = {"revision": 1, "state": "unlinked", "account_number": None, "ticket_id": None}
            subject = rid
            before = {rid: snap}
            after = {rid: {**snap, "revision": 2, "state": "queued", "account_number": acct}}
        elif action == "consent_force_opt_out":
            subject = p
            before = {"keywords": {"OUT": True}, "all": True}
            after = {"keywords": {"OUT": False}, "all": False, "reason": "asked by phone"}
        elif action == "mapping_correct":
            subject, before, after = acct, {"meter_id": "M-1"}, {"meter_id": "M-2"}
        elif action == "directory_import":
            subject, before, after = "accounts.csv", None, {"rows": r.randrange(10**6)}
        else:
            subject, before, after = who, None, {"desk": r.choice(DESKS)}
        return {
            "at": at,
            "actor": who,
            "desk": r.choice(DESKS),
            "action": action,
            "subject": subject,
            "before": before,
            "after": after,
        }


def fill(engine: Engine, log: Log) -> float:
    started = time.perf_counter()
    with engine.begin() as conn:
        for start in range(0, log.rows, BATCH):
            insert_audit_rows(
                conn, [log.row(i) for i in range(start, min(log.rows, start + BATCH))]
            )
    return time.perf_counter() - started


def refs_size(engine: Engine) -> str:
    """How many refs the log has, and what the table and its key take on disk."""
    with engine.connect() as conn:
        count = int(conn.scalar(select(func.count()).select_from(AuditRef)) or 0)
        rows = int(conn.scalar(select(func.count()).select_from(AuditEntry)) or 1)
        if engine.dialect.name == "postgresql":
            size = conn.exec_driver_sql("SELECT pg_total_relation_size('audit_refs')").scalar()
            log_size = conn.exec_driver_sql("SELECT pg_total_relation_size('audit_log')").scalar()
        else:
            stat = "SELECT sum(pgsize) FROM dbstat WHERE name LIKE ?"
            size = conn.exec_driver_sql(stat, ("%audit_refs%",)).scalar()
            log_size = conn.exec_driver_sql(stat, ("%audit_log%",)).scalar()
    return (
        f"{count:,} refs ({count / rows:.1f} a row), {int(size or 0) / 1e6:.0f} MB "
        f"beside {int(log_size or 0) / 1e6:.0f} MB of audit_log and its indexes"
    )


def timed(session_of: Callable[[], Session], fn: Callable[[Session], object]) -> float:
    with session_of() as s:
        started = time.perf_counter()
        fn(s)
        return (time.perf_counter() - started) * 1000


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run(engine: Engine, log: Log, queries: int) -> None:
    sessions = session_factory(engine)
    with sessions() as s:
        total = int(s.scalar(select(func.count()).select_from(AuditEntry)) or 0)
        top = int(s.scalar(select(func.max(AuditEntry.id))) or 0)
    print(f"{total:,} audit rows")
    r = random.Random(99)

    def pick_phone() -> str:
        # National format, as a person types it: normalised by the query.
        e164 = phone(r.randrange(log.phones))
        return f"({e164[2:5]}) {e164[5:8]}-{e164[8:]}"

    def days(n: int, person: str = "") -> AuditQuery:
        since = START + timedelta(days=r.randrange(365 - n))
        return AuditQuery(person=person, since=since, until=since + timedelta(days=n))

    makers: dict[str, Callable[[], AuditQuery]] = {
        "none": AuditQuery,
        "person": lambda: AuditQuery(person=r.choice(PEOPLE)),
        "action (exact)": lambda: AuditQuery(action=r.choice(log.actions)),
        "action (prefix link_)": lambda: AuditQuery(action="link_"),
        "phone": lambda: AuditQuery(phone=pick_phone()),
        "time (one day)": lambda: days(1),
        "time (one week)": lambda: days(7),
        "person + one week": lambda: days(7, r.choice(PEOPLE)),
        "account": lambda: AuditQuery(account=account(r.randrange(log.accounts))),
        "text": lambda: AuditQuery(text=f"r-{r.getrandbits(16):04x}"),
    }
    print(f"\n{'filter':<24} {'page':<6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  rows (median)")
    for name, make in makers.items():
        for where in ("first", "deep"):
            times: list[float] = []
            counts: list[int] = []
            for _ in range(queries):
                query = make()
                before = None if where == "first" else r.randrange(top // 10, top // 2)
                with sessions() as s:
                    started = time.perf_counter()
                    counts.append(len(page_audit(s, query, before, PAGE_SIZE)))
                    times.append((time.perf_counter() - started) * 1000)
            print(
                f"{name:<24} {where:<6} {statistics.median(times):8.1f} "
                f"{percentile(times, 95):8.1f} {max(times):8.1f}  {statistics.median(counts):.0f}"
            )
    for name, fn in (("people", distinct_people), ("actions", distinct_actions)):
        times = [timed(sessions, fn) for _ in range(queries)]
        print(f"{'distinct ' + name:<24} {'':<6} {statistics.median(times):8.1f} "
              f"{percentile(times, 95):8.1f} {max(times):8.1f}")  # fmt: skip
    out = io.StringIO()
    counted: list[int] = []
    seconds = timed(
        sessions,
        lambda s: counted.append(export_audit_csv(s, AuditQuery(person=PEOPLE[0]), out)),
    )
    print(
        f"\nCSV export of one person's rows: {counted[0]:,} rows in {seconds / 1000:.2f} s "
        f"({counted[0] / (seconds / 1000):,.0f} rows/s, {len(out.getvalue()) / 1e6:.0f} MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=20, help="queries per filter")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--postgres", nargs="?", const=DEFAULT_PG, metavar="URL", help="run on PostgreSQL"
    )
    parser.add_argument("--keep", metavar="DIR", help="SQLite: keep the database in DIR, reuse it")
    args = parser.parse_args()
    log = Log(args.rows, args.seed)
    schema = None
    with tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            schema, url = postgres_schema(args.postgres)
        else:
            folder = Path(args.keep or tmp)
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"audit-{args.rows}-{args.seed}.db"
            url = f"sqlite:///{path}"
        engine = make_engine(url)
        try:
            started = time.perf_counter()
            migrate(engine)  # a kept database from before the refs gets them here
            print(f"schema ready in {time.perf_counter() - started:.1f} s")
            with engine.connect() as conn:
                reuse = conn.scalar(select(func.count()).select_from(AuditEntry)) == args.rows
            if reuse:
                print(f"reusing {url}")
            else:
                seconds = fill(engine, log)
                print(f"wrote {args.rows:,} rows in {seconds:.1f} s")
                if engine.dialect.name == "postgresql":
                    with engine.connect() as conn:
                        conn.exec_driver_sql("ANALYZE audit_log, audit_refs")
                else:
                    with engine.connect() as conn:
                        conn.exec_driver_sql("ANALYZE")
            print(refs_size(engine))
            run(engine, log, args.queries)
        finally:
            engine.dispose()
            if schema is not None:
                drop_schema(args.postgres, schema)


if __name__ == "__main__":
    main()
