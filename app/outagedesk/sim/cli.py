"""``outagedesk sim``: run the simulated gateway and OMS until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from types import FrameType

from outagedesk.sim.directory import write_directory_csv
from outagedesk.sim.simulator import Simulator
from outagedesk.sim.traffic import TrafficMix


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number >= 0")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a share in [0, 1)")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--directory-size", type=int, default=200, help="directory rows (default 200)"
    )
    parser.add_argument(
        "--rate",
        type=_non_negative_float,
        default=1.0,
        help="inbound texts per second (default 1.0; 0 = no traffic)",
    )
    parser.add_argument("--gateway-port", type=_port, default=0, help="default: a free port")
    parser.add_argument("--oms-port", type=_port, default=0, help="default: a free port")
    parser.add_argument(
        "--directory-csv", type=Path, default=None, metavar="PATH", help="write the directory CSV"
    )
    parser.add_argument(
        "--malformed-share",
        type=_share,
        default=0.0,
        help="share of inbound messages that break the gateway API (default 0)",
    )


def mix_for(malformed_share: float) -> TrafficMix:
    """The default mix with malformed messages making up ``malformed_share`` of the traffic."""
    mix = TrafficMix()
    others = sum(float(getattr(mix, f.name)) for f in fields(mix) if f.name != "malformed")
    mix.malformed = others * malformed_share / (1 - malformed_share)
    return mix


def run(args: argparse.Namespace) -> int:
    sim = Simulator(
        seed=args.seed,
        directory_size=args.directory_size,
        gateway_port=args.gateway_port,
        oms_port=args.oms_port,
        mix=mix_for(args.malformed_share),
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        sim.start()
        if args.directory_csv is not None:
            count = write_directory_csv(sim.directory, args.directory_csv)
            print(f"directory: {count} rows written to {args.directory_csv}")
        if args.rate > 0:
            sim.traffic.start(sim.gateway, args.rate)
        print(f"gateway: {sim.gateway_url}  (token {sim.gateway_token})")
        print(f"OMS:     {sim.oms_url}  (token {sim.oms_token})")
        print(f"traffic: {args.rate:g} texts/s, seed {args.seed}")
        print("environment for the console:")
        print(f"  OUTAGEDESK_GATEWAY_URL={sim.gateway_url}")
        print(f"  OUTAGEDESK_GATEWAY_TOKEN={sim.gateway_token}")
        print(f"  OUTAGEDESK_OMS_URL={sim.oms_url}")
        print(f"  OUTAGEDESK_OMS_TOKEN={sim.oms_token}")
        print("Ctrl-C to stop.", flush=True)
        # Short waits keep the main thread responsive to signals.
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("simulator stopped.", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m outagedesk.sim", description="Simulated SMS gateway and OMS on loopback."
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
