"""Bulk correction of links from a CSV file, with a preview, and export of links to CSV.

The file has the columns ``phone, account_number, service_location_id, action`` (any order,
any case; other columns are ignored) and ``action`` is ``add``, ``move`` or ``remove``.
:func:`plan_corrections` reads and checks every row and works out what would change, writing
nothing; :func:`apply_corrections` then applies the plan in one transaction, unless the links
it read changed in the meantime.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO, TypeVar, cast

from sqlalchemy import CursorResult, Table, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from outagedesk.domain.phones import InvalidPhoneError, normalize_phone
from outagedesk.ops.base import Actor, OperationError, Permission, audit, require
from outagedesk.store.mappings import MappingQuery, page_mappings
from outagedesk.store.models import PhoneLink, ServiceLocation, utcnow

UPLOAD = "upload"
COLUMNS = ("phone", "account_number", "service_location_id", "action")
ACTIONS = ("add", "move", "remove")
CHUNK = 5_000
"""Rows per statement (well under SQLite's bound-parameter limit)."""
MAX_ID = 64
EXPORT_COLUMNS = (
    *COLUMNS,
    "customer_name",
    "service_address",
    "source",
    "created_by",
    "created_at",
    "reviewed",
)


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


_LINKS = cast(Table, PhoneLink.__table__)
_T = TypeVar("_T")
# (account, location or None for the whole account)
_Target = tuple[str, str | None]


def _chunks(items: Sequence[_T]) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _read_text(source: Path | TextIO) -> tuple[str, str, str]:
    """(file name, sha256 of its bytes, text)."""
    if isinstance(source, Path):
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise CorrectionFileError(
                f"cannot read {source}: {exc.strerror or exc}; check the file name"
            ) from exc
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise CorrectionFileError(
                f"{source.name}:{line}: not UTF-8 text; save the file as UTF-8 and try again"
            ) from exc
        return source.name, hashlib.sha256(data).hexdigest(), text
    text = source.read()
    name = str(getattr(source, "name", "upload.csv"))
    return name, hashlib.sha256(text.encode("utf-8")).hexdigest(), text.removeprefix("\ufeff")


def _header(reader: Iterator[list[str]], name: str) -> dict[str, int]:
    for fields in reader:
        if fields:
            break
    else:
        raise CorrectionFileError(f"{name} is empty; the first line must name the columns")
    header: dict[str, int] = {}
    for position, column in enumerate(f.strip().lower() for f in fields):
        header.setdefault(column, position)
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise CorrectionFileError(
            f"{name}: the header line has no {', '.join(missing)} column; the first line must "
            f"name the columns {', '.join(COLUMNS)} (any order, any case)"
        )
    return header


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    action: str
    phone: str
    account: str
    location: str | None


def _parse(text: str, name: str, region: str) -> tuple[list[_Row], list[PlannedRow]]:
    """The well-formed rows, and the invalid ones with their reasons."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = _header(reader, name)
    except csv.Error as exc:
        raise CorrectionFileError(f"{name}:1: unreadable CSV header ({exc})") from exc
    i_phone, i_account, i_location, i_action = (header[c] for c in COLUMNS)
    width = max(header.values()) + 1
    rows: list[_Row] = []
    bad: list[PlannedRow] = []
    phones: dict[str, str | None] = {}
    last = reader.line_num
    try:
        for fields in reader:
            line, last = last + 1, reader.line_num
            if not fields or not "".join(fields).strip():
                continue
            if len(fields) < width:
                bad.append(PlannedRow(line, Outcome.INVALID, "", "", None, "too few columns"))
                continue
            raw_phone = fields[i_phone].strip()
            account = fields[i_account].strip()
            location = fields[i_location].strip() or None
            action = fields[i_action].strip().lower()
            reasons: list[str] = []
            if raw_phone not in phones:
                try:
                    phones[raw_phone] = normalize_phone(raw_phone, region)
                except InvalidPhoneError:
                    phones[raw_phone] = None
            phone = phones[raw_phone]
            if phone is None:
                reasons.append(f"phone: not a valid phone number: {raw_phone[:40]!r}")
            if not account:
                reasons.append("account_number: required")
            elif len(account) > MAX_ID or (location is not None and len(location) > MAX_ID):
                reasons.append(f"account_number / service_location_id: over {MAX_ID} characters")
            if action not in ACTIONS:
                reasons.append(f"action: {action[:20]!r} is not add, move or remove")
            if reasons:
                bad.append(
                    PlannedRow(
                        line, Outcome.INVALID, phone or raw_phone, account, location,
                        "; ".join(reasons),
                    )
                )  # fmt: skip
            else:
                rows.append(_Row(line, action, phone or "", account, location))
    except csv.Error as exc:
        raise CorrectionFileError(
            f"{name}:{reader.line_num}: unreadable CSV ({exc}); fix the quoting on that line"
        ) from exc
    return rows, bad


class _Directory:
    """The accounts and locations the file names, read in a few statements."""

    def __init__(self, session: Session, rows: Sequence[_Row]) -> None:
        accounts = sorted({r.account for r in rows})
        self.locations: dict[str, tuple[str, bool]] = {}
        self.accounts: set[str] = set()
        sl = ServiceLocation
        for chunk in _chunks(accounts):
            found = session.execute(
                select(sl.account_number, sl.service_location_id, sl.removed_at).where(
                    sl.account_number.in_(chunk)
                )
            )
            for account, location, removed_at in found:
                self.accounts.add(account)
                self.locations[location] = (account, removed_at is not None)

    def problem(self, row: _Row) -> str | None:
        if row.account not in self.accounts:
            return f"account {row.account} is not in the account directory"
        if row.location is None:
            return None
        owner = self.locations.get(row.location)
        if owner is None or owner[0] != row.account:
            return f"service location {row.location} does not belong to account {row.account}"
        if owner[1] and row.action != "remove":
            return f"service location {row.location} was removed from the account directory"
        return None


# (link id, version) by target, for each phone
_Links = dict[str, dict[_Target, tuple[int, int]]]


def _read_links(session: Session, phones: Sequence[str], *, lock: bool) -> tuple[_Links, str]:
    """The links of these phones, and a digest of their ids and versions."""
    links: _Links = {}
    seen: list[tuple[int, int]] = []
    for chunk in _chunks(phones):
        stmt = select(
            _LINKS.c.id,
            _LINKS.c.version,
            _LINKS.c.phone,
            _LINKS.c.account_number,
            _LINKS.c.service_location_id,
        ).where(_LINKS.c.phone.in_(chunk))
        if lock:
            stmt = stmt.with_for_update()
        for link_id, version, phone, account, location in session.execute(stmt):
            links.setdefault(phone, {})[(account, location)] = (link_id, version)
            seen.append((link_id, version))
    digest = hashlib.sha256()
    for link_id, version in sorted(seen):
        digest.update(f"{link_id}:{version};".encode())
    return links, digest.hexdigest()


def _where(target: _Target) -> str:
    account, location = target
    return f"{account} / {location}" if location else f"{account} (all locations)"


def plan_corrections(
    session: Session,
    source: Path | TextIO,
    region: str = "US",
    *,
    progress: Callable[[int, int], None] | None = None,
) -> CorrectionPlan:
    """Read and check every row of the file and work out what applying it would change;
    nothing is written (the read transaction is ended). Rows act in file order: ``add``
    links the phone to the account (or location) if it is not already, ``move`` also removes
    the phone's other links, ``remove`` removes that one link."""
    name, sha256, text = _read_text(source)
    rows, planned = _parse(text, name, region)
    try:
        directory = _Directory(session, rows)
        phones = sorted({r.phone for r in rows})
        original, fingerprint = _read_links(session, phones, lock=False)
    finally:
        session.rollback()
    state = {phone: dict(targets) for phone, targets in original.items()}
    new: dict[str, set[_Target]] = {}
    for done, row in enumerate(rows, start=1):
        if progress is not None and done % CHUNK == 0:
            progress(done, len(rows))
        target: _Target = (row.account, row.location)
        problem = directory.problem(row)
        if problem is not None:
            planned.append(
                PlannedRow(row.line, Outcome.INVALID, row.phone, *target, detail=problem)
            )
            continue
        links = state.setdefault(row.phone, {})
        added = new.setdefault(row.phone, set())
        outcome, detail = Outcome.UNCHANGED, ""
        present = target in links or target in added
        if row.action == "remove":
            if present:
                links.pop(target, None)
                added.discard(target)
                outcome = Outcome.REMOVED
            else:
                detail = "was not linked"
        else:
            others = []
            if row.action == "move":
                others = [t for t in [*links, *added] if t != target]
                for other in others:
                    links.pop(other, None)
                    added.discard(other)
            if not present:
                # Put back a link the file removed earlier rather than make a new one.
                kept = original.get(row.phone, {}).get(target)
                if kept is not None:
                    links[target] = kept
                else:
                    added.add(target)
            if others:
                outcome = Outcome.MOVED
                detail = "from " + ", ".join(_where(t) for t in sorted(others, key=str))
            elif not present:
                outcome = Outcome.ADDED
        planned.append(PlannedRow(row.line, outcome, row.phone, *target, detail=detail))
    planned.sort(key=lambda r: r.line)
    removals = sorted(
        link
        for phone, targets in original.items()
        for target, link in targets.items()
        if target not in state.get(phone, {})
    )
    additions = sorted(
        ((phone, *target) for phone, targets in new.items() for target in targets),
        key=lambda a: (a[0], a[1], a[2] or ""),
    )
    if progress is not None:
        progress(len(rows), len(rows))
    return CorrectionPlan(
        file_name=name,
        sha256=sha256,
        rows=planned,
        counts=dict(Counter(r.outcome for r in planned)),
        fingerprint=fingerprint,
        removals=removals,
        additions=additions,
        phones=phones,
    )


def apply_corrections(
    session: Session,
    actor: Actor,
    plan: CorrectionPlan,
    progress: Callable[[int, int], None] | None = None,
    *,
    skip_invalid: bool = False,
) -> CorrectionResult:
    """Apply a plan in one transaction with one audit row for the whole file.

    Refuses (nothing written) when the plan has invalid rows, unless ``skip_invalid``, and
    with :class:`PlanOutdated` when the links the plan read have changed since.
    ``progress(done, total)`` is called after every statement.
    """
    require(actor, Permission.IMPORT_LINKS)
    bad = len({r.line for r in plan.invalid})
    if bad and not skip_invalid:
        raise OperationError(f"{bad} row(s) of {plan.file_name} are invalid; fix them or skip them")
    total = len(plan.removals) + len(plan.additions)
    done = 0
    try:
        current, fingerprint = _read_links(session, plan.phones, lock=True)
        if fingerprint != plan.fingerprint:
            raise PlanOutdated(
                "links of these phones changed since the preview; preview the file again"
            )
        for chunk in _chunks(plan.removals):
            ids = [link_id for link_id, _ in chunk]
            result = session.execute(delete(_LINKS).where(_LINKS.c.id.in_(ids)))
            if cast(CursorResult[Any], result).rowcount != len(chunk):
                raise PlanOutdated("links changed while the file was applied; nothing applied")
            done += len(chunk)
            if progress is not None:
                progress(done, total)
        now = utcnow()
        fixed = {
            "source": UPLOAD,
            "created_by": actor.name,
            "desk": actor.desk,
            "created_at": now,
            "reviewed": True,
            "reviewed_by": actor.name,
            "reviewed_at": now,
            "version": 1,
        }
        for additions in _chunks(plan.additions):
            values = [
                {"phone": p, "account_number": a, "service_location_id": loc, **fixed}
                for p, a, loc in additions
            ]
            session.execute(insert(_LINKS), values)
            done += len(additions)
            if progress is not None:
                progress(done, total)
        counts = {outcome.value: plan.counts.get(outcome, 0) for outcome in Outcome}
        removed = {link_id for link_id, _ in plan.removals}
        changed = [
            (phone, *target)
            for phone, targets in current.items()
            for target, (link_id, _) in targets.items()
            if link_id in removed
        ]
        audit(
            session,
            actor,
            "links_upload",
            plan.file_name,
            None,
            {
                "file": plan.file_name,
                "sha256": plan.sha256,
                "rows": counts,
                "links_added": len(plan.additions),
                "links_removed": len(plan.removals),
            },
            # The upload is about every phone, account and location it linked or unlinked.
            about=[value for link in [*changed, *plan.additions] for value in link if value],
        )
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise PlanOutdated(
            "a link of the file was added meanwhile; preview the file again"
        ) from exc
    except BaseException:
        session.rollback()
        raise
    if progress is not None and total == 0:
        progress(0, 0)
    return CorrectionResult(len(plan.additions), len(plan.removals), bad)


def export_links_csv(session: Session, actor: Actor, query: MappingQuery, out: TextIO) -> int:
    """Write the links the query selects, in its order, as CSV; returns how many. The file
    can be imported again as it is (every row's action is ``add``: nothing would change).

    Every customer's phone in one file: only people who may correct links take it away."""
    require(actor, Permission.IMPORT_LINKS)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    written = 0
    page = page_mappings(session, query, None, CHUNK)
    while page:
        writer.writerows(
            (
                r.phone,
                r.account_number,
                r.service_location_id or "",
                "add",
                r.customer_name,
                r.service_address,
                r.source,
                r.created_by,
                r.created_at.isoformat(),
                "yes" if r.reviewed else "no",
            )
            for r in page
        )
        written += len(page)
        page = page_mappings(session, query, page[-1], CHUNK) if len(page) == CHUNK else []
    session.rollback()
    return written
