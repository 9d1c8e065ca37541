"""Phone look-ups see what the same session has added but not yet flushed."""

from __future__ import annotations

from outagedesk.store.links import link_targets
from outagedesk.store.models import PhoneLink, ServiceLocation

from dbsupport import DbUnderTest

PHONE = "+15055550123"


def test_a_link_added_in_the_same_session_is_found_before_any_flush(db: DbUnderTest) -> None:
    with db.sessions() as s:
        s.add(ServiceLocation(service_location_id="SL-1", account_number="A-1", meter_id="M-1",
                              life_support=True))  # fmt: skip
        s.add(PhoneLink(phone=PHONE, account_number="A-1", service_location_id="SL-1",
                        source="dispatcher"))  # fmt: skip
        s.add(PhoneLink(phone=PHONE, account_number="A-2", service_location_id=None,
                        source="dispatcher"))  # fmt: skip
        found = link_targets(s, [PHONE, "+15055550199"])
    assert sorted(found) == [PHONE]
    by_account = {t.account_number: t for t in found[PHONE]}
    assert by_account["A-1"].meter_id == "M-1"
    assert by_account["A-1"].life_support is True
    assert by_account["A-2"].service_location_id is None
    assert by_account["A-2"].life_support is False
