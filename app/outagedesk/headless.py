"""``outagedesk run --headless``: the engine as a service, with a status line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from outagedesk.config import Settings
from outagedesk.engine.core import EngineStatus, OutageEngine
from outagedesk.logs import setup_logging
from outagedesk.runtime import engine_config, freeze_heap, open_database

log = logging.getLogger(__name__)


def status_line(status: EngineStatus) -> str:
    c = status.counters
    return (
        f"gateway={status.gateway.state.value} oms={status.oms.state.value} "
        f"received={c.received} forwarded={c.tickets} unlinked={c.unlinked} "
        f"queued={status.backlog} quarantined={c.quarantined} errors={c.errors}"
    )


def run_headless(settings: Settings) -> int:
    config = engine_config(settings)
    setup_logging(settings.log_dir, settings.log_level)
    db = open_database(settings)
    engine = OutageEngine(config, db.sessions)
    try:
        asyncio.run(_serve(engine, settings.status_interval))
    finally:
        db.close()
    print(f"stopped: {status_line(engine.status())}", flush=True)
    return 0


async def _serve(engine: OutageEngine, interval: float) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, engine.stop)
    freeze_heap()
    loop.call_later(15, freeze_heap)
    print("outagedesk engine running; Ctrl+C stops it", flush=True)

    async def report() -> None:
        while True:
            await asyncio.sleep(interval)
            print(status_line(engine.status()), file=sys.stdout, flush=True)

    reporter = asyncio.create_task(report())
    try:
        await engine.run()
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
