"""People who sign in at a desk, their roles, and the service tokens scripts act with.

Passwords are kept only as Argon2id hashes (``argon2-cffi``); service tokens only as their
SHA-256 (a token is long and random, so a fast hash is enough and makes look-up one index
probe). Neither a password nor a token ever reaches a log or an audit row.

Failed sign-ins are rate-limited per name from the audit trail itself: after
``MAX_FAILURES`` failures in a row, further attempts for that name are refused until
``LOCKOUT`` has passed since the last failure. Unknown names are limited the same way, so the
answer never tells whether a name exists.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from outagedesk.ops.base import (
    ROLE_PERMISSIONS,
    Actor,
    OperationError,
    Permission,
    Role,
    audit,
    require,
)
from outagedesk.store.models import AuditEntry, Person, ServiceToken, utcnow

HASHER = PasswordHasher()
"""Argon2id with the library's defaults (RFC 9106's low-memory profile); a change of
parameters rehashes each password at its owner's next sign-in."""

MIN_PASSWORD = 8
MAX_FAILURES = 5
LOCKOUT = timedelta(seconds=60)
WRONG_CREDENTIALS = "wrong name or password"
TOKEN_PREFIX = "odt_"  # noqa: S105 - a label that makes tokens recognisable, not a secret
TOKEN_ACTOR_PREFIX = "token:"  # noqa: S105 - how audit rows name a token
_NAME = re.compile(r"[a-z][a-z0-9._@-]{0,63}")
_SIGN_IN = "sign_in"
_SIGN_IN_FAILED = "sign_in_failed"
_SIGN_IN_REFUSED = "sign_in_refused"
_RESET = "person_reset_password"
_ENDS_FAILURES = (_SIGN_IN, _SIGN_IN_FAILED, _RESET)


class SignInFailed(OperationError):
    """Wrong, disabled, locked or revoked credentials: nobody is signed in."""


@dataclass(frozen=True, slots=True)
class PersonInfo:
    username: str
    display_name: str
    role: Role
    active: bool
    last_sign_in_at: datetime | None
    failed_sign_ins: int


@dataclass(frozen=True, slots=True)
class TokenInfo:
    name: str
    role: Role
    hint: str
    issued_by: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


# -- names, passwords -------------------------------------------------------------------------
def normalize_name(name: str) -> str:
    """The stored form of a sign-in name (lower case), or OperationError saying what is wrong."""
    key = name.strip().lower()
    if not _NAME.fullmatch(key):
        raise OperationError(
            f"{name.strip()[:64]!r} cannot be a name: use 1 to 64 letters, digits, '.', '_', "
            "'-' or '@', starting with a letter"
        )
    return key


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise OperationError(f"a password needs at least {MIN_PASSWORD} characters")


def needs_role_text(permission: Permission) -> str:
    """What a disabled control's tooltip says: which roles may use it."""
    roles = [role.value for role, allowed in ROLE_PERMISSIONS.items() if permission in allowed]
    return f"Needs the {' or '.join(roles)} role (to {permission.value})"


