"""Training scenarios: one TOML file each (format in docs/scenarios.md).

A scenario names the account directory it needs (generated from a seed, or inline rows), the
timed texts (written out, or generated in waves from a seed) and the OMS outages. Loading the
same file always gives the same texts.
"""

from __future__ import annotations

import itertools
import random
import tomllib
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w

from outagedesk.domain.keywords import Classifier, MessageKind
from outagedesk.domain.phones import InvalidPhoneError, normalize_phone
from outagedesk.sim.directory import (
    CSV_HEADER,
    UNLINKED_AREA_CODES,
    DirectoryRow,
    generate_directory,
)
from outagedesk.sim.traffic import TrafficGenerator, TrafficMix

MAX_DIRECTORY_SIZE = 200_000
MAX_MESSAGES = 100_000
# +1 208/406 555-0100..0199: numbers that are in no directory.
UNLINKED_NUMBERS = len(UNLINKED_AREA_CODES) * 100
PROFILES = ("flat", "surge")

_TOP_KEYS = {"title", "description", "duration", "directory", "messages", "waves", "oms_down"}
_ROW_KEYS = frozenset(CSV_HEADER)  # a scenario's directory row has the CSV's columns
_MESSAGE_KEYS = {"at", "from", "text", "expect_account", "expect_location", "expect_opt_out"}
_WAVE_KEYS = {"start", "end", "count", "seed", "unlinked_share", "profile", "remarks"}
_CLASSIFIER = Classifier()


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


def unlinked_number(index: int) -> str:
    """The ``index``-th fake number that is in no directory (``unlinked:N`` in a file)."""
    if not 0 <= index < UNLINKED_NUMBERS:
        raise ValueError(f"unlinked numbers go from 0 to {UNLINKED_NUMBERS - 1}")
    area = UNLINKED_AREA_CODES[index % len(UNLINKED_AREA_CODES)]
    return f"+1{area}55501{index // len(UNLINKED_AREA_CODES):02d}"


def asks_to_stop(body: str) -> bool:
    """A reserved opt-out word or a free-text revocation (what a dispatcher must honour)."""
    verdict = _CLASSIFIER.classify(body)
    return verdict.kind is MessageKind.OPT_OUT or verdict.revocation_suspected


