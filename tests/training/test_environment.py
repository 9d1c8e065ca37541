"""Training mode never sees production credentials, never reads the keyring, stays on loopback."""

from __future__ import annotations

import ipaddress
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from sqlalchemy import func, select

from outagedesk.config import Settings
from outagedesk.engine.core import OutageEngine
from outagedesk.engine.runner import EngineThread
from outagedesk.store.models import InboundMessage, ServiceLocation
from outagedesk.training.environment import (
    SESSIONS_KEPT,
    TRAINING_BANNER,
    TrainingError,
    TrainingRig,
    is_loopback_url,
    load_training_settings,
    open_training,
    training_settings,
)
from outagedesk.training.scenario import load_scenario, shipped_scenarios

from enginesupport import wait_until

DRILL = next(p for p in shipped_scenarios() if p.stem == "compliance-drill")

PRODUCTION = Settings(
    gateway_url="https://sms.example.com/api",
    oms_url="https://oms.example.com/v1/reports",
    gateway_token="production-gateway-token",
    oms_token="production-oms-token",
    db_url="postgresql+psycopg://dispatch@db.example.com/outagedesk",
)

# sys.addaudithook cannot be removed: one hook for the process (added by the first test that
# needs it), recording only when asked.
_CONNECTS: list[Any] = []
_RECORDING = threading.Event()
_HOOKED: list[bool] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _RECORDING.is_set() and event in ("socket.connect", "socket.getaddrinfo"):
        _CONNECTS.append((event, args[1] if event == "socket.connect" else args[0]))


@pytest.fixture
def no_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        pytest.fail(f"training mode read the keyring: {args}")

    monkeypatch.setattr(keyring, "get_password", refuse)
    monkeypatch.setattr(keyring, "get_credential", refuse)


@pytest.fixture
def rig(tmp_path: Path, no_keyring: None) -> Iterator[TrainingRig]:
    training = open_training(PRODUCTION, load_scenario(DRILL), data_dir=tmp_path)
    yield training
    training.close()


