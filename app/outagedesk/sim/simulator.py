"""Gateway + OMS + directory + traffic in one object, for the demo, trainers and tests."""

from __future__ import annotations

import random
from types import TracebackType
from typing import Self

from outagedesk.sim.directory import DirectoryRow, generate_directory
from outagedesk.sim.gateway import SimGateway
from outagedesk.sim.oms import SimOms
from outagedesk.sim.traffic import TrafficGenerator, TrafficMix

# Share of directory phones the OMS has on record; the rest is the gap the console closes.
OMS_KNOWN_SHARE = 0.85


class Simulator:
    def __init__(
        self,
        *,
        seed: int = 1,
        directory_size: int = 200,
        gateway_token: str = "sim-gateway-token",  # noqa: S107 - fake, loopback only
        oms_token: str = "sim-oms-token",  # noqa: S107 - fake, loopback only
        host: str = "127.0.0.1",
        gateway_port: int = 0,
        oms_port: int = 0,
        mix: TrafficMix | None = None,
    ) -> None:
        self.seed = seed
        self._gateway_token = gateway_token
        self._oms_token = oms_token
        self.directory: list[DirectoryRow] = list(generate_directory(directory_size, seed))
        phones = sorted({phone for row in self.directory for phone in row.phones})
        random.Random(f"oms-known-{seed}").shuffle(phones)
        unknown = max(1, round(len(phones) * (1 - OMS_KNOWN_SHARE))) if len(phones) > 1 else 0
        # Directory phones the OMS has no record of: texts from them come back number_not_found.
        self.oms_unknown_phones: list[str] = sorted(phones[:unknown])
        self.gateway = SimGateway(gateway_token, host, gateway_port)
        self.oms = SimOms(
            oms_token,
            known_phones=phones[unknown:],
            known_accounts={row.account_number for row in self.directory},
            host=host,
            port=oms_port,
        )
        self.traffic = TrafficGenerator(self.directory, seed, mix)

    @property
    def gateway_url(self) -> str:
        return self.gateway.url

    @property
    def oms_url(self) -> str:
        return self.oms.url

    # The tokens handed to the console: changing gateway.token / oms.token afterwards models a
    # revoked credential, so these keep the original values.
    @property
    def gateway_token(self) -> str:
        return self._gateway_token

    @property
    def oms_token(self) -> str:
        return self._oms_token

    def start(self) -> None:
        self.gateway.start()
        try:
            self.oms.start()
        except BaseException:
            self.gateway.stop()
            raise

    def stop(self) -> None:
        self.traffic.stop()
        self.gateway.stop()
        self.oms.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
