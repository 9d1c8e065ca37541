"""Headless ``outagedesk link`` and ``outagedesk resend`` for scripts and bulk fixes."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime
from pathlib import Path

from outagedesk.config import Settings, SettingsError
from outagedesk.domain.consent import Purpose
from outagedesk.domain.replies import count_segments
from outagedesk.gateway.contract import parse_timestamp
from outagedesk.ops.audit_trail import export_audit, export_audit_file
from outagedesk.ops.base import Actor, OperationError, Role
from outagedesk.ops.consent import export_consent_csv, force_opt_out
from outagedesk.ops.links import link_phone, phone_for
from outagedesk.ops.resend import Resent, reports_to_resend, resend_reports
from outagedesk.runtime import open_database, reply_policy
from outagedesk.store.audit import AuditQuery

STATES = ("held", "queued", "retrying", "forwarded", "unlinked", "rejected")


def add_link_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("phone", help="the number, in any usual form (E.164 or national)")
    parser.add_argument("--account", required=True, metavar="ACCOUNT", help="account number")
    parser.add_argument(
        "--location", metavar="ID", help="service location ID (default: the whole account)"
    )
    parser.add_argument(
        "--resend", action="store_true", help="re-send the number's unticketed reports"
    )
    parser.add_argument("--as", dest="actor", metavar="NAME", help="who acts (default: you)")


def add_resend_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--report", metavar="ID", help="one report, e.g. r-9f2c…")
    which.add_argument("--phone", metavar="PHONE", help="every unticketed report of a number")
    which.add_argument("--state", choices=STATES, help="every report in this state")
    parser.add_argument(
        "--since", metavar="TIME", help="only reports received since (RFC 3339, or a date)"
    )
    parser.add_argument(
        "--include-ticketed",
        action="store_true",
        help="also re-send reports that have a ticket (the OMS attaches the new revision)",
    )
    parser.add_argument("--as", dest="actor", metavar="NAME", help="who acts (default: you)")


def _actor(args: argparse.Namespace, settings: Settings) -> Actor:
    return Actor(args.actor or getpass.getuser(), settings.desk, Role.SUPERVISOR)


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        if "T" in text.upper():
            return parse_timestamp(text)
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        raise SettingsError(
            f"{text!r} is not a time: use 2026-11-24 or 2026-11-24T10:00:00Z"
        ) from None


def run_link(settings: Settings, args: argparse.Namespace) -> int:
    db = open_database(settings)
    try:
        phone = phone_for(args.phone, settings.region)
        with db.sessions() as session:
            outcome = link_phone(
                session,
                _actor(args, settings),
                phone,
                args.account,
                args.location,
                resend=args.resend,
            )
    except OperationError as exc:
        print(f"outagedesk link: {exc}")
        return 1
    finally:
        db.close()
    target = f"{args.account}" + (f" / {args.location}" if args.location else " (all locations)")
    verb = "linked" if outcome.created else "already linked"
    print(f"{phone} {verb} to {target}")
    if args.resend:
        print(f"re-sent {len(outcome.resent)} report(s): " + _list(outcome.resent))
    return 0


def run_resend(settings: Settings, args: argparse.Namespace) -> int:
    since = _since(args.since)
    db = open_database(settings)
    try:
        phone = phone_for(args.phone, settings.region) if args.phone else None
        with db.sessions() as session:
            pks = reports_to_resend(
                session,
                phone=phone,
                report_id=args.report,
                state=args.state,
                since=since,
                unticketed_only=not args.include_ticketed,
            )
            if args.report and not pks:
                print(f"outagedesk resend: no unticketed report {args.report}")
                return 1
            resent = resend_reports(
                session, _actor(args, settings), pks, include_ticketed=args.include_ticketed
            )
    except OperationError as exc:
        print(f"outagedesk resend: {exc}")
        return 1
    finally:
        db.close()
    print(f"re-sent {len(resent)} report(s)" + (": " + _list(resent) if resent else ""))
    return 0


def _list(resent: list[Resent]) -> str:
    shown = [f"{r.report_id}.{r.revision}" for r in resent[:20]]
    more = f" … and {len(resent) - 20} more" if len(resent) > 20 else ""
    return ", ".join(shown) + more


def add_opt_out_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("phone", help="the number to opt out")
    parser.add_argument("--keyword", help="one keyword only (default: every keyword)")
    parser.add_argument("--reason", required=True, help="why (kept in the audit trail)")
    parser.add_argument("--as", dest="actor", metavar="NAME", help="who acts (default: you)")


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="CSV file to write (- for standard output)")
    parser.add_argument("--from", dest="start", metavar="TIME", help="first day or time")
    parser.add_argument("--to", dest="end", metavar="TIME", help="up to (not including)")


def run_opt_out(settings: Settings, args: argparse.Namespace) -> int:
    db = open_database(settings)
    try:
        phone = phone_for(args.phone, settings.region)
        with db.sessions() as session:
            force_opt_out(session, _actor(args, settings), phone, args.keyword, args.reason)
    except OperationError as exc:
        print(f"outagedesk opt-out: {exc}")
        return 1
    finally:
        db.close()
    what = f"keyword {args.keyword.upper()}" if args.keyword else "every keyword"
    print(f"{phone} opted out of {what}; the gateway is told by the running engine")
    return 0


def run_export(settings: Settings, args: argparse.Namespace) -> int:
    start, end = _since(args.start), _since(args.end)
    db = open_database(settings)
    try:
        with db.sessions() as session:
            if args.file == "-":
                rows = export_consent_csv(session, sys.stdout, start, end)
            else:
                with open(args.file, "w", encoding="utf-8", newline="") as out:
                    rows = export_consent_csv(session, out, start, end)
    except OSError as exc:
        raise SettingsError(f"cannot write {args.file}: {exc.strerror}") from exc
    finally:
        db.close()
    print(f"{rows} consent record(s) exported", file=sys.stderr)
    return 0


def add_audit_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", metavar="FILE.csv", help="CSV file to write (- for standard output)"
    )
    parser.add_argument("--from", dest="start", metavar="TIME", help="first day or time")
    parser.add_argument("--to", dest="end", metavar="TIME", help="up to (not including)")
    parser.add_argument("--person", metavar="NAME", help="only what this person did")
    parser.add_argument(
        "--action", metavar="ACTION", help="one action (link_add) or a prefix (link_)"
    )
    parser.add_argument("--phone", metavar="PHONE", help="rows about this number (any form)")
    parser.add_argument("--account", metavar="ACCOUNT", help="rows about this account")
    parser.add_argument("--text", metavar="TEXT", help="rows that mention this text anywhere")
    parser.add_argument("--as", dest="actor", metavar="NAME", help="who asks (default: you)")


def run_audit_export(settings: Settings, args: argparse.Namespace) -> int:
    """``outagedesk audit export``: the rows the Audit screen would show, as CSV."""
    start, end = _since(args.start), _since(args.end)
    db = open_database(settings)
    try:
        query = AuditQuery(
            person=args.person or "",
            action=args.action or "",
            phone=phone_for(args.phone, settings.region) if args.phone else "",
            account=args.account or "",
            text=args.text or "",
            since=start,
            until=end,
            region=settings.region,
        )
        with db.sessions() as session:
            if args.file == "-":
                rows = export_audit(session, _actor(args, settings), query, sys.stdout)
            else:
                path = Path(args.file).expanduser()
                rows = export_audit_file(session, _actor(args, settings), query, path)
    except OperationError as exc:
        print(f"outagedesk audit export: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        raise SettingsError(f"cannot write {args.file}: {exc.strerror}") from exc
    finally:
        db.close()
    print(f"{rows} audit row(s) exported", file=sys.stderr)
    return 0


def run_templates(settings: Settings, args: argparse.Namespace) -> int:
    """Every automatic reply as the customer will read it, with its SMS cost."""
    policy = reply_policy(settings)
    for purpose in Purpose:
        text = policy.render(purpose, address="12 Main St")
        cost = count_segments(text)
        origin = "settings" if purpose.value in settings.reply_templates else "default"
        print(
            f"{purpose.value} ({origin}; {cost.encoding}, {cost.units} characters, "
            f"{cost.segments} segment{'s' if cost.segments != 1 else ''})"
        )
        print(f"  {text}")
    return 0
