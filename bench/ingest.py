"""Ingest and forwarding throughput of the headless engine against the loopback simulator.

    .venv/bin/python bench/ingest.py [--messages 50000] [--db-url URL] [--import-rows 1000000]

Run by hand, never in the test suite. The simulator runs in this process; the engine runs as
`outagedesk run --headless` in a process of its own, as it does on a server, so the two do not
share an interpreter lock.

1. ingest: the gateway holds N texts and the OMS is down, so only the poller works; the rate is
   texts stored / time from the first committed page to the last.
2. forwarding: the OMS comes back; the rate is OMS answers / time from the first to the last.
3. directory import (optional): `import_accounts_csv` of a generated CSV, and phone look-up
   latency; see bench/import_accounts.py for the same on its own.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from outagedesk.directory import import_directory_rows
from outagedesk.sim import Simulator, TrafficGenerator, TrafficMix
from outagedesk.store.db import make_engine, migrate, session_factory
from outagedesk.store.models import (
    InboundMessage,
    OmsAttempt,
    OutboundText,
    OutboxTask,
    QuarantinedMessage,
)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of another process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--db-url", help="default: a fresh SQLite file in a temp dir")
    parser.add_argument("--page", type=int, default=1000, help="gateway page size")
    parser.add_argument("--concurrency", type=int, default=None, help="OMS requests in flight")
    parser.add_argument("--import-rows", type=int, default=0, help="also time a directory import")
    parser.add_argument(
        "--ack-outages",
        action="store_true",
        help="also text an acknowledgement for every outage (off: measure the OMS path alone)",
    )
    args = parser.parse_args()

    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        db = make_engine(url)
        migrate(db)
        sessions = session_factory(db)

        def count(query: object) -> int:
            with sessions() as s:
                return int(s.scalar(query) or 0)  # type: ignore[call-overload]

        stored_q = select(func.count()).select_from(InboundMessage)
        quarantined_q = select(func.count()).select_from(QuarantinedMessage)
        pending_q = (
            select(func.count())
            .select_from(OutboxTask)
            .where(OutboxTask.done.is_(False), OutboxTask.kind == "oms")
        )
        sent_q = (
            select(func.count()).select_from(OutboundText).where(OutboundText.sent_at.is_not(None))
        )

        with Simulator(seed=5, directory_size=2_000) as sim:
            import_directory_rows(db, sim.directory)
            traffic = TrafficGenerator(sim.directory, seed=5, mix=TrafficMix(malformed=0.5))
            traffic.feed(sim.gateway, args.messages)
            sim.oms.set_down(True)
            env = {
                **os.environ,
                "OUTAGEDESK_CONFIG_FILE": str(Path(tmp) / "none.toml"),
                "OUTAGEDESK_GATEWAY_TOKEN": sim.gateway_token,
                "OUTAGEDESK_OMS_TOKEN": sim.oms_token,
                "OUTAGEDESK_POLL_LIMIT": str(args.page),
                "OUTAGEDESK_POLL_WAIT": "1",
                "OUTAGEDESK_STATUS_INTERVAL": "3600",
                "OUTAGEDESK_ACK_OUTAGES": "yes" if args.ack_outages else "no",
            }
            if args.concurrency:
                env["OUTAGEDESK_FORWARD_CONCURRENCY"] = str(args.concurrency)
            command = [
                sys.executable, "-m", "outagedesk", "run", "--headless",
                "--data-dir", tmp, "--db-url", url,
                "--gateway-url", sim.gateway_url, "--oms-url", sim.oms_url,
            ]  # fmt: skip
            engine = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
            try:
                while count(stored_q) + count(quarantined_q) < args.messages:
                    time.sleep(0.1)
                with sessions() as s:
                    first, last = s.execute(
                        select(
                            func.min(InboundMessage.stored_at), func.max(InboundMessage.stored_at)
                        )
                    ).one()
                stored = count(stored_q)
                span = (last - first).total_seconds()
                # The first page's own time is not inside the span: count it as one more page.
                ingest_rate = stored / (span * (1 + args.page / max(stored, 1)))
                backlog = count(pending_q)
                print(f"ingest:  {stored:,} texts stored at {ingest_rate:,.0f} msg/s")

                texts_before = count(sent_q)
                engine_cpu = process_cpu_seconds(engine.pid)
                own_cpu = time.process_time()
                sim.oms.set_down(False)
                while count(pending_q) > 0:
                    time.sleep(0.2)
                engine_cpu = process_cpu_seconds(engine.pid) - engine_cpu
                own_cpu = time.process_time() - own_cpu
                texts_during = count(sent_q) - texts_before
                with sessions() as s:
                    n, first, last = s.execute(
                        select(
                            func.count(), func.min(OmsAttempt.at), func.max(OmsAttempt.at)
                        ).where(OmsAttempt.http_status.in_([200, 201, 404]))
                    ).one()
                rate = n / max((last - first).total_seconds(), 1e-9)
                print(f"forward: {backlog:,} reports, {n:,} OMS answers at {rate:,.0f} reports/s")
                print(
                    f"         engine CPU {engine_cpu:.1f} s ({engine_cpu / max(n, 1) * 1e3:.2f} ms"
                    f" a report), simulator and bench CPU {own_cpu:.1f} s,"
                    f" {texts_during:,} texts sent meanwhile"
                )
            finally:
                engine.send_signal(signal.SIGTERM)
                engine.wait(60)
        db.dispose()
        acks = "with" if args.ack_outages else "without"
        print(f"database: {db.url.get_backend_name()}, page {args.page}, {acks} outage acks")
        print("load average: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))

        if args.import_rows:
            subprocess.run(
                [sys.executable, str(Path(__file__).with_name("import_accounts.py")),
                 "--rows", str(args.import_rows)],
                check=True,
            )  # fmt: skip


if __name__ == "__main__":
    main()
