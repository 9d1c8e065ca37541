"""Training mode's environment: the simulator as gateway and OMS, and its own database.

Production credentials never reach training: ``training_settings`` drops every token, URL and
database URL, and only loopback addresses (the simulator's) may take their place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from outagedesk.config import Settings, SettingsError
from outagedesk.engine.core import EngineConfig
from outagedesk.runtime import Database
from outagedesk.sim.simulator import Simulator
from outagedesk.training.replay import Replayer
from outagedesk.training.scenario import Scenario

TRAINING_BANNER = "TRAINING: nothing reaches customers or the OMS"
SESSIONS_KEPT = 5


class TrainingError(SettingsError):
    """Training mode refused to start (a non-loopback address, a missing scenario)."""


def training_settings(
    settings: Settings, *, gateway_url: str | None = None, oms_url: str | None = None
) -> Settings:
    """A copy of ``settings`` without any token, gateway/OMS URL or database URL.

    ``gateway_url`` and ``oms_url`` (the simulator's) are put in their place; anything but a
    loopback address raises TrainingError.
    """
    raise NotImplementedError


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
        """Stop the replay and the simulator, close the database (keeps the file)."""
        raise NotImplementedError


def open_training(
    settings: Settings, scenario: Scenario, *, data_dir: Path | None = None
) -> TrainingRig:
    """Start the simulator and a fresh training database with the scenario's directory.

    The database is ``<data_dir>/training/session-<UTC stamp>.db``; only the newest
    SESSIONS_KEPT sessions are kept. ``data_dir`` defaults to ``settings.data_dir``. Blocks
    (starts servers, migrates): call it off the GUI thread. The replay starts paused.
    """
    raise NotImplementedError
