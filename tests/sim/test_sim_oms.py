"""The simulated OMS against oms-webhook.md v1, over real HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from outagedesk.sim import SimOms

ClientFactory = Callable[..., httpx.Client]
KNOWN_PHONE = "+15055550101"
UNKNOWN_PHONE = "+12085550150"
NOT_FOUND = {
    "error": "number_not_found",
    "message": "This number does not appear in our records. Please call 1-800-555-0100.",
}


def report(report_id: Any = "r-9f2c", revision: Any = 1, **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "report_id": report_id,
        "revision": revision,
        "message_id": "m-000123",
        "phone": KNOWN_PHONE,
        "received_at": "2026-11-24T10:15:03Z",
        "short_code": "85700",
        "keyword": "OUT",
        "body": "OUT tree on line",
        "remarks": "tree on line",
        "account_number": None,
        "service_location_id": None,
        "meter_id": None,
        "resolved_level": "Unresolved",
        "tags": ["north"],
        "priority": "Normal",
        "call_type": "sms",
        "taken_by": "desk-3/jdoe",
    }
    payload.update(fields)
    return payload


def post(client: httpx.Client, payload: object, key: str | None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(endpoint(client), json=payload, headers=headers)


def endpoint(client: httpx.Client) -> str:
    # httpx appends "/" to a base_url; the OMS endpoint has none.
    return str(client.base_url).rstrip("/")


def test_url_is_the_reports_endpoint(oms: SimOms) -> None:
    assert oms.url.startswith("http://127.0.0.1:")
    assert oms.url.endswith("/v1/reports")


def test_first_revision_creates_a_ticket(oms: SimOms, oms_client: httpx.Client) -> None:
    response = post(oms_client, report(), "r-9f2c.1")
    assert response.status_code == 201
    assert response.json()["ticket_id"] == "T-4401"
    assert response.json()["status"] == "created"
    assert oms.tickets == {"r-9f2c": "T-4401"}
    assert oms.tickets_created == 1
    assert post(oms_client, report("r-2"), "r-2.1").json()["ticket_id"] == "T-4402"


def test_same_key_replays_the_first_answer(oms: SimOms, oms_client: httpx.Client) -> None:
    first = post(oms_client, report(), "r-9f2c.1")
    again = post(oms_client, report(), "r-9f2c.1")
    assert again.status_code == first.status_code == 201
    assert again.content == first.content
    assert oms.replays == 1
    assert oms.tickets_created == 1


def test_new_revision_attaches_to_the_ticket(oms: SimOms, oms_client: httpx.Client) -> None:
    created = post(oms_client, report(revision=1), "r-9f2c.1").json()
    attached = post(
        oms_client,
        report(revision=2, account_number="1002", service_location_id="SL-1002-1"),
        "r-9f2c.2",
    )
    assert attached.status_code == 200
    assert attached.json()["status"] == "attached"
    assert attached.json()["ticket_id"] == created["ticket_id"]
    assert oms.tickets_created == 1
    assert oms.replays == 0


def test_unknown_number_is_not_found_until_linked(oms: SimOms, oms_client: httpx.Client) -> None:
    refused = post(oms_client, report(phone=UNKNOWN_PHONE), "r-9f2c.1")
    assert refused.status_code == 404
    assert refused.json() == NOT_FOUND
    assert oms.tickets == {}
    # The dispatcher links the number: the next revision carries the account.
    linked = post(oms_client, report(revision=2, phone=UNKNOWN_PHONE, account_number="1002"), "k2")
    assert linked.status_code == 201


def test_errors_are_not_stored_under_the_key(oms: SimOms, oms_client: httpx.Client) -> None:
    assert post(oms_client, report(phone=UNKNOWN_PHONE), "k").status_code == 404
    oms.add_known_phone("2085550150")
    assert oms.knows_phone(UNKNOWN_PHONE)
    assert post(oms_client, report(phone=UNKNOWN_PHONE), "k").status_code == 201
    assert oms.replays == 0


def test_known_accounts_can_be_added(oms: SimOms, oms_client: httpx.Client) -> None:
    payload = report(phone=UNKNOWN_PHONE, account_number="1077")
    assert post(oms_client, payload, "a").status_code == 404
    oms.add_known_account("1077")
    assert post(oms_client, payload, "b").status_code == 201


def test_bare_ten_digit_known_phone_matches(oms_client: httpx.Client) -> None:
    # The fixture registered "7205550142" without +1.
    assert post(oms_client, report(phone="+17205550142"), "k").status_code == 201


@pytest.mark.parametrize(
    "payload",
    [
        {k: v for k, v in report().items() if k != "report_id"},
        {k: v for k, v in report().items() if k != "revision"},
        {k: v for k, v in report().items() if k != "phone"},
        {k: v for k, v in report().items() if k != "message_id"},
        report(revision="2"),
        report(revision=True),
        report(revision=0),
        report(report_id=17),
        report(phone=None),
        report(account_number=1002),
        report(tags="north"),
        report(priority="Whenever"),
        report(resolved_level="Street"),
        ["not", "an", "object"],
    ],
)
def test_invalid_reports_get_422(oms: SimOms, oms_client: httpx.Client, payload: object) -> None:
    response = post(oms_client, payload, "k")
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_report"
    assert response.json()["message"]
    assert oms.tickets == {}


def test_body_that_is_not_json_gets_422(oms_client: httpx.Client) -> None:
    response = oms_client.post(
        endpoint(oms_client), content=b"{oops", headers={"Idempotency-Key": "k"}
    )
    assert response.status_code == 422


def test_missing_idempotency_key_gets_400(oms: SimOms, oms_client: httpx.Client) -> None:
    response = post(oms_client, report(), None)
    assert response.status_code == 400
    assert oms.tickets == {}


def test_bad_or_missing_token_gets_401(
    oms: SimOms, oms_client: httpx.Client, make_client: ClientFactory
) -> None:
    with make_client(oms.url, "wrong") as bad, make_client(oms.url, None) as none:
        assert post(bad, report(), "k").status_code == 401
        assert post(none, report(), "k").status_code == 401
    oms.token = "rotated"
    assert post(oms_client, report(), "k").status_code == 401
    with make_client(oms.url, "rotated") as client:
        assert post(client, report(), "k").status_code == 201


def test_fault_then_retry_under_the_same_key_succeeds(
    oms: SimOms, oms_client: httpx.Client
) -> None:
    oms.fail_next(500)
    oms.fail_next(503)
    assert post(oms_client, report(), "r-9f2c.1").status_code == 500
    assert post(oms_client, report(), "r-9f2c.1").status_code == 503
    assert post(oms_client, report(), "r-9f2c.1").status_code == 201
    assert oms.tickets_created == 1
    assert [(key, status) for key, _, status in oms.requests] == [
        ("r-9f2c.1", 500),
        ("r-9f2c.1", 503),
        ("r-9f2c.1", 201),
    ]
    assert all(payload["report_id"] == "r-9f2c" for _, payload, _ in oms.requests)


def test_throttle_garbage_and_down(oms: SimOms, oms_client: httpx.Client) -> None:
    oms.throttle_next(retry_after=1.2)
    throttled = post(oms_client, report(), "k")
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "2"
    oms.garbage_next()
    garbage = post(oms_client, report(), "k")
    assert garbage.status_code == 200
    assert garbage.text == "<html>oops"
    oms.set_down(True)
    assert post(oms_client, report(), "k").status_code == 503
    oms.set_down(False)
    assert post(oms_client, report(), "k").status_code == 201
    assert oms.tickets_created == 1


def test_slow_answer_then_retry_opens_no_second_ticket(
    oms: SimOms, oms_token: str, make_client: ClientFactory
) -> None:
    # The OMS opens the ticket but answers too late; the retry gets the stored answer.
    oms.delay_next(1.0)
    with make_client(oms.url, oms_token, timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            post(client, report(), "r-9f2c.1")
        retried = post(client, report(), "r-9f2c.1")
    assert retried.status_code == 201
    assert oms.tickets_created == 1
    assert oms.replays == 1


def test_other_paths(oms: SimOms, oms_client: httpx.Client, make_client: ClientFactory) -> None:
    base = oms.url.removesuffix("/v1/reports")
    with make_client(base, "wrong") as bad:
        assert bad.get("/v1/other").status_code == 401
    assert oms_client.get(oms.url).status_code == 405
    assert oms_client.post(base + "/v1/other", json={}).status_code == 404
