"""`outagedesk run --headless` as an operator runs it: status lines, a clean stop on Ctrl+C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from outagedesk.sim import Simulator

from enginesupport import wait_until


def test_headless_prints_status_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    with Simulator(seed=2, directory_size=20) as sim:
        for n in range(3):
            sim.gateway.add_message(from_="+12085550101", body=f"OUT {n}")
        sim.gateway.add_message(from_="+12085550102", body="STOP")
        env = {
            **os.environ,
            "OUTAGEDESK_CONFIG_FILE": str(tmp_path / "absent.toml"),
            "OUTAGEDESK_GATEWAY_TOKEN": sim.gateway_token,
            "OUTAGEDESK_OMS_TOKEN": sim.oms_token,
            "OUTAGEDESK_POLL_WAIT": "1",
            "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
        }
        out = tmp_path / "out.txt"
        command = [
            sys.executable, "-m", "outagedesk", "run", "--headless", "--status-interval", "0.2",
            "--data-dir", str(tmp_path), "--gateway-url", sim.gateway_url,
            "--oms-url", sim.oms_url,
        ]  # fmt: skip
        with out.open("wb") as sink:
            proc = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            # The OMS's state follows its first answer, which may come a status line later.
            wait_until(
                lambda: any(
                    "gateway=online oms=online" in line
                    and "received=4 forwarded=0 unlinked=3" in line
                    for line in out.read_text().splitlines()
                ),
                30,
                "a status line with both links online and the three unlinked reports",
                out.read_text,
            )
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
    text = out.read_text()
    assert proc.returncode == 0, text
    assert "gateway=online oms=online" in text
    assert "stopped: " in text
    assert "Traceback" not in text
    assert sim.gateway_token not in text
    assert (tmp_path / "outagedesk.db").exists()
    assert (tmp_path / "logs" / "outagedesk.log").exists()
    assert "5550101" not in (tmp_path / "logs" / "outagedesk.log").read_text()
