"""Settings precedence (flag > env > file > default) and the rules that keep tokens secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from outagedesk.config import (
    Settings,
    SettingsError,
    load_settings,
    save_reply_templates,
    save_settings,
)


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(
        'gateway_url = "http://file.example"\npoll_wait = 5\nregion = "CA"\n'
        'outage_keywords = ["OUT", "APAGON"]\n',
        encoding="utf-8",
    )
    return path


def load(path: Path, env: dict[str, str] | None = None, **flags: object) -> Settings:
    return load_settings({"config_file": str(path), **flags}, environ=env or {}, use_keyring=False)


def test_defaults_without_any_source(tmp_path: Path) -> None:
    settings = load(tmp_path / "absent.toml")
    assert settings.gateway_url is None
    assert settings.region == "US"
    assert settings.outage_keywords == ("OUT", "OUTAGE", "#OUT")
    assert settings.database_url.startswith("sqlite:///")


def test_file_beats_defaults(settings_file: Path) -> None:
    settings = load(settings_file)
    assert (settings.gateway_url, settings.poll_wait, settings.region) == (
        "http://file.example",
        5.0,
        "CA",
    )
    assert settings.outage_keywords == ("OUT", "APAGON")


def test_environment_beats_file_and_flags_beat_environment(settings_file: Path) -> None:
    env = {"OUTAGEDESK_GATEWAY_URL": "http://env.example", "OUTAGEDESK_REGION": "MX"}
    assert load(settings_file, env).gateway_url == "http://env.example"
    settings = load(settings_file, env, gateway_url="http://flag.example")
    assert settings.gateway_url == "http://flag.example"
    assert settings.region == "MX"


def test_data_dir_moves_the_database_and_logs(tmp_path: Path) -> None:
    settings = load(tmp_path / "absent.toml", data_dir=str(tmp_path / "desk2"))
    assert settings.database_url == f"sqlite:///{tmp_path / 'desk2' / 'outagedesk.db'}"
    assert settings.log_dir == tmp_path / "desk2" / "logs"


def test_environment_values_are_typed(tmp_path: Path) -> None:
    env = {
        "OUTAGEDESK_HOLD_UNLINKED": "yes",
        "OUTAGEDESK_POLL_LIMIT": "250",
        "OUTAGEDESK_OUTAGE_KEYWORDS": "out, outage ,",
    }
    settings = load(tmp_path / "absent.toml", env)
    assert settings.hold_unlinked is True
    assert settings.poll_limit == 250
    assert settings.outage_keywords == ("out", "outage")


@pytest.mark.parametrize(
    ("name", "value"),
    [("OUTAGEDESK_HOLD_UNLINKED", "maybe"), ("OUTAGEDESK_POLL_LIMIT", "many")],
)
def test_a_bad_value_names_the_setting(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load(tmp_path / "absent.toml", {name: value})


def test_tokens_come_from_the_environment(tmp_path: Path) -> None:
    settings = load(tmp_path / "absent.toml", {"OUTAGEDESK_OMS_TOKEN": "s3cret"})
    assert settings.oms_token == "s3cret"
    assert "s3cret" not in repr(settings)


def test_a_token_in_the_settings_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('gateway_token = "s3cret"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="keyring"):
        load(path)


@pytest.mark.parametrize("text", ["not toml [", 'mystery = "x"\n'])
def test_a_broken_or_unknown_file_is_a_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError, match=str(path.name)):
        load(path)


def test_saving_never_writes_a_token(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "settings.toml"
    settings = load(path, {"OUTAGEDESK_GATEWAY_TOKEN": "s3cret"}, gateway_url="http://gw")
    save_settings(settings)
    text = path.read_text(encoding="utf-8")
    assert "s3cret" not in text
    assert "token" not in text
    assert load(path).gateway_url == "http://gw"


def test_saving_templates_keeps_the_rest_of_the_file(settings_file: Path) -> None:
    # A demo or training window runs on simulator URLs: saving its templates must not
    # write those into the desk's real settings file.
    save_reply_templates(settings_file, {"help": "Call 555-0100 for help."})
    settings = load(settings_file)
    assert settings.gateway_url == "http://file.example"
    assert settings.region == "CA"
    assert settings.reply_templates == {"help": "Call 555-0100 for help."}
    save_reply_templates(settings_file, {})
    assert load(settings_file).reply_templates == {}
    assert load(settings_file).gateway_url == "http://file.example"


def test_saving_templates_into_a_broken_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("region = ", encoding="utf-8")
    with pytest.raises(SettingsError, match="cannot read settings file"):
        save_reply_templates(path, {"help": "x"})
    assert path.read_text(encoding="utf-8") == "region = "