class _Reader:
    """Field access that names the file, the entry and the field in every error."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, problem: str) -> ScenarioError:
        return ScenarioError(f"{self.path.name}: {where}: {problem}")

    def table(self, data: Mapping[str, Any], where: str, allowed: Set[str]) -> None:
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise self.fail(
                where, f"unknown field {unknown[0]!r} (known: {', '.join(sorted(allowed))})"
            )

    def text(self, data: Mapping[str, Any], where: str, key: str, *, required: bool = True) -> str:
        value = data.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.fail(f"{where}.{key}" if where else key, "a non-empty text is needed")
        return value

    def optional_text(self, data: Mapping[str, Any], where: str, key: str) -> str | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where}.{key}", "must be a non-empty text when given")
        return value

    def number(
        self,
        data: Mapping[str, Any],
        where: str,
        key: str,
        *,
        low: float = 0.0,
        high: float | None = None,
        default: float | None = None,
    ) -> float:
        value = data.get(key, default)
        name = f"{where}.{key}" if where else key
        if value is None:
            raise self.fail(name, "a number is needed")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(name, f"must be a number, not {value!r}")
        if value < low or (high is not None and value > high):
            limit = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
            raise self.fail(name, f"{value:g} is out of range ({limit})")
        return float(value)

    def integer(self, data: Mapping[str, Any], where: str, key: str, *, low: int, high: int) -> int:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{where}.{key}", f"must be a whole number, not {value!r}")
        if not low <= value <= high:
            raise self.fail(f"{where}.{key}", f"{value} is out of range ({low} to {high})")
        return value

    def flag(self, data: Mapping[str, Any], where: str, key: str) -> bool:
        value = data.get(key, False)
        if not isinstance(value, bool):
            raise self.fail(f"{where}.{key}", f"must be true or false, not {value!r}")
        return value

    def entries(self, data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(key, f"must be an array of tables ([[{key}]])")
        return value


def _phone(reader: _Reader, raw: str, where: str) -> str:
    try:
        return normalize_phone(raw)
    except InvalidPhoneError as exc:
        raise reader.fail(where, str(exc)) from None


def _directory(reader: _Reader, data: Mapping[str, Any]) -> tuple[DirectoryRow, ...]:
    table = data.get("directory")
    if not isinstance(table, dict):
        raise reader.fail("directory", "a [directory] table with seed and size, or rows, is needed")
    reader.table(table, "directory", {"seed", "size", "rows"})
    if "rows" in table:
        if "seed" in table or "size" in table:
            raise reader.fail("directory", "give either seed and size or rows, not both")
        return _inline_rows(reader, reader.entries(table, "rows"))
    seed = reader.integer(table, "directory", "seed", low=0, high=2**31)
    size = reader.integer(table, "directory", "size", low=1, high=MAX_DIRECTORY_SIZE)
    return tuple(generate_directory(size, seed))


def _inline_rows(reader: _Reader, rows: list[Mapping[str, Any]]) -> tuple[DirectoryRow, ...]:
    out: list[DirectoryRow] = []
    seen: set[str] = set()
    for index, row in enumerate(rows):
        where = f"directory.rows[{index}]"
        reader.table(row, where, _ROW_KEYS)
        location = reader.text(row, where, "service_location_id")
        if location in seen:
            raise reader.fail(f"{where}.service_location_id", f"{location!r} is listed twice")
        seen.add(location)
        phones = row.get("phones", [])
        if not isinstance(phones, list) or not all(isinstance(p, str) for p in phones):
            raise reader.fail(f"{where}.phones", "must be a list of phone numbers")
        out.append(
            DirectoryRow(
                account_number=reader.text(row, where, "account_number"),
                service_location_id=location,
                meter_id=reader.optional_text(row, where, "meter_id"),
                customer_name=reader.text(row, where, "customer_name", required=False),
                service_address=reader.text(row, where, "service_address", required=False),
                phones=tuple(
                    _phone(reader, p, f"{where}.phones[{i}]") for i, p in enumerate(phones)
                ),
                life_support=reader.flag(row, where, "life_support"),
            )
        )
    return tuple(out)


def _sender(reader: _Reader, raw: str, where: str, directory: tuple[DirectoryRow, ...]) -> str:
    kind, _, number = raw.partition(":")
    if kind in ("directory", "unlinked") and number:
        if not number.isdigit():
            raise reader.fail(where, f"{raw!r}: the index after {kind}: must be a number")
        index = int(number)
        if kind == "unlinked":
            if index >= UNLINKED_NUMBERS:
                raise reader.fail(
                    where, f"{raw!r}: unlinked numbers go up to {UNLINKED_NUMBERS - 1}"
                )
            return unlinked_number(index)
        if index >= len(directory):
            raise reader.fail(where, f"{raw!r}: the directory has {len(directory)} rows")
        if not directory[index].phones:
            raise reader.fail(where, f"{raw!r}: directory row {index} has no phone")
        return directory[index].phones[0]
    # Kept as written: carriers do send bare 10-digit numbers, and the console must cope.
    _phone(reader, raw, where)
    return raw


def _messages(
    reader: _Reader, data: Mapping[str, Any], directory: tuple[DirectoryRow, ...]
) -> list[ScenarioMessage]:
    accounts = {row.account_number for row in directory}
    locations = {row.service_location_id: row.account_number for row in directory}
    out: list[ScenarioMessage] = []
    for index, entry in enumerate(reader.entries(data, "messages")):
        where = f"messages[{index}]"
        reader.table(entry, where, _MESSAGE_KEYS)
        expect_account = reader.optional_text(entry, where, "expect_account")
        expect_location = reader.optional_text(entry, where, "expect_location")
        if expect_account is not None and expect_account not in accounts:
            raise reader.fail(
                f"{where}.expect_account", f"{expect_account!r} is not in the directory"
            )
        if expect_location is not None:
            if expect_account is None:
                raise reader.fail(f"{where}.expect_location", "needs expect_account too")
            if locations.get(expect_location) != expect_account:
                raise reader.fail(
                    f"{where}.expect_location",
                    f"{expect_location!r} is not a location of account {expect_account}",
                )
        if "text" not in entry or not isinstance(entry["text"], str):
            raise reader.fail(f"{where}.text", 'a text is needed (it may be empty: "")')
        out.append(
            ScenarioMessage(
                offset=reader.number(entry, where, "at"),
                sender=_sender(
                    reader, reader.text(entry, where, "from"), f"{where}.from", directory
                ),
                body=entry["text"],
                expect_account=expect_account,
                expect_location=expect_location,
                expect_opt_out=reader.flag(entry, where, "expect_opt_out"),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class _Wave:
    start: float
    end: float
    count: int
    seed: int
    unlinked_share: float
    profile: str
    remarks: tuple[str, ...]


def _wave(reader: _Reader, entry: Mapping[str, Any], where: str) -> _Wave:
    reader.table(entry, where, _WAVE_KEYS)
    start = reader.number(entry, where, "start")
    end = reader.number(entry, where, "end")
    if end <= start:
        raise reader.fail(f"{where}.end", f"{end:g} must be after start ({start:g})")
    profile = entry.get("profile", "flat")
    if profile not in PROFILES:
        raise reader.fail(f"{where}.profile", f"{profile!r}: use {' or '.join(PROFILES)}")
    remarks = entry.get("remarks", [])
    if not isinstance(remarks, list) or not all(isinstance(r, str) and r.strip() for r in remarks):
        raise reader.fail(f"{where}.remarks", "must be a list of non-empty texts")
    return _Wave(
        start=start,
        end=end,
        count=reader.integer(entry, where, "count", low=1, high=MAX_MESSAGES),
        seed=reader.integer(entry, where, "seed", low=0, high=2**31),
        unlinked_share=reader.number(entry, where, "unlinked_share", high=1.0, default=0.0),
        profile=profile,
        remarks=tuple(remarks),
    )


def _wave_messages(
    wave: _Wave,
    directory: tuple[DirectoryRow, ...],
    owners: dict[str, DirectoryRow | None],
) -> list[ScenarioMessage]:
    """Realistic traffic from the simulator's vocabulary; the same wave gives the same texts.

    Unlinked senders are customers texting from a number the utility does not have: each is
    tied to a directory row, and their texts name its address or account so that a dispatcher
    can find it (the row's account is the expected link). ``owners`` is shared by the waves of
    a file: a number keeps its owner across waves, and numbers the written texts use (owner
    None) are left alone.
    """
    rng = random.Random(f"wave-{wave.seed}")
    rows = [row for row in directory if row.phones]
    # Directory senders only; unlinked ones are made here, with their expected accounts.
    generator = TrafficGenerator(rows, wave.seed, TrafficMix(outage_unlinked=0, malformed=0))
    unlinked_pool = max(1, min(UNLINKED_NUMBERS, round(wave.count * wave.unlinked_share / 1.6)))
    first_unlinked = rng.randrange(UNLINKED_NUMBERS)
    span = wave.end - wave.start
    out: list[ScenarioMessage] = []
    for _ in range(wave.count):
        # A surge: most texts come soon after the lights go out, then they taper off.
        fraction = rng.betavariate(1.4, 4.0) if wave.profile == "surge" else rng.random()
        offset = round(wave.start + fraction * span, 3)
        if rows and rng.random() < wave.unlinked_share:
            phone, row = _unlinked_sender(first_unlinked + rng.randrange(unlinked_pool), owners)
            if row is None:
                row = owners[phone] = rows[rng.randrange(len(rows))]
            clue = rng.choice(
                (
                    f"OUT {row.service_address}",
                    f"OUT acct {row.account_number}",
                    f"OUTAGE at {row.service_address}",
                    f"out {row.service_address} {_remark(rng, wave)}",
                )
            )
            out.append(
                ScenarioMessage(offset, phone, clue.strip(), expect_account=row.account_number)
            )
            continue
        message = generator.next_message()
        body = str(message["body"])
        keyword = message.get("keyword")
        if wave.remarks and keyword in ("OUT", "OUTAGE") and rng.random() < 0.35:
            body = f"{keyword} {rng.choice(wave.remarks)}"
        sender = str(message["from_"])
        out.append(ScenarioMessage(offset, sender, body, expect_opt_out=asks_to_stop(body)))
    return out


def _unlinked_sender(
    index: int, owners: dict[str, DirectoryRow | None]
) -> tuple[str, DirectoryRow | None]:
    """The first number from ``index`` on that written texts do not use, with its owner."""
    for step in range(UNLINKED_NUMBERS):
        phone = unlinked_number((index + step) % UNLINKED_NUMBERS)
        if phone not in owners or owners[phone] is not None:
            return phone, owners.get(phone)
    raise ValueError("the written texts use every unlinked number")


def _remark(rng: random.Random, wave: _Wave) -> str:
    return rng.choice(wave.remarks) if wave.remarks else ""


def parse_scenario(text: str, path: Path) -> Scenario:
    """A scenario from TOML ``text``; ``path`` names it (its stem is the key)."""
    reader = _Reader(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path.name}: not valid TOML: {exc}") from None
    reader.table(data, "top level", _TOP_KEYS)
    title = reader.text(data, "", "title")
    description = reader.text(data, "", "description", required=False)
    directory = _directory(reader, data)
    messages = _messages(reader, data, directory)
    owners: dict[str, DirectoryRow | None] = {m.sender: None for m in messages}
    for index, entry in enumerate(reader.entries(data, "waves")):
        wave = _wave(reader, entry, f"waves[{index}]")
        if not any(row.phones for row in directory):
            raise reader.fail(f"waves[{index}]", "the directory has no phone to send from")
        messages.extend(_wave_messages(wave, directory, owners))
    if len(messages) > MAX_MESSAGES:
        raise reader.fail("messages", f"{len(messages)} texts; at most {MAX_MESSAGES}")
    if not messages:
        raise reader.fail("messages", "no texts: add [[messages]] or [[waves]]")
    oms_down: list[tuple[float, float]] = []
    for index, entry in enumerate(reader.entries(data, "oms_down")):
        where = f"oms_down[{index}]"
        reader.table(entry, where, {"start", "end"})
        start, end = reader.number(entry, where, "start"), reader.number(entry, where, "end")
        if end <= start:
            raise reader.fail(f"{where}.end", f"{end:g} must be after start ({start:g})")
        oms_down.append((start, end))
    oms_down.sort()
    for (_, end), (start, _) in itertools.pairwise(oms_down):
        if start < end:
            raise reader.fail("oms_down", "outages overlap; merge them")
    messages.sort(key=lambda m: m.offset)
    last = max(messages[-1].offset, oms_down[-1][1] if oms_down else 0.0)
    duration = reader.number(data, "", "duration", default=last)
    if duration < last:
        raise reader.fail("duration", f"{duration:g} s ends before the last event at {last:g} s")
    return Scenario(
        key=path.stem,
        title=title,
        description=description,
        duration=duration,
        directory=directory,
        messages=tuple(messages),
        oms_down=tuple(oms_down),
        source=path,
    )


def load_scenario(path: Path) -> Scenario:
    """Read and validate one scenario file (raises ScenarioError)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path.name}: cannot read the file: {exc}") from None
    return parse_scenario(text, path)


