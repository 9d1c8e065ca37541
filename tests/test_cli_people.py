"""`outagedesk people` / `tokens`, and how every headless command finds out who acts."""

from __future__ import annotations

import getpass
import io
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from outagedesk.cli import main
from outagedesk.config import load_settings
from outagedesk.directory import import_directory_rows
from outagedesk.ops.commands import PASSWORD_ENV, TOKEN_ENV
from outagedesk.ops.people_commands import NEW_PASSWORD_ENV
from outagedesk.runtime import open_database
from outagedesk.sim import DirectoryRow
from outagedesk.store.models import AuditEntry, Person, PhoneLink

ROWS = [DirectoryRow("9001", "SL-9001-1", "M-1", "Pat Farmer", "1 Barn Rd", (), False)]
ADMIN_PW = "admin-password-1"
DIRECTORY_CSV = (
    "account_number,service_location_id,meter_id,customer_name,service_address,phones,"
    "life_support\n9002,SL-9002-1,,Lee,2 Elm St,5055550124,no\n"
)

Capture = pytest.CaptureFixture[str]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OUTAGEDESK_CONFIG_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    for name in ("OUTAGEDESK_DB_URL", TOKEN_ENV, PASSWORD_ENV, NEW_PASSWORD_ENV):
        monkeypatch.delenv(name, raising=False)
    db = open_database(load_settings({"data_dir": tmp_path}, use_keyring=False))
    import_directory_rows(db.engine, ROWS)
    db.close()
    return tmp_path


def run(data_dir: Path, *argv: str) -> int:
    return main([*argv, "--data-dir", str(data_dir)])


@pytest.fixture
def admin(data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture) -> Path:
    """An administrator 'alice' exists; commands sign in as her unless told otherwise."""
    monkeypatch.setenv(NEW_PASSWORD_ENV, ADMIN_PW)
    assert run(data_dir, "people", "add", "Alice", "--role", "admin") == 0
    assert "created the first administrator alice" in capsys.readouterr().out
    monkeypatch.setenv(PASSWORD_ENV, ADMIN_PW)
    return data_dir


def people(data_dir: Path) -> dict[str, tuple[str, bool]]:
    db = open_database(load_settings({"data_dir": data_dir}, use_keyring=False))
    with db.sessions() as s:
        found = {p.username: (p.role, p.active) for p in s.scalars(select(Person))}
    db.close()
    return found


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_the_first_person_is_an_admin_created_without_credentials(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    monkeypatch.setenv(NEW_PASSWORD_ENV, ADMIN_PW)
    assert run(data_dir, "people", "add", "kim", "--role", "dispatcher") == 2
    assert "the first person must be an administrator" in one_line(capsys.readouterr().err)
    assert people(data_dir) == {}
    monkeypatch.setenv(NEW_PASSWORD_ENV, "short")
    assert run(data_dir, "people", "add", "alice", "--role", "admin") == 2
    assert "at least 8 characters" in one_line(capsys.readouterr().err)
    monkeypatch.setenv(NEW_PASSWORD_ENV, ADMIN_PW)
    assert run(data_dir, "people", "add", "alice", "--role", "admin") == 0
    capsys.readouterr()
    # Only then: the second person needs an administrator's credentials.
    assert run(data_dir, "people", "add", "mallory", "--role", "admin") == 2
    err = one_line(capsys.readouterr().err)
    assert TOKEN_ENV in err
    assert "--user NAME" in err
    assert people(data_dir) == {"alice": ("admin", True)}


def test_an_admin_manages_people_from_the_command_line(admin: Path, capsys: Capture) -> None:
    assert run(admin, "people", "add", "JDoe", "--role", "dispatcher", "--user", "alice") == 0
    assert run(admin, "people", "set-role", "jdoe", "supervisor", "--user", "alice") == 0
    assert run(admin, "people", "disable", "jdoe", "--user", "alice") == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "added jdoe (dispatcher)",
        "jdoe is now supervisor",
        "jdoe disabled",
    ]
    assert people(admin) == {"alice": ("admin", True), "jdoe": ("supervisor", False)}
    assert run(admin, "people", "list", "--user", "alice") == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split() == ["NAME", "ROLE", "STATE", "LAST", "SIGN-IN", "DISPLAY", "NAME"]
    assert listing[2].split()[:4] == ["jdoe", "supervisor", "disabled", "never"]
    assert run(admin, "people", "enable", "jdoe", "--user", "alice") == 0
    assert run(admin, "people", "reset-password", "jdoe", "--user", "alice") == 0
    assert capsys.readouterr().out.splitlines() == [
        "jdoe enabled",
        "the password of jdoe was reset",
    ]
    assert run(admin, "people", "disable", "alice", "--user", "alice") == 1
    assert "last active administrator" in one_line(capsys.readouterr().err)


