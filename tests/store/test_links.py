"""Phone look-ups: what each link resolves to, including what the session has not flushed."""

from __future__ import annotations

from sqlalchemy.orm import Session

from outagedesk.store.links import link_targets
from outagedesk.store.models import PhoneLink, ServiceLocation

from dbsupport import DbUnderTest

PHONE = "+15055550123"


def _location(s: Session, location: str, account: str, meter: str, *, life: bool = False) -> None:
    s.add(ServiceLocation(service_location_id=location, account_number=account, meter_id=meter,
                          life_support=life))  # fmt: skip


def _link(s: Session, phone: str, account: str, location: str | None) -> None:
    s.add(PhoneLink(phone=phone, account_number=account, service_location_id=location,
                    source="dispatcher"))  # fmt: skip


def test_a_link_added_in_the_same_session_is_found_before_any_flush(db: DbUnderTest) -> None:
    with db.sessions() as s:
        _location(s, "SL-1", "A-1", "M-1", life=True)
        _link(s, PHONE, "A-1", "SL-1")
        _link(s, PHONE, "A-2", None)
        found = link_targets(s, [PHONE, "+15055550199"])
    assert sorted(found) == [PHONE]
    by_account = {t.account_number: t for t in found[PHONE]}
    assert by_account["A-1"].meter_id == "M-1"
    assert by_account["A-1"].life_support is True
    assert by_account["A-2"].service_location_id is None
    assert by_account["A-2"].life_support is False


def test_a_whole_account_link_is_life_support_when_any_of_its_locations_is(
    db: DbUnderTest,
) -> None:
    with db.sessions() as s:
        _location(s, "SL-1", "A-1", "M-1")
        _location(s, "SL-2", "A-1", "M-2", life=True)
        _location(s, "SL-3", "A-2", "M-3")
        _link(s, PHONE, "A-1", None)
        _link(s, PHONE, "A-2", None)
        _link(s, PHONE, "A-1", "SL-1")
        s.commit()
        found = link_targets(s, [PHONE])
    life = {(t.account_number, t.service_location_id): t.life_support for t in found[PHONE]}
    assert life == {("A-1", None): True, ("A-2", None): False, ("A-1", "SL-1"): False}


def test_a_link_to_a_location_that_moved_to_another_account_has_no_meter(
    db: DbUnderTest,
) -> None:
    with db.sessions() as s:
        _location(s, "SL-1", "A-9", "M-1", life=True)  # the directory now puts SL-1 under A-9
        _link(s, PHONE, "A-1", "SL-1")
        s.commit()
        [target] = link_targets(s, [PHONE])[PHONE]
    assert (target.account_number, target.service_location_id) == ("A-1", "SL-1")
    assert target.meter_id is None
    assert target.life_support is False
