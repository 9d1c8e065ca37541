"""Account-directory search for the "link a number" dialog, and suggestions from a text.

:func:`search_directory` answers as the dispatcher types: a phone number finds the locations
linked to it; anything else is matched exactly or by prefix against the account number, the
service location ID and the meter ID (case-insensitively), and word by word (each word a
prefix, every word required) against the customer name and service address.
:func:`suggest_for_message` offers likely locations before anything is typed: IDs and street
addresses written in the text, then the number's own links, each with the reason.

Every look-up is an index range scan or a full-text index query (migration 0002), so a search
costs about the same on 1,000 locations as on 1,000,000:

* SQLite: ``NOCASE`` indexes on the three IDs and the FTS5 table ``service_locations_fts``
  (external content, kept in step by triggers) over name and address.
* PostgreSQL: ``upper(id) COLLATE "C"`` expression indexes and a GIN index on
  ``to_tsvector('simple', customer_name || ' ' || service_address)``.

IDs fold ASCII case on SQLite and Unicode case on PostgreSQL (the same for ASCII IDs). Both
full-text indexes split words at anything that is not a letter or a digit and fold case, but
keep accents ("pena" does not find "Peña", on either backend). User text only ever reaches the
full-text engines as quoted words, so its quotes, ``*``, ``&``, ``|``, ``:`` or parentheses are
never query syntax, and every value travels as a bound parameter.

Name and address matches come in directory order (row id). When more rows match than asked
for, SQLite returns the lowest ids; PostgreSQL the first ones its GIN bitmap scan meets (in
table order, which is id order for a bulk-imported directory), sorted by id: finding the
lowest ids there would mean visiting every match.

Pure SQLAlchemy: no Qt here.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    func,
    literal,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from outagedesk.domain.phones import InvalidPhoneError, normalize_phone
from outagedesk.store.models import PhoneLink, ServiceLocation

__all__ = [
    "MAX_LINKED_PHONES",
    "LocationHit",
    "locations_with_words",
    "search_directory",
    "suggest_for_message",
]


@dataclass(frozen=True)
class LocationHit:
    """One service location offered to the dispatcher."""

    account_number: str
    service_location_id: str
    meter_id: str | None
    customer_name: str
    service_address: str
    life_support: bool
    linked_phones: tuple[str, ...]
    """Phones (E.164) linked to this location or to its whole account; at most
    ``MAX_LINKED_PHONES``, the location's own links first, each group oldest first."""
    account_locations: int
    """How many service locations the account has (so the UI can offer "all locations")."""
    reason: str = ""
    """Why the location is offered: set for suggestions and for phone-number searches."""


MAX_LINKED_PHONES = 10

# --------------------------------------------------------------------------- query pieces

_SL = ServiceLocation.__table__.c
_PEER = ServiceLocation.__table__.alias("peer")
_TOP = "\U0010ffff"
"""Sorts after every character: ``q <= x < q + _TOP`` is "x starts with q" in byte order."""

_MAX_TEXT = 200
_MAX_BODY = 2000
_MAX_WORDS = 8
_MAX_ID = 64
_WORD = re.compile(r"[^\W_]+")
_PHONE_CHARS = re.compile(r"[\d\s()+\-./]+")

# The tsvector expression exactly as the GIN index spells it, or PostgreSQL will not use it.
_PG_DOCUMENT = "to_tsvector('simple'::regconfig, customer_name || ' ' || service_address)"
_PG_MATCH = sql_text(f"{_PG_DOCUMENT} @@ to_tsquery('simple'::regconfig, :tsquery)")
# The same words, tokenised per column: not the indexed expression, so a row-by-row check.
_PG_CHECK = sql_text(
    "(to_tsvector('simple'::regconfig, customer_name)"
    " || to_tsvector('simple'::regconfig, service_address))"
    " @@ to_tsquery('simple'::regconfig, :checked)"
)
# Reads the setting, then turns sequential scans off until the end of the transaction (the
# subquery is evaluated first: the outer select needs its row).
_PG_SEQSCAN_OFF = sql_text(
    "SELECT before, set_config('enable_seqscan', 'off', true) "
    "FROM (SELECT current_setting('enable_seqscan') AS before OFFSET 0) AS read_first"
)
_PG_SEQSCAN_SET = sql_text("SELECT set_config('enable_seqscan', :value, true)")
_SQLITE_MATCH = sql_text(
    "SELECT rowid FROM service_locations_fts WHERE service_locations_fts MATCH :fts "
    "ORDER BY rowid LIMIT :n"
)