def test_a_token_is_printed_once_and_acts_with_its_role_until_revoked(
    admin: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture, tmp_path: Path
) -> None:
    assert run(admin, "tokens", "issue", "Dispatch-Bot", "--role", "dispatcher", "--user",
               "alice") == 0  # fmt: skip
    out, err = capsys.readouterr()
    token = one_line(out)
    assert token.startswith("odt_")
    assert "shown this once" in err
    assert run(admin, "tokens", "list", "--user", "alice") == 0
    listing = capsys.readouterr().out
    assert "dispatch-bot" in listing
    assert token not in listing
    assert token[:8] + "…" in listing

    monkeypatch.delenv(PASSWORD_ENV)
    monkeypatch.setenv(TOKEN_ENV, token)
    assert run(admin, "link", "5055550150", "--account", "9001") == 0
    assert "+15055550150 linked to 9001 (all locations)" in capsys.readouterr().out
    assert run(admin, "opt-out", "5055550150", "--reason", "asked") == 0
    capsys.readouterr()
    # A dispatcher's token may not export the consent trail, nor import the directory.
    target = tmp_path / "consent.csv"
    assert run(admin, "export-consent", str(target)) == 1
    assert "token:dispatch-bot (dispatcher) may not read the audit trail" in one_line(
        capsys.readouterr().err
    )
    assert not target.exists(), "nothing written when refused"
    csv_file = tmp_path / "dir.csv"
    csv_file.write_text(DIRECTORY_CSV, encoding="utf-8")
    assert run(admin, "import-accounts", str(csv_file)) == 1
    assert "may not import and correct links" in one_line(capsys.readouterr().err)
    assert run(admin, "people", "list") == 1
    assert "may not manage people" in one_line(capsys.readouterr().err)

    monkeypatch.delenv(TOKEN_ENV)
    monkeypatch.setenv(PASSWORD_ENV, ADMIN_PW)
    assert run(admin, "tokens", "revoke", "dispatch-bot", "--user", "alice") == 0
    capsys.readouterr()
    monkeypatch.setenv(TOKEN_ENV, token)
    assert run(admin, "resend", "--phone", "5055550150") == 2
    assert "unknown or revoked" in one_line(capsys.readouterr().err)

    db = open_database(load_settings({"data_dir": admin}, use_keyring=False))
    with db.sessions() as s:
        created_by = s.scalars(select(PhoneLink.created_by)).all()
        trail = [(a.actor, a.action) for a in s.scalars(select(AuditEntry))]
    db.close()
    assert created_by == ["token:dispatch-bot"]
    assert ("token:dispatch-bot", "link_add") in trail
    assert ("alice", "token_revoke") in trail
    assert not [row for row in trail if token in str(row)]


