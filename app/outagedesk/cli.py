"""Command line: ``outagedesk [run|import-accounts|link|links|...|people|tokens|sim] [flags]``.

Common flags work before or after the subcommand. A wrong flag or a missing setting ends in
a one-line error that names the fix, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from outagedesk import __version__
from outagedesk.config import Settings, SettingsError, load_settings

OPS_COMMANDS = {
    "link": "run_link",
    "resend": "run_resend",
    "opt-out": "run_opt_out",
    "export-consent": "run_export",
    "templates": "run_templates",
    "audit": "run_audit_export",
}


def _common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # SUPPRESS keeps a flag given before the subcommand from being reset after it.
    d: Any = None if top else argparse.SUPPRESS
    g = parser.add_argument_group("common settings (also OUTAGEDESK_* variables or the file)")
    g.add_argument("--config-file", default=d, metavar="PATH", help="settings TOML file")
    g.add_argument("--data-dir", default=d, metavar="DIR", help="where the database and logs live")
    g.add_argument("--db-url", default=d, metavar="URL", help="SQLAlchemy URL (default: SQLite)")
    g.add_argument("--gateway-url", default=d, metavar="URL", help="SMS gateway base URL")
    g.add_argument("--oms-url", default=d, metavar="URL", help="OMS webhook URL")
    g.add_argument("--region", default=d, metavar="CC", help="default phone region (US)")
    g.add_argument(
        "--outage-keywords", default=d, metavar="LIST", help="comma-separated, e.g. OUT,OUTAGE"
    )
    g.add_argument(
        "--hold-unlinked",
        default=d,
        metavar="BOOL",
        help="hold unlinked reports until linked instead of forwarding them (yes/no)",
    )
    g.add_argument("--desk", default=d, metavar="NAME", help="this desk's name in audit rows")
    g.add_argument("--log-level", default=d, metavar="LEVEL", help="DEBUG, INFO, WARNING")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="outagedesk",
        allow_abbrev=False,
        description="Dispatcher console: every outage text becomes an OMS trouble ticket.",
        epilog="Tokens come from the OS keyring or OUTAGEDESK_GATEWAY_TOKEN / "
        "OUTAGEDESK_OMS_TOKEN; they are never accepted as flags.",
    )
    parser.add_argument("--version", action="version", version=f"outagedesk {__version__}")
    _common(parser, top=True)
    parser.add_argument(
        "--demo",
        action="store_true",
        help="open the console on the built-in simulator with a throw-away database",
    )
    parser.add_argument(
        "--training",
        action="store_true",
        help="training mode: replay a scenario on the simulator, on a training database "
        "(never reads the keyring or token variables)",
    )
    parser.add_argument(
        "--scenario",
        dest="training_scenario",
        metavar="NAME|FILE",
        help="with --training: a shipped scenario (e.g. afternoon-thunderstorm) or a .toml file",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Scripts must not depend on abbreviations that a later flag could make ambiguous.
    sub_kwargs: dict[str, Any] = {"allow_abbrev": False}

    run = sub.add_parser(
        "run", help="run the engine (and the window unless --headless)", **sub_kwargs
    )
    _common(run, top=False)
    run.add_argument(
        "--headless", action="store_true", help="no window: poll, store and forward only"
    )
    run.add_argument(
        "--status-interval", type=float, default=argparse.SUPPRESS, metavar="S",
        help="seconds between status lines (headless)",
    )  # fmt: skip

    imp = sub.add_parser(
        "import-accounts", help="load the account directory from a CSV file", **sub_kwargs
    )
    _common(imp, top=False)
    imp.add_argument("file", metavar="FILE.csv")
    imp.add_argument(
        "--skip-bad-rows", action="store_true", help="import the good rows, report the bad ones"
    )
    imp.add_argument(
        "--partial",
        action="store_true",
        help="the file lists only some locations: mark none of the others removed",
    )

    from outagedesk.ops import commands as ops_commands
    from outagedesk.ops import people_commands

    ops_commands.add_credential_arguments(imp)

    link = sub.add_parser(
        "link", help="link a phone number to an account or location", **sub_kwargs
    )
    _common(link, top=False)
    ops_commands.add_link_arguments(link)
    ops_commands.add_credential_arguments(link)
    resend = sub.add_parser("resend", help="re-send reports to the OMS", **sub_kwargs)
    _common(resend, top=False)
    ops_commands.add_resend_arguments(resend)
    ops_commands.add_credential_arguments(resend)

    opt_out = sub.add_parser(
        "opt-out", help="force an opt-out (there is no force opt-in)", **sub_kwargs
    )
    _common(opt_out, top=False)
    ops_commands.add_opt_out_arguments(opt_out)
    ops_commands.add_credential_arguments(opt_out)
    export = sub.add_parser(
        "export-consent", help="write consent records to CSV for an audit", **sub_kwargs
    )
    _common(export, top=False)
    ops_commands.add_export_arguments(export)
    ops_commands.add_credential_arguments(export)
    people_commands.add_parsers(sub, _common, sub_kwargs)

    audit = sub.add_parser(
        "audit", help="read the audit trail (supervisors and administrators)", **sub_kwargs
    )
    _common(audit, top=False)
    audit_sub = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    audit_export = audit_sub.add_parser(
        "export", help="write the audit rows matching the filters to CSV", **sub_kwargs
    )
    _common(audit_export, top=False)
    ops_commands.add_audit_export_arguments(audit_export)

    links = sub.add_parser(
        "links", help="export links to CSV, or correct them from a CSV file", **sub_kwargs
    )
    _common(links, top=False)
    from outagedesk.ops import links_commands

    links_commands.add_links_arguments(links, lambda p: _common(p, top=False))

    templates = sub.add_parser(
        "templates",
        help="show every automatic reply with its SMS length (edit them in [reply_templates])",
        **sub_kwargs,
    )
    _common(templates, top=False)

    scenario = sub.add_parser(
        "scenario", help="list, check or record training scenarios", **sub_kwargs
    )
    _common(scenario, top=False)
    from outagedesk.training import commands as training_commands

    training_commands.add_arguments(scenario, common=lambda p: _common(p, top=False))

    sim = sub.add_parser("sim", help="run the simulator gateway and OMS on loopback", **sub_kwargs)
    from outagedesk.sim import cli as sim_cli

    sim_cli.add_arguments(sim)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    flags = {k: v for k, v in vars(args).items() if v is not None}
    return load_settings(flags)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.training_scenario is not None and not args.training:
        parser.error("--scenario needs --training")
    if args.training and (args.command is not None or args.demo):
        parser.error("--training opens the window: give it no command and no --demo")
    try:
        if args.training:
            from outagedesk.ui.app import run_training

            return run_training(args)
        if args.command == "sim":
            from outagedesk.sim import cli as sim_cli

            return sim_cli.run(args)
        settings = settings_from_args(args)
        if args.command == "import-accounts":
            from outagedesk.directory import run_import_command

            return run_import_command(
                settings,
                args.file,
                skip_bad=args.skip_bad_rows,
                partial=args.partial,
                user=args.user,
            )
        if args.command == "links":
            from outagedesk.ops.links_commands import run_links

            return run_links(settings, args)
        if args.command == "scenario":
            from outagedesk.training import commands as training_commands

            return training_commands.run(settings, args)
        if args.command in OPS_COMMANDS:
            from outagedesk.ops import commands as ops_commands

            runner = getattr(ops_commands, OPS_COMMANDS[args.command])
            return int(runner(settings, args))
        if args.command in ("people", "tokens"):
            from outagedesk.ops import people_commands

            return people_commands.run(settings, args)
        if args.command == "run" and args.headless:
            from outagedesk.headless import run_headless

            return run_headless(settings)
        from outagedesk.ui.app import run_gui

        return run_gui(settings, args)
    except SettingsError as exc:
        print(f"outagedesk: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
