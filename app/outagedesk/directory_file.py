"""Reading and checking an account directory CSV file, in a process of its own.

:func:`outagedesk.directory.import_accounts_csv` writes the rows that this module reads. The
reading (the CSV module, the row checks, phone normalisation) is Python from end to end, and in
the importing process it held the interpreter lock against the thread that binds rows for the
database: each slowed the other by a third. In a child process the two run side by side; the
child hands over each batch of valid rows as a few long strings, which cost next to nothing to
pass through a pipe and to split again.

The child is a new interpreter that imports only this module (its first message comes in under
a tenth of a second). It reads a :class:`ReadRequest` from its standard input and writes
pickled messages to its standard output: the header's unknown columns, a batch of valid rows at
a time, and at the end the errors, the counts and the listed IDs (or the exception that stopped
it). It touches no database and holds no secret.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import json
import logging
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, TextIO

from outagedesk.domain.phones import InvalidPhoneError, normalize_phone

log = logging.getLogger(__name__)

COLUMNS = (
    "account_number",
    "service_location_id",
    "meter_id",
    "customer_name",
    "service_address",
    "phones",
    "life_support",
)
MAX_ID = 64
MAX_NAME = 200
MAX_ADDRESS = 300
TRUE_WORDS = frozenset({"yes", "y", "true", "1"})
FALSE_WORDS = frozenset({"no", "n", "false", "0", ""})
_LIFE_WORDS = {**dict.fromkeys(TRUE_WORDS, True), **dict.fromkeys(FALSE_WORDS, False)}
# Distinct raw phone texts remembered (an account's locations share its phones).
_PHONE_CACHE_LIMIT = 200_000
# Separates the values of a batch handed over as one string: a valid value never holds a NUL
# (a row with one is invalid).
_SEPARATOR = "\x00"
# Batches waiting in the importing process while the database is busy with earlier ones.
_QUEUED_BATCHES = 3

# service location, account, meter, customer name, address, life support, E.164 phones
Location = tuple[str, str, str | None, str, str, bool, tuple[str, ...]]


@dataclass(frozen=True)
class RowError:
    """A problem with one row; ``line`` is the physical line in the file (header = 1)."""

    line: int
    message: str


class DirectoryFileError(Exception):
    """The file as a whole cannot be imported (unreadable, not UTF-8, header incomplete).

    Nothing was written; the message names the file and the fix.
    """


# --------------------------------------------------------------------------- validation


class RowChecker:
    """Turns CSV fields into a valid location, or into error messages naming the column."""

    def __init__(
        self, header: dict[str, int], width: int, region: str, *, nul_free: bool = False
    ) -> None:
        self.width = width
        self.idx = tuple(header[name] for name in COLUMNS)
        self.region = region
        # The file holds no NUL character: no row needs looking at for one.
        self.nul_free = nul_free
        self.seen: dict[str, int] = {}
        # raw text -> (valid, E.164 or the error message)
        self._phones: dict[str, tuple[bool, str]] = {}
        # a whole valid phones field -> its E.164 numbers (an account's locations repeat it)
        self._fields: dict[str, tuple[str, ...]] = {}
        self._pick = itemgetter(*self.idx)

    def phone(self, raw: str) -> tuple[bool, str]:
        known = self._phones.get(raw)
        if known is None:
            try:
                known = (True, normalize_phone(raw, self.region))
            except InvalidPhoneError as exc:
                known = (False, str(exc))
            if len(self._phones) >= _PHONE_CACHE_LIMIT:
                self._phones.clear()
            self._phones[raw] = known
        return known

    def _numbers(self, field: str, errors: list[str]) -> tuple[str, ...]:
        """A phones field's distinct E.164 numbers; an invalid one's error goes to ``errors``.
        A valid field is remembered whole."""
        phones: list[str] = []
        valid = True
        for raw in field.split(";"):
            if not raw or raw.isspace():
                continue
            ok, e164 = self.phone(raw)
            if not ok:
                errors.append(f"phones: {e164}")
                valid = False
            elif e164 not in phones:
                phones.append(e164)
        numbers = tuple(phones)
        if valid:
            if len(self._fields) >= _PHONE_CACHE_LIMIT:
                self._fields.clear()
            self._fields[field] = numbers
        return numbers

    def check(self, fields: list[str], line: int) -> Location | list[str]:
        """The row as a valid location, or its errors."""
        # Most rows are valid and their phones field was met before: they are taken in one
        # test. The rest (and any row this test refuses) go through every check one by one.
        if self.nul_free and len(fields) == self.width:
            account, location, meter, name, address, phones, life = self._pick(fields)
            account, location, meter = account.strip(), location.strip(), meter.strip()
            name, address = name.strip(), address.strip()
            life_support = _LIFE_WORDS.get(life.strip().lower())
            numbers = self._fields.get(phones) if phones else ()
            if (
                account
                and location
                and len(account) <= MAX_ID
                and len(location) <= MAX_ID
                and len(meter) <= MAX_ID
                and len(name) <= MAX_NAME
                and len(address) <= MAX_ADDRESS
                and life_support is not None
                and numbers is not None
                and self.seen.setdefault(location, line) == line
            ):
                return (location, account, meter or None, name, address, life_support, numbers)
        return self._check_each(fields, line)

    def _check_each(self, fields: list[str], line: int) -> Location | list[str]:
        if len(fields) != self.width:
            return [f"expected {self.width} columns, found {len(fields)}"]
        i_acct, i_sl, i_meter, i_name, i_addr, i_phones, i_life = self.idx
        errors: list[str] = []
        if not self.nul_free and "\x00" in "".join(fields):
            errors.extend(
                f"{name}: contains a NUL character"
                for name, pos in zip(COLUMNS, self.idx, strict=True)
                if "\x00" in fields[pos]
            )
        account = fields[i_acct].strip()
        if not account:
            errors.append("account_number: required")
        elif len(account) > MAX_ID:
            errors.append(f"account_number: longer than {MAX_ID} characters ({len(account)})")
        location = fields[i_sl].strip()
        if not location:
            errors.append("service_location_id: required")
        elif len(location) > MAX_ID:
            errors.append(f"service_location_id: longer than {MAX_ID} characters ({len(location)})")
        else:
            first = self.seen.setdefault(location, line)
            if first != line:
                errors.append(f"service_location_id: {location!r} is already on line {first}")
        meter: str | None = fields[i_meter].strip() or None
        if meter is not None and len(meter) > MAX_ID:
            errors.append(f"meter_id: longer than {MAX_ID} characters ({len(meter)})")
        name = fields[i_name].strip()
        if len(name) > MAX_NAME:
            errors.append(f"customer_name: longer than {MAX_NAME} characters ({len(name)})")
        address = fields[i_addr].strip()
        if len(address) > MAX_ADDRESS:
            errors.append(f"service_address: longer than {MAX_ADDRESS} characters ({len(address)})")
        raw_phones = fields[i_phones]
        numbers = self._fields.get(raw_phones) if raw_phones else ()
        if numbers is None:
            numbers = self._numbers(raw_phones, errors)
        word = fields[i_life].strip().lower()
        life = word in TRUE_WORDS
        if not life and word not in FALSE_WORDS:
            errors.append(
                f"life_support: {fields[i_life].strip()[:40]!r} is not yes/no/true/false/1/0"
            )
        if errors:
            return errors
        return (location, account, meter, name, address, life, numbers)


def _read_header(reader: Iterator[list[str]], path: Path) -> tuple[dict[str, int], int, list[str]]:
    for fields in reader:
        if fields:
            break
    else:
        raise DirectoryFileError(
            f"{path} is empty; the first line must name the columns {', '.join(COLUMNS)}"
        )
    names = [f.strip().lower() for f in fields]
    header: dict[str, int] = {}
    for pos, name in enumerate(names):
        if name in COLUMNS and name in header:
            raise DirectoryFileError(
                f"{path}: column {name} appears twice in the header line; keep one of them"
            )
        header.setdefault(name, pos)
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise DirectoryFileError(
            f"{path}: the header line has no {', '.join(missing)} column"
            f"{'s' if len(missing) > 1 else ''}; the first line must name the columns "
            f"{', '.join(COLUMNS)} (any order, any case)"
        )
    extra = [fields[pos].strip() for pos, name in enumerate(names) if name not in COLUMNS]
    return header, len(names), extra


def _not_utf8(path: Path) -> DirectoryFileError:
    # The decoder works on big chunks: find the line by decoding line by line.
    line = 0
    with contextlib.suppress(OSError), path.open("rb") as handle:
        for line, raw in enumerate(handle, start=1):  # noqa: B007 - the line is the result
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                break
    return DirectoryFileError(
        f"{path}:{line}: not UTF-8 text; save the file as UTF-8 "
        '("CSV UTF-8" in a spreadsheet) and import it again'
    )


def survey(path: Path) -> tuple[int, bool]:
    """The file's number of lines, and whether it holds a NUL byte anywhere (OSError when it
    cannot be read)."""
    lines = 0
    last = b"\n"
    nul = False
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
            nul = nul or b"\x00" in chunk
            last = chunk[-1:]
    return lines + (last != b"\n"), nul


# --------------------------------------------------------------------------- batches


@dataclass
class JsonBatch:
    """PostgreSQL: one batch of locations as JSON text, each row with its phones."""

    count: int
    rows: str
    has_phones: bool


@dataclass
class ValuesBatch:
    """SQLite: one batch as the values to bind, flat, all text: six a location (the upsert's
    column order; no meter is ``""``, life support ``"1"`` or ``"0"``) and three a phone link
    (phone, account, location)."""

    count: int
    locations: list[str]
    links: list[str]

    def joined(self) -> JoinedBatch:
        return JoinedBatch(self.count, _SEPARATOR.join(self.locations), _SEPARATOR.join(self.links))


@dataclass
class JoinedBatch:
    """A :class:`ValuesBatch` as two strings, the form it crosses the pipe in."""

    count: int
    locations: str
    links: str

    def split(self) -> ValuesBatch:
        return ValuesBatch(
            self.count,
            self.locations.split(_SEPARATOR),
            self.links.split(_SEPARATOR) if self.links else [],
        )


Packed = JsonBatch | ValuesBatch


def pack_json(batch: Sequence[Location]) -> JsonBatch:
    # Sorted batches touch the index pages in order.
    rows = sorted(batch, key=itemgetter(0))
    return JsonBatch(
        len(rows),
        json.dumps(rows, ensure_ascii=False, separators=(",", ":")),
        any(row[6] for row in rows),
    )


def pack_values(batch: Sequence[Location]) -> ValuesBatch:
    locations: list[str] = []
    links: list[str] = []
    for location, account, meter, name, address, life, phones in batch:
        locations += (location, account, meter or "", name, address, "1" if life else "0")
        for phone in phones:
            links += (phone, account, location)
    return ValuesBatch(len(batch), locations, links)


def packer(dialect: str) -> Callable[[Sequence[Location]], Packed]:
    return pack_json if dialect == "postgresql" else pack_values


# --------------------------------------------------------------------------- the child


@dataclass(frozen=True)
class ReadRequest:
    """What the child is to read, and how."""

    path: Path
    region: str
    skip_bad: bool
    dialect: str
    batch_rows: int
    nul_free: bool


@dataclass
class ReadSummary:
    """What the whole file held, once it has been read."""

    rows: int = 0
    bad_rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    listed: str = ""
    """Every service location ID the file lists, valid row or not, joined (a full import
    marks the others removed)."""

    def listed_ids(self) -> list[str]:
        return self.listed.split(_SEPARATOR) if self.listed else []


def _read(
    request: ReadRequest, handle: TextIO, send: Callable[[tuple[Any, ...]], None]
) -> ReadSummary:
    """Sends ``("header", ignored columns)``, then ``("batch", rows read, packed or None)``
    every ``batch_rows`` rows and at the end. After the first invalid row (without
    ``skip_bad``) no more rows are handed over, but every row is still checked so that every
    error is reported."""
    path = request.path
    reader = csv.reader(handle)
    try:
        header, width, ignored = _read_header(reader, path)
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    except csv.Error as exc:
        raise DirectoryFileError(f"{path}:1: unreadable CSV header ({exc})") from exc
    send(("header", ignored))
    checker = RowChecker(header, width, request.region, nul_free=request.nul_free)
    check, batch_rows, skip_bad = checker.check, request.batch_rows, request.skip_bad
    pack: Callable[[Sequence[Location]], Any] = (
        pack_json if request.dialect == "postgresql" else _pack_joined
    )
    summary = ReadSummary()
    errors = summary.errors
    batch: list[Location] = []
    handing_over = True
    rows = 0
    last_line = reader.line_num
    try:
        for fields in reader:
            line = last_line + 1
            last_line = reader.line_num
            if not fields:
                continue
            rows += 1
            result = check(fields, line)
            if isinstance(result, tuple):
                if handing_over:
                    batch.append(result)
            else:
                summary.bad_rows += 1
                errors.extend(RowError(line, message) for message in result)
                if not skip_bad:
                    handing_over = False
                    batch = []
            if rows % batch_rows == 0:
                send(("batch", rows, pack(batch) if batch else None))
                batch = []
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    except csv.Error as exc:
        raise DirectoryFileError(
            f"{path}:{reader.line_num}: unreadable CSV ({exc}); fix the quoting on that line"
        ) from exc
    send(("batch", rows, pack(batch) if batch else None))
    summary.rows = rows
    listed: Iterable[str] = checker.seen
    if not request.nul_free:  # an ID with a NUL was never imported: it lists nothing
        listed = (location for location in checker.seen if _SEPARATOR not in location)
    summary.listed = _SEPARATOR.join(listed)
    return summary


def _pack_joined(batch: Sequence[Location]) -> JoinedBatch:
    return pack_values(batch).joined()


def main() -> None:
    """The child: one request on standard input, messages on standard output."""
    # Ctrl+C reaches the whole process group: the importing process stops the child itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A short-lived process making millions of tuples that reference counting frees: the
    # cyclic collector would find nothing in them.
    gc.disable()
    # The messages get standard output to themselves: anything printed goes to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    request: ReadRequest = pickle.load(sys.stdin.buffer)  # noqa: S301 - from our parent

    def send(message: tuple[Any, ...]) -> None:
        pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    try:
        try:
            with request.path.open(encoding="utf-8-sig", newline="") as handle:
                summary = _read(request, handle, send)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise DirectoryFileError(
                f"cannot read {request.path}: {exc.strerror or exc}; "
                "check the file name and permissions"
            ) from exc
        send(("end", summary))
    except BrokenPipeError:
        return  # the importing process has gone: nobody to tell
    except Exception as exc:  # noqa: BLE001 - re-raised in the importing process
        with contextlib.suppress(BrokenPipeError):
            send(("failed", _picklable(exc)))


def _picklable(exc: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes
    except Exception:  # noqa: BLE001 - any failure to round-trip
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


# --------------------------------------------------------------------------- the parent


class FileReader:
    """The importing process's end: starts the child, waits for the header, then hands over
    the batches as they come (a thread keeps the pipe drained while the database writes).

    Use as a context manager: leaving it stops the child if it is still running.
    """

    def __init__(self, request: ReadRequest) -> None:
        self.request = request
        self.ignored: list[str] = []
        self.summary = ReadSummary()
        self._child = subprocess.Popen(  # noqa: S603 - this interpreter, this module
            self._command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self._queue: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=_QUEUED_BATCHES)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, name="directory-reader", daemon=True)

    def _command(self) -> list[str]:
        # The package is found where the child's own path finds it (installed, or
        # PYTHONPATH), else where this process found it, last so it shadows nothing.
        package_root = str(Path(__file__).resolve().parent.parent)
        start = f"import sys; sys.path.append({package_root!r}); from {__name__} import main"
        return [sys.executable, "-P", "-c", f"{start}; main()"]

    def __enter__(self) -> FileReader:
        try:
            assert self._child.stdin is not None
            # A child that died at once is reported by _receive().
            with contextlib.suppress(BrokenPipeError), self._child.stdin as stdin:
                pickle.dump(self.request, stdin, protocol=pickle.HIGHEST_PROTOCOL)
            kind, *rest = self._receive()
            if kind == "failed":
                raise rest[0]
            self.ignored = rest[0]
            self._thread.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        child = self._child
        if child.poll() is None:
            child.kill()
        child.wait()
        if self._thread.ident is not None:
            self._thread.join()
        if child.stdout is not None:
            child.stdout.close()

    def batches(self) -> Generator[tuple[int, Packed | None], None, None]:
        """(rows read so far, valid rows or None) in file order; then :attr:`summary` holds
        the errors and counts. Raises what stopped the reading (:class:`DirectoryFileError`)."""
        while True:
            kind, *rest = self._queue.get()
            if kind == "batch":
                yield rest[0], rest[1]
            elif kind == "end":
                self.summary = rest[0]
                return
            else:
                raise rest[0]

    def _receive(self) -> tuple[Any, ...]:
        stdout: IO[bytes] | None = self._child.stdout
        assert stdout is not None
        try:
            message: tuple[Any, ...] = pickle.load(stdout)  # noqa: S301 - our child's pipe
        except Exception as exc:
            if not self._stop.is_set() and not isinstance(exc, EOFError):
                log.warning("unreadable message from the directory file's process", exc_info=True)
            if self._child.poll() is None:
                self._child.kill()
            code = self._child.wait()
            return (
                "failed",
                DirectoryFileError(
                    f"the process reading {self.request.path} ended unexpectedly (exit code "
                    f"{code}); nothing was imported; run the import again"
                ),
            )
        return message

    def _drain(self) -> None:
        try:
            while True:
                message = self._receive()
                if message[0] == "batch" and isinstance(message[2], JoinedBatch):
                    # Split here, beside the database's work, not on the writing thread.
                    message = ("batch", message[1], message[2].split())
                self._hand_over(message)
                if message[0] != "batch":
                    return
        except _Stopped:
            return
        except Exception as exc:  # noqa: BLE001 - re-raised on the writing thread
            with contextlib.suppress(_Stopped):
                self._hand_over(("failed", exc))

    def _hand_over(self, message: tuple[Any, ...]) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(queue.Full):
                self._queue.put(message, timeout=0.2)
                return
        raise _Stopped


class _Stopped(Exception):
    """The importing side has stopped reading."""
