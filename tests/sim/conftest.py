"""Fixtures for the simulator tests: real servers on loopback, real httpx clients.

Helpers are fixtures (not an importable module): the suite runs with --import-mode=importlib
and only tests/ itself is on sys.path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from outagedesk.sim import SimGateway, SimOms

GATEWAY_TOKEN = "gw-test-token"
OMS_TOKEN = "oms-test-token"

ClientFactory = Callable[..., httpx.Client]


def _make_client(base_url: str, token: str | None, timeout: float = 10.0) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    # trust_env=False: a proxy from the environment must never see loopback test traffic.
    return httpx.Client(base_url=base_url, headers=headers, timeout=timeout, trust_env=False)


@pytest.fixture
def make_client() -> ClientFactory:
    """``make_client(base_url, token, timeout=10.0)``: an httpx.Client the caller closes."""
    return _make_client


@pytest.fixture
def gateway_token() -> str:
    return GATEWAY_TOKEN


@pytest.fixture
def oms_token() -> str:
    return OMS_TOKEN


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    before = {t.ident for t in threading.enumerate()}
    yield
    deadline = time.monotonic() + 5
    while True:
        leaked = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not leaked, f"threads left running: {[t.name for t in leaked]}"


@pytest.fixture
def gateway() -> Iterator[SimGateway]:
    with SimGateway(token=GATEWAY_TOKEN) as gw:
        yield gw


@pytest.fixture
def gw_client(gateway: SimGateway) -> Iterator[httpx.Client]:
    with _make_client(gateway.url, GATEWAY_TOKEN) as client:
        yield client


@pytest.fixture
def oms() -> Iterator[SimOms]:
    with SimOms(
        token=OMS_TOKEN, known_phones=["+15055550101", "7205550142"], known_accounts=["1002"]
    ) as server:
        yield server


@pytest.fixture
def oms_client(oms: SimOms) -> Iterator[httpx.Client]:
    with _make_client(oms.url, OMS_TOKEN) as client:
        yield client