def shipped_scenarios() -> list[Path]:
    """The scenario files that ship with OutageDesk, sorted by name."""
    try:
        folder = resources.files("outagedesk.resources.scenarios")
    except ModuleNotFoundError:
        # An editable install cannot map the top-level resources/ folder into the package.
        source = Path(__file__).resolve().parents[3] / "resources" / "scenarios"
        return sorted(source.glob("*.toml"))
    # A namespace package's folder is a MultiplexedPath: list it rather than convert it.
    return sorted(Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith(".toml"))


def _row_table(row: DirectoryRow) -> dict[str, Any]:
    table: dict[str, Any] = {
        "account_number": row.account_number,
        "service_location_id": row.service_location_id,
        "customer_name": row.customer_name,
        "service_address": row.service_address,
        "phones": list(row.phones),
        "life_support": row.life_support,
    }
    if row.meter_id is not None:
        table["meter_id"] = row.meter_id
    return table


def _message_table(message: ScenarioMessage) -> dict[str, Any]:
    table: dict[str, Any] = {"at": message.offset, "from": message.sender, "text": message.body}
    optional: list[tuple[str, Callable[[ScenarioMessage], object]]] = [
        ("expect_account", lambda m: m.expect_account),
        ("expect_location", lambda m: m.expect_location),
        ("expect_opt_out", lambda m: m.expect_opt_out or None),
    ]
    for key, get in optional:
        value = get(message)
        if value is not None:
            table[key] = value
    return table


def dump_scenario(scenario: Scenario) -> str:
    """The scenario as TOML with every text written out (what the recorder saves)."""
    data: dict[str, Any] = {
        "title": scenario.title,
        "description": scenario.description,
        "duration": scenario.duration,
        "directory": {"rows": [_row_table(row) for row in scenario.directory]},
        "messages": [_message_table(m) for m in scenario.messages],
    }
    if scenario.oms_down:
        data["oms_down"] = [{"start": s, "end": e} for s, e in scenario.oms_down]
    return tomli_w.dumps(data)
