"""Every operation refuses every role that may not perform it, with a message that says so.

The rules are enforced in the operation layer; the window's disabled menus are a courtesy
that these tests do not rely on.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from outagedesk.config import Settings
from outagedesk.directory import import_accounts_as, import_directory_rows
from outagedesk.ops.base import ROLE_PERMISSIONS, Actor, Permission, PermissionDenied, Role
from outagedesk.ops.consent import export_consent_csv, force_opt_out
from outagedesk.ops.links import link_phone, unlink
from outagedesk.ops.people import (
    add_person,
    create_first_admin,
    issue_token,
    list_people,
    list_tokens,
    reset_password,
    revoke_token,
    set_active,
    set_role,
)
from outagedesk.ops.resend import resend_reports
from outagedesk.ops.settings import audit_settings_change, save_settings_as
from outagedesk.sim import DirectoryRow
from outagedesk.store.models import AuditEntry, PhoneLink, utcnow

from dbsupport import DbUnderTest

PHONE = "+15055550123"
FARM = [DirectoryRow("9001", "SL-9001-1", "M-1", "Pat Farmer", "1 Barn Rd", (), False)]


@dataclass
class World:
    db: DbUnderTest
    tmp: Path
    admin: Actor


def _link(session: Session, created_by: str, *, reviewed: bool = False) -> int:
    link = PhoneLink(
        phone=PHONE,
        account_number="9001",
        service_location_id=None,
        source="dispatcher",
        created_by=created_by,
        desk="desk-1",
        created_at=utcnow(),
        reviewed=reviewed,
    )
    session.add(link)
    session.commit()
    return link.id


def unlink_own_draft(w: World, s: Session, actor: Actor) -> None:
    unlink(s, actor, _link(s, actor.name))


def unlink_own_reviewed(w: World, s: Session, actor: Actor) -> None:
    unlink(s, actor, _link(s, actor.name, reviewed=True))


def unlink_someone_elses(w: World, s: Session, actor: Actor) -> None:
    unlink(s, actor, _link(s, "someone-else"))


def import_directory_file(w: World, s: Session, actor: Actor) -> None:
    path = w.tmp / "directory.csv"
    path.write_text(
        "account_number,service_location_id,meter_id,customer_name,service_address,phones,"
        "life_support\n9002,SL-9002-1,,Lee,2 Elm St,5055550124,no\n",
        encoding="utf-8",
    )
    s.commit()  # the import writes on a connection of its own
    import_accounts_as(actor, w.db.engine, path)


def save_templates(w: World, s: Session, actor: Actor) -> None:
    settings = Settings(data_dir=w.tmp, config_file=w.tmp / f"{actor.role.value}.toml")
    save_settings_as(actor, settings)


Operation = Callable[[World, Session, Actor], object]

OPERATIONS: dict[str, tuple[Permission, Operation]] = {
    "link": (Permission.LINK, lambda w, s, a: link_phone(s, a, PHONE, "9001", resend=False)),
    "resend": (Permission.LINK, lambda w, s, a: resend_reports(s, a, [])),
    "unlink own unreviewed link": (Permission.LINK, unlink_own_draft),
    "unlink own reviewed link": (Permission.EDIT_LINKS, unlink_own_reviewed),
    "unlink another's link": (Permission.EDIT_LINKS, unlink_someone_elses),
    "force opt-out": (Permission.OPT_OUT, lambda w, s, a: force_opt_out(s, a, PHONE, None, "r")),
    "export consent": (
        Permission.VIEW_AUDIT,
        lambda w, s, a: export_consent_csv(s, a, io.StringIO()),
    ),
    "import the directory": (Permission.IMPORT_LINKS, import_directory_file),
    "save settings": (Permission.MANAGE_SETTINGS, save_templates),
    "audit a settings change": (
        Permission.MANAGE_SETTINGS,
        lambda w, s, a: audit_settings_change(s, a, {"x": 1}, {"x": 2}),
    ),
    "add person": (
        Permission.MANAGE_PEOPLE,
        lambda w, s, a: add_person(s, a, f"new-{a.role.value}", Role.DISPATCHER, "password-1"),
    ),
    "set role": (Permission.MANAGE_PEOPLE, lambda w, s, a: set_role(s, a, "kim", Role.TRAINER)),
    "disable": (Permission.MANAGE_PEOPLE, lambda w, s, a: set_active(s, a, "kim", False)),
    "reset password": (
        Permission.MANAGE_PEOPLE,
        lambda w, s, a: reset_password(s, a, "kim", "another-one"),
    ),
    "list people": (Permission.MANAGE_PEOPLE, lambda w, s, a: list_people(s, a)),
    "issue token": (
        Permission.MANAGE_PEOPLE,
        lambda w, s, a: issue_token(s, a, f"t-{a.role.value}", Role.DISPATCHER),
    ),
    "revoke token": (Permission.MANAGE_PEOPLE, lambda w, s, a: revoke_token(s, a, "nightly")),
    "list tokens": (Permission.MANAGE_PEOPLE, lambda w, s, a: list_tokens(s, a)),
}


def test_the_table_covers_every_permission_an_operation_checks_here() -> None:
    checked = {permission for permission, _ in OPERATIONS.values()}
    # Reviewing links and training mode are operations of other screens, tested there.
    assert checked == set(Permission) - {Permission.REVIEW_LINKS, Permission.RUN_TRAINING}


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_each_role_may_do_only_what_its_permissions_say(
    db: DbUnderTest, tmp_path: Path, name: str
) -> None:
    permission, operation = OPERATIONS[name]
    import_directory_rows(db.engine, FARM)
    with db.sessions() as s:
        admin = create_first_admin(s, "root", "root-password", "desk-0")
        add_person(s, admin, "kim", Role.DISPATCHER, "kims-password")
        issue_token(s, admin, "nightly", Role.SUPERVISOR)
    world = World(db, tmp_path, admin)
    outcomes = {}
    # Refused roles first: a refusal must change nothing the allowed role then relies on.
    for role in sorted(Role, key=lambda r: permission in ROLE_PERMISSIONS[r]):
        actor = Actor(f"{role.value}-person", "desk-1", role)
        with db.sessions() as s:
            before = s.scalars(select(AuditEntry.id).order_by(AuditEntry.id.desc())).first()
            try:
                operation(world, s, actor)
            except PermissionDenied as exc:
                outcomes[role] = str(exc)
                s.rollback()
                after = s.scalars(select(AuditEntry.id).order_by(AuditEntry.id.desc())).first()
                assert after == before, f"{name}: a refusal wrote an audit row"
            else:
                outcomes[role] = "allowed"
    expected = {
        role: (
            "allowed"
            if permission in ROLE_PERMISSIONS[role]
            else f"{role.value}-person ({role.value}) may not {permission.value}; "
            "ask a supervisor or an administrator"
        )
        for role in Role
    }
    assert outcomes == expected
