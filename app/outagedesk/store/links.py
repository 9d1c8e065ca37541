"""Phone → account/location look-ups used when a report is created or re-sent."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from outagedesk.domain.reports import LinkTarget
from outagedesk.store.models import PhoneLink, ServiceLocation


def link_targets(session: Session, phones: Collection[str]) -> dict[str, list[LinkTarget]]:
    """Every account/location each phone is linked to, in two indexed queries."""
    if not phones:
        return {}
    links = session.execute(
        select(PhoneLink.phone, PhoneLink.account_number, PhoneLink.service_location_id).where(
            PhoneLink.phone.in_(phones)
        )
    ).all()
    if not links:
        return {}
    accounts = {account for _, account, _ in links}
    locations = session.execute(
        select(
            ServiceLocation.account_number,
            ServiceLocation.service_location_id,
            ServiceLocation.meter_id,
            ServiceLocation.life_support,
        ).where(ServiceLocation.account_number.in_(accounts))
    ).all()
    by_location = {loc: (meter, life) for _, loc, meter, life in locations}
    account_life: dict[str, bool] = defaultdict(bool)
    for account, _, _, life in locations:
        account_life[account] |= life
    found: dict[str, list[LinkTarget]] = defaultdict(list)
    for phone, account, location in links:
        if location is None:
            found[phone].append(LinkTarget(account, None, None, account_life[account]))
        else:
            meter, life = by_location.get(location, (None, False))
            found[phone].append(LinkTarget(account, location, meter, life))
    return found
