"""The command line: flags anywhere, one-line errors that name the fix, help for each command."""

from __future__ import annotations

from pathlib import Path

import pytest

from outagedesk.cli import build_parser, main, settings_from_args


@pytest.fixture(autouse=True)
def no_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTAGEDESK_CONFIG_FILE", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    for name in ("GATEWAY_URL", "OMS_URL", "GATEWAY_TOKEN", "OMS_TOKEN", "DB_URL"):
        monkeypatch.delenv(f"OUTAGEDESK_{name}", raising=False)


def test_common_flags_work_before_and_after_the_subcommand(tmp_path: Path) -> None:
    parser = build_parser()
    before = parser.parse_args(["--data-dir", str(tmp_path), "run", "--headless"])
    after = parser.parse_args(["run", "--headless", "--data-dir", str(tmp_path)])
    assert settings_from_args(before).data_dir == settings_from_args(after).data_dir == tmp_path


def test_a_flag_before_the_subcommand_is_not_reset_after_it(tmp_path: Path) -> None:
    args = build_parser().parse_args(["--oms-url", "http://oms", "run", "--desk", "desk-3"])
    settings = settings_from_args(args)
    assert (settings.oms_url, settings.desk) == ("http://oms", "desk-3")


@pytest.mark.parametrize("command", [[], ["run"], ["import-accounts"], ["sim"]])
def test_every_command_explains_itself(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: outagedesk" in capsys.readouterr().out


def test_a_wrong_flag_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--headles"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --headles" in capsys.readouterr().err


def test_headless_without_a_gateway_names_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--headless", "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "--gateway-url or OUTAGEDESK_GATEWAY_URL" in err


def test_headless_with_an_unreachable_database_names_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTAGEDESK_GATEWAY_TOKEN", "t")
    monkeypatch.setenv("OUTAGEDESK_OMS_TOKEN", "t")
    code = main(
        [
            "run", "--headless", "--data-dir", str(tmp_path),
            "--gateway-url", "http://127.0.0.1:9", "--oms-url", "http://127.0.0.1:9",
            "--db-url", "postgresql+psycopg://nobody:secretpw@127.0.0.1:1/none",
        ]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "--db-url" in err
    assert "secretpw" not in err