# Field order among matches of the same kind: a location ID or a meter names one location.
_ID_FIELDS = (
    ("service_location_id", "service location"),
    ("meter_id", "meter"),
    ("account_number", "account"),
)


# (account, service location or None for the whole account, source) of a phone link
_Link = tuple[str, str | None, str]
_MAX_LINKS = 500
"""Links of one phone looked at (a landlord's number can be on hundreds of accounts)."""


class _Loc(NamedTuple):
    pk: int
    account_number: str
    service_location_id: str
    meter_id: str | None
    customer_name: str
    service_address: str
    life_support: bool
    account_locations: int


def _location_columns() -> tuple[ColumnElement[Any], ...]:
    """A location's columns and its account's number of locations (an index-only count)."""
    count = (
        select(func.count())
        .select_from(_PEER)
        .where(_PEER.c.account_number == _SL.account_number)
        .scalar_subquery()
    )
    return (
        _SL.id,
        _SL.account_number,
        _SL.service_location_id,
        _SL.meter_id,
        _SL.customer_name,
        _SL.service_address,
        _SL.life_support,
        count,
    )


_COLUMNS = _location_columns()


def _locations(session: Session, stmt: Select[Any]) -> list[_Loc]:
    return [
        _Loc(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), int(r[7]))
        for r in session.execute(stmt)
    ]


def _dialect(session: Session) -> str:
    name = session.get_bind().dialect.name
    if name not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"directory search does not support {name}")
    return name


def _id_key(dialect: str, field: str) -> ColumnElement[str]:
    """The indexed, case-folded form of an ID column."""
    column: ColumnElement[str] = _SL[field]
    if dialect == "sqlite":
        return column.collate("NOCASE")
    return func.upper(column, type_=String).collate("C")


def _id_value(dialect: str, value: str) -> ColumnElement[str]:
    """``value`` folded the way :func:`_id_key` folds the column."""
    if dialect == "sqlite":
        return literal(value, String)  # NOCASE folds both sides of the comparison
    return func.upper(literal(value, String), type_=String)


def _id_prefixes(session: Session, dialect: str, prefix: str, limit: int) -> list[list[_Loc]]:
    """For each of ``_ID_FIELDS``, the first ``limit`` locations whose ID starts with
    ``prefix`` (any case), in ID order: one statement, an index range scan per field."""
    branches = []
    for rank, (field, _label) in enumerate(_ID_FIELDS):
        key = _id_key(dialect, field)
        low = _id_value(dialect, prefix)
        high = low.concat(literal(_TOP, String))
        branch = (
            select(*_COLUMNS, literal(rank).label("field"))
            .where(key >= low, key < high)
            .order_by(key, _SL.id)
            .limit(limit)
        )
        # Each branch in a subquery: SQLite allows no ORDER BY / LIMIT on a compound's parts.
        branches.append(branch.subquery().select())
    found: list[list[_Loc]] = [[] for _ in _ID_FIELDS]
    for r in session.execute(union_all(*branches)):
        found[r[8]].append(_Loc(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), int(r[7])))
    return found


def _id_exact(session: Session, dialect: str, field: str, value: str, limit: int) -> list[_Loc]:
    key = _id_key(dialect, field)
    stmt = (
        select(*_COLUMNS).where(key == _id_value(dialect, value)).order_by(key, _SL.id).limit(limit)
    )
    return _locations(session, stmt)


# A term is one word and its alternatives ("st" or "street"); prefix terms match word starts.
_Term = tuple[str, ...]


