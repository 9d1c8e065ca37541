"""OutageDesk: a dispatcher console that turns every outage text into an OMS trouble ticket."""

__version__ = "0.1.0"