def role_of(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise OperationError(
            f"{text!r} is not a role: use {', '.join(r.value for r in Role)}"
        ) from None


def _hash(password: str) -> str:
    check_password(password)
    return HASHER.hash(password)


def _person(session: Session, name: str) -> Person:
    person = session.scalars(select(Person).where(Person.username == normalize_name(name))).first()
    if person is None:
        raise OperationError(f"there is no person named {name.strip()!r}")
    return person


def _describe(person: Person) -> dict[str, object]:
    return {
        "username": person.username,
        "display_name": person.display_name,
        "role": person.role,
        "active": person.active,
    }


def people_exist(session: Session) -> bool:
    return session.scalars(select(Person.id).limit(1)).first() is not None


def list_people(session: Session, actor: Actor) -> list[PersonInfo]:
    require(actor, Permission.MANAGE_PEOPLE)
    return [_info(p) for p in session.scalars(select(Person).order_by(Person.username))]


def _info(person: Person) -> PersonInfo:
    return PersonInfo(
        person.username,
        person.display_name,
        Role(person.role),
        person.active,
        person.last_sign_in_at,
        person.failed_sign_ins,
    )


# -- managing people ----------------------------------------------------------------------------
def _new_person(
    session: Session, created_by: str, name: str, role: Role, password_hash: str, display: str
) -> Person:
    key = normalize_name(name)
    if session.scalars(select(Person.id).where(Person.username == key)).first() is not None:
        raise OperationError(f"{key} already exists; choose another name")
    now = utcnow()
    person = Person(
        username=key,
        display_name=display.strip()[:200],
        role=role.value,
        password_hash=password_hash,
        active=True,
        failed_sign_ins=0,
        created_at=now,
        created_by=created_by[:100],
        password_changed_at=now,
    )
    session.add(person)
    return person


def create_first_admin(
    session: Session, name: str, password: str, desk: str, display_name: str = ""
) -> Actor:
    """The first administrator of a new database; refused once anybody exists."""
    hashed = _hash(password)
    if session.get_bind().dialect.name == "postgresql":
        # Two desks creating "the first" administrator at once must not make two. (SQLite
        # transactions here begin IMMEDIATE: already one writer at a time.)
        session.execute(text("LOCK TABLE people IN SHARE ROW EXCLUSIVE MODE"))
    if people_exist(session):
        raise OperationError("an administrator already exists: sign in instead")
    person = _new_person(session, "", name, Role.ADMIN, hashed, display_name)
    actor = Actor(person.username, desk, Role.ADMIN)
    session.flush()
    audit(session, actor, "person_add", person.username, None, _describe(person))
    session.commit()
    return actor


def add_person(
    session: Session,
    actor: Actor,
    name: str,
    role: Role,
    password: str,
    display_name: str = "",
) -> PersonInfo:
    require(actor, Permission.MANAGE_PEOPLE)
    hashed = _hash(password)
    person = _new_person(session, actor.name, name, role, hashed, display_name)
    session.flush()
    audit(session, actor, "person_add", person.username, None, _describe(person))
    session.commit()
    return _info(person)


def _guard_last_admin(session: Session, person: Person, role: Role, active: bool) -> None:
    """Refuse to leave the database without an active administrator."""
    stays_admin = role == Role.ADMIN and active
    if person.role != Role.ADMIN.value or not person.active or stays_admin:
        return
    others = session.scalar(
        select(func.count())
        .select_from(Person)
        .where(Person.role == Role.ADMIN.value, Person.active.is_(True), Person.id != person.id)
    )
    if not others:
        raise OperationError(
            f"{person.username} is the last active administrator: make someone else an "
            "administrator first"
        )


def set_role(session: Session, actor: Actor, name: str, role: Role) -> None:
    require(actor, Permission.MANAGE_PEOPLE)
    person = _person(session, name)
    if person.role == role.value:
        return
    _guard_last_admin(session, person, role, person.active)
    before = _describe(person)
    person.role = role.value
    audit(session, actor, "person_set_role", person.username, before, _describe(person))
    session.commit()


def set_active(session: Session, actor: Actor, name: str, active: bool) -> None:
    require(actor, Permission.MANAGE_PEOPLE)
    person = _person(session, name)
    if person.active == active:
        return
    _guard_last_admin(session, person, Role(person.role), active)
    before = _describe(person)
    person.active = active
    if active:
        person.failed_sign_ins = 0
    action = "person_enable" if active else "person_disable"
    audit(session, actor, action, person.username, before, _describe(person))
    session.commit()


def reset_password(session: Session, actor: Actor, name: str, new_password: str) -> None:
    require(actor, Permission.MANAGE_PEOPLE)
    hashed = _hash(new_password)
    person = _person(session, name)
    _set_hash(person, hashed)
    audit(session, actor, _RESET, person.username, None, None)
    session.commit()


def change_password(session: Session, actor: Actor, old_password: str, new_password: str) -> None:
    """A person changes their own password; the current one must be given."""
    check_password(new_password)
    person = session.scalars(select(Person).where(Person.username == actor.name)).first()
    if person is None:
        raise OperationError(f"{actor.name} is not a person who signs in")
    if not _verify(person.password_hash, old_password):
        raise SignInFailed("the current password is wrong")
    _set_hash(person, HASHER.hash(new_password))
    audit(session, actor, "person_change_password", person.username, None, None)
    session.commit()


def _set_hash(person: Person, hashed: str) -> None:
    person.password_hash = hashed
    person.password_changed_at = utcnow()
    person.failed_sign_ins = 0


def ensure_builtin_person(
    session: Session, name: str, role: Role, desk: str, password: str | None = None
) -> Actor:
    """A person the application signs in by itself (the demo's admin, the trainer of
    training mode), created on first use. Without ``password`` nobody can sign in as them
    by hand: the hash is of a random secret that is thrown away."""
    key = normalize_name(name)
    person = session.scalars(select(Person).where(Person.username == key)).first()
    if person is None:
        hashed = _hash(password if password is not None else secrets.token_urlsafe(32))
        person = _new_person(session, "", key, role, hashed, name)
        session.flush()
        actor = Actor(key, desk, role)
        audit(session, actor, "person_add", key, None, _describe(person))
        session.commit()
        return actor
    return Actor(key, desk, Role(person.role))


# -- signing in ---------------------------------------------------------------------------------
_DUMMY_HASH: list[str] = []


def _verify(hashed: str, password: str) -> bool:
    try:
        return HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def _seconds_locked(session: Session, key: str, now: datetime) -> int:
    """Seconds until ``key`` may try again, or 0. A sign-in, or an administrator resetting
    the password, ends a run of failures."""
    recent = session.execute(
        select(AuditEntry.action, AuditEntry.at)
        .where(AuditEntry.subject == key, AuditEntry.action.in_(_ENDS_FAILURES))
        .order_by(AuditEntry.id.desc())
        .limit(MAX_FAILURES)
    ).all()
    if len(recent) < MAX_FAILURES or any(action != _SIGN_IN_FAILED for action, _ in recent):
        return 0
    left = (recent[0].at + LOCKOUT - now).total_seconds()
    return max(0, int(left + 0.999))


def sign_in(
    session: Session, name: str, password: str, desk: str, *, now: datetime | None = None
) -> Actor:
    """The person ``name`` (any case) at ``desk``; SignInFailed, audited, when refused."""
    now = now or utcnow()
    try:
        key = normalize_name(name)
    except OperationError:
        raise SignInFailed(WRONG_CREDENTIALS) from None
    nobody = Actor(key, desk, Role.DISPATCHER)
    wait = _seconds_locked(session, key, now)
    if wait:
        audit(session, nobody, _SIGN_IN_REFUSED, key, None, {"wait_seconds": wait})
        session.commit()
        raise SignInFailed(
            f"too many failed sign-ins for {key}: wait {wait} s and try again, or ask an "
            "administrator to reset the password"
        )
    person = session.scalars(select(Person).where(Person.username == key)).first()
    if person is None:
        # Spend the same time as a real check, so that timing does not tell names apart.
        if not _DUMMY_HASH:
            _DUMMY_HASH.append(HASHER.hash(secrets.token_urlsafe(16)))
        _verify(_DUMMY_HASH[0], password)
        ok = False
    else:
        ok = _verify(person.password_hash, password)
    if not ok:
        if person is not None:
            person.failed_sign_ins += 1
        audit(session, nobody, _SIGN_IN_FAILED, key, None, {"reason": WRONG_CREDENTIALS})
        session.commit()
        raise SignInFailed(WRONG_CREDENTIALS)
    assert person is not None
    actor = Actor(person.username, desk, Role(person.role))
    if not person.active:
        audit(session, actor, _SIGN_IN_REFUSED, key, None, {"reason": "disabled"})
        session.commit()
        raise SignInFailed(f"{key} is disabled: ask an administrator")
    if HASHER.check_needs_rehash(person.password_hash):
        person.password_hash = HASHER.hash(password)
    person.failed_sign_ins = 0
    person.last_sign_in_at = now
    audit(session, actor, _SIGN_IN, key, None, {"role": person.role})
    session.commit()
    return actor


# -- service tokens -----------------------------------------------------------------------------
def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(session: Session, admin: Actor, name: str, role: Role) -> str:
    """A new service token; the plaintext is returned this once and never stored."""
    require(admin, Permission.MANAGE_PEOPLE)
    key = normalize_name(name)
    if session.scalars(select(ServiceToken.id).where(ServiceToken.name == key)).first():
        raise OperationError(f"a token named {key} was issued before: choose another name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ServiceToken(
        name=key,
        role=role.value,
        token_sha256=_digest(token),
        hint=token[: len(TOKEN_PREFIX) + 4],
        issued_by=admin.name,
        created_at=utcnow(),
    )
    session.add(record)
    session.flush()
    audit(
        session,
        admin,
        "token_issue",
        TOKEN_ACTOR_PREFIX + key,
        None,
        {"name": key, "role": role.value, "hint": record.hint},
    )
    session.commit()
    return token


def revoke_token(session: Session, admin: Actor, name: str) -> None:
    """Revoke the token; its name stays taken, so the audit trail keeps meaning one thing."""
    require(admin, Permission.MANAGE_PEOPLE)
    key = name.strip().lower()
    record = session.scalars(select(ServiceToken).where(ServiceToken.name == key)).first()
    if record is None:
        raise OperationError(f"there is no token named {name.strip()!r}")
    if record.revoked_at is not None:
        raise OperationError(f"the token {key} is already revoked")
    record.revoked_at = utcnow()
    audit(
        session,
        admin,
        "token_revoke",
        TOKEN_ACTOR_PREFIX + key,
        {"name": key, "role": record.role, "hint": record.hint},
        {"revoked": True},
    )
    session.commit()


def actor_for_token(session: Session, token: str, desk: str) -> Actor:
    record = session.scalars(
        select(ServiceToken).where(ServiceToken.token_sha256 == _digest(token.strip()))
    ).first()
    if record is None or record.revoked_at is not None:
        raise SignInFailed("the service token is unknown or revoked: ask an administrator")
    record.last_used_at = utcnow()
    session.commit()
    return Actor(TOKEN_ACTOR_PREFIX + record.name, desk, Role(record.role))


def list_tokens(session: Session, actor: Actor) -> list[TokenInfo]:
    require(actor, Permission.MANAGE_PEOPLE)
    return [
        TokenInfo(
            t.name,
            Role(t.role),
            t.hint,
            t.issued_by,
            t.created_at,
            t.revoked_at,
            t.last_used_at,
        )
        for t in session.scalars(select(ServiceToken).order_by(ServiceToken.name))
    ]