def _words(text: str) -> list[str]:
    """The words of ``text`` as both full-text indexes split them (letters and digits)."""
    return [w.lower() for w in _WORD.findall(text)]


def _fts_query(dialect: str, terms: Sequence[_Term], prefix: bool) -> str:
    """A MATCH / to_tsquery string in which every term is quoted: user text is never syntax."""
    groups: list[str] = []
    for alternatives in terms:
        if dialect == "sqlite":
            star = "*" if prefix else ""
            quoted = [f'"{w.replace(chr(34), chr(34) * 2)}"{star}' for w in alternatives]
            groups.append(f"({' OR '.join(quoted)})")
        else:
            star = ":*" if prefix else ""
            quoted = [
                "'{}'{}".format(w.replace("\\", "\\\\").replace("'", "''"), star)
                for w in alternatives
            ]
            groups.append(f"({' | '.join(quoted)})")
    return (" AND " if dialect == "sqlite" else " & ").join(groups)


def _full_text(
    session: Session, dialect: str, terms: Sequence[_Term], *, prefix: bool, limit: int
) -> list[_Loc]:
    """Up to ``limit`` locations whose name or address holds every term, sorted by row id."""
    if not terms or limit <= 0:
        return []
    if dialect == "sqlite":
        query = _fts_query(dialect, terms, prefix)
        ids = _SQLITE_MATCH.bindparams(fts=query, n=limit).columns(literal_column("rowid"))
        stmt = select(*_COLUMNS).where(_SL.id.in_(ids.subquery().select())).order_by(_SL.id)
        return _locations(session, stmt)
    # A one-letter prefix expands, in the GIN index, to every word with that letter: ~30 ms
    # each on a million rows. So such words are checked on the rows that the longer words
    # found instead (unless there are no longer words: then the first two use the index).
    indexed = [t for t in terms if not prefix or min(map(len, t)) > 1]
    checked = [t for t in terms if t not in indexed]
    if not indexed:
        indexed, checked = checked[:2], checked[2:]
    # The GIN index yields its matches as a bitmap, unordered: asking for the lowest ids would
    # visit every matching row ("san" matches 25,000 of a million). Take the first ``limit``
    # rows of the bitmap heap scan instead, and sort those. Without ORDER BY the planner may
    # prefer a sequential scan that stops at ``limit`` matches, which reads the whole table
    # when the words are rarer than it guessed (or always, under a cached generic plan): so
    # sequential scans are off for this one statement.
    match = _PG_MATCH.bindparams(tsquery=_fts_query(dialect, indexed, prefix))
    stmt = select(*_COLUMNS).where(match).limit(limit)
    if checked:
        stmt = stmt.where(_PG_CHECK.bindparams(checked=_fts_query(dialect, checked, prefix)))
    before = session.execute(_PG_SEQSCAN_OFF).one()[0]
    found = _locations(session, stmt)
    # Not in a ``finally``: after an error the transaction is void and so is the setting.
    session.execute(_PG_SEQSCAN_SET, {"value": before})
    return sorted(found)


# --------------------------------------------------------------------------- hits


def _linked_phones(session: Session, locations: Sequence[_Loc]) -> dict[int, tuple[str, ...]]:
    """The phones linked to each location or its whole account, in one query."""
    if not locations:
        return {}
    accounts = {loc.account_number for loc in locations}
    ids = {loc.service_location_id for loc in locations}
    rows = session.execute(
        select(PhoneLink.account_number, PhoneLink.service_location_id, PhoneLink.phone)
        .where(
            PhoneLink.account_number.in_(accounts),
            or_(PhoneLink.service_location_id.is_(None), PhoneLink.service_location_id.in_(ids)),
        )
        .order_by(PhoneLink.id)
    ).all()
    own: dict[tuple[str, str], list[str]] = defaultdict(list)
    whole: dict[str, list[str]] = defaultdict(list)
    for account, location, phone in rows:
        if location is None:
            whole[account].append(phone)
        else:
            own[(account, location)].append(phone)
    found: dict[int, tuple[str, ...]] = {}
    for loc in locations:
        phones = own.get((loc.account_number, loc.service_location_id), [])
        phones = phones + whole.get(loc.account_number, [])
        found[loc.pk] = tuple(dict.fromkeys(phones))[:MAX_LINKED_PHONES]
    return found


