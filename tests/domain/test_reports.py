from outagedesk.domain.reports import (
    LinkTarget,
    Priority,
    ResolvedLevel,
    choose_link,
    idempotency_key,
    oms_payload,
)


def target(account: str, location: str | None, meter: str | None, life: bool = False) -> LinkTarget:
    return LinkTarget(account, location, meter, life)


def test_resolved_level_follows_what_is_known() -> None:
    assert target("1002", "SL-1002-1", "M-1").resolved_level is ResolvedLevel.METER
    assert target("1002", "SL-1002-1", None).resolved_level is ResolvedLevel.ADDRESS
    assert target("1002", None, None).resolved_level is ResolvedLevel.ADDRESS


def test_one_link_is_used_as_is() -> None:
    only = target("1002", "SL-1002-1", "M-1")
    assert choose_link([only]) is only
    assert choose_link([]) is None


def test_several_locations_of_one_account_resolve_to_the_account_at_address_level() -> None:
    chosen = choose_link([target("1002", "SL-1", "M-1"), target("1002", "SL-2", "M-2", True)])
    assert chosen is not None
    assert chosen.account_number == "1002"
    assert chosen.service_location_id is None
    assert chosen.resolved_level is ResolvedLevel.ADDRESS
    assert chosen.priority is Priority.URGENT


def test_several_accounts_stay_unresolved_for_a_dispatcher() -> None:
    assert choose_link([target("1002", "SL-1", "M-1"), target("2001", "SL-9", "M-9")]) is None


def test_payload_fields_match_the_webhook_contract() -> None:
    payload = oms_payload(
        report_id="r-1",
        revision=2,
        message_id="m-1",
        phone="+15055550123",
        received_at="2026-11-24T10:15:03Z",
        short_code="85700",
        keyword="OUT",
        body="OUT tree on line",
        remarks="tree on line",
        link=target("1002", "SL-1002-1", "M-55123", life=True),
        tags=["north"],
        taken_by="desk-3/jdoe",
    )
    assert payload["resolved_level"] == "Meter"
    assert payload["priority"] == "Urgent"
    assert payload["call_type"] == "sms"
    assert payload["meter_id"] == "M-55123"
    assert idempotency_key("r-1", 2) == "r-1.2"


def test_unlinked_payload_is_unresolved_with_null_link_fields() -> None:
    payload = oms_payload(
        report_id="r-1",
        revision=1,
        message_id="m-1",
        phone="+15055550123",
        received_at="2026-11-24T10:15:03Z",
        short_code="85700",
        keyword="OUT",
        body="OUT",
        remarks="",
        link=None,
        tags=[],
        taken_by="x",
    )
    assert payload["resolved_level"] == "Unresolved"
    assert payload["account_number"] is None
    assert payload["service_location_id"] is None
    assert payload["priority"] == "Normal"
