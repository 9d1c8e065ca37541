"""Reading the audit trail is for supervisors and administrators; ``outagedesk audit export``."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from outagedesk.cli import main
from outagedesk.config import load_settings
from outagedesk.directory import import_directory_rows
from outagedesk.ops.audit_trail import (
    audit_choices,
    audit_page,
    export_audit,
    export_audit_file,
)
from outagedesk.ops.base import Actor, PermissionDenied, Role
from outagedesk.ops.commands import PASSWORD_ENV, TOKEN_ENV
from outagedesk.ops.people import add_person, create_first_admin
from outagedesk.runtime import open_database
from outagedesk.sim import DirectoryRow
from outagedesk.store.audit import AuditQuery
from outagedesk.store.audit_refs import insert_audit_rows

from dbsupport import DbUnderTest

ROWS = [
    DirectoryRow("9001", "SL-9001-1", "M-1", "Pat Farmer", "1 Barn Rd", (), False),
    DirectoryRow("90011", "SL-90011-1", "M-2", "Lee Miller", "2 Mill Ln", (), False),
]
DISPATCHER = Actor("dana", "desk-1", Role.DISPATCHER)
SUPERVISOR = Actor("sam", "desk-1", Role.SUPERVISOR)
REFUSAL = "dana (dispatcher) may not read the audit trail"
PASSWORD = "correct horse battery"
AS_SAM = ["--user", "sam"]


def test_a_dispatcher_is_refused_everything(db: DbUnderTest, tmp_path: Path) -> None:
    with db.engine.begin() as conn:
        insert_audit_rows(
            conn,
            [
                {"at": datetime(2026, 11, 24, tzinfo=UTC), "actor": "sam", "desk": "d",
                 "action": "link_add", "subject": "+15055550123", "before": None, "after": None},
            ],
        )  # fmt: skip
    folder = tmp_path / "exports"
    folder.mkdir()
    target = folder / "audit.csv"
    with db.sessions() as s:
        for attempt in (
            lambda: audit_choices(s, DISPATCHER),
            lambda: audit_page(s, DISPATCHER, AuditQuery()),
            lambda: export_audit(s, DISPATCHER, AuditQuery(), io.StringIO()),
            lambda: export_audit_file(s, DISPATCHER, AuditQuery(), target),
        ):
            with pytest.raises(PermissionDenied, match=re.escape(REFUSAL)):
                attempt()
        assert list(folder.iterdir()) == []
        assert audit_choices(s, SUPERVISOR).people == ["sam"]
        assert [r.action for r in audit_page(s, SUPERVISOR, AuditQuery())] == ["link_add"]
        assert export_audit_file(s, SUPERVISOR, AuditQuery(person="sam"), target) == 1
    assert [p.name for p in folder.iterdir()] == ["audit.csv"]


def test_a_failed_export_leaves_no_file(db: DbUnderTest, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    with db.sessions() as s, pytest.raises(ValueError, match="not a valid phone number"):
        export_audit_file(s, SUPERVISOR, AuditQuery(phone="+1555"), folder / "audit.csv")
    assert list(folder.iterdir()) == []


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OUTAGEDESK_CONFIG_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    monkeypatch.delenv("OUTAGEDESK_DB_URL", raising=False)
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    data = tmp_path / "data"
    db = open_database(load_settings({"data_dir": data}, use_keyring=False))
    import_directory_rows(db.engine, ROWS)
    with db.sessions() as s:
        admin = create_first_admin(s, "root", PASSWORD, "desk-1")
        for name, role in (("alice", Role.DISPATCHER), ("bob", Role.DISPATCHER),
                           ("sam", Role.SUPERVISOR), ("dana", Role.DISPATCHER)):  # fmt: skip
            add_person(s, admin, name, role, PASSWORD)
    db.close()
    for phone, account, who in (
        ("(505) 555-0123", "9001", "alice"),
        ("505-555-0144", "90011", "bob"),
        ("505 555 0177", "9001", "bob"),
    ):
        args = ["link", phone, "--account", account, "--user", who, "--data-dir", str(data)]
        assert main(args) == 0
    return data


def exported(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_audit_export_writes_the_filtered_rows(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "audit.csv"
    common = ["--data-dir", str(data_dir)]
    assert main(["audit", "export", str(target), "--account", "9001", *common, *AS_SAM]) == 0
    assert "2 audit row(s) exported" in capsys.readouterr().err
    rows = exported(target)
    assert list(rows[0]) == ["at", "person", "desk", "action", "subject", "before", "after"]
    assert [(r["person"], r["subject"]) for r in rows] == [
        ("bob", "+15055550177"),
        ("alice", "+15055550123"),
    ]
    assert '"account_number": "9001"' in rows[0]["after"]
    assert rows[0]["at"].endswith("Z")

    assert main(["audit", "export", str(target), "--person", "bob", "--action", "link_",
                 "--phone", "5055550144", *common, *AS_SAM]) == 0  # fmt: skip
    assert [r["subject"] for r in exported(target)] == ["+15055550144"]
    assert main(["audit", "export", str(target), "--to", "2000-01-01", *common, *AS_SAM]) == 0
    assert exported(target) == []
    assert main(["audit", "export", str(target), "--from", "2000-01-01T00:00:00Z",
                 "--text", "90011", *common, *AS_SAM]) == 0  # fmt: skip
    assert [r["subject"] for r in exported(target)] == ["+15055550144"]

    capsys.readouterr()
    assert (
        main([*common, "audit", "export", "-", "--person", "alice", "--action", "link_", *AS_SAM])
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert ",alice," in out[1]


def test_audit_export_errors_are_one_line(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "audit.csv"
    common = ["--data-dir", str(data_dir)]
    assert main(["audit", "export", str(target), "--from", "soon", *common, *AS_SAM]) == 2
    assert "'soon' is not a time" in capsys.readouterr().err
    assert main(["audit", "export", str(target), "--phone", "12", *common, *AS_SAM]) == 1
    assert "not a valid phone number: '12'" in capsys.readouterr().err
    assert main(["audit", "export", str(tmp_path / "no" / "such" / "a.csv"), *common, *AS_SAM]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert not target.exists()
    with pytest.raises(SystemExit):
        main(["audit", *common])
    assert "required: ACTION" in capsys.readouterr().err


def test_audit_export_refuses_a_dispatcher(
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = tmp_path / "audit.csv"
    assert (
        main(["audit", "export", str(target), "--data-dir", str(data_dir), "--user", "dana"]) == 1
    )
    assert REFUSAL in capsys.readouterr().err
    assert not target.exists()
