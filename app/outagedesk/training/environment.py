"""Training mode's environment: the simulator as gateway and OMS, and its own database.

Production credentials never reach training: ``training_settings`` drops every token, gateway
and OMS URL and database URL, and only loopback addresses (the simulator's) may take their
place. ``load_training_settings`` reads the settings without the keyring and without the
``OUTAGEDESK_*_TOKEN`` variables, so that the tokens are not even read.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from outagedesk.config import ENV_PREFIX, SECRET_FIELDS, Settings, SettingsError, load_settings
from outagedesk.directory import import_directory_rows
from outagedesk.engine.core import EngineConfig
from outagedesk.runtime import Database, engine_config, open_database
from outagedesk.sim.simulator import OMS_KNOWN_SHARE, Simulator
from outagedesk.training.replay import Replayer
from outagedesk.training.scenario import Scenario

log = logging.getLogger(__name__)

TRAINING_BANNER = "TRAINING: nothing reaches customers or the OMS"
SESSIONS_KEPT = 5
# Training polls more often than production: replays at 60× deliver many texts a second.
TRAINING_POLL_WAIT = 2.0


class TrainingError(SettingsError):
    """Training mode refused to start (a non-loopback address, for one)."""


def is_loopback_url(url: str) -> bool:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _require_loopback(name: str, url: str | None) -> None:
    if url is not None and not is_loopback_url(url):
        raise TrainingError(
            f"training mode talks only to the built-in simulator on this computer; "
            f"refusing the {name} {url!r}"
        )


def training_settings(
    settings: Settings, *, gateway_url: str | None = None, oms_url: str | None = None
) -> Settings:
    """A copy of ``settings`` without any token, gateway/OMS URL or database URL.

    ``gateway_url`` and ``oms_url`` (the simulator's) are put in their place; anything but a
    loopback address raises TrainingError.
    """
    _require_loopback("gateway URL", gateway_url)
    _require_loopback("OMS URL", oms_url)
    return dataclasses.replace(
        settings,
        db_url=None,
        gateway_url=gateway_url,
        oms_url=oms_url,
        gateway_token=None,
        oms_token=None,
    )


def load_training_settings(
    overrides: Mapping[str, Any] | None = None, *, environ: Mapping[str, str] | None = None
) -> Settings:
    """The settings for ``--training``: never the keyring, never the token variables."""
    env = os.environ if environ is None else environ
    secret_vars = {ENV_PREFIX + name.upper() for name in SECRET_FIELDS}
    clean = {k: v for k, v in env.items() if k not in secret_vars}
    return training_settings(load_settings(overrides, environ=clean, use_keyring=False))


@dataclass
class TrainingRig:
    settings: Settings
    """Training settings: the simulator's URLs and fake tokens, the training database."""
    sim: Simulator
    db: Database
    db_path: Path
    scenario: Scenario
    engine_config: EngineConfig
    replayer: Replayer

    def close(self) -> None:
        """Stop the replay and the simulator, close the database (keeps the file).

        Stop the engine first: it talks to both.
        """
        self.replayer.close()
        self.sim.stop()
        self.db.close()


def training_simulator(scenario: Scenario) -> Simulator:
    """The simulator with the scenario's directory; the OMS knows most of its phones."""
    sim = Simulator(seed=1, directory_size=0)
    sim.directory = list(scenario.directory)
    phones = sorted({phone for row in scenario.directory for phone in row.phones})
    # As in the demo: the OMS has most directory phones on record, not all.
    random.Random(f"oms-known-{scenario.key}").shuffle(phones)
    unknown = max(1, round(len(phones) * (1 - OMS_KNOWN_SHARE))) if len(phones) > 1 else 0
    sim.oms_unknown_phones = sorted(phones[:unknown])
    for phone in phones[unknown:]:
        sim.oms.add_known_phone(phone)
    for account in {row.account_number for row in scenario.directory}:
        sim.oms.add_known_account(account)
    return sim


def _new_session_path(folder: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"session-{stamp}.db"
    suffix = 1
    while path.exists():
        suffix += 1
        path = folder / f"session-{stamp}-{suffix}.db"
    return path


def prune_sessions(folder: Path, keep: int = SESSIONS_KEPT) -> list[Path]:
    """Delete all but the newest ``keep`` session databases (and their side files)."""
    sessions = sorted(folder.glob("session-*.db"), key=lambda p: (p.stat().st_mtime, p.name))
    removed: list[Path] = []
    for old in sessions[: max(0, len(sessions) - keep)]:
        for path in [old, *folder.glob(f"{old.name}-*"), *folder.glob(f"{old.name}.*.bak")]:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def open_training(
    settings: Settings, scenario: Scenario, *, data_dir: Path | None = None
) -> TrainingRig:
    """Start the simulator and a fresh training database with the scenario's directory.

    The database is ``<data_dir>/training/session-<UTC stamp>.db``; only the newest
    SESSIONS_KEPT sessions are kept. ``data_dir`` defaults to ``settings.data_dir``. Blocks
    (starts servers, migrates): call it off the GUI thread. The replay starts paused.
    """
    folder = (data_dir if data_dir is not None else settings.data_dir) / "training"
    folder.mkdir(parents=True, exist_ok=True)
    db_path = _new_session_path(folder)
    sim = training_simulator(scenario)
    db: Database | None = None
    try:
        sim.start()
        training = dataclasses.replace(
            training_settings(settings, gateway_url=sim.gateway_url, oms_url=sim.oms_url),
            db_url=f"sqlite:///{db_path}",
            gateway_token=sim.gateway_token,
            oms_token=sim.oms_token,
            poll_wait=TRAINING_POLL_WAIT,
        )
        config = engine_config(training)
        db = open_database(training)
        import_directory_rows(db.engine, scenario.directory, source="directory", actor="training")
        replayer = Replayer(scenario, sim)
    except BaseException:
        sim.stop()
        if db is not None:
            db.close()
        raise
    prune_sessions(folder)
    log.info(
        "training: %s on %s and %s, database %s",
        scenario.key,
        sim.gateway_url,
        sim.oms_url,
        db_path,
    )
    return TrainingRig(training, sim, db, db_path, scenario, config, replayer)
