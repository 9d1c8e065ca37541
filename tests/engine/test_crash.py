"""The headless engine killed with SIGKILL at random moments: nothing lost, no second ticket."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from outagedesk.directory import import_directory_rows
from outagedesk.sim import Simulator, TrafficGenerator, TrafficMix
from outagedesk.store.models import InboundMessage, Report

from dbsupport import DbUnderTest
from enginesupport import counts, drained, wait_until

KILLS = 10
MESSAGES = 3_000


def start_engine(
    db: DbUnderTest, sim: Simulator, data_dir: Path, run: int
) -> tuple[subprocess.Popen[bytes], Path]:
    env = {
        **os.environ,
        "OUTAGEDESK_CONFIG_FILE": str(data_dir / "absent.toml"),
        "OUTAGEDESK_GATEWAY_TOKEN": sim.gateway_token,
        "OUTAGEDESK_OMS_TOKEN": sim.oms_token,
        "OUTAGEDESK_POLL_WAIT": "1",
        "OUTAGEDESK_POLL_LIMIT": "100",
        "OUTAGEDESK_STATUS_INTERVAL": "0.5",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    }
    command = [
        sys.executable, "-m", "outagedesk", "run", "--headless",
        "--data-dir", str(data_dir), "--db-url", db.url,
        "--gateway-url", sim.gateway_url, "--oms-url", sim.oms_url,
    ]  # fmt: skip
    output = data_dir / f"run-{run}.out"
    with output.open("wb") as sink:
        proc = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    return proc, output


def started(proc: subprocess.Popen[bytes], output: Path) -> Callable[[], bool]:
    return lambda: proc.poll() is not None or "engine running" in output.read_text()


@pytest.mark.slow
def test_killing_the_engine_loses_nothing_and_doubles_nothing(
    db: DbUnderTest, tmp_path: Path
) -> None:
    rng = random.Random(20261127)
    with Simulator(seed=11, directory_size=300) as sim:
        import_directory_rows(db.engine, sim.directory)
        traffic = TrafficGenerator(sim.directory, seed=11, mix=TrafficMix(malformed=1))
        traffic.feed(sim.gateway, MESSAGES)
        kills = mid_stream = 0
        while kills < KILLS:
            proc, output = start_engine(db, sim, tmp_path, kills)
            # Start-up (and PostgreSQL's connection and migration check) takes a second or
            # more: each kill is timed from when the engine has begun its work.
            wait_until(started(proc, output), 60, "the engine to start")
            time.sleep(rng.uniform(0.2, 1.5))
            if proc.poll() is not None:
                log = output.read_text(errors="replace")[-2000:]
                pytest.fail(f"the engine exited early ({proc.returncode}): {log}")
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            kills += 1
            mid_stream += not drained(db, sim.gateway.messages_added)()
            traffic.feed(sim.gateway, 200)  # more arrives while the desk is down
        progress_before_last_run = counts(db)
        final, output = start_engine(db, sim, tmp_path, KILLS)
        try:
            wait_until(
                drained(db, sim.gateway.messages_added),
                120,
                "the backlog after crashes",
                lambda: counts(db),
            )
        finally:
            final.send_signal(signal.SIGTERM)
            final.wait(30)
        log = output.read_text(errors="replace")
        assert final.returncode == 0, log[-2000:]
        assert "stopped:" in log
        oms_requests = sim.oms.requests
        tickets = sim.oms.tickets
        added = sim.gateway.messages_added

    # The kills landed mid-stream: after work began, each with texts or deliveries left.
    assert progress_before_last_run["messages"] > 0
    assert mid_stream == KILLS
    with db.sessions() as s:
        stored = s.scalar(select(InboundMessage.id).order_by(InboundMessage.id.desc()).limit(1))
        report_ids = dict(
            s.execute(
                select(InboundMessage.gateway_message_id, Report.report_id).join(
                    Report, Report.message_id == InboundMessage.id
                )
            ).all()
        )
    assert stored is not None
    assert counts(db)["messages"] + counts(db)["quarantined"] == added
    # One report per outage text; every request for it used that report's id and one key.
    keys: dict[str, set[str]] = defaultdict(set)
    for key, payload, _ in oms_requests:
        assert report_ids[payload["message_id"]] == payload["report_id"]
        keys[payload["message_id"]].add(key)
    assert set(keys) == set(report_ids)
    assert all(len(k) == 1 for k in keys.values())
    # At most one ticket per report, and never two for the same text.
    assert len(tickets) == len(set(tickets.values()))
    assert set(tickets) <= set(report_ids.values())
