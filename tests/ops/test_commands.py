"""`outagedesk link`, `resend`, `opt-out`, `export-consent` as a script would call them.

The script acts with a supervisor's service token (tests/test_cli_people.py covers the other
ways to sign in and every refusal)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from outagedesk.cli import main
from outagedesk.config import load_settings
from outagedesk.directory import import_directory_rows
from outagedesk.domain.keywords import Classifier
from outagedesk.gateway.contract import parse_page
from outagedesk.ops.base import Role
from outagedesk.ops.commands import PASSWORD_ENV, TOKEN_ENV
from outagedesk.runtime import open_database
from outagedesk.sim import DirectoryRow
from outagedesk.store.ingest import IngestPolicy, ingest_page
from outagedesk.store.models import AuditEntry, OutboxTask, PhoneLink

from authsupport import service_token

ROWS = [DirectoryRow("9001", "SL-9001-1", "M-1", "Pat Farmer", "1 Barn Rd", (), False)]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    monkeypatch.setenv("OUTAGEDESK_CONFIG_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    monkeypatch.delenv("OUTAGEDESK_DB_URL", raising=False)
    db = open_database(load_settings({"data_dir": tmp_path}, use_keyring=False))
    import_directory_rows(db.engine, ROWS)
    page = parse_page(
        {
            "messages": [
                {"id": f"m-{n}", "from": "2085550150", "to": "85700", "body": "OUT",
                 "received_at": "2026-11-24T10:15:03Z"}
                for n in range(2)
            ],
            "next_cursor": "c-2",
        }
    )  # fmt: skip
    with db.sessions() as s:
        ingest_page(s, "default", page, IngestPolicy(Classifier()))
    monkeypatch.setenv(TOKEN_ENV, service_token(db.sessions, Role.SUPERVISOR, "ops-script"))
    db.close()
    return tmp_path


def keys(data_dir: Path) -> list[str]:
    db = open_database(load_settings({"data_dir": data_dir}, use_keyring=False))
    with db.sessions() as s:
        found = list(
            s.scalars(
                select(OutboxTask.idempotency_key).where(
                    OutboxTask.done.is_(False), OutboxTask.kind == "oms"
                )
            )
        )
    db.close()
    return sorted(k.split(".")[1] for k in found)


def test_link_with_resend(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["link", "(208) 555-0150", "--account", "9001", "--location", "SL-9001-1",
         "--resend", "--data-dir", str(data_dir)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "+12085550150 linked to 9001 / SL-9001-1" in out
    assert "re-sent 2 report(s)" in out
    assert keys(data_dir) == ["2", "2"]
    db = open_database(load_settings({"data_dir": data_dir}, use_keyring=False))
    with db.sessions() as s:
        assert s.scalars(select(PhoneLink.created_by)).all() == ["token:ops-script"]
        assert "link_add" in s.scalars(select(AuditEntry.action)).all()
    db.close()


def test_resend_by_phone_and_state(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["resend", "--phone", "2085550150", "--data-dir", str(data_dir)]) == 0
    assert "re-sent 2 report(s)" in capsys.readouterr().out
    assert main(["resend", "--state", "unlinked", "--data-dir", str(data_dir)]) == 0
    assert "re-sent 0 report(s)" in capsys.readouterr().out
    assert keys(data_dir) == ["2", "2"]


def test_link_to_an_unknown_account_fails_clearly(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["link", "2085550150", "--account", "0000", "--data-dir", str(data_dir)])
    assert code == 1
    assert "account 0000 is not in the account directory" in capsys.readouterr().err


def test_a_bad_phone_or_time_is_a_clear_error(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["link", "not-a-phone", "--account", "9001", "--data-dir", str(data_dir)]) == 1
    assert "not a phone number" in capsys.readouterr().err
    code = main(["resend", "--state", "queued", "--since", "soon", "--data-dir", str(data_dir)])
    assert code == 2
    assert "'soon' is not a time" in capsys.readouterr().err


def test_resend_needs_a_selection(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["resend"])
    assert "one of the arguments --report --phone --state is required" in capsys.readouterr().err


def test_opt_out_and_export(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["opt-out", "2085550150", "--reason", "asked by phone", "--data-dir", str(data_dir)]
    )
    assert code == 0
    assert "+12085550150 opted out of every keyword" in capsys.readouterr().out
    target = tmp_path / "consent.csv"
    assert main(["export-consent", str(target), "--from", "2020-01-01", "--data-dir",
                 str(data_dir)]) == 0  # fmt: skip
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("at,phone,keyword,state,how")
    assert ",+12085550150,all,opted_out,forced," in lines[-1]
    assert "consent record(s) exported" in capsys.readouterr().err


def test_opt_out_needs_a_reason(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["opt-out", "2085550150"])
    assert "--reason" in capsys.readouterr().err


def test_templates_from_the_settings_file_with_their_cost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings_file = tmp_path / "settings.toml"
    settings_file.write_text(
        '[reply_templates]\noutage_ack = "{program}: got it 🙂. STOP to opt out."\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("OUTAGEDESK_CONFIG_FILE", str(settings_file))
    assert main(["templates"]) == 0
    out = capsys.readouterr().out
    assert "outage_ack (settings; UCS-2, 47 characters, 1 segment)" in out
    assert "OutageDesk Utility: got it 🙂. STOP to opt out." in out
    assert "help (default; GSM-7" in out


def test_a_bad_template_is_refused_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings_file = tmp_path / "settings.toml"
    settings_file.write_text('[reply_templates]\nhelp = "{programme}"\n', encoding="utf-8")
    monkeypatch.setenv("OUTAGEDESK_CONFIG_FILE", str(settings_file))
    assert main(["templates"]) == 2
    assert "unknown placeholder {programme}" in capsys.readouterr().err
