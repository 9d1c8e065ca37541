"""Turning a time range of the real feed into a scenario without any customer data.

Every phone number, customer name, account number, service location ID, meter ID and address
is replaced, consistently, by a fake one, in the directory rows and inside the texts; the
texts' wording and timing are kept. Inside a text, a phone number is recognised in any usual
spelling (+15055550142, 5055550142, (505) 555-0142, 505.555.0142) and keeps its spelling;
a run of five or more digits that is no known number is replaced too, since it may be an
account or meter number the customer mistyped.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from outagedesk.sim.directory import DirectoryRow, _area_pool
from outagedesk.store.models import InboundMessage, PhoneLink, ServiceLocation
from outagedesk.training.scenario import Scenario, ScenarioMessage, asks_to_stop

MAX_RECORDED = 100_000
# Values per IN (...) list: far below SQLite's and PostgreSQL's limits on bound parameters.
CHUNK = 1000

_PHONE = r"(?<![\w+])(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}(?!\w)"
_LONG_DIGITS = r"(?<!\w)\d{5,}(?!\w)"
_SYLLABLES = (
    "ka", "lo", "mi", "ren", "tor", "sa", "vel", "dun", "bri", "an", "el", "or", "ma", "ti",
    "ro", "na", "bel", "cor", "da", "fen", "gal", "hol", "is", "jo", "kel", "lan", "mor", "ne",
)  # fmt: skip
_STREET_KINDS = ("St", "Ave", "Rd", "Ln", "Dr", "Way", "Ct", "Blvd", "Trl", "Loop")
# Name parts never replaced inside texts: they are the program's words, not a person's.
_KEEP_WORDS = frozenset(
    {"OUT", "OUTAGE", "STATUS", "STAT", "STOP", "HELP", "INFO", "START", "YES", "END", "QUIT"}
)


class RecordError(ValueError):
    """Nothing to record, or too much."""


@dataclass
class _Fakes:
    """Consistent replacements, none of which equals an original value."""

    rng: random.Random
    originals: set[str]
    phones: dict[str, str] = field(default_factory=dict)
    literals: dict[str, str] = field(default_factory=dict)
    """Lower-cased original text (account, ID, name, address, digits) -> its replacement."""
    _phone_pool: list[str] = field(default_factory=list)
    _used: set[str] = field(default_factory=set)

    def _fresh(self, make: Callable[[], str]) -> str:
        for _ in range(10_000):
            value = make()
            if value.lower() not in self.originals and value not in self._used:
                self._used.add(value)
                return value
        raise RecordError("ran out of fake values; record a shorter time range")

    def phone(self, e164: str) -> str:
        if e164 not in self.phones:
            if not self._phone_pool:
                self._refill_phones()
            self.phones[e164] = self._phone_pool.pop()
        return self.phones[e164]

    def _refill_phones(self) -> None:
        wanted = (len(self.phones) + 1) * 2 + 200
        pool = [
            f"+1{area}55501{nn:02d}"
            for area in _area_pool(wanted)
            for nn in range(100)
            if f"+1{area}55501{nn:02d}" not in self.phones.values()
        ]
        self.rng.shuffle(pool)
        self._phone_pool = [
            p for p in pool if p not in self.originals and p[2:] not in self.originals
        ]
        if not self._phone_pool:
            raise RecordError("ran out of fake phone numbers")

    def literal(self, original: str, make: Callable[[], str]) -> str:
        key = original.lower()
        if key not in self.literals:
            self.literals[key] = self._fresh(make)
        return self.literals[key]

    def word(self, length: int = 2) -> str:
        return "".join(self.rng.choice(_SYLLABLES) for _ in range(length)).capitalize()

    def digits_like(self, original: str) -> str:
        def make() -> str:
            first = str(self.rng.randrange(1, 10))
            return first + "".join(str(self.rng.randrange(10)) for _ in range(len(original) - 1))

        return self.literal(original, make)


@dataclass(frozen=True, slots=True)
class _Linked:
    account_number: str
    service_location_id: str | None
    before_start: bool


def _involved_links(
    session: Session, phones: set[str], start: datetime
) -> dict[str, list[_Linked]]:
    links: dict[str, list[_Linked]] = {}
    rows = [
        link
        for chunk in chunked(sorted(phones))
        for link in session.scalars(select(PhoneLink).where(PhoneLink.phone.in_(chunk)))
    ]
    for link in sorted(rows, key=lambda item: item.id):
        links.setdefault(link.phone, []).append(
            _Linked(link.account_number, link.service_location_id, link.created_at < start)
        )
    return links


def chunked(values: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _name_words(name: str) -> list[str]:
    return [w for w in re.findall(r"[^\W\d_]{2,}", name) if w.upper() not in _KEEP_WORDS]


class _Anonymiser:
    def __init__(self, fakes: _Fakes) -> None:
        self.fakes = fakes
        self._pattern: re.Pattern[str] | None = None

    def location_row(self, location: ServiceLocation, phones: tuple[str, ...]) -> DirectoryRow:
        f = self.fakes
        account = f.literal(location.account_number, lambda: str(f.rng.randrange(300_000, 999_999)))
        site = f.literal(
            location.service_location_id, lambda: f"SL-{account}-{f.rng.randrange(1, 100)}"
        )
        meter = (
            f.literal(location.meter_id, lambda: f"M-{f.rng.randrange(100_000, 999_999)}")
            if location.meter_id
            else None
        )
        return DirectoryRow(
            account_number=account,
            service_location_id=site,
            meter_id=meter,
            customer_name=self.name(location.customer_name),
            service_address=self.address(location.service_address),
            phones=tuple(f.phone(p) for p in phones),
            life_support=location.life_support,
        )

    def name(self, original: str) -> str:
        if not original.strip():
            return original
        f = self.fakes
        # Word by word, so that "Rosa" alone in a text is replaced like "Rosa Quintana".
        fake = " ".join(f.literal(w, f.word) for w in _name_words(original))
        if not fake:
            return f.literal(original, lambda: f.word(3))
        return f.literals.setdefault(original.lower(), fake)

    def address(self, original: str) -> str:
        if not original.strip():
            return original
        f = self.fakes

        def make() -> str:
            # No original number as the house number either: handing back the original makes
            # _fresh, which refuses originals, draw again (a bounded number of times).
            number = str(f.rng.randrange(1, 9900))
            if number in f.originals:
                return original
            return f"{number} {f.word()} {f.rng.choice(_STREET_KINDS)}"

        fake = f.literal(original, make)
        # "OUT 3720 Mill" names the same place as "3720 Mill St": replace the short form too.
        number_and_street = re.match(r"\s*(\d+\s+[^\W\d_]+)", original)
        short = re.match(r"\s*(\d+\s+[^\W\d_]+)", fake)
        if number_and_street and short:
            f.literals.setdefault(number_and_street.group(1).lower(), short.group(1))
        return fake

    def _text_pattern(self) -> re.Pattern[str]:
        """Compiled once, after the directory rows: every name, ID and address is known."""
        if self._pattern is not None:
            return self._pattern
        literals = sorted(self.fakes.literals, key=len, reverse=True)
        known = "|".join(re.escape(k) for k in literals)
        self._pattern = re.compile(
            "|".join(
                part
                for part in (
                    f"(?P<phone>{_PHONE})",
                    f"(?P<known>(?<!\\w)(?:{known})(?!\\w))" if known else "",
                    f"(?P<digits>{_LONG_DIGITS})",
                )
                if part
            ),
            re.IGNORECASE,
        )
        return self._pattern

    def text(self, body: str) -> str:
        f = self.fakes

        def replace(match: re.Match[str]) -> str:
            found = match.group(0)
            if match.lastgroup == "phone":
                return self._phone_in_text(found)
            if match.lastgroup == "known":
                return f.literals[found.lower()]
            return f.digits_like(found)

        return self._text_pattern().sub(replace, body)

    def _phone_in_text(self, found: str) -> str:
        digits = re.sub(r"\D", "", found)
        national = digits[1:] if len(digits) == 11 else digits
        fake = self.fakes.phone(f"+1{national}")
        fake_digits = iter(fake[1:] if len(digits) == 11 else fake[2:])
        return "".join(next(fake_digits) if ch.isdigit() else ch for ch in found)


def _originals(
    messages: Iterable[InboundMessage], locations: Iterable[ServiceLocation]
) -> set[str]:
    values: set[str] = set()
    for message in messages:
        values.update({message.phone, message.phone[2:]})
        values.update(re.findall(r"\d{4,}", message.body))
        for written in re.findall(_PHONE, message.body):
            national = re.sub(r"\D", "", written)[-10:]
            values.update({national, f"+1{national}"})
    for loc in locations:
        values.update(re.findall(r"\d+", loc.service_address))
        values.update(
            v
            for v in (
                loc.account_number,
                loc.service_location_id,
                loc.meter_id,
                loc.customer_name,
                loc.service_address,
                *_name_words(loc.customer_name),
            )
            if v
        )
    return {v.lower() for v in values}


_TOKEN = re.compile(r"[\w-]{3,64}")
_NUMBER_AND_WORD = re.compile(r"(?<!\w)(\d{1,6})\s+([^\W\d_]{2,})")
_WORD_PAIR = re.compile(r"(?=(?<![\w])([^\W\d_]{2,}\s+[^\W\d_]{2,}))")
# Address patterns per query: each is a LIKE that no index serves.
_LIKES_PER_QUERY = 100


def _mentioned_accounts(session: Session, bodies: list[str]) -> set[str]:
    """Accounts whose number, location or meter ID, customer name or address a text names.

    A customer may write any account's details, not only their own: those accounts join the
    recorded directory, so that their details are replaced like the others (and a trainee
    can find them, as the dispatcher did).
    """
    tokens: set[str] = set()
    streets: set[str] = set()
    names: set[str] = set()
    for body in bodies:
        for token in _TOKEN.findall(body):
            tokens.update({token, token.upper(), token.lower()})
        for number, word in _NUMBER_AND_WORD.findall(body):
            streets.add(f"{number} {word.lower()}")
        names.update(" ".join(pair.lower().split()) for pair in _WORD_PAIR.findall(body))
    found: set[str] = set()
    ordered = sorted(tokens)
    table = ServiceLocation.__table__.c
    meter: ColumnElement[Any] = table.meter_id
    if session.get_bind().dialect.name == "sqlite":
        # SQLite indexes meters without case only (migration 0009).
        meter = table.meter_id.collate("NOCASE")
    for column in (table.account_number, table.service_location_id, meter):
        for chunk in chunked(ordered):
            found.update(
                session.scalars(select(ServiceLocation.account_number).where(column.in_(chunk)))
            )
    for chunk in chunked(sorted(names)):
        found.update(
            session.scalars(
                select(ServiceLocation.account_number).where(
                    func.lower(ServiceLocation.customer_name).in_(chunk)
                )
            )
        )
    address = func.lower(ServiceLocation.service_address)
    for chunk in chunked(sorted(streets), _LIKES_PER_QUERY):
        found.update(
            session.scalars(
                select(ServiceLocation.account_number).where(
                    or_(*(address.like(f"{street}%") for street in chunk))
                )
            )
        )
    return found


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "recorded"


def record_scenario(
    session: Session, start: datetime, end: datetime, *, title: str, seed: int
) -> Scenario:
    """The inbound texts in [start, end) as an anonymised scenario (fakes drawn from ``seed``).

    Numbers that were linked before ``start`` become phones of their directory rows; numbers
    linked later (a dispatcher linked them during the storm) send as unlinked numbers, with
    the account they were linked to as the expected link.
    """
    if end <= start:
        raise RecordError("the end of the range must be after its start")
    messages = session.scalars(
        select(InboundMessage)
        .where(InboundMessage.received_at >= start, InboundMessage.received_at < end)
        .order_by(InboundMessage.received_at, InboundMessage.id)
        .limit(MAX_RECORDED + 1)
    ).all()
    if not messages:
        raise RecordError("no texts were received in that time range")
    if len(messages) > MAX_RECORDED:
        raise RecordError(f"more than {MAX_RECORDED} texts in that range; record a shorter one")
    phones = {m.phone for m in messages}
    links = _involved_links(session, phones, start)
    accounts = {link.account_number for found in links.values() for link in found}
    accounts |= _mentioned_accounts(session, [m.body for m in messages])
    locations = sorted(
        (
            location
            for chunk in chunked(sorted(accounts))
            for location in session.scalars(
                select(ServiceLocation).where(
                    ServiceLocation.account_number.in_(chunk), ServiceLocation.removed_at.is_(None)
                )
            )
        ),
        key=lambda loc: (loc.account_number, loc.service_location_id),
    )
    fakes = _Fakes(random.Random(f"record-{seed}"), _originals(messages, locations))
    anonymiser = _Anonymiser(fakes)
    rows: list[DirectoryRow] = []
    # (account, location or None for the whole account) -> the numbers linked there already.
    linked_before: dict[tuple[str, str | None], set[str]] = {}
    for phone, found in links.items():
        for link in found:
            if link.before_start:
                target = (link.account_number, link.service_location_id)
                linked_before.setdefault(target, set()).add(phone)
    for location in locations:
        row_phones = tuple(
            sorted(
                linked_before.get((location.account_number, None), set())
                | linked_before.get((location.account_number, location.service_location_id), set())
            )
        )
        rows.append(anonymiser.location_row(location, row_phones))
    scenario_messages: list[ScenarioMessage] = []
    for message in messages:
        account, site = _expected(links.get(message.phone, []))
        scenario_messages.append(
            ScenarioMessage(
                offset=round((message.received_at - start).total_seconds(), 3),
                sender=fakes.phone(message.phone),
                body=anonymiser.text(message.body),
                # Only accounts the recorded directory has (a removed location has no row).
                expect_account=fakes.literals.get(account.lower()) if account else None,
                expect_location=fakes.literals.get(site.lower()) if site else None,
                expect_opt_out=asks_to_stop(message.body),
            )
        )
    minutes = (end - start).total_seconds() / 60
    return Scenario(
        key=_slug(title),
        title=title,
        description=(
            f"Recorded from the feed: {len(messages)} texts over {minutes:.0f} minutes; every "
            "number, name, account and address replaced by a fake one."
        ),
        duration=max((end - start).total_seconds(), scenario_messages[-1].offset),
        directory=tuple(rows),
        messages=tuple(scenario_messages),
    )


def _expected(found: list[_Linked]) -> tuple[str | None, str | None]:
    """The account (and location) a number first linked during the range was linked to."""
    if not found or any(link.before_start for link in found):
        return None, None
    accounts = {link.account_number for link in found}
    if len(accounts) != 1:
        return None, None
    locations = {link.service_location_id for link in found}
    return accounts.pop(), locations.pop() if len(locations) == 1 else None
