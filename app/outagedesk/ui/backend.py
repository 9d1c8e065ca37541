"""What the window runs on: the database, the engine and, in the demo and in training, the
simulator.

The engine runs in a child process of its own (see ``outagedesk.engine.process``), so that its
work never holds the interpreter lock the window paints with; ``engine_in_process=False`` keeps
it on a thread of the window's process instead.

Everything here blocks (migrations, starting servers, joining threads), so the window calls it
from a worker thread, never from the GUI thread.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import sys
import tempfile
import threading
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from outagedesk.config import Settings
from outagedesk.engine.core import EngineConfig, OutageEngine
from outagedesk.engine.process import EngineProcess
from outagedesk.engine.runner import EngineHandle, EngineThread
from outagedesk.runtime import Database, engine_config, open_database

if TYPE_CHECKING:
    from outagedesk.sim import Simulator
    from outagedesk.training.environment import TrainingRig
    from outagedesk.training.scenario import Scenario

log = logging.getLogger(__name__)

DEMO_SEED = 7
DEMO_RATE = 3.0
DEMO_DIRECTORY_SIZE = 300
DEMO_BACKLOG = 40


@dataclass
class Backend:
    settings: Settings
    db: Database
    engine: EngineHandle | None = None
    sim: Simulator | None = None
    scratch_dir: Path | None = None
    traffic_rate: float = 0.0
    training: TrainingRig | None = None

    @property
    def demo(self) -> bool:
        return self.sim is not None and self.training is None

    def start(self) -> None:
        """Start the engine and, in the demo, the traffic (returns at once)."""
        if self.engine is not None and not self.engine.running:
            self.engine.start()
        if self.sim is not None and self.traffic_rate > 0 and not self.sim.traffic.running:
            self.sim.traffic.start(self.sim.gateway, self.traffic_rate)

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the engine (it finishes its transaction), the simulator, the database."""
        ok = True
        if self.training is not None:
            # No text may arrive while the engine finishes.
            self.training.replayer.close()
        if self.sim is not None:
            self.sim.traffic.stop()
        if self.engine is not None:
            ok = self.engine.stop(timeout)
            if not ok:
                log.error("the engine did not stop within %.0f s; threads:\n%s", timeout, _stacks())
        if self.training is not None:
            self.training.close()  # the simulator and the database; the session file stays
        else:
            if self.sim is not None:
                self.sim.stop()
            self.db.close()
        if self.scratch_dir is not None:
            shutil.rmtree(self.scratch_dir, ignore_errors=True)
        return ok


def _stacks() -> str:
    """Every thread's stack, for the log when something does not stop."""
    names = {t.ident: t.name for t in threading.enumerate()}
    parts = []
    for ident, frame in sys._current_frames().items():
        stack = "".join(traceback.format_stack(frame))
        parts.append(f"--- {names.get(ident, ident)}\n{stack}")
    return "\n".join(parts)


def engine_runner(config: EngineConfig, db: Database, *, in_process: bool = True) -> EngineHandle:
    """The engine for ``db`` (already migrated), in a child process or on a thread."""
    url = db.engine.url
    # An in-memory SQLite database exists in this process alone: no other can share it.
    in_memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
    if in_process and not in_memory:
        return EngineProcess(config, url.render_as_string(hide_password=False))
    return EngineThread(OutageEngine(config, db.sessions))


def open_backend(settings: Settings, *, engine_in_process: bool = True) -> Backend:
    """The configured gateway, OMS and database (raises SettingsError naming the fix)."""
    config = engine_config(settings)
    db = open_database(settings)
    return Backend(settings, db, engine_runner(config, db, in_process=engine_in_process))


def start_demo(
    settings: Settings,
    *,
    seed: int | None = None,
    rate: float | None = None,
    directory_size: int = DEMO_DIRECTORY_SIZE,
    backlog: int = DEMO_BACKLOG,
    engine_in_process: bool = True,
) -> Backend:
    """The simulator on loopback, a throw-away SQLite database, the directory loaded."""
    from outagedesk.directory import import_directory_rows
    from outagedesk.sim import Simulator, TrafficMix

    seed = seed if seed is not None else int(os.environ.get("OUTAGEDESK_DEMO_SEED", DEMO_SEED))
    rate = rate if rate is not None else float(os.environ.get("OUTAGEDESK_DEMO_RATE", DEMO_RATE))
    scratch = Path(tempfile.mkdtemp(prefix="outagedesk-demo-"))
    sim = Simulator(seed=seed, directory_size=directory_size, mix=TrafficMix(malformed=0.5))
    db: Database | None = None
    try:
        sim.start()
        demo_settings = dataclasses.replace(
            settings,
            db_url=f"sqlite:///{scratch / 'demo.db'}",
            gateway_url=sim.gateway_url,
            gateway_token=sim.gateway_token,
            oms_url=sim.oms_url,
            oms_token=sim.oms_token,
            hold_unlinked=False,
            poll_wait=5.0,
        )
        db = open_database(demo_settings)
        import_directory_rows(db.engine, sim.directory, source="directory", actor="demo")
        engine = engine_runner(engine_config(demo_settings), db, in_process=engine_in_process)
        if backlog:
            sim.traffic.feed(sim.gateway, backlog)
    except BaseException:
        sim.stop()
        if db is not None:
            db.close()
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    log.info("demo: simulator at %s and %s, database in %s", sim.gateway_url, sim.oms_url, scratch)
    return Backend(demo_settings, db, engine, sim, scratch, traffic_rate=rate)


def start_training(
    settings: Settings,
    scenario: Path | Scenario,
    *,
    data_dir: Path | None = None,
    config_overrides: Mapping[str, Any] | None = None,
    engine_in_process: bool = True,
) -> Backend:
    """Training mode: the simulator, a training database of its own, the scenario loaded.

    ``settings`` must already be training settings (no token, no production URL): the rig
    refuses anything but loopback. ``config_overrides`` tunes the engine (tests use it).
    """
    from outagedesk.training.environment import open_training
    from outagedesk.training.scenario import load_scenario

    loaded = load_scenario(scenario) if isinstance(scenario, Path) else scenario
    rig = open_training(settings, loaded, data_dir=data_dir)
    try:
        config = rig.engine_config
        if config_overrides:
            config = dataclasses.replace(config, **config_overrides)
        engine = engine_runner(config, rig.db, in_process=engine_in_process)
    except BaseException:
        rig.close()
        raise
    log.info(
        "training: scenario %s, simulator at %s and %s, database %s",
        loaded.key,
        rig.sim.gateway_url,
        rig.sim.oms_url,
        rig.db_path,
    )
    return Backend(rig.settings, rig.db, engine, rig.sim, training=rig)
