"""Bulk correction of links from a CSV file, with a preview, and export of links to CSV.

The file has the columns ``phone, account_number, service_location_id, action`` (any order,
any case; other columns are ignored) and ``action`` is ``add``, ``move`` or ``remove``.
:func:`plan_corrections` reads and checks every row and works out what would change, writing
nothing; :func:`apply_corrections` then applies the plan in one transaction, unless the links
it read changed in the meantime.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TextIO

from sqlalchemy.orm import Session

from outagedesk.ops.base import Actor, OperationError
from outagedesk.store.mappings import MappingQuery

UPLOAD = "upload"
COLUMNS = ("phone", "account_number", "service_location_id", "action")


class Outcome(StrEnum):
    ADDED = "added"
    MOVED = "moved"
    REMOVED = "removed"
    UNCHANGED = "unchanged"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class PlannedRow:
    line: int
    """The physical line in the file (the header is line 1)."""
    outcome: Outcome
    phone: str
    account_number: str
    service_location_id: str | None
    detail: str = ""
    """For a move, where the phone was linked before; for an invalid row, the reason."""


@dataclass
class CorrectionPlan:
    file_name: str
    sha256: str
    rows: list[PlannedRow]
    counts: dict[Outcome, int]
    fingerprint: str
    """A digest of the links the plan read: apply refuses when they changed meanwhile."""
    removals: list[tuple[int, int]] = field(default_factory=list)
    """(link id, version) of the links to delete."""
    additions: list[tuple[str, str, str | None]] = field(default_factory=list)
    """(phone, account, location) of the links to add."""
    phones: list[str] = field(default_factory=list)

    @property
    def invalid(self) -> list[PlannedRow]:
        return [r for r in self.rows if r.outcome is Outcome.INVALID]


@dataclass(frozen=True, slots=True)
class CorrectionResult:
    links_added: int
    links_removed: int
    rows_skipped: int


class CorrectionFileError(OperationError):
    """The file as a whole cannot be read (not UTF-8, header incomplete); nothing written."""


class PlanOutdated(OperationError):
    """Links changed after the preview; preview the file again."""


def plan_corrections(
    session: Session,
    source: Path | TextIO,
    region: str = "US",
    *,
    progress: Callable[[int, int], None] | None = None,
) -> CorrectionPlan:
    raise NotImplementedError


def apply_corrections(
    session: Session,
    actor: Actor,
    plan: CorrectionPlan,
    progress: Callable[[int, int], None] | None = None,
    *,
    skip_invalid: bool = False,
) -> CorrectionResult:
    raise NotImplementedError


def export_links_csv(session: Session, query: MappingQuery, out: TextIO) -> int:
    raise NotImplementedError
