"""`outagedesk links export` and `outagedesk links import` as a script would call them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from outagedesk.cli import main
from outagedesk.config import load_settings
from outagedesk.directory import import_directory_rows
from outagedesk.ops.base import Role
from outagedesk.ops.commands import PASSWORD_ENV, TOKEN_ENV
from outagedesk.runtime import open_database
from outagedesk.store.models import PhoneLink

from authsupport import service_token
from mappingsupport import DIRECTORY

HEADER = "phone,account_number,service_location_id,action"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OUTAGEDESK_CONFIG_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    monkeypatch.delenv("OUTAGEDESK_DB_URL", raising=False)
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    db = open_database(load_settings({"data_dir": tmp_path}, use_keyring=False))
    import_directory_rows(db.engine, DIRECTORY)
    monkeypatch.setenv(TOKEN_ENV, service_token(db.sessions, Role.SUPERVISOR, "fixes"))
    (tmp_path / "dispatcher.token").write_text(service_token(db.sessions, Role.DISPATCHER))
    db.close()
    return tmp_path


def link_count(data_dir: Path) -> int:
    db = open_database(load_settings({"data_dir": data_dir}, use_keyring=False))
    with db.sessions() as s:
        found = int(s.scalar(select(func.count()).select_from(PhoneLink)) or 0)
    db.close()
    return found


def test_export_filters_and_writes_every_link(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = data_dir / "links.csv"
    assert main(["links", "export", str(out), "--data-dir", str(data_dir)]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith(HEADER)
    assert len(lines) == 1 + 3
    assert "3 link(s) exported" in capsys.readouterr().err
    assert main(["links", "export", str(out), "--search", "elm", "--data-dir", str(data_dir)]) == 0
    assert [line.split(",")[1] for line in out.read_text().splitlines()[1:]] == ["B-300"]
    assert main(["links", "export", "-", "--unreviewed", "--data-dir", str(data_dir)]) == 0
    assert capsys.readouterr().out.strip() == ",".join(
        [HEADER, "customer_name,service_address,source,created_by,created_at,reviewed"]
    )


def test_import_previews_then_applies_with_apply(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = data_dir / "fix.csv"
    path.write_text(f"{HEADER}\n5055550111,A-200,,add\n+15755550102,A-200,SL-200-1,remove\n")
    assert main(["links", "import", str(path), "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert f"{path}:2: added +15055550111 A-200" in out
    assert "preview: 1 added, 0 moved, 1 removed, 0 unchanged, 0 invalid" in out
    assert "re-run with --apply" in out
    assert link_count(data_dir) == 3
    args = ["links", "import", str(path), "--apply", "--data-dir", str(data_dir)]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "applied fix.csv: 1 links added, 1 removed, 0 rows skipped" in captured.out
    assert "applying: 2 / 2 changes" in captured.err
    assert link_count(data_dir) == 3


def test_import_with_invalid_rows_applies_nothing_unless_told(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = data_dir / "fix.csv"
    path.write_text(f"{HEADER}\n5055550111,A-200,,add\n5055550112,Z-1,,add\n")
    base = ["links", "import", str(path), "--apply", "--data-dir", str(data_dir)]
    assert main(base) == 1
    out = capsys.readouterr().out
    assert f"{path}:3: invalid +15055550112 Z-1 (account Z-1 is not in the account" in out
    assert "nothing applied: 1 row(s) are invalid" in out
    assert link_count(data_dir) == 3
    assert main([*base, "--skip-bad-rows"]) == 0
    assert "1 links added, 0 removed, 1 rows skipped" in capsys.readouterr().out
    assert link_count(data_dir) == 4
    missing = ["links", "import", str(data_dir / "nope.csv"), "--data-dir", str(data_dir)]
    assert main(missing) == 2


def test_links_commands_need_a_supervisor(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = data_dir / "fix.csv"
    path.write_text(f"{HEADER}\n5055550111,A-200,,add\n")
    export = ["links", "export", str(data_dir / "links.csv"), "--data-dir", str(data_dir)]
    fix = ["links", "import", str(path), "--apply", "--data-dir", str(data_dir)]
    monkeypatch.setenv(TOKEN_ENV, (data_dir / "dispatcher.token").read_text())
    assert main(export) == 1
    assert main(fix) == 1
    assert "may not import and correct links" in capsys.readouterr().err
    assert not (data_dir / "links.csv").exists()
    monkeypatch.delenv(TOKEN_ENV)
    assert main(fix) == 2
    assert link_count(data_dir) == 3
