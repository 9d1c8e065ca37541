"""Headless ``outagedesk link``, ``resend``, ``opt-out``, ``export-consent`` for scripts.

Every command that changes something acts as someone: a service token an administrator
issued (``OUTAGEDESK_SERVICE_TOKEN``, never a flag: flags show in ``ps``) or a person
(``--user NAME``, the password from ``OUTAGEDESK_PASSWORD`` or a prompt on a terminal). The
operation then checks that role, exactly as it does for the window.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from outagedesk.config import Settings, SettingsError
from outagedesk.domain.consent import Purpose
from outagedesk.domain.replies import count_segments
from outagedesk.gateway.contract import parse_timestamp
from outagedesk.ops.audit_trail import export_audit, export_audit_file
from outagedesk.ops.base import Actor, OperationError, Permission, require
from outagedesk.ops.consent import export_consent_csv, force_opt_out
from outagedesk.ops.links import link_phone, phone_for
from outagedesk.ops.people import SignInFailed, actor_for_token, sign_in
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


TOKEN_ENV = "OUTAGEDESK_SERVICE_TOKEN"  # noqa: S105 - the variable's name
PASSWORD_ENV = "OUTAGEDESK_PASSWORD"  # noqa: S105 - the variable's name
NO_CREDENTIALS = (
    f"who is acting? set {TOKEN_ENV} to a service token, or give --user NAME "
    f"(the password from {PASSWORD_ENV} or typed at the prompt)"
)


def add_credential_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "who acts", f"a service token in {TOKEN_ENV}, or a person: --user NAME"
    )
    group.add_argument(
        "--user",
        metavar="NAME",
        help=f"sign in as this person (password from {PASSWORD_ENV} or a prompt)",
    )


def actor_from_args(settings: Settings, args: argparse.Namespace, session: Session) -> Actor:
    """Who runs this command: SettingsError when nobody is named, SignInFailed when the
    credentials are wrong. Every command that changes something calls it."""
    return authenticate(settings, session, getattr(args, "user", None))


def authenticate(settings: Settings, session: Session, user: str | None) -> Actor:
    """``actor_from_args`` for callers that hold the ``--user`` value rather than ``args``."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        return actor_for_token(session, token, settings.desk)
    if not user:
        raise SettingsError(NO_CREDENTIALS)
    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        if not sys.stdin.isatty():
            raise SettingsError(f"no password for {user}: set {PASSWORD_ENV} or run on a terminal")
        password = getpass.getpass(f"Password for {user}: ")
    return sign_in(session, user, password, settings.desk)


def run_as(
    command: str,
    settings: Settings,
    args: argparse.Namespace,
    work: Callable[[Session, Actor], int],
) -> int:
    """Open the database, find out who acts, run ``work``; the exit codes every command
    shares: 2 for missing or wrong credentials, 1 for a refused operation."""
    db = open_database(settings)
    try:
        with db.sessions() as session:
            actor = actor_from_args(settings, args, session)
            return work(session, actor)
    except SignInFailed as exc:
        print(f"outagedesk {command}: {exc}", file=sys.stderr)
        return 2
    except OperationError as exc:
        print(f"outagedesk {command}: {exc}", file=sys.stderr)
        return 1
    finally:
        db.close()


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
    def work(session: Session, actor: Actor) -> int:
        phone = phone_for(args.phone, settings.region)
        outcome = link_phone(session, actor, phone, args.account, args.location, resend=args.resend)
        where = f" / {args.location}" if args.location else " (all locations)"
        verb = "linked" if outcome.created else "already linked"
        print(f"{phone} {verb} to {args.account}{where}")
        if args.resend:
            print(f"re-sent {len(outcome.resent)} report(s): " + _list(outcome.resent))
        return 0

    return run_as("link", settings, args, work)


def run_resend(settings: Settings, args: argparse.Namespace) -> int:
    since = _since(args.since)

    def work(session: Session, actor: Actor) -> int:
        phone = phone_for(args.phone, settings.region) if args.phone else None
        pks = reports_to_resend(
            session,
            phone=phone,
            report_id=args.report,
            state=args.state,
            since=since,
            unticketed_only=not args.include_ticketed,
        )
        if args.report and not pks:
            raise OperationError(f"no unticketed report {args.report}")
        resent = resend_reports(session, actor, pks, include_ticketed=args.include_ticketed)
        print(f"re-sent {len(resent)} report(s)" + (": " + _list(resent) if resent else ""))
        return 0

    return run_as("resend", settings, args, work)


def _list(resent: list[Resent]) -> str:
    shown = [f"{r.report_id}.{r.revision}" for r in resent[:20]]
    more = f" … and {len(resent) - 20} more" if len(resent) > 20 else ""
    return ", ".join(shown) + more


def add_opt_out_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("phone", help="the number to opt out")
    parser.add_argument("--keyword", help="one keyword only (default: every keyword)")
    parser.add_argument("--reason", required=True, help="why (kept in the audit trail)")


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="CSV file to write (- for standard output)")
    parser.add_argument("--from", dest="start", metavar="TIME", help="first day or time")
    parser.add_argument("--to", dest="end", metavar="TIME", help="up to (not including)")


def run_opt_out(settings: Settings, args: argparse.Namespace) -> int:
    def work(session: Session, actor: Actor) -> int:
        phone = phone_for(args.phone, settings.region)
        force_opt_out(session, actor, phone, args.keyword, args.reason)
        what = f"keyword {args.keyword.upper()}" if args.keyword else "every keyword"
        print(f"{phone} opted out of {what}; the gateway is told by the running engine")
        return 0

    return run_as("opt-out", settings, args, work)


def run_export(settings: Settings, args: argparse.Namespace) -> int:
    start, end = _since(args.start), _since(args.end)

    def work(session: Session, actor: Actor) -> int:
        require(actor, Permission.VIEW_AUDIT)  # before the file is created
        try:
            if args.file == "-":
                rows = export_consent_csv(session, actor, sys.stdout, start, end)
            else:
                with open(args.file, "w", encoding="utf-8", newline="") as out:
                    rows = export_consent_csv(session, actor, out, start, end)
        except OSError as exc:
            raise SettingsError(f"cannot write {args.file}: {exc.strerror}") from exc
        print(f"{rows} consent record(s) exported", file=sys.stderr)
        return 0

    return run_as("export-consent", settings, args, work)


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
    add_credential_arguments(parser)


def run_audit_export(settings: Settings, args: argparse.Namespace) -> int:
    """``outagedesk audit export``: the rows the Audit screen would show, as CSV."""
    start, end = _since(args.start), _since(args.end)

    def work(session: Session, actor: Actor) -> int:
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
        try:
            if args.file == "-":
                rows = export_audit(session, actor, query, sys.stdout)
            else:
                rows = export_audit_file(session, actor, query, Path(args.file).expanduser())
        except OSError as exc:
            raise SettingsError(f"cannot write {args.file}: {exc.strerror}") from exc
        print(f"{rows} audit row(s) exported", file=sys.stderr)
        return 0

    return run_as("audit export", settings, args, work)


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
