"""``outagedesk scenario list | check | record``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from outagedesk.cli import main
from outagedesk.directory import import_directory_rows
from outagedesk.ops.base import Role
from outagedesk.ops.commands import PASSWORD_ENV, TOKEN_ENV
from outagedesk.sim.directory import DirectoryRow
from outagedesk.store.models import AuditEntry, InboundMessage, utcnow
from outagedesk.training.scenario import load_scenario, shipped_scenarios

from authsupport import service_token
from dbsupport import DbUnderTest


@pytest.fixture(autouse=True)
def no_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTAGEDESK_CONFIG_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    for name in ("GATEWAY_URL", "OMS_URL", "GATEWAY_TOKEN", "OMS_TOKEN", "DB_URL"):
        monkeypatch.delenv(f"OUTAGEDESK_{name}", raising=False)


def test_list_names_every_shipped_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == [p.stem for p in shipped_scenarios()]
    assert any("OMS down 10 min" in line for line in out)


def test_check_counts_a_good_file_and_names_the_fault_of_a_bad_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drill = next(p for p in shipped_scenarios() if p.stem == "compliance-drill")
    assert main(["scenario", "check", str(drill)]) == 0
    out = capsys.readouterr().out
    assert "compliance-drill: Compliance drill — 22 texts over 20 min" in out
    assert "9 request(s) to stop" in out
    bad = tmp_path / "bad.toml"
    bad.write_text(drill.read_text(encoding="utf-8").replace("at = 20\n", "at = -20\n", 1))
    assert main(["scenario", "check", str(bad)]) == 1
    assert "bad.toml: messages[0].at: -20 is out of range" in capsys.readouterr().out


def test_scenario_needs_an_action(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["scenario"])
    assert exit_info.value.code == 2
    assert "ACTION" in capsys.readouterr().err


def _seed(db: DbUnderTest) -> str:
    row = DirectoryRow("204518", "SL-204518-1", "M-1", "Rosa Quintana", "3720 Mill St",
                       ("+15055550142",), False)  # fmt: skip
    import_directory_rows(db.engine, [row], source="directory", actor="test")
    start = utcnow() + timedelta(minutes=1)
    with db.sessions() as s:
        for i, body in enumerate(["OUT acct 204518", "OUT Rosa here, call 505-555-0142"]):
            s.add(
                InboundMessage(
                    gateway_message_id=f"g-{i}", phone="+15055550142", to="85700", body=body,
                    received_at=start + timedelta(seconds=10 * i), kind="outage", tags=[], raw={},
                )
            )  # fmt: skip
        s.commit()
    return start.isoformat().replace("+00:00", "Z")


def _record_args(db: DbUnderTest, start: str, out: Path) -> list[str]:
    return [
        "scenario", "record", "--from", start, "--to", "2099-01-01", "--title", "Night shift",
        str(out), "--db-url", db.url,
    ]  # fmt: skip


def test_record_needs_the_training_permission(
    sqlite_db: DbUnderTest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "night.toml"
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    start = _seed(sqlite_db)
    assert main(_record_args(sqlite_db, start, out)) == 2
    assert "--user" in capsys.readouterr().err
    monkeypatch.setenv(TOKEN_ENV, service_token(sqlite_db.sessions, Role.DISPATCHER))
    assert main(_record_args(sqlite_db, start, out)) == 1
    assert "may not run training mode" in capsys.readouterr().err
    assert not out.exists()


def test_record_writes_an_anonymised_scenario_and_an_audit_row(
    sqlite_db: DbUnderTest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, service_token(sqlite_db.sessions, Role.TRAINER, "tess"))
    out = tmp_path / "night.toml"
    assert main(_record_args(sqlite_db, _seed(sqlite_db), out)) == 0
    assert f"2 texts recorded to {out}" in capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    for original in ("204518", "Rosa", "5055550142", "505-555-0142", "3720 Mill"):
        assert original not in text
    scenario = load_scenario(out)
    assert (scenario.title, len(scenario.messages)) == ("Night shift", 2)
    with sqlite_db.sessions() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "scenario_record")).one()
    assert (entry.actor, entry.subject) == ("token:tess", "night.toml")
    assert entry.after is not None
    assert entry.after["texts"] == 2


def test_record_refuses_a_bad_time(sqlite_db: DbUnderTest, tmp_path: Path) -> None:
    args = _record_args(sqlite_db, "yesterday-ish", tmp_path / "x.toml")
    assert main(args) == 2
