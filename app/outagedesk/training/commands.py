"""``outagedesk scenario list | check FILE | record --from T --to T --title TEXT OUT.toml``."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session

from outagedesk.config import Settings, SettingsError
from outagedesk.ops.base import Actor, OperationError, Permission, audit, require
from outagedesk.ops.commands import _since, add_credential_arguments, run_as
from outagedesk.training.record import RecordError, record_scenario
from outagedesk.training.scenario import (
    Scenario,
    ScenarioError,
    dump_scenario,
    load_scenario,
    shipped_scenarios,
)


def add_arguments(
    parser: argparse.ArgumentParser, common: Callable[[argparse.ArgumentParser], None]
) -> None:
    """``common`` adds the common settings flags, so that they work after the action too."""
    sub = parser.add_subparsers(dest="scenario_command", metavar="ACTION", required=True)
    listing = sub.add_parser(
        "list", help="the scenarios that ship with OutageDesk", allow_abbrev=False
    )
    check = sub.add_parser(
        "check", help="validate a scenario file and count what it holds", allow_abbrev=False
    )
    check.add_argument("file", metavar="FILE.toml")
    record = sub.add_parser(
        "record",
        help="export a time range of the feed as a scenario, with fake numbers and names",
        allow_abbrev=False,
    )
    for action in (listing, check, record):
        common(action)
    record.add_argument("--from", dest="start", required=True, metavar="TIME", help="first time")
    record.add_argument("--to", dest="end", required=True, metavar="TIME", help="up to (not incl.)")
    record.add_argument("--title", required=True, help="the scenario's title")
    record.add_argument("--seed", type=int, default=1, help="seed of the fake values (default 1)")
    add_credential_arguments(record)
    record.add_argument("out", metavar="OUT.toml", help="the scenario file to write")


def summary(scenario: Scenario) -> str:
    texts = len(scenario.messages)
    unlinked = len({m.sender for m in scenario.messages if m.expect_account})
    stops = sum(1 for m in scenario.messages if m.expect_opt_out)
    down = sum(end - start for start, end in scenario.oms_down)
    per_minute = Counter(int(m.offset // 60) for m in scenario.messages)
    return (
        f"{scenario.key}: {scenario.title} — {texts} texts over {scenario.duration / 60:.0f} min "
        f"(busiest minute {max(per_minute.values())}), {len(scenario.directory)} directory rows, "
        f"{unlinked} unlinked number(s) with an expected account, {stops} request(s) to stop, "
        f"OMS down {down / 60:.0f} min"
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    try:
        if args.scenario_command == "list":
            for path in shipped_scenarios():
                print(summary(load_scenario(path)))
            return 0
        if args.scenario_command == "check":
            print(summary(load_scenario(Path(args.file))))
            return 0
        return _record(settings, args)
    except (ScenarioError, RecordError, OperationError) as exc:
        print(f"outagedesk scenario: {exc}")
        return 1


def _record(settings: Settings, args: argparse.Namespace) -> int:
    start, end = _since(args.start), _since(args.end)
    # Both are required arguments, so both are times here.
    assert start is not None
    assert end is not None
    out = Path(args.out)

    def work(session: Session, actor: Actor) -> int:
        require(actor, Permission.RUN_TRAINING)
        try:
            scenario = record_scenario(session, start, end, title=args.title, seed=args.seed)
        except RecordError as exc:
            print(f"outagedesk scenario: {exc}")
            return 1
        # Reading customers' texts out of the database is worth a line in the audit trail.
        audit(
            session,
            actor,
            "scenario_record",
            out.name,
            None,
            {"from": args.start, "to": args.end, "texts": len(scenario.messages)},
        )
        session.commit()
        try:
            out.write_text(dump_scenario(scenario), encoding="utf-8")
        except OSError as exc:
            raise SettingsError(f"cannot write {out}: {exc.strerror}") from exc
        print(f"{len(scenario.messages)} texts recorded to {out}")
        return 0

    return run_as("scenario record", settings, args, work)