class _Collector:
    """Locations in the order found, each once, with the first (strongest) reason."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.found: dict[int, tuple[_Loc, str]] = {}

    @property
    def full(self) -> bool:
        return len(self.found) >= self.limit

    @property
    def room(self) -> int:
        return max(self.limit - len(self.found), 0)

    def add(self, locations: Iterable[_Loc], reason: str = "") -> None:
        for loc in locations:
            if self.full:
                return
            self.found.setdefault(loc.pk, (loc, reason))

    def hits(self, session: Session) -> list[LocationHit]:
        locations = [loc for loc, _ in self.found.values()]
        phones = _linked_phones(session, locations)
        return [
            LocationHit(
                account_number=loc.account_number,
                service_location_id=loc.service_location_id,
                meter_id=loc.meter_id,
                customer_name=loc.customer_name,
                service_address=loc.service_address,
                life_support=loc.life_support,
                linked_phones=phones.get(loc.pk, ()),
                account_locations=loc.account_locations,
                reason=reason,
            )
            for loc, reason in self.found.values()
        ]


def _link_targets(session: Session, links: Sequence[_Link], limit: int) -> list[list[_Loc]]:
    """For each link, the location it names, or the account's first ``limit`` locations (a
    whole-account link). Location links are looked up together, in one query."""
    named = {location for _, location, _ in links if location is not None}
    by_id: dict[str, _Loc] = {}
    if named:
        stmt = select(*_COLUMNS).where(_SL.service_location_id.in_(named))
        by_id = {loc.service_location_id: loc for loc in _locations(session, stmt)}
    targets: list[list[_Loc]] = []
    for account, location, _source in links:
        if location is None:
            stmt = (
                select(*_COLUMNS).where(_SL.account_number == account).order_by(_SL.id).limit(limit)
            )
            targets.append(_locations(session, stmt))
        else:
            loc = by_id.get(location)
            # A location that moved to another account no longer matches the link.
            targets.append([loc] if loc is not None and loc.account_number == account else [])
    return targets


def _add_link_targets(
    session: Session, out: _Collector, links: Sequence[_Link], reason: Callable[[_Link], str]
) -> None:
    """Add what each link points at, in link order, until ``out`` is full.

    Links are resolved a page at a time: a landlord's number can be on hundreds of accounts.
    """
    start = 0
    while start < len(links) and not out.full:
        chunk = links[start : start + out.room + 5]
        start += len(chunk)
        for link, locations in zip(chunk, _link_targets(session, chunk, out.room), strict=True):
            out.add(locations, reason(link))


def _clean(text: str) -> str:
    """``text`` without what no database takes: NUL characters and lone surrogates."""
    return text.replace("\x00", " ").encode("utf-8", "replace").decode("utf-8")


def _as_phone(text: str, region: str) -> str | None:
    """The E.164 form when ``text`` is a phone number (digits and the usual punctuation)."""
    if not _PHONE_CHARS.fullmatch(text) or sum(c.isdigit() for c in text) < 7:
        return None
    try:
        return normalize_phone(text, region)
    except InvalidPhoneError:
        return None


def _phone_links(session: Session, phone: str) -> list[_Link]:
    """(account, location or None, source) of the links of ``phone``, oldest first."""
    rows = session.execute(
        select(PhoneLink.account_number, PhoneLink.service_location_id, PhoneLink.source)
        .where(PhoneLink.phone == phone)
        .order_by(PhoneLink.id)
        .limit(_MAX_LINKS)
    ).all()
    return [(r[0], r[1], r[2]) for r in rows]


# --------------------------------------------------------------------------- search


def search_directory(
    session: Session, text: str, *, limit: int = 50, region: str = "US"
) -> list[LocationHit]:
    """Locations matching what the dispatcher typed, best first; at most ``limit``.

    A phone number (``505-555-0123``, ``+1 505 555 0123``...) first finds the locations
    linked to it, with the reason. Then: IDs equal to the text (location ID, meter, account),
    IDs starting with it (in ID order: a number can also be an account number), and, unless
    the text is a phone number, locations whose name and address hold every word of the text
    as a word start ("12 Main" finds "12 Main St", "smi" finds "Pat Smith"), in directory
    order.
    """
    query = " ".join(_clean(text).split())[:_MAX_TEXT]
    if not query or limit <= 0:
        return []
    dialect = _dialect(session)
    out = _Collector(limit)
    phone = _as_phone(query, region)
    if phone is not None:

        def linked(link: _Link) -> str:
            account, location, _source = link
            where = "this location" if location else f"account {account} (all its locations)"
            return f"{phone} is linked to {where}"

        _add_link_targets(session, out, _phone_links(session, phone), linked)
    if len(query) <= _MAX_ID and not out.full:
        exact: list[tuple[int, _Loc]] = []
        starts: list[tuple[str, int, _Loc]] = []
        by_field = _id_prefixes(session, dialect, query, limit)
        for rank, ((field, _label), locations) in enumerate(zip(_ID_FIELDS, by_field, strict=True)):
            for loc in locations:
                value: str = getattr(loc, field)
                # Case folding keeps lengths, so a prefix match as long as the text is equal.
                if len(value) == len(query):
                    exact.append((rank, loc))
                else:
                    starts.append((value.upper(), rank, loc))
        exact.sort(key=lambda e: (e[0], e[1].pk))
        starts.sort(key=lambda e: (e[0], e[1], e[2].pk))
        out.add(loc for _, loc in exact)
        out.add(loc for _, _, loc in starts)
    words = _words(query)[:_MAX_WORDS]
    # A phone number's digit groups are not words of a name or an address.
    if words and phone is None and not out.full:
        terms = [(w,) for w in words]
        # Enough rows to fill the page even if every location found so far comes back.
        out.add(_full_text(session, dialect, terms, prefix=True, limit=out.limit))
    return out.hits(session)


def locations_with_words(session: Session, text: str, *, limit: int) -> list[tuple[str, str]]:
    """(account, service location ID) of up to ``limit`` locations whose name and address
    hold every word of ``text`` as a word start, in directory order (as the search finds
    them)."""
    words = _words(_clean(text))[:_MAX_WORDS]
    if not words:
        return []
    found = _full_text(session, _dialect(session), [(w,) for w in words], prefix=True, limit=limit)
    return [(loc.account_number, loc.service_location_id) for loc in found]


# --------------------------------------------------------------------------- suggestions

_ID_CAPTURE = r"([A-Za-z0-9][A-Za-z0-9-]{0,63})"
_NUMBER_WORDS = r"(?:\s*(?:\#|:|=|no\b\.?|nbr\b\.?|num\b\.?|number\b|id\b|is\b))*\s*"
_ACCOUNT_RE = re.compile(rf"\b(?:acct|acc|account|a/c)\b\.?{_NUMBER_WORDS}{_ID_CAPTURE}", re.I)
_METER_RE = re.compile(rf"\bmeter\b\.?{_NUMBER_WORDS}{_ID_CAPTURE}", re.I)
# Letters, a hyphen and digits, on their own: "M-55123", "SL-1002-1".
_SHAPED_ID_RE = re.compile(r"(?<![\w-])([A-Za-z]{1,5}-[A-Za-z0-9-]*\d[A-Za-z0-9-]*)(?![\w-])")

_STREET_SUFFIXES: tuple[tuple[str, ...], ...] = (
    ("st", "street"),
    ("rd", "road"),
    ("ave", "av", "avenue"),
    ("ln", "lane"),
    ("dr", "drive"),
    ("blvd", "boulevard"),
    ("way",),
    ("ct", "court"),
    ("hwy", "highway"),
    ("pl", "place"),
    ("ter", "terrace"),
    ("cir", "circle"),
    ("pkwy", "parkway"),
    ("trl", "trail"),
    ("loop",),
    ("run",),
    ("pass",),
    ("sq", "square"),
    ("pike",),
    ("plz", "plaza"),
)
_SUFFIX_GROUP = {word: group for group in _STREET_SUFFIXES for word in group}
_SUFFIX_ALTERNATION = "|".join(sorted(_SUFFIX_GROUP, key=len, reverse=True))
# A house number, one to four street-name words (a word starts with a letter, or is an
# ordinal such as "5th"), and a street suffix.
_ADDRESS_RE = re.compile(
    r"(?<![\w-])(\d{1,6}[A-Za-z]?)\s+"
    r"((?:(?:[A-Za-z][A-Za-z'.-]*|\d+(?:st|nd|rd|th))\s+){1,4}?)"
    rf"({_SUFFIX_ALTERNATION})\b\.?",
    re.I,
)


def _with_digit(tokens: Iterable[str]) -> list[str]:
    """The tokens that contain a digit (an ID does; "is" in "account is out" does not)."""
    return list(dict.fromkeys(t.strip("-") for t in tokens if any(c.isdigit() for c in t)))


def _addresses(body: str) -> list[tuple[str, list[_Term]]]:
    """(address as written, full-text terms) for each street address in ``body``."""
    found: list[tuple[str, list[_Term]]] = []
    for match in _ADDRESS_RE.finditer(body):
        number, street, suffix = match.groups()
        terms: list[_Term] = [(w,) for w in _words(f"{number} {street}")]
        terms.append(_SUFFIX_GROUP[suffix.lower()])
        found.append((" ".join(match.group(0).split()), terms[: _MAX_WORDS + 1]))
    return found


def suggest_for_message(
    session: Session, phone: str, body: str, *, limit: int = 10
) -> list[LocationHit]:
    """Locations the text from ``phone`` probably concerns, strongest first, with reasons.

    In this order: an account number written in the text ("acct 1002", "account #1002"),
    a meter or other ID ("meter M-55123", "M-55123"), a street address ("12 Main St"), the
    locations this number was linked to by a dispatcher, and those the directory lists it
    for. A location found twice keeps its first reason.
    """
    if limit <= 0:
        return []
    dialect = _dialect(session)
    out = _Collector(limit)
    body = _clean(body[:_MAX_BODY])
    for account in _with_digit(_ACCOUNT_RE.findall(body)):
        for loc in _id_exact(session, dialect, "account_number", account, out.room):
            out.add([loc], f"account {loc.account_number} is written in the text")
    for meter in _with_digit(_METER_RE.findall(body)):
        for loc in _id_exact(session, dialect, "meter_id", meter, out.room):
            out.add([loc], f"meter {loc.meter_id} is written in the text")
    for token in _with_digit(_SHAPED_ID_RE.findall(body)):
        for field, label in _ID_FIELDS:
            if out.full:
                break
            for loc in _id_exact(session, dialect, field, token, out.room):
                out.add([loc], f"{label} {getattr(loc, field)} is written in the text")
    for written, terms in _addresses(body):
        if out.full:
            break
        locations = _full_text(session, dialect, terms, prefix=False, limit=out.room)
        out.add(locations, f"address '{written}' is written in the text")
    if not out.full:
        _suggest_from_links(session, phone, out)
    return out.hits(session)


_DIRECTORY_SOURCE = "directory"
"""``PhoneLink.source`` of the links the directory import makes (the phones on file)."""


def _suggest_from_links(session: Session, phone: str, out: _Collector) -> None:
    e164 = phone.strip()
    if not e164.startswith("+"):
        try:
            e164 = normalize_phone(e164)
        except InvalidPhoneError:
            return
    links = _phone_links(session, e164)
    # Dispatchers' links (newest first) before the directory's own phone lists.
    ordered = [link for link in reversed(links) if link[2] != _DIRECTORY_SOURCE]
    ordered += [link for link in links if link[2] == _DIRECTORY_SOURCE]

    def why(link: _Link) -> str:
        if link[2] == _DIRECTORY_SOURCE:
            return "this number is on file for this account"
        return "this number was linked here before"

    _add_link_targets(session, out, ordered, why)
