"""``outagedesk links export`` and ``outagedesk links import``: links to and from CSV."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session

from outagedesk.config import Settings, SettingsError
from outagedesk.ops.base import Actor, Permission, require
from outagedesk.ops.bulk_links import (
    CorrectionFileError,
    CorrectionPlan,
    Outcome,
    apply_corrections,
    export_links_csv,
    plan_corrections,
)
from outagedesk.ops.commands import add_credential_arguments, run_as
from outagedesk.store.mappings import MappingQuery, MappingSort

MAX_SHOWN_ROWS = 50


def add_links_arguments(
    parser: argparse.ArgumentParser, common: Callable[[argparse.ArgumentParser], None]
) -> None:
    """``common`` adds the settings flags, which also work after ``export`` / ``import``."""
    sub = parser.add_subparsers(dest="links_command", metavar="ACTION", required=True)
    export = sub.add_parser("export", help="write links to a CSV file", allow_abbrev=False)
    common(export)
    export.add_argument("file", metavar="FILE.csv", help="CSV file to write (- for stdout)")
    export.add_argument("--search", default="", metavar="TEXT", help="phone, ID or words")
    export.add_argument("--source", metavar="S", help="directory, dispatcher, supervisor, upload")
    export.add_argument("--unreviewed", action="store_true", help="only links not reviewed yet")
    add_credential_arguments(export)
    imp = sub.add_parser(
        "import",
        help="correct links from a CSV file (a preview unless --apply)",
        allow_abbrev=False,
    )
    common(imp)
    imp.add_argument("file", metavar="FILE.csv")
    imp.add_argument("--apply", action="store_true", help="apply the changes after the preview")
    imp.add_argument(
        "--skip-bad-rows", action="store_true", help="apply the valid rows, report the bad ones"
    )
    add_credential_arguments(imp)


def run_links(settings: Settings, args: argparse.Namespace) -> int:
    if args.links_command == "export":
        return _export(settings, args)
    return _import(settings, args)


def _export(settings: Settings, args: argparse.Namespace) -> int:
    query = MappingQuery(
        text=args.search,
        source=args.source,
        reviewed=False if args.unreviewed else None,
        sort=MappingSort.PHONE,
        region=settings.region,
    )

    def work(session: Session, actor: Actor) -> int:
        require(actor, Permission.IMPORT_LINKS)  # before the file is created
        try:
            if args.file == "-":
                rows = export_links_csv(session, actor, query, sys.stdout)
            else:
                with open(args.file, "w", encoding="utf-8", newline="") as out:
                    rows = export_links_csv(session, actor, query, out)
        except OSError as exc:
            raise SettingsError(f"cannot write {args.file}: {exc.strerror}") from exc
        print(f"{rows:,} link(s) exported", file=sys.stderr)
        return 0

    return run_as("links export", settings, args, work)


def _preview(file: str, plan: CorrectionPlan) -> None:
    shown = [r for r in plan.rows if r.outcome is not Outcome.UNCHANGED][:MAX_SHOWN_ROWS]
    for row in shown:
        where = row.account_number + (
            f" / {row.service_location_id}" if row.service_location_id else ""
        )
        detail = f" ({row.detail})" if row.detail else ""
        print(f"{file}:{row.line}: {row.outcome.value} {row.phone} {where}{detail}")
    hidden = sum(1 for r in plan.rows if r.outcome is not Outcome.UNCHANGED) - len(shown)
    if hidden > 0:
        print(f"... and {hidden:,} more")
    print(
        "preview: "
        + ", ".join(f"{plan.counts.get(o, 0):,} {o.value}" for o in Outcome)
        + f" ({len(plan.additions):,} links to add, {len(plan.removals):,} to remove)"
    )


def _import(settings: Settings, args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        print(f"outagedesk links: {args.file} does not exist; give the CSV file's path")
        return 2

    def work(session: Session, actor: Actor) -> int:
        require(actor, Permission.IMPORT_LINKS)  # before reading a large file
        try:
            plan = plan_corrections(session, path, settings.region)
        except CorrectionFileError as exc:
            print(f"outagedesk links: {exc}")
            return 2
        _preview(args.file, plan)
        bad = len(plan.invalid)
        if bad and not args.skip_bad_rows:
            print(
                f"outagedesk links: nothing applied: {bad:,} row(s) are invalid; fix them, "
                "or re-run with --skip-bad-rows"
            )
            return 1
        if not args.apply:
            print("nothing applied: re-run with --apply to apply these changes")
            return 0

        def progress(done: int, total: int) -> None:
            print(f"\rapplying: {done:,} / {total:,} changes", end="", file=sys.stderr)

        result = apply_corrections(session, actor, plan, progress, skip_invalid=args.skip_bad_rows)
        print(file=sys.stderr)
        print(
            f"applied {path.name}: {result.links_added:,} links added, "
            f"{result.links_removed:,} removed, {result.rows_skipped:,} rows skipped"
        )
        return 0

    return run_as("links import", settings, args, work)