def test_a_person_signs_in_with_a_password_from_the_environment_or_a_prompt(
    admin: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture, tmp_path: Path
) -> None:
    monkeypatch.setenv(NEW_PASSWORD_ENV, "sups-password")
    assert run(admin, "people", "add", "sam", "--role", "supervisor", "--user", "alice") == 0
    csv_file = tmp_path / "dir.csv"
    csv_file.write_text(DIRECTORY_CSV, encoding="utf-8")
    monkeypatch.setenv(PASSWORD_ENV, "sups-password")
    assert run(admin, "import-accounts", str(csv_file), "--user", "Sam") == 0
    capsys.readouterr()

    monkeypatch.delenv(PASSWORD_ENV)
    assert run(admin, "link", "5055550150", "--account", "9002", "--user", "sam") == 2
    assert "no password for sam" in one_line(capsys.readouterr().err)

    asked: list[str] = []

    def typed(prompt: str = "") -> str:
        asked.append(prompt)
        return "sups-password"

    monkeypatch.setattr(sys, "stdin", TerminalInput())
    monkeypatch.setattr(getpass, "getpass", typed)
    assert run(admin, "link", "5055550150", "--account", "9002", "--user", "sam") == 0
    assert asked == ["Password for sam: "]
    assert "linked to 9002" in capsys.readouterr().out


def test_a_new_password_is_typed_twice_on_a_terminal(
    admin: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    monkeypatch.delenv(NEW_PASSWORD_ENV)
    assert run(admin, "people", "reset-password", "alice", "--user", "alice") == 2
    assert f"set {NEW_PASSWORD_ENV} or use a terminal" in one_line(capsys.readouterr().err)
    typed = iter(["first-try-pass", "first-try-pasS", "second-try-pass", "second-try-pass"])
    prompts: list[str] = []

    def answer(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(typed)

    monkeypatch.setattr(sys, "stdin", TerminalInput())
    monkeypatch.setattr(getpass, "getpass", answer)
    assert run(admin, "people", "reset-password", "alice", "--user", "alice") == 2
    assert "the two passwords differ; nothing was changed" in one_line(capsys.readouterr().err)
    assert run(admin, "people", "reset-password", "alice", "--user", "alice") == 0
    assert prompts == ["New password for alice: ", "Same password again: "] * 2
    monkeypatch.setenv(PASSWORD_ENV, "second-try-pass")
    assert run(admin, "people", "list", "--user", "alice") == 0


class TerminalInput(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_wrong_credentials_are_one_line_and_exit_2(
    admin: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    assert run(admin, "link", "5055550150", "--account", "9001", "--user", "alice") == 2
    assert one_line(capsys.readouterr().err) == "outagedesk link: wrong name or password"
    assert run(admin, "people", "list", "--user", "nobody") == 2
    assert one_line(capsys.readouterr().err) == "outagedesk people: wrong name or password"
    monkeypatch.setenv(TOKEN_ENV, "odt_made-up")
    assert run(admin, "opt-out", "5055550150", "--reason", "r") == 2
    assert "unknown or revoked" in one_line(capsys.readouterr().err)


def test_nobody_named_is_exit_2_with_the_fix(data_dir: Path, capsys: Capture) -> None:
    for argv in (
        ["link", "5055550150", "--account", "9001"],
        ["resend", "--phone", "5055550150"],
        ["opt-out", "5055550150", "--reason", "r"],
        ["export-consent", "-"],
        ["tokens", "list"],
    ):
        assert run(data_dir, *argv) == 2, argv
        err = one_line(capsys.readouterr().err)
        assert err.startswith("outagedesk: who is acting?"), err
        assert TOKEN_ENV in err


def test_the_as_flag_is_gone(capsys: Capture) -> None:
    with pytest.raises(SystemExit):
        main(["link", "5055550150", "--account", "9001", "--as", "someone"])
    assert "unrecognized arguments: --as" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["people", "--help"],
        ["people", "add", "--help"],
        ["people", "reset-password", "--help"],
        ["tokens", "issue", "--help"],
        ["tokens", "revoke", "--help"],
    ],
)
def test_every_subcommand_has_help_and_the_common_flags(argv: list[str], capsys: Capture) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "usage: outagedesk " + " ".join(argv[:-1]) in out
    if len(argv) == 3:
        assert "--data-dir" in out
        assert "--user NAME" in out
