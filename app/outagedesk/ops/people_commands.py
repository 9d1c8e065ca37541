"""``outagedesk people ...`` and ``outagedesk tokens ...``: accounts and service tokens.

Administrators run these with their own credentials (see ``ops.commands``). The one exception
is ``people add`` on a database nobody uses yet: it creates the first administrator, which is
how a server without a window gets its first person.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from outagedesk.config import Settings, SettingsError
from outagedesk.ops.base import Actor, OperationError, Role
from outagedesk.ops.commands import add_credential_arguments, run_as
from outagedesk.ops.people import (
    add_person,
    check_password,
    create_first_admin,
    issue_token,
    list_people,
    list_tokens,
    people_exist,
    reset_password,
    revoke_token,
    set_active,
    set_role,
)
from outagedesk.runtime import open_database

NEW_PASSWORD_ENV = "OUTAGEDESK_NEW_PASSWORD"  # noqa: S105 - the variable's name
COMMANDS = ("people", "tokens")
ROLES = [r.value for r in Role]

Common = Callable[..., None]


def add_parsers(sub: Any, common: Common, sub_kwargs: dict[str, Any]) -> None:
    """The ``people`` and ``tokens`` subcommands; ``common`` adds the shared flags."""

    def leaf(group: Any, name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = group.add_parser(name, help=help_text, **sub_kwargs)
        common(parser, top=False)
        add_credential_arguments(parser)
        return parser

    people = sub.add_parser(
        "people", help="manage the people who sign in (administrators)", **sub_kwargs
    )
    actions = people.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = leaf(
        actions,
        "add",
        f"add a person (password typed twice, or from {NEW_PASSWORD_ENV}); on a new "
        "database this creates the first administrator without credentials",
    )
    add.add_argument("name", help="sign-in name (not case-sensitive)")
    add.add_argument("--role", required=True, choices=ROLES, help="what the person may do")
    add.add_argument("--display-name", default="", metavar="TEXT", help="full name")
    leaf(actions, "list", "list people, their roles and last sign-in")
    set_role_parser = leaf(actions, "set-role", "change a person's role")
    set_role_parser.add_argument("name")
    set_role_parser.add_argument("role", choices=ROLES)
    for name, what in (("disable", "stop a person from signing in"), ("enable", "allow again")):
        leaf(actions, name, what).add_argument("name")
    reset = leaf(
        actions, "reset-password", f"set a new password (typed twice, or {NEW_PASSWORD_ENV})"
    )
    reset.add_argument("name")

    tokens = sub.add_parser(
        "tokens", help="service tokens that scripts act with (administrators)", **sub_kwargs
    )
    token_actions = tokens.add_subparsers(dest="action", metavar="ACTION", required=True)
    issue = leaf(token_actions, "issue", "issue a token; it is printed once, never again")
    issue.add_argument("name", help="what the token is for, e.g. nightly-import")
    issue.add_argument("--role", required=True, choices=ROLES, help="what the token may do")
    leaf(token_actions, "list", "list tokens (their first characters only)")
    leaf(token_actions, "revoke", "revoke a token at once").add_argument("name")


def new_password(name: str) -> str:
    """From the environment, or typed twice on a terminal."""
    password = os.environ.get(NEW_PASSWORD_ENV)
    if password is None:
        if not sys.stdin.isatty():
            raise SettingsError(f"no password for {name}: set {NEW_PASSWORD_ENV} or use a terminal")
        password = getpass.getpass(f"New password for {name}: ")
        if getpass.getpass("Same password again: ") != password:
            raise SettingsError("the two passwords differ; nothing was changed")
    try:
        check_password(password)
    except OperationError as exc:
        raise SettingsError(str(exc)) from None
    return password


def _when(at: datetime | None) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M") if at else "never"


def _table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _people_work(args: argparse.Namespace) -> Callable[[Session, Actor], int]:
    def work(session: Session, actor: Actor) -> int:
        if args.action == "add":
            person = add_person(
                session, actor, args.name, Role(args.role), new_password(args.name),
                args.display_name,
            )  # fmt: skip
            print(f"added {person.username} ({person.role.value})")
        elif args.action == "list":
            rows = [("NAME", "ROLE", "STATE", "LAST SIGN-IN", "DISPLAY NAME")]
            rows += [
                (
                    p.username,
                    p.role.value,
                    "active" if p.active else "disabled",
                    _when(p.last_sign_in_at),
                    p.display_name,
                )
                for p in list_people(session, actor)
            ]
            _table(rows)
        elif args.action == "set-role":
            set_role(session, actor, args.name, Role(args.role))
            print(f"{args.name.lower()} is now {args.role}")
        elif args.action in ("disable", "enable"):
            set_active(session, actor, args.name, args.action == "enable")
            print(f"{args.name.lower()} {args.action}d")
        else:
            reset_password(session, actor, args.name, new_password(args.name))
            print(f"the password of {args.name.lower()} was reset")
        return 0

    return work


def _tokens_work(args: argparse.Namespace) -> Callable[[Session, Actor], int]:
    def work(session: Session, actor: Actor) -> int:
        if args.action == "issue":
            token = issue_token(session, actor, args.name, Role(args.role))
            print(
                f"Token {args.name.lower()} ({args.role}) is shown this once: store it in the "
                "script's secret store now and give it as OUTAGEDESK_SERVICE_TOKEN.",
                file=sys.stderr,
            )
            print(token)
        elif args.action == "list":
            rows = [("NAME", "ROLE", "STARTS WITH", "STATE", "ISSUED BY", "LAST USED")]
            rows += [
                (
                    t.name,
                    t.role.value,
                    t.hint + "…",
                    "revoked" if t.revoked_at else "active",
                    t.issued_by,
                    _when(t.last_used_at),
                )
                for t in list_tokens(session, actor)
            ]
            _table(rows)
        else:
            revoke_token(session, actor, args.name)
            print(f"token {args.name.lower()} revoked")
        return 0

    return work


def _first_admin(settings: Settings, args: argparse.Namespace) -> int | None:
    """Create the first administrator when nobody exists yet; None when somebody does."""
    db = open_database(settings)
    try:
        with db.sessions() as session:
            if people_exist(session):
                return None
            if args.role != Role.ADMIN.value:
                raise SettingsError(
                    "nobody exists yet: the first person must be an administrator (--role admin)"
                )
            actor = create_first_admin(
                session, args.name, new_password(args.name), settings.desk, args.display_name
            )
    except OperationError as exc:
        print(f"outagedesk people: {exc}", file=sys.stderr)
        return 1
    finally:
        db.close()
    print(
        f"created the first administrator {actor.name}; from now on commands act as someone: "
        f"--user {actor.name}, or a service token"
    )
    return 0


def run(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "people":
        if args.action == "add":
            done = _first_admin(settings, args)
            if done is not None:
                return done
        return run_as("people", settings, args, _people_work(args))
    return run_as("tokens", settings, args, _tokens_work(args))
