from datetime import UTC, datetime

import pytest

from outagedesk.gateway.contract import GatewayMessage, PageShapeError, parse_message, parse_page

GOOD = {
    "id": "m-000123",
    "from": "5055550123",
    "to": "85700",
    "body": "OUT tree on line",
    "received_at": "2026-11-24T10:15:03Z",
    "carrier": "31003",
    "keyword": "OUT",
    "tags": ["north", "acct-1002"],
}


def test_a_good_message_is_normalised() -> None:
    msg = parse_message(GOOD, "US")
    assert isinstance(msg, GatewayMessage)
    assert msg.phone == "+15055550123"
    assert msg.received_at == datetime(2026, 11, 24, 10, 15, 3, tzinfo=UTC)
    assert msg.tags == ("north", "acct-1002")
    assert msg.raw is GOOD


def test_offsets_are_converted_to_utc() -> None:
    msg = parse_message({**GOOD, "received_at": "2026-11-24T03:15:03-07:00"}, "US")
    assert isinstance(msg, GatewayMessage)
    assert msg.received_at == datetime(2026, 11, 24, 10, 15, 3, tzinfo=UTC)


def test_optional_fields_may_be_null_or_absent() -> None:
    bare = {k: GOOD[k] for k in ("id", "from", "to", "body", "received_at")}
    msg = parse_message({**bare, "carrier": None, "keyword": None}, "US")
    assert isinstance(msg, GatewayMessage)
    assert msg.carrier is None
    assert msg.tags == ()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": None}, "id"),
        ({"id": ""}, "id"),
        ({"id": "x" * 129}, "id"),
        ({"from": "not-a-phone"}, "phone"),
        ({"from": None}, "from"),
        ({"to": ""}, "to"),
        ({"body": 42}, "body"),
        ({"body": "x" * 1601}, "1600"),
        ({"received_at": "yesterday"}, "Invalid isoformat"),
        ({"received_at": "2026-11-24T10:15:03"}, "offset"),
        ({"received_at": "2026-11-24"}, "offset"),
        ({"received_at": 1732443303}, "received_at"),
        ({"tags": "north"}, "tags"),
        ({"tags": ["x" * 76]}, "75"),
        ({"carrier": 31003}, "carrier"),
    ],
)
def test_each_broken_rule_is_rejected_with_a_reason(change: dict[str, object], reason: str) -> None:
    result = parse_message({**GOOD, **change}, "US")
    assert not isinstance(result, GatewayMessage)
    assert reason in result.reason
    assert result.raw == {**GOOD, **change}


def test_unicode_bodies_survive() -> None:
    body = "OUT 🌩️ sin luz\nen la calle Ñandú"
    msg = parse_message({**GOOD, "body": body}, "US")
    assert isinstance(msg, GatewayMessage)
    assert msg.body == body


def test_a_page_splits_good_from_rejected_and_keeps_going() -> None:
    page = parse_page(
        {"messages": [GOOD, "junk", {**GOOD, "id": None}], "next_cursor": "c-3", "has_more": True}
    )
    assert [m.id for m in page.messages] == ["m-000123"]
    assert [r.reason for r in page.rejected] == [
        "message is not a JSON object",
        "id is missing or not 1..128 characters",
    ]
    assert page.next_cursor == "c-3"
    assert page.has_more
    assert page.count == 3


@pytest.mark.parametrize(
    "data", [None, [], {"messages": "x"}, {"next_cursor": "c"}, {"messages": [], "next_cursor": 5}]
)
def test_a_page_of_the_wrong_shape_is_an_error(data: object) -> None:
    with pytest.raises(PageShapeError):
        parse_page(data)
