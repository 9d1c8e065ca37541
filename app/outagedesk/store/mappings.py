"""The Mappings screen's reads: every phone ↔ account/location link, paged from SQL.

Pages are keyset pages on (sort key, link id), never OFFSET, and counts stop at a cap, so the
screen opens and searches as fast on a million links as on a thousand. The review queue and
the conflicts a supervisor resolves are read here too. Pure SQLAlchemy: no Qt here.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, NamedTuple

import phonenumbers
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    false,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from outagedesk.store.models import PhoneLink, ServiceLocation
from outagedesk.store.search import locations_with_words

__all__ = [
    "Conflict",
    "ConflictKind",
    "MappingQuery",
    "MappingRow",
    "MappingSort",
    "count_conflicts",
    "count_mappings",
    "find_conflicts",
    "mapping_rows",
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
    region: str = "US"
    """Where a phone number typed without a country code is."""


ConflictKind = Literal["several_customers", "too_many_accounts", "removed_location"]


@dataclass(frozen=True, slots=True)
class Conflict:
    kind: ConflictKind
    phone: str
    link_ids: tuple[int, ...]
    detail: str


DISPATCHER = "dispatcher"

NARROW = 2_000
"""A filter matching fewer links than this drives the query: its matches are read through
its own index and sorted. A broader one is checked while the sort order's index is walked,
which finds a page of matches after a few thousand rows at most."""
WORD_LOCATIONS = 2_000
"""Locations a name/address search looks at (the directory search's first ones)."""

_PL = PhoneLink.__table__.c
_SL = ServiceLocation.__table__.c
_TOP = "\U0010ffff"
"""Sorts after every character: ``q <= x < q + _TOP`` is "x starts with q" in byte order."""
_MAX_TEXT = 200
_MAX_ID = 64
_PHONE_CHARS = re.compile(r"[\d\s()+\-./]+")

_LINK_COLUMNS = (
    _PL.id,
    _PL.phone,
    _PL.account_number,
    _PL.service_location_id,
    _PL.source,
    _PL.created_by,
    _PL.desk,
    _PL.created_at,
    _PL.reviewed,
    _PL.reviewed_by,
    _PL.reviewed_at,
    _PL.version,
)
_SORT_COLUMN = {
    MappingSort.PHONE: "phone",
    MappingSort.ACCOUNT: "account_number",
    MappingSort.CREATED: "created_at",
    MappingSort.SOURCE: "source",
}
_BYTE_ORDERED = {"phone", "account_number", "service_location_id"}


class _Sql:
    """The two backends' spellings of byte order and of "do not use an index here"."""

    def __init__(self, session: Session) -> None:
        name = session.get_bind().dialect.name
        if name not in ("sqlite", "postgresql"):
            raise NotImplementedError(f"the Mappings queries do not support {name}")
        self.pg = name == "postgresql"

    def column(self, column: ColumnElement[Any], name: str) -> ColumnElement[Any]:
        """``column`` as migration 0004 indexes it (byte order for the prefix searches)."""
        if self.pg and name in _BYTE_ORDERED:
            return column.collate("C")
        return column

    def hidden(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        """``column`` without its indexes. SQLite, having no statistics, might otherwise walk
        the index of a filter matching most of the table and sort all of it; PostgreSQL's
        planner weighs that itself."""
        if self.pg:
            return column
        return UnaryExpression(column, operator=custom_op("+"), type_=column.type)


# A filter given whether it may use its index.
_Filter = Callable[[bool], ColumnElement[bool]]


def _prefix(sql: _Sql, name: str, value: str, indexed: bool) -> ColumnElement[bool]:
    column = sql.column(_PL[name], name)
    if not indexed:
        column = sql.hidden(column)
    return and_(column >= value, column < value + _TOP)


def _phone_prefixes(text: str, region: str) -> list[str]:
    """E.164 prefixes for phone digits: as typed with a ``+``, else both with the region's
    country code (a national number) and without (one typed with its country code)."""
    if not _PHONE_CHARS.fullmatch(text) or not any(c.isdigit() for c in text):
        return []
    digits = "".join(c for c in text if c.isdigit())
    if text.startswith("+"):
        return [f"+{digits}"]
    code = phonenumbers.country_code_for_region(region)
    national = [f"+{code}{digits}"] if code else []
    return list(dict.fromkeys([*national, f"+{digits}"]))


def _text_filter(session: Session, sql: _Sql, text: str, region: str) -> _Filter | None:
    query = " ".join(text.replace("\x00", " ").split())[:_MAX_TEXT]
    if not query:
        return None
    prefixes = [("phone", p) for p in _phone_prefixes(query, region)]
    if " " not in query and len(query) <= _MAX_ID:
        for value in dict.fromkeys([query, query.upper()]):
            prefixes += [("account_number", value), ("service_location_id", value)]
    places: list[tuple[str, str]] = []
    if any(c.isalpha() for c in query):
        places = locations_with_words(session, query, limit=WORD_LOCATIONS)
    locations = sorted({location for _, location in places})
    accounts = sorted({account for account, _ in places})

    def condition(indexed: bool) -> ColumnElement[bool]:
        parts = [_prefix(sql, name, value, indexed) for name, value in prefixes]
        if places:
            location = sql.column(_PL.service_location_id, "service_location_id")
            account: ColumnElement[Any] = _PL.account_number
            if not indexed:
                location, account = sql.hidden(location), sql.hidden(account)
            parts.append(location.in_(locations))
            # A whole-account link covers the matching location too.
            parts.append(and_(_PL.service_location_id.is_(None), account.in_(accounts)))
        return or_(*parts) if parts else false()

    return condition


def _filters(session: Session, sql: _Sql, query: MappingQuery) -> list[_Filter]:
    filters: list[_Filter] = []
    text = _text_filter(session, sql, query.text, query.region)
    if text is not None:
        filters.append(text)
    source = query.source
    if source is not None:
        filters.append(lambda ix: (_PL.source if ix else sql.hidden(_PL.source)) == source)
    reviewed = query.reviewed
    if reviewed is not None:
        filters.append(lambda ix: (_PL.reviewed if ix else sql.hidden(_PL.reviewed)) == reviewed)
    return filters


def _driver(session: Session, filters: Sequence[_Filter]) -> int | None:
    """The filter with the fewest matches when that is under ``NARROW``: each is counted
    through its own index, stopping at ``NARROW``."""
    best: tuple[int, int] | None = None
    for position, condition in enumerate(filters):
        probe = select(_PL.id).where(condition(True)).limit(NARROW).subquery()
        found = int(session.scalar(select(func.count()).select_from(probe)) or 0)
        if found < NARROW and (best is None or found < best[0]):
            best = (found, position)
    return None if best is None else best[1]


def _where(filters: Sequence[_Filter], driver: int | None) -> list[ColumnElement[bool]]:
    return [condition(position == driver) for position, condition in enumerate(filters)]


def _keyset(
    key: ColumnElement[Any], link_id: ColumnElement[int], after: MappingRow, value: Any, desc: bool
) -> ColumnElement[bool]:
    # The first term alone is an index range; the second breaks ties on the id.
    if desc:
        return and_(key <= value, or_(key < value, link_id < after.link_id))
    return and_(key >= value, or_(key > value, link_id > after.link_id))


def page_mappings(
    session: Session, query: MappingQuery, after: MappingRow | None, limit: int
) -> list[MappingRow]:
    """The ``limit`` links that follow ``after`` (None: the first page) in the query's order;
    ties in the sort key are ordered by link id (in the same direction)."""
    if limit <= 0:
        return []
    sql = _Sql(session)
    filters = _filters(session, sql, query)
    driver = _driver(session, filters)
    name = _SORT_COLUMN[query.sort]
    if driver is None:
        columns: Any = _PL
        stmt: Select[Any] = select(*_LINK_COLUMNS).where(*_where(filters, None))
    else:
        # The few matches first (materialised: the planner may not fold them into a walk of
        # the sort order's index), then sorted.
        matches = (
            select(*_LINK_COLUMNS)
            .where(*_where(filters, driver))
            .cte("matches")
            .prefix_with("MATERIALIZED")
        )
        columns = matches.c
        stmt = select(matches)
    key = sql.column(columns[name], name)
    link_id = columns["id"]
    if after is not None:
        value = getattr(after, _ROW_FIELD[name])
        stmt = stmt.where(_keyset(key, link_id, after, value, query.descending))
    order = (key.desc(), link_id.desc()) if query.descending else (key, link_id)
    rows = session.execute(stmt.order_by(*order).limit(limit)).all()
    return _mapping_rows(session, rows)


_ROW_FIELD = {
    "phone": "phone",
    "account_number": "account_number",
    "created_at": "created_at",
    "source": "source",
}


def count_mappings(session: Session, query: MappingQuery, cap: int = 10_000) -> tuple[int, bool]:
    """How many links match, counting at most ``cap``; True when there are more."""
    filters = _filters(session, _Sql(session), query)
    # Any filter's index will do: the count stops at the cap either way.
    found = select(_PL.id).where(*(f(True) for f in filters)).limit(cap + 1).subquery()
    count = int(session.scalar(select(func.count()).select_from(found)) or 0)
    return min(count, cap), count > cap


def _mapping_rows(session: Session, rows: Sequence[Any]) -> list[MappingRow]:
    """Links with their location's name and address (the account's, for a whole-account
    link), in two indexed queries."""
    named = {r.service_location_id for r in rows if r.service_location_id is not None}
    whole = {r.account_number for r in rows if r.service_location_id is None}
    places: dict[str, tuple[str, str, str, bool]] = {}
    if named:
        found = session.execute(
            select(
                _SL.service_location_id,
                _SL.account_number,
                _SL.customer_name,
                _SL.service_address,
                _SL.removed_at,
            ).where(_SL.service_location_id.in_(named))
        )
        for location, account, name, address, removed_at in found:
            places[location] = (account, name, address, removed_at is not None)
    customers: dict[str, str] = {}
    if whole:
        found_names = session.execute(
            select(_SL.account_number, func.min(_SL.customer_name))
            .where(_SL.account_number.in_(whole))
            .group_by(_SL.account_number)
        )
        customers = {account: name for account, name in found_names}
    result: list[MappingRow] = []
    for r in rows:
        if r.service_location_id is None:
            name, address, removed = customers.get(r.account_number, ""), "", False
        else:
            # A location gone from the directory altogether is as good as removed.
            _account, name, address, removed = places.get(r.service_location_id, ("", "", "", True))
        result.append(
            MappingRow(
                link_id=r.id,
                phone=r.phone,
                account_number=r.account_number,
                service_location_id=r.service_location_id,
                service_address=address,
                customer_name=name,
                source=r.source,
                created_by=r.created_by,
                desk=r.desk,
                created_at=r.created_at,
                reviewed=bool(r.reviewed),
                reviewed_by=r.reviewed_by,
                reviewed_at=r.reviewed_at,
                version=r.version,
                location_removed=removed,
            )
        )
    return result


def mapping_rows(session: Session, link_ids: Sequence[int]) -> list[MappingRow]:
    """The links with these ids as the screen shows them (missing ones left out), in id
    order."""
    if not link_ids:
        return []
    rows = session.execute(
        select(*_LINK_COLUMNS).where(_PL.id.in_(link_ids)).order_by(_PL.id)
    ).all()
    return _mapping_rows(session, rows)


def _awaiting_review() -> list[ColumnElement[bool]]:
    return [_PL.reviewed == false(), _PL.source == DISPATCHER]


def review_queue(session: Session, after_id: int | None, limit: int) -> list[MappingRow]:
    """Dispatchers' links not reviewed yet, oldest first, after link ``after_id``."""
    if limit <= 0:
        return []
    stmt = select(*_LINK_COLUMNS).where(*_awaiting_review())
    if after_id is not None:
        stmt = stmt.where(_PL.id > after_id)
    rows = session.execute(stmt.order_by(_PL.id).limit(limit)).all()
    return _mapping_rows(session, rows)


def review_count(session: Session) -> int:
    """How many dispatchers' links wait for review (the supervisor's toolbar)."""
    stmt = select(func.count()).select_from(PhoneLink).where(*_awaiting_review())
    return int(session.scalar(stmt) or 0)


# --------------------------------------------------------------------------- conflicts


def _removed_phones(sql: _Sql) -> Select[Any]:
    """Phones with a link to a location that a full directory import no longer lists."""
    location = sql.column(_PL.service_location_id, "service_location_id")
    return (
        select(_PL.phone)
        .select_from(ServiceLocation)
        .join(PhoneLink, location == _SL.service_location_id)
        .where(_SL.removed_at.is_not(None))
        .group_by(_PL.phone)
    )


def _many_accounts_phones(more_than: int) -> Select[Any]:
    return (
        select(_PL.phone, func.count(_PL.account_number.distinct()))
        .group_by(_PL.phone)
        .having(func.count(_PL.account_number.distinct()) > more_than)
    )


def _several_customers_phones() -> Select[Any]:
    """Phones linked to accounts of different customers (an account's customer is the name
    on its locations)."""
    shared = _many_accounts_phones(1).subquery()
    return (
        select(_PL.phone, func.count(_SL.customer_name.distinct()))
        .select_from(PhoneLink)
        .join(ServiceLocation, _SL.account_number == _PL.account_number)
        .where(_PL.phone.in_(select(shared.c.phone)))
        .group_by(_PL.phone)
        .having(func.count(_SL.customer_name.distinct()) > 1)
    )


def _count(session: Session, stmt: Select[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


def count_conflicts(session: Session, account_limit: int) -> int:
    """How many conflicts :func:`find_conflicts` would list without a limit."""
    sql = _Sql(session)
    return (
        _count(session, _removed_phones(sql))
        + _count(session, _several_customers_phones())
        + _count(session, _many_accounts_phones(account_limit))
    )


def find_conflicts(session: Session, account_limit: int, limit: int) -> list[Conflict]:
    """Links a supervisor should look at, at most ``limit``, one per phone and kind: links
    to removed locations first, then phones on accounts of several customers, then phones on
    more than ``account_limit`` accounts; each kind by phone."""
    if limit <= 0:
        return []
    sql = _Sql(session)
    found: list[Conflict] = []
    removed_phones = list(session.scalars(_removed_phones(sql).order_by(_PL.phone).limit(limit)))
    if removed_phones:
        location = sql.column(_PL.service_location_id, "service_location_id")
        removed = session.execute(
            select(_PL.phone, _PL.id, _PL.service_location_id)
            .join(ServiceLocation, location == _SL.service_location_id)
            .where(_PL.phone.in_(removed_phones), _SL.removed_at.is_not(None))
            .order_by(_PL.phone, _PL.id)
        ).all()
        by_phone: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for phone, link_id, location_id in removed:
            by_phone[phone].append((link_id, location_id))
        for phone in removed_phones:
            links = by_phone[phone]
            names = ", ".join(location for _, location in links)
            found.append(
                Conflict(
                    "removed_location",
                    phone,
                    tuple(link_id for link_id, _ in links),
                    f"linked to {names}, no longer in the account directory",
                )
            )
    room = limit - len(found)
    if room > 0:
        customers = session.execute(
            _several_customers_phones().order_by(_PL.phone).limit(room)
        ).all()
        shared = _links_of(session, [phone for phone, _ in customers])
        found.extend(
            Conflict(
                "several_customers",
                phone,
                tuple(link_id for link_id, _ in shared[phone]),
                f"linked to accounts of {count} different customers "
                f"({', '.join(sorted({account for _, account in shared[phone]}))})",
            )
            for phone, count in customers
        )
    room = limit - len(found)
    if room > 0:
        many = session.execute(
            _many_accounts_phones(account_limit).order_by(_PL.phone).limit(room)
        ).all()
        spread = _links_of(session, [phone for phone, _ in many])
        found.extend(
            Conflict(
                "too_many_accounts",
                phone,
                tuple(link_id for link_id, _ in spread[phone]),
                f"linked to {count} accounts (the limit is {account_limit})",
            )
            for phone, count in many
        )
    return found


def _links_of(session: Session, phones: Sequence[str]) -> dict[str, list[tuple[int, str]]]:
    """(link id, account) of every link of each phone, oldest first."""
    found: dict[str, list[tuple[int, str]]] = defaultdict(list)
    if phones:
        rows = session.execute(
            select(_PL.phone, _PL.id, _PL.account_number)
            .where(_PL.phone.in_(phones))
            .order_by(_PL.phone, _PL.id)
        )
        for phone, link_id, account in rows:
            found[phone].append((link_id, account))
    return found
