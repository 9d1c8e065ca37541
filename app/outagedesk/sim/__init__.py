"""Simulated SMS gateway and OMS on loopback, a fake customer directory and text traffic."""

from outagedesk.sim.directory import DirectoryRow, generate_directory, write_directory_csv
from outagedesk.sim.gateway import SimGateway
from outagedesk.sim.oms import SimOms
from outagedesk.sim.simulator import Simulator
from outagedesk.sim.traffic import TrafficGenerator, TrafficMix

__all__ = [
    "DirectoryRow",
    "SimGateway",
    "SimOms",
    "Simulator",
    "TrafficGenerator",
    "TrafficMix",
    "generate_directory",
    "write_directory_csv",
]