def test_the_banner_says_what_the_issue_asks() -> None:
    assert TRAINING_BANNER == "TRAINING: nothing reaches customers or the OMS"


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8080/v1", True),
        ("http://127.9.9.9", True),
        ("http://localhost:1", True),
        ("http://[::1]:5000/", True),
        ("https://oms.example.com", False),
        ("http://10.0.0.5:8080", False),
        ("http://127.0.0.1.example.com", False),
        ("http://[::ffff:10.0.0.1]/", False),
        ("not a url", False),
        ("http://[::1", False),
    ],
)
def test_loopback_urls(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_training_settings_drop_every_credential_and_address() -> None:
    training = training_settings(PRODUCTION)
    assert (training.gateway_url, training.oms_url) == (None, None)
    assert (training.gateway_token, training.oms_token, training.db_url) == (None, None, None)
    assert training.desk == PRODUCTION.desk
    assert PRODUCTION.gateway_token == "production-gateway-token"  # the original is untouched
    given = training_settings(
        PRODUCTION, gateway_url="http://127.0.0.1:4000", oms_url="http://127.0.0.1:4001/r"
    )
    assert (given.gateway_url, given.oms_url) == (
        "http://127.0.0.1:4000",
        "http://127.0.0.1:4001/r",
    )
    assert given.gateway_token is None


@pytest.mark.parametrize("field", ["gateway_url", "oms_url"])
def test_training_settings_refuse_a_non_loopback_address(field: str) -> None:
    with pytest.raises(TrainingError, match=r"refusing the .* URL 'https://oms\.example\.com'"):
        training_settings(PRODUCTION, **{field: "https://oms.example.com"})


def test_loading_training_settings_ignores_token_variables_and_the_keyring(
    tmp_path: Path, no_keyring: None
) -> None:
    environ = {
        "OUTAGEDESK_CONFIG_FILE": str(tmp_path / "absent.toml"),
        "OUTAGEDESK_GATEWAY_TOKEN": "production-gateway-token",
        "OUTAGEDESK_OMS_TOKEN": "production-oms-token",
        "OUTAGEDESK_GATEWAY_URL": "https://sms.example.com/api",
        "OUTAGEDESK_DESK": "desk-7",
    }
    settings = load_training_settings({"data_dir": str(tmp_path)}, environ=environ)
    assert (settings.gateway_token, settings.oms_token, settings.gateway_url) == (None, None, None)
    assert settings.desk == "desk-7"
    assert settings.data_dir == tmp_path


def test_a_rig_runs_on_the_simulator_and_its_own_database(rig: TrainingRig, tmp_path: Path) -> None:
    assert rig.db_path.parent == tmp_path / "training"
    assert rig.db_path.name.startswith("session-")
    assert rig.db_path.exists()
    assert rig.settings.database_url == f"sqlite:///{rig.db_path}"
    config = rig.engine_config
    assert is_loopback_url(config.gateway_url)
    assert is_loopback_url(config.oms_url)
    assert (config.gateway_url, config.oms_url) == (rig.sim.gateway_url, rig.sim.oms_url)
    assert config.gateway_token == rig.sim.gateway_token
    assert config.oms_token == rig.sim.oms_token
    assert "production" not in repr(rig.settings) + config.gateway_token + config.oms_token
    with rig.db.sessions() as s:
        rows = s.scalar(select(func.count()).select_from(ServiceLocation))
    assert rows == len(rig.scenario.directory)
    phones = {p for row in rig.scenario.directory for p in row.phones}
    known = {p for p in phones if rig.sim.oms.knows_phone(p)}
    assert 0 < len(known) < len(phones)  # as in the demo, the OMS lacks a few numbers
    state = rig.replayer.state()
    assert (state.playing, state.delivered, state.total) == (False, 0, len(rig.scenario.messages))


def test_only_the_newest_sessions_are_kept(tmp_path: Path, no_keyring: None) -> None:
    folder = tmp_path / "training"
    folder.mkdir()
    old = []
    for day in range(1, 8):
        path = folder / f"session-202601{day:02d}T120000Z.db"
        path.write_bytes(b"")
        (folder / f"{path.name}-wal").write_bytes(b"")
        os.utime(path, (day * 1000, day * 1000))
        old.append(path)
    unrelated = folder / "notes.txt"
    unrelated.write_text("kept")
    rig = open_training(PRODUCTION, load_scenario(DRILL), data_dir=tmp_path)
    rig.close()
    sessions = sorted(p.name for p in folder.glob("session-*.db"))
    assert len(sessions) == SESSIONS_KEPT
    assert rig.db_path.name in sessions
    assert [p.name for p in old[-(SESSIONS_KEPT - 1) :]] == sorted(
        s for s in sessions if s != rig.db_path.name
    )
    assert not (folder / f"{old[0].name}-wal").exists()
    assert unrelated.exists()


def _is_loopback(address: Any) -> bool:
    if address is None:  # getaddrinfo(None, port): this computer
        return True
    if isinstance(address, str | bytes):  # a Unix socket path, or a host name to resolve
        text = address.decode() if isinstance(address, bytes) else address
        if text.startswith("/") or text == "localhost":
            return True
        try:
            return ipaddress.ip_address(text).is_loopback
        except ValueError:
            return False
    host = address[0]
    return host == "localhost" or ipaddress.ip_address(host).is_loopback


def test_a_training_session_never_leaves_this_computer(tmp_path: Path, no_keyring: None) -> None:
    if not _HOOKED:
        sys.addaudithook(_audit)
        _HOOKED.append(True)
    _CONNECTS.clear()
    _RECORDING.set()
    try:
        rig = open_training(PRODUCTION, load_scenario(DRILL), data_dir=tmp_path)
        thread = EngineThread(OutageEngine(rig.engine_config, rig.db.sessions))
        thread.start()
        try:
            rig.replayer.set_speed(60)
            rig.replayer.seek(700)
            rig.replayer.play()

            def stored() -> int:
                with rig.db.sessions() as s:
                    return s.scalar(select(func.count()).select_from(InboundMessage)) or 0

            wait_until(lambda: stored() >= 15, 30, "texts stored", stored)
            wait_until(lambda: rig.sim.oms.requests != [], 30, "a report sent to the OMS")
        finally:
            assert thread.stop(30)
            rig.close()
    finally:
        _RECORDING.clear()
    connects = [address for event, address in _CONNECTS if event == "socket.connect"]
    assert connects, "the audit hook saw no connection at all"
    assert [a for _, a in _CONNECTS if not _is_loopback(a)] == []


def test_the_loopback_check_of_the_hook_tells_addresses_apart() -> None:
    assert _is_loopback(("127.0.0.1", 80))
    assert _is_loopback(("::1", 80, 0, 0))
    assert _is_loopback("/tmp/.s.PGSQL.5432")
    assert not _is_loopback(("10.0.0.1", 80))
    assert not _is_loopback("oms.example.com")
