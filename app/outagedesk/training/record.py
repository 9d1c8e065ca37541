"""Turning a time range of the real feed into a scenario without any customer data.

Every phone number, customer name, account number, service location ID, meter ID and address
is replaced, consistently, by a fake one, in the directory rows and inside the texts; the
texts' wording and timing are kept.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from outagedesk.training.scenario import Scenario


def record_scenario(
    session: Session, start: datetime, end: datetime, *, title: str, seed: int
) -> Scenario:
    """The inbound texts in [start, end) as an anonymised scenario (fakes drawn from ``seed``)."""
    raise NotImplementedError
