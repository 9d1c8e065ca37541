"""The Mappings screen's reads: every phone ↔ account/location link, paged from SQL.

Pages are keyset pages on (sort key, link id), never OFFSET, and counts stop at a cap, so the
screen opens and searches as fast on a million links as on a thousand. The review queue and
the conflicts a supervisor resolves are read here too. Pure SQLAlchemy: no Qt here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal, NamedTuple

from sqlalchemy.orm import Session

__all__ = [
    "Conflict",
    "ConflictKind",
    "MappingQuery",
    "MappingRow",
    "MappingSort",
    "count_conflicts",
    "count_mappings",
    "find_conflicts",
    "page_mappings",
    "review_count",
    "review_queue",
]


class MappingRow(NamedTuple):
    """One link as the screen shows it, with the location's name and address."""

    link_id: int
    phone: str
    account_number: str
    service_location_id: str | None
    """None: the link covers every location of the account."""
    service_address: str
    customer_name: str
    source: str
    created_by: str
    desk: str
    created_at: datetime
    reviewed: bool
    reviewed_by: str | None
    reviewed_at: datetime | None
    version: int
    """What an edit of this row must name (optimistic locking)."""
    location_removed: bool
    """The location is no longer in the directory (a full import did not list it)."""


class MappingSort(StrEnum):
    PHONE = "phone"
    ACCOUNT = "account"
    CREATED = "created"
    SOURCE = "source"


@dataclass(frozen=True, slots=True)
class MappingQuery:
    """What the screen asks for: a text filter, two column filters and an order."""

    text: str = ""
    """Phone digits (a prefix of the number), an account or location ID prefix, or words of
    the customer name or service address."""
    source: str | None = None
    reviewed: bool | None = None
    sort: MappingSort = MappingSort.CREATED
    descending: bool = False


ConflictKind = Literal["several_customers", "too_many_accounts", "removed_location"]


@dataclass(frozen=True, slots=True)
class Conflict:
    kind: ConflictKind
    phone: str
    link_ids: tuple[int, ...]
    detail: str


def page_mappings(
    session: Session, query: MappingQuery, after: MappingRow | None, limit: int
) -> list[MappingRow]:
    """The ``limit`` links that follow ``after`` (None: the first page) in the query's order."""
    raise NotImplementedError


def count_mappings(session: Session, query: MappingQuery, cap: int = 10_000) -> tuple[int, bool]:
    """How many links match, counting at most ``cap``; True when the count stopped there."""
    raise NotImplementedError


def review_queue(session: Session, after_id: int | None, limit: int) -> list[MappingRow]:
    """Dispatchers' links not reviewed yet, oldest first, after link ``after_id``."""
    raise NotImplementedError


def review_count(session: Session) -> int:
    """How many dispatchers' links wait for review (the supervisor's toolbar)."""
    raise NotImplementedError


def find_conflicts(session: Session, account_limit: int, limit: int) -> list[Conflict]:
    """Links a supervisor should look at, at most ``limit``."""
    raise NotImplementedError


def count_conflicts(session: Session, account_limit: int) -> int:
    raise NotImplementedError
