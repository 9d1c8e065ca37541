"""Settings: defaults < TOML file < ``OUTAGEDESK_*`` environment < command-line flags.

Tokens are secrets: they come from the OS keyring on a desktop or from the environment on a
server, and are never written to the settings file, the database or a log.
"""

from __future__ import annotations

import logging
import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs

log = logging.getLogger(__name__)

APP_NAME = "outagedesk"
KEYRING_SERVICE = "OutageDesk"
ENV_PREFIX = "OUTAGEDESK_"
SECRET_FIELDS = ("gateway_token", "oms_token")


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names the fix."""


def default_config_file() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "settings.toml"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


@dataclass
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    config_file: Path = field(default_factory=default_config_file)
    db_url: str | None = None
    gateway_url: str | None = None
    oms_url: str | None = None
    gateway_token: str | None = field(default=None, repr=False)
    oms_token: str | None = field(default=None, repr=False)
    region: str = "US"
    outage_keywords: tuple[str, ...] = ("OUT", "OUTAGE", "#OUT")
    hold_unlinked: bool = False
    desk: str = field(default_factory=socket.gethostname)
    poll_wait: float = 20.0
    poll_limit: int = 500
    forward_concurrency: int = 8
    status_interval: float = 5.0
    program_name: str = "OutageDesk Utility"
    """How replies name the program (carrier rules: HELP names it)."""
    support_contact: str = "call 1-800-555-0100"
    ack_outages: bool = True
    provider_answers: tuple[str, ...] = ()
    """Reply families the SMS provider answers itself (help, opt_out, opt_in): never doubled."""
    reply_templates: dict[str, str] = field(default_factory=dict)
    """Replacement reply texts by purpose (a ``[reply_templates]`` table in the file)."""
    log_level: str = "INFO"

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{self.data_dir / 'outagedesk.db'}"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def file_values(self) -> dict[str, Any]:
        """What may be saved to the settings file: everything but secrets and file paths."""
        skip = {*SECRET_FIELDS, "config_file", "data_dir"}
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in skip or value is None:
                continue
            if value == {}:
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


_FIELD_TYPES = {f.name: f for f in fields(Settings)}


def _coerce(name: str, value: Any, source: str) -> Any:
    kind = str(_FIELD_TYPES[name].type)
    try:
        if kind.startswith("Path"):
            return Path(str(value)).expanduser()
        if kind.startswith("bool"):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(value)
        if kind.startswith("float"):
            return float(value)
        if kind.startswith("int"):
            return int(value)
        if kind.startswith("dict"):
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise ValueError(value)
            return dict(value)
        if kind.startswith("tuple"):
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(i).strip() for i in items if str(i).strip())
    except (TypeError, ValueError):
        raise SettingsError(f"{source}: {name} cannot be {value!r}") from None
    return None if value is None else str(value)


def _read_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc}") from exc
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in SECRET_FIELDS:
            raise SettingsError(
                f"{path}: {key} must not be stored in the settings file; "
                f"use the OS keyring or {ENV_PREFIX}{key.upper()}"
            )
        if key not in _FIELD_TYPES or key in {"config_file"}:
            raise SettingsError(f"{path}: unknown setting {key!r}")
        values[key] = _coerce(key, value, str(path))
    return values


def _keyring_secret(name: str) -> str | None:
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:
        return None
    try:
        secret = keyring.get_password(KEYRING_SERVICE, name)
    except (KeyringError, RuntimeError, OSError) as exc:
        log.debug("keyring unavailable for %s: %s", name, exc)
        return None
    return secret if isinstance(secret, str) and secret else None


def store_secret(name: str, value: str) -> None:
    """Save a token in the OS keyring (the first-run dialog and ``settings`` use this)."""
    import keyring

    keyring.set_password(KEYRING_SERVICE, name, value)


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    use_keyring: bool = True,
) -> Settings:
    """Merge every source; ``overrides`` are the command-line flags that were given."""
    env = os.environ if environ is None else environ
    flags = {k: v for k, v in (overrides or {}).items() if v is not None and k in _FIELD_TYPES}
    env_values = {
        name: _coerce(name, env[ENV_PREFIX + name.upper()], ENV_PREFIX + name.upper())
        for name in _FIELD_TYPES
        if ENV_PREFIX + name.upper() in env and name != "config_file"
    }
    config_file = Path(
        flags.get("config_file") or env.get(ENV_PREFIX + "CONFIG_FILE") or default_config_file()
    ).expanduser()
    merged: dict[str, Any] = {"config_file": config_file}
    merged.update(_read_file(config_file))
    merged.update(env_values)
    merged.update({k: _coerce(k, v, f"--{k.replace('_', '-')}") for k, v in flags.items()})
    settings = Settings(**merged)
    if use_keyring:
        for name in SECRET_FIELDS:
            if getattr(settings, name) is None:
                setattr(settings, name, _keyring_secret(name))
    return settings


def save_settings(settings: Settings) -> Path:
    return _write_file(settings.config_file, settings.file_values())


def save_reply_templates(path: Path, templates: dict[str, str]) -> Path:
    """Replace only the ``[reply_templates]`` table of the settings file at ``path``.

    The rest of the file is kept as it is: a window running on other connections than the
    file's (the demo, training) must not write its simulator URLs into it."""
    try:
        existing = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc}") from exc
    existing.pop("reply_templates", None)
    if templates:
        existing["reply_templates"] = dict(templates)
    return _write_file(path, existing)


def _write_file(path: Path, values: dict[str, Any]) -> Path:
    import tomli_w

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(tomli_w.dumps(values), encoding="utf-8")
    tmp.replace(path)
    return path
