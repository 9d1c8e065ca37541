"""Training scenarios: one TOML file each (format in docs/scenarios.md).

A scenario names the account directory it needs (generated from a seed, or inline rows), the
timed texts (written out, or generated in waves from a seed) and the OMS outages. Loading the
same file always gives the same texts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from outagedesk.sim.directory import DirectoryRow


class ScenarioError(ValueError):
    """A scenario file is wrong; the message names the file, the entry and the field."""


@dataclass(frozen=True, slots=True)
class ScenarioMessage:
    offset: float
    """Seconds after the start of the scenario."""
    sender: str
    """The sender as the gateway gives it (E.164, or sometimes bare 10 digits)."""
    body: str
    expect_account: str | None = None
    """The account a dispatcher should link this number to (unlinked senders)."""
    expect_location: str | None = None
    expect_opt_out: bool = False
    """The text asks to stop (a reserved word or a revocation phrase)."""


@dataclass(frozen=True, slots=True)
class Scenario:
    key: str
    """The file name without .toml: part of every gateway message id of a replay."""
    title: str
    description: str
    duration: float
    directory: tuple[DirectoryRow, ...]
    messages: tuple[ScenarioMessage, ...]
    """Sorted by offset (stable: texts at the same offset keep their file order)."""
    oms_down: tuple[tuple[float, float], ...] = ()
    """(start, end) offsets during which the OMS answers 503."""
    source: Path | None = None


def load_scenario(path: Path) -> Scenario:
    """Read and validate one scenario file (raises ScenarioError)."""
    raise NotImplementedError


def shipped_scenarios() -> list[Path]:
    """The scenario files that ship with OutageDesk, sorted by name."""
    raise NotImplementedError


def dump_scenario(scenario: Scenario) -> str:
    """The scenario as TOML with every text written out (what the recorder saves)."""
    raise NotImplementedError
