"""The ``sim`` command line: argument parsing only (run() blocks until a signal)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from outagedesk.sim import TrafficGenerator
from outagedesk.sim.cli import add_arguments, mix_for


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sim")
    add_arguments(p)
    return p


def test_defaults() -> None:
    args = parser().parse_args([])
    assert args.seed == 1
    assert args.directory_size == 200
    assert args.rate == 1.0
    assert args.gateway_port == 0
    assert args.oms_port == 0
    assert args.directory_csv is None
    assert args.malformed_share == 0.0


def test_all_options(tmp_path: Path) -> None:
    args = parser().parse_args(
        [
            "--seed", "5", "--directory-size", "1000", "--rate", "2.5",
            "--gateway-port", "8701", "--oms-port", "8702",
            "--directory-csv", str(tmp_path / "d.csv"), "--malformed-share", "0.1",
        ]
    )  # fmt: skip
    assert (args.seed, args.directory_size, args.rate) == (5, 1000, 2.5)
    assert (args.gateway_port, args.oms_port) == (8701, 8702)
    assert args.directory_csv == tmp_path / "d.csv"
    assert args.malformed_share == 0.1


@pytest.mark.parametrize(
    "argv",
    [
        ["--rate", "-1"],
        ["--malformed-share", "1"],
        ["--malformed-share", "-0.1"],
        ["--gateway-port", "70000"],
        ["--seed", "x"],
    ],
)
def test_bad_values_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(argv)
    assert "error" in capsys.readouterr().err


def test_malformed_share_sets_the_mix() -> None:
    assert mix_for(0.0).malformed == 0
    gen = TrafficGenerator([], seed=1, mix=mix_for(0.25))
    raws = sum("raw" in gen.next_message() for _ in range(4000))
    assert 800 < raws < 1200
