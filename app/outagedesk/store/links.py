"""Phone → account/location look-ups used when a report is created or re-sent."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection

from sqlalchemy import and_, bindparam, case, exists, select
from sqlalchemy.orm import Session, aliased

from outagedesk.domain.reports import LinkTarget
from outagedesk.store.models import PhoneLink, ServiceLocation

_account = aliased(ServiceLocation)
# One indexed query: each link with its location's meter and life-support flag; a link to a
# whole account is life-support when any of the account's locations is.
_TARGETS = (
    select(
        PhoneLink.phone,
        PhoneLink.account_number,
        PhoneLink.service_location_id,
        ServiceLocation.meter_id,
        case(
            (
                PhoneLink.service_location_id.is_(None),
                exists().where(
                    _account.account_number == PhoneLink.account_number,
                    _account.life_support.is_(True),
                ),
            ),
            else_=ServiceLocation.life_support.is_(True),
        ),
    )
    .select_from(PhoneLink)
    .outerjoin(
        ServiceLocation,
        and_(
            ServiceLocation.service_location_id == PhoneLink.service_location_id,
            ServiceLocation.account_number == PhoneLink.account_number,
        ),
    )
    # Built once, with the phones as one expanding parameter: a statement built per call
    # costs SQLAlchemy a walk of this whole tree to find its cache key, which took longer
    # than SQLite's answer (bench/import_accounts.py: look-up p50 1.2–1.6 → 0.8 ms).
    .where(PhoneLink.phone.in_(bindparam("phones", expanding=True)))
)


def link_targets(session: Session, phones: Collection[str]) -> dict[str, list[LinkTarget]]:
    """Every account/location each phone is linked to.

    A link whose location is no longer the account's in the directory keeps its account and
    location but has no meter (it resolves at address level) and no life-support flag.
    """
    if not phones:
        return {}
    # The columns need no ORM loading: on the session's connection the look-up is 10-20 %
    # faster (bench/import_accounts.py). The autoflush session.execute would do is done here.
    if session.autoflush:
        session.flush()
    rows = session.connection().execute(_TARGETS, {"phones": list(phones)})
    found: dict[str, list[LinkTarget]] = defaultdict(list)
    for phone, account, location, meter, life in rows:
        found[phone].append(LinkTarget(account, location, meter, bool(life)))
    return found
