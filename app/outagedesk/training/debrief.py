"""The debrief of a training session: how the unlinked reports were handled.

For each report that arrived from an unlinked number since the run started: when a person
linked the number (audit rows ``link_add`` / ``link_move``), to which account, and whether that
is the account the scenario expected. Also the opt-outs the scenario expected but nobody
recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, TextIO

from sqlalchemy.orm import Session

from outagedesk.training.scenario import Scenario

Outcome = Literal["linked", "wrong_account", "never_handled"]


@dataclass(frozen=True, slots=True)
class DebriefRow:
    report_id: str
    phone: str
    received_at: datetime
    linked_at: datetime | None
    seconds_to_link: float | None
    linked_account: str | None
    expected_account: str | None
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class MissedOptOut:
    phone: str
    body: str
    offset: float


@dataclass(frozen=True, slots=True)
class Debrief:
    since: datetime
    rows: tuple[DebriefRow, ...]
    missed_opt_outs: tuple[MissedOptOut, ...]
    median_seconds: float | None
    """Median time to link over the linked reports (right or wrong account)."""
    worst_seconds: float | None
    linked: int
    wrong_account: int
    never_handled: int

    @property
    def unlinked_reports(self) -> int:
        return len(self.rows)


def compute_debrief(session: Session, scenario: Scenario, since: datetime) -> Debrief:
    raise NotImplementedError


def write_debrief_csv(debrief: Debrief, out: Path | TextIO) -> int:
    """One line per unlinked report, then one per missed opt-out; returns the data lines."""
    raise NotImplementedError
