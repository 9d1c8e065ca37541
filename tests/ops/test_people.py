"""People, sign-in and service tokens, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from outagedesk.ops import people
from outagedesk.ops.base import Actor, OperationError, Permission, PermissionDenied, Role
from outagedesk.ops.people import (
    LOCKOUT,
    MAX_FAILURES,
    SignInFailed,
    actor_for_token,
    add_person,
    change_password,
    create_first_admin,
    ensure_builtin_person,
    issue_token,
    list_people,
    list_tokens,
    needs_role_text,
    people_exist,
    reset_password,
    revoke_token,
    set_active,
    set_role,
    sign_in,
)
from outagedesk.store.models import AuditEntry, Person, ServiceToken, utcnow

from dbsupport import DbUnderTest

DESK = "desk-2"
ADMIN_PW = "correct horse battery"
PW = "s3cret-pass"


def first_admin(db: DbUnderTest) -> Actor:
    with db.sessions() as s:
        return create_first_admin(s, "Alice", ADMIN_PW, DESK, "Alice Admin")


def add(db: DbUnderTest, admin: Actor, name: str, role: Role, password: str = PW) -> None:
    with db.sessions() as s:
        add_person(s, admin, name, role, password)


def audit_rows(db: DbUnderTest) -> list[AuditEntry]:
    with db.sessions() as s:
        return list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_first_admin_only_once_and_hashed_with_argon2id(db: DbUnderTest) -> None:
    with db.sessions() as s:
        assert not people_exist(s)
    admin = first_admin(db)
    assert admin == Actor("alice", DESK, Role.ADMIN)
    with db.sessions() as s:
        person = s.scalars(select(Person)).one()
        assert person.password_hash.startswith("$argon2id$")
        assert ADMIN_PW not in person.password_hash
        with pytest.raises(OperationError, match="an administrator already exists"):
            create_first_admin(s, "mallory", "another-password", DESK)
    assert [(a.action, a.actor, a.subject) for a in audit_rows(db)] == [
        ("person_add", "alice", "alice")
    ]


def test_sign_in_is_case_insensitive_and_audited(db: DbUnderTest) -> None:
    admin = first_admin(db)
    add(db, admin, "JDoe", Role.DISPATCHER)
    with db.sessions() as s:
        actor = sign_in(s, "  jDOE ", PW, "desk-9")
        assert actor == Actor("jdoe", "desk-9", Role.DISPATCHER)
        assert s.scalars(select(Person.last_sign_in_at).where(Person.username == "jdoe")).one()
    last = audit_rows(db)[-1]
    assert (last.action, last.actor, last.desk) == ("sign_in", "jdoe", "desk-9")


def test_one_message_for_a_wrong_name_or_a_wrong_password(db: DbUnderTest) -> None:
    first_admin(db)
    messages = []
    for name, password in (("alice", "wrong-password"), ("nobody", ADMIN_PW), ("", "x")):
        with db.sessions() as s, pytest.raises(SignInFailed) as caught:
            sign_in(s, name, password, DESK)
        messages.append(str(caught.value))
    assert messages == ["wrong name or password"] * 3
    failed = [a for a in audit_rows(db) if a.action == "sign_in_failed"]
    assert [a.actor for a in failed] == ["alice", "nobody"]


def test_disabled_people_are_refused_only_after_a_right_password(db: DbUnderTest) -> None:
    admin = first_admin(db)
    add(db, admin, "jdoe", Role.DISPATCHER)
    with db.sessions() as s:
        set_active(s, admin, "jdoe", False)
    with db.sessions() as s, pytest.raises(SignInFailed, match="wrong name or password"):
        sign_in(s, "jdoe", "not-the-password", DESK)
    with db.sessions() as s, pytest.raises(SignInFailed, match="jdoe is disabled"):
        sign_in(s, "jdoe", PW, DESK)
    with db.sessions() as s:
        set_active(s, admin, "jdoe", True)
        assert sign_in(s, "jdoe", PW, DESK).role == Role.DISPATCHER


def test_five_failures_refuse_that_name_for_a_minute_then_one_more_try(db: DbUnderTest) -> None:
    admin = first_admin(db)
    add(db, admin, "jdoe", Role.DISPATCHER)
    add(db, admin, "kim", Role.DISPATCHER)
    for _ in range(MAX_FAILURES):
        with db.sessions() as s, pytest.raises(SignInFailed, match="wrong name or password"):
            sign_in(s, "jdoe", "guess-guess", DESK)
    # Even the right password is refused now, and the refusal does not extend the wait.
    for _ in range(3):
        with db.sessions() as s, pytest.raises(SignInFailed, match=r"wait (59|60) s"):
            sign_in(s, "JDOE", PW, DESK)
    with db.sessions() as s:
        assert sign_in(s, "kim", PW, DESK).name == "kim", "other names are not affected"
        later = utcnow() + LOCKOUT + timedelta(seconds=1)
        assert sign_in(s, "jdoe", PW, DESK, now=later).name == "jdoe"
        person = s.scalars(select(Person).where(Person.username == "jdoe")).one()
        assert person.failed_sign_ins == 0
    actions = [a.action for a in audit_rows(db) if a.actor == "jdoe"]
    assert actions.count("sign_in_refused") == 3


def test_a_password_reset_lets_a_locked_out_person_back_in_at_once(db: DbUnderTest) -> None:
    admin = first_admin(db)
    add(db, admin, "jdoe", Role.DISPATCHER)
    for _ in range(MAX_FAILURES):
        with db.sessions() as s, pytest.raises(SignInFailed, match="wrong name or password"):
            sign_in(s, "jdoe", "guess-guess", DESK)
    with db.sessions() as s:
        with pytest.raises(SignInFailed, match="too many failed sign-ins"):
            sign_in(s, "jdoe", PW, DESK)
        reset_password(s, admin, "jdoe", "fresh-password")
        assert sign_in(s, "jdoe", "fresh-password", DESK).name == "jdoe"


def test_unknown_names_are_slowed_down_like_real_ones(db: DbUnderTest) -> None:
    first_admin(db)
    for _ in range(MAX_FAILURES):
        with db.sessions() as s, pytest.raises(SignInFailed, match="wrong name"):
            sign_in(s, "ghost", "guess-guess", DESK)
    with db.sessions() as s, pytest.raises(SignInFailed, match="too many failed sign-ins"):
        sign_in(s, "ghost", "guess-guess", DESK)


def test_a_success_ends_the_run_of_failures(db: DbUnderTest) -> None:
    admin = first_admin(db)
    add(db, admin, "jdoe", Role.DISPATCHER)
    for round_ in range(2):
        for _ in range(MAX_FAILURES - 1):
            with db.sessions() as s, pytest.raises(SignInFailed):
                sign_in(s, "jdoe", "guess-guess", DESK)
        with db.sessions() as s:
            assert sign_in(s, "jdoe", PW, DESK).name == "jdoe", round_


def test_changed_hash_parameters_rehash_at_the_next_sign_in(
    db: DbUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = first_admin(db)
    add(db, admin, "jdoe", Role.DISPATCHER)
    with db.sessions() as s:
        old = s.scalars(select(Person.password_hash).where(Person.username == "jdoe")).one()
    stronger = PasswordHasher(time_cost=2, memory_cost=16 * 1024, parallelism=1)
    monkeypatch.setattr(people, "HASHER", stronger)
    with db.sessions() as s:
        sign_in(s, "jdoe", PW, DESK)
        new = s.scalars(select(Person.password_hash).where(Person.username == "jdoe")).one()
    assert new != old
    assert "m=16384,t=2,p=1" in new
    assert not stronger.check_needs_rehash(new)
    with db.sessions() as s:
        assert sign_in(s, "jdoe", PW, DESK).name == "jdoe"


def test_bad_names_and_short_passwords_are_explained(db: DbUnderTest) -> None:
    admin = first_admin(db)
    with db.sessions() as s:
        with pytest.raises(OperationError, match="at least 8 characters"):
            add_person(s, admin, "jdoe", Role.DISPATCHER, "short")
        with pytest.raises(OperationError, match="cannot be a name"):
            add_person(s, admin, "j doe", Role.DISPATCHER, PW)
        with pytest.raises(OperationError, match="cannot be a name"):
            add_person(s, admin, "token:x", Role.DISPATCHER, PW)
        add_person(s, admin, "jdoe", Role.DISPATCHER, PW)
        with pytest.raises(OperationError, match="jdoe already exists"):
            add_person(s, admin, "JDOE", Role.SUPERVISOR, PW)
        with pytest.raises(OperationError, match="no person named 'ghost'"):
            set_role(s, admin, "ghost", Role.ADMIN)
    with db.sessions() as s, pytest.raises(OperationError, match="at least 8"):
        create_first_admin(s, "x", "1234567", DESK)


def test_the_last_active_admin_cannot_be_demoted_or_disabled(db: DbUnderTest) -> None:
    admin = first_admin(db)
    with db.sessions() as s:
        with pytest.raises(OperationError, match="alice is the last active administrator"):
            set_role(s, admin, "alice", Role.SUPERVISOR)
        with pytest.raises(OperationError, match="last active administrator"):
            set_active(s, admin, "alice", False)
        add_person(s, admin, "bob", Role.ADMIN, PW)
        set_active(s, admin, "bob", False)
        with pytest.raises(OperationError, match="last active administrator"):
            set_role(s, admin, "alice", Role.DISPATCHER)  # a disabled admin does not count
        set_active(s, admin, "bob", True)
        set_role(s, admin, "alice", Role.SUPERVISOR)
        roles = {p.username: p.role for p in list_people(s, Actor("bob", DESK, Role.ADMIN))}
    assert roles == {"alice": Role.SUPERVISOR, "bob": Role.ADMIN}
    changes = [a for a in audit_rows(db) if a.action == "person_set_role"]
    assert changes[-1].before is not None
    assert changes[-1].after is not None
    assert (changes[-1].before["role"], changes[-1].after["role"]) == ("admin", "supervisor")


def test_only_admins_manage_people(db: DbUnderTest) -> None:
    admin = first_admin(db)
    add(db, admin, "sam", Role.SUPERVISOR)
    sam = Actor("sam", DESK, Role.SUPERVISOR)
    with db.sessions() as s:
        for call in (
            lambda: add_person(s, sam, "eve", Role.ADMIN, PW),
            lambda: set_role(s, sam, "sam", Role.ADMIN),
            lambda: set_active(s, sam, "alice", False),
            lambda: reset_password(s, sam, "alice", "new-password"),
            lambda: issue_token(s, sam, "mine", Role.ADMIN),
            lambda: revoke_token(s, sam, "mine"),
            lambda: list_people(s, sam),
            lambda: list_tokens(s, sam),
        ):
            with pytest.raises(PermissionDenied, match=r"sam \(supervisor\) may not manage"):
                call()
        assert s.scalars(select(Person.role).where(Person.username == "sam")).one() == "supervisor"


def test_passwords_reset_by_an_admin_and_changed_by_their_owner(db: DbUnderTest) -> None:
    admin = first_admin(db)
    add(db, admin, "jdoe", Role.DISPATCHER)
    jdoe = Actor("jdoe", DESK, Role.DISPATCHER)
    with db.sessions() as s:
        with pytest.raises(SignInFailed, match="the current password is wrong"):
            change_password(s, jdoe, "not-it-at-all", "brand-new-pass")
        with pytest.raises(OperationError, match="at least 8"):
            change_password(s, jdoe, PW, "short")
        change_password(s, jdoe, PW, "brand-new-pass")
        assert sign_in(s, "jdoe", "brand-new-pass", DESK) == jdoe
        reset_password(s, admin, "jdoe", "from-the-admin")
        with pytest.raises(SignInFailed):
            sign_in(s, "jdoe", "brand-new-pass", DESK)
        assert sign_in(s, "jdoe", "from-the-admin", DESK) == jdoe


def test_tokens_are_stored_as_sha256_shown_once_and_revocable(db: DbUnderTest) -> None:
    admin = first_admin(db)
    with db.sessions() as s:
        token = issue_token(s, admin, "Nightly-Import", Role.SUPERVISOR)
        with pytest.raises(OperationError, match="issued before"):
            issue_token(s, admin, "nightly-import", Role.ADMIN)
        stored = s.scalars(select(ServiceToken)).one()
        assert token not in (stored.token_sha256, stored.hint)
        assert len(stored.token_sha256) == 64
        assert token.startswith(stored.hint)
        actor = actor_for_token(s, token, "server-1")
        assert actor == Actor("token:nightly-import", "server-1", Role.SUPERVISOR)
        [info] = list_tokens(s, admin)
        assert info.last_used_at is not None
        assert info.revoked_at is None
        with pytest.raises(SignInFailed, match="unknown or revoked"):
            actor_for_token(s, token + "x", "server-1")
        revoke_token(s, admin, "NIGHTLY-import")
        with pytest.raises(SignInFailed, match="unknown or revoked"):
            actor_for_token(s, token, "server-1")
        with pytest.raises(OperationError, match="already revoked"):
            revoke_token(s, admin, "nightly-import")
        with pytest.raises(OperationError, match="no token named"):
            revoke_token(s, admin, "other")
    actions = [(a.action, a.subject) for a in audit_rows(db)][1:]
    assert actions == [
        ("token_issue", "token:nightly-import"),
        ("token_revoke", "token:nightly-import"),
    ]


def test_no_password_or_token_reaches_the_audit_trail_or_the_log(
    db: DbUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = first_admin(db)
    add(db, admin, "jdoe", Role.DISPATCHER)
    with db.sessions() as s:
        reset_password(s, admin, "jdoe", "reset-secret-1")
        change_password(s, Actor("jdoe", DESK, Role.DISPATCHER), "reset-secret-1", "own-secret-2")
        with pytest.raises(SignInFailed):
            sign_in(s, "jdoe", "typo-secret-3", DESK)
        sign_in(s, "jdoe", "own-secret-2", DESK)
        token = issue_token(s, admin, "script", Role.DISPATCHER)
        actor_for_token(s, token, DESK)
    trail = json.dumps([[a.actor, a.action, a.subject, a.before, a.after] for a in audit_rows(db)])
    for secret in (ADMIN_PW, PW, "reset-secret-1", "own-secret-2", "typo-secret-3", token):
        assert secret not in trail
        assert secret not in caplog.text
    assert "person_reset_password" in trail
    assert "person_change_password" in trail


def test_builtin_person_for_the_demo_and_training(db: DbUnderTest) -> None:
    with db.sessions() as s:
        demo = ensure_builtin_person(s, "demo", Role.ADMIN, DESK)
        again = ensure_builtin_person(s, "demo", Role.ADMIN, DESK)
        trainer = ensure_builtin_person(s, "trainer", Role.TRAINER, DESK, password="train-me-now")
        assert demo == again == Actor("demo", DESK, Role.ADMIN)
        assert sign_in(s, "trainer", "train-me-now", DESK) == trainer
        assert len(s.scalars(select(Person)).all()) == 2


def test_the_tooltip_names_the_roles_that_may() -> None:
    assert needs_role_text(Permission.EDIT_LINKS) == (
        "Needs the supervisor or admin role (to edit, move and delete links)"
    )
    assert needs_role_text(Permission.MANAGE_PEOPLE).startswith("Needs the admin role")


def test_two_desks_creating_the_first_admin_at_once_make_one(db: DbUnderTest) -> None:
    start = threading.Barrier(2, timeout=10)
    outcomes: dict[str, str] = {}

    def create(name: str) -> None:
        start.wait()
        with db.sessions() as s:
            try:
                create_first_admin(s, name, ADMIN_PW, DESK)
                outcomes[name] = "created"
            except OperationError as exc:
                outcomes[name] = str(exc)

    threads = [threading.Thread(target=create, args=(n,)) for n in ("ann", "bea")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes.values()) == [
        "an administrator already exists: sign in instead",
        "created",
    ]
    with db.sessions() as s:
        assert len(s.scalars(select(Person)).all()) == 1
