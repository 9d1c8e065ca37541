"""The simulated gateway against gateway-api.md v1, over real HTTP."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from outagedesk.sim import SimGateway

ClientFactory = Callable[..., httpx.Client]

PHONE = "+15055550123"


def _page(client: httpx.Client, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/inbound", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _add(gateway: SimGateway, count: int, phone: str = PHONE) -> list[str]:
    return [gateway.add_message(from_=phone, body=f"OUT {i}", keyword="OUT") for i in range(count)]


def test_ids_are_sequential_and_fields_follow_the_spec(
    gateway: SimGateway, gw_client: httpx.Client
) -> None:
    first = gateway.add_message(
        from_=PHONE,
        body="OUT tree on line",
        keyword="OUT",
        tags=["north", "acct-1002"],
        received_at=datetime(2026, 11, 24, 10, 15, 3, tzinfo=UTC),
    )
    second = gateway.add_message(from_="5755550177", body="hola 🙂\nsin luz", carrier=None)
    assert (first, second) == ("m-000001", "m-000002")
    assert gateway.messages_added == 2
    messages = _page(gw_client)["messages"]
    assert messages[0] == {
        "id": "m-000001",
        "from": PHONE,
        "to": "85700",
        "body": "OUT tree on line",
        "received_at": "2026-11-24T10:15:03Z",
        "carrier": "31003",
        "keyword": "OUT",
        "tags": ["north", "acct-1002"],
    }
    assert messages[1]["body"] == "hola 🙂\nsin luz"
    assert messages[1]["carrier"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", messages[1]["received_at"])


def test_cursor_paging_and_has_more(gateway: SimGateway, gw_client: httpx.Client) -> None:
    ids = _add(gateway, 5)
    seen: list[str] = []
    cursor: str | None = None
    pages = []
    for _ in range(10):  # bounded: 3 pages expected
        params: dict[str, Any] = {"limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        page = _page(gw_client, **params)
        pages.append(page)
        seen += [m["id"] for m in page["messages"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert seen == ids
    assert [p["has_more"] for p in pages] == [True, True, False]
    assert [p["next_cursor"] for p in pages] == ["c-2", "c-4", "c-5"]
    # An empty page keeps the cursor; new messages show up behind it.
    empty = _page(gw_client, cursor=cursor)
    assert empty == {"messages": [], "next_cursor": cursor, "has_more": False}
    later = gateway.add_message(from_=PHONE, body="OUT again")
    assert [m["id"] for m in _page(gw_client, cursor=cursor)["messages"]] == [later]


def test_omitted_cursor_reads_from_the_oldest(gateway: SimGateway, gw_client: httpx.Client) -> None:
    ids = _add(gateway, 3)
    assert [m["id"] for m in _page(gw_client)["messages"]] == ids
    assert [m["id"] for m in _page(gw_client, cursor="")["messages"]] == ids


def test_limit_is_clamped(gateway: SimGateway, gw_client: httpx.Client) -> None:
    _add(gateway, 1005)
    assert len(_page(gw_client, limit=0)["messages"]) == 1
    assert len(_page(gw_client)["messages"]) == 100
    page = _page(gw_client, limit=5000)
    assert len(page["messages"]) == 1000
    assert page["has_more"] is True


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"cursor": "bogus"}, "bad_cursor"),
        ({"cursor": "c-x"}, "bad_cursor"),
        ({"cursor": "c-99"}, "unknown_cursor"),
        ({"limit": "many"}, "bad_request"),
        ({"wait": "soon"}, "bad_request"),
    ],
)
def test_bad_parameters_get_400(
    gateway: SimGateway, gw_client: httpx.Client, params: dict[str, str], error: str
) -> None:
    _add(gateway, 2)
    response = gw_client.get("/v1/inbound", params=params)
    assert response.status_code == 400
    assert response.json()["error"] == error


def test_long_poll_returns_early_when_a_message_arrives(
    gateway: SimGateway, gw_client: httpx.Client
) -> None:
    def add_later() -> None:
        time.sleep(0.3)
        gateway.add_message(from_=PHONE, body="OUT")

    adder = threading.Thread(target=add_later)
    started = time.monotonic()
    adder.start()
    try:
        page = _page(gw_client, wait=20)
    finally:
        adder.join(5)
    elapsed = time.monotonic() - started
    assert elapsed < 5
    assert [m["body"] for m in page["messages"]] == ["OUT"]


def test_long_poll_times_out_with_an_empty_page(
    gateway: SimGateway, gw_client: httpx.Client
) -> None:
    _add(gateway, 1)
    started = time.monotonic()
    page = _page(gw_client, cursor="c-1", wait=0.5)
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 5
    assert page == {"messages": [], "next_cursor": "c-1", "has_more": False}


def test_stop_releases_a_pending_long_poll(make_client: ClientFactory, gateway_token: str) -> None:
    gateway = SimGateway(token=gateway_token)
    gateway.start()
    outcome: list[object] = []

    def poll() -> None:
        with make_client(gateway.url, gateway_token) as client:
            try:
                outcome.append(client.get("/v1/inbound", params={"wait": 30}).status_code)
            except httpx.HTTPError as exc:
                outcome.append(exc)

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.3)
    started = time.monotonic()
    gateway.stop()
    poller.join(10)
    assert not poller.is_alive()
    assert time.monotonic() - started < 5
    assert outcome


def test_bad_or_missing_token_gets_401(gateway: SimGateway, make_client: ClientFactory) -> None:
    with make_client(gateway.url, "wrong") as bad, make_client(gateway.url, None) as none:
        assert bad.get("/v1/inbound").status_code == 401
        assert none.get("/v1/inbound").status_code == 401
        assert bad.post("/v1/outbound", json={}).status_code == 401
        assert bad.get(f"/v1/optins/{PHONE}").status_code == 401


def test_changing_the_token_revokes_the_old_one(
    gateway: SimGateway, gw_client: httpx.Client, make_client: ClientFactory
) -> None:
    assert gw_client.get("/v1/inbound").status_code == 200
    gateway.token = "rotated"
    assert gw_client.get("/v1/inbound").status_code == 401
    with make_client(gateway.url, "rotated") as client:
        assert client.get("/v1/inbound").status_code == 200


def test_inbound_requests_counts_every_answer(
    gateway: SimGateway, gw_client: httpx.Client, make_client: ClientFactory
) -> None:
    gateway.fail_next(500)
    gw_client.get("/v1/inbound")
    gw_client.get("/v1/inbound")
    with make_client(gateway.url, "wrong") as bad:
        bad.get("/v1/inbound")
    gw_client.post("/v1/outbound", json={})
    assert gateway.inbound_requests == 3


def test_fail_next(gateway: SimGateway, gw_client: httpx.Client) -> None:
    gateway.fail_next(503, count=2)
    assert [gw_client.get("/v1/inbound").status_code for _ in range(3)] == [503, 503, 200]
    gateway.fail_next()
    response = gw_client.get("/v1/inbound")
    assert response.status_code == 500
    assert "error" in response.json()


def test_faults_wait_for_an_authorised_request(
    gateway: SimGateway, gw_client: httpx.Client, make_client: ClientFactory
) -> None:
    gateway.fail_next(500)
    with make_client(gateway.url, "wrong") as bad:
        assert bad.get("/v1/inbound").status_code == 401
    assert gw_client.get("/v1/inbound").status_code == 500
    assert gw_client.get("/v1/inbound").status_code == 200


def test_faults_are_served_in_order(gateway: SimGateway, gw_client: httpx.Client) -> None:
    gateway.throttle_next(0.2)
    gateway.garbage_next()
    gateway.fail_next(502)
    statuses = [gw_client.get("/v1/inbound").status_code for _ in range(4)]
    assert statuses == [429, 200, 502, 200]


def test_throttle_next_sends_retry_after(gateway: SimGateway, gw_client: httpx.Client) -> None:
    gateway.throttle_next(retry_after=2.5, count=2)
    for _ in range(2):
        response = gw_client.get("/v1/inbound")
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "3"
    assert gw_client.get("/v1/inbound").status_code == 200


def test_garbage_next_is_not_json(gateway: SimGateway, gw_client: httpx.Client) -> None:
    gateway.garbage_next()
    response = gw_client.get("/v1/inbound")
    assert response.status_code == 200
    assert response.text == "<html>oops"
    with pytest.raises(ValueError, match="Expecting value"):
        response.json()
    assert gw_client.get("/v1/inbound").json()["messages"] == []


def test_delay_next_provokes_a_client_timeout(
    gateway: SimGateway, make_client: ClientFactory, gateway_token: str
) -> None:
    gateway.delay_next(2.0)
    with make_client(gateway.url, gateway_token, timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.get("/v1/inbound")
        started = time.monotonic()
        assert client.get("/v1/inbound").status_code == 200
        assert time.monotonic() - started < 0.3


def test_set_down_answers_503_to_everything(gateway: SimGateway, gw_client: httpx.Client) -> None:
    gateway.set_down(True)
    assert gw_client.get("/v1/inbound").status_code == 503
    outbound = {"to": PHONE, "body": "hi", "in_reply_to": None, "idempotency_key": "k"}
    assert gw_client.post("/v1/outbound", json=outbound).status_code == 503
    assert gw_client.get(f"/v1/optins/{PHONE}").status_code == 503
    gateway.set_down(False)
    assert gw_client.get("/v1/inbound").status_code == 200


def test_redeliver_next_repeats_messages(gateway: SimGateway, gw_client: httpx.Client) -> None:
    ids = _add(gateway, 5)
    first = _page(gw_client)
    assert first["next_cursor"] == "c-5"
    gateway.redeliver_next(2)
    again = _page(gw_client, cursor="c-5")
    assert [m["id"] for m in again["messages"]] == ids[3:]
    assert again["next_cursor"] == "c-5"
    assert _page(gw_client, cursor="c-5")["messages"] == []


def test_add_raw_is_delivered_as_is(gateway: SimGateway, gw_client: httpx.Client) -> None:
    gateway.add_raw({"from": "not-a-number", "body": 12345, "received_at": "yesterday"})
    gateway.add_message(from_=PHONE, body="OUT")
    messages = _page(gw_client)["messages"]
    assert messages[0] == {"from": "not-a-number", "body": 12345, "received_at": "yesterday"}
    assert messages[1]["id"] == "m-000002"
    assert gateway.messages_added == 2


# -- outbound ---------------------------------------------------------------------------------
def _send(
    client: httpx.Client, key: str, to: str = PHONE, in_reply_to: str | None = None
) -> httpx.Response:
    return client.post(
        "/v1/outbound",
        json={"to": to, "body": "Thanks, we are on it.", "in_reply_to": in_reply_to,
              "idempotency_key": key},
    )  # fmt: skip


def test_outbound_is_idempotent(gateway: SimGateway, gw_client: httpx.Client) -> None:
    first = _send(gw_client, "k-1")
    assert first.status_code == 202
    assert first.json() == {"id": "o-1", "status": "queued"}
    again = _send(gw_client, "k-1")
    assert again.status_code == 202
    assert again.json() == first.json()
    assert _send(gw_client, "k-2").json()["id"] == "o-2"
    sent = gateway.outbound
    assert [o["idempotency_key"] for o in sent] == ["k-1", "k-2"]
    assert sent[0] == {
        "id": "o-1",
        "to": PHONE,
        "body": "Thanks, we are on it.",
        "in_reply_to": None,
        "idempotency_key": "k-1",
    }


@pytest.mark.parametrize(
    "payload",
    [
        {"body": "x", "idempotency_key": "k"},
        {"to": PHONE, "idempotency_key": "k"},
        {"to": PHONE, "body": "x"},
        {"to": "not-a-phone", "body": "x", "idempotency_key": "k"},
        {"to": PHONE, "body": 5, "idempotency_key": "k"},
        {"to": PHONE, "body": "x", "idempotency_key": "k", "in_reply_to": 7},
        {"to": PHONE, "body": "x" * 1601, "idempotency_key": "k"},
        ["not", "an", "object"],
    ],
)
def test_outbound_rejects_invalid_requests(
    gateway: SimGateway, gw_client: httpx.Client, payload: object
) -> None:
    response = gw_client.post("/v1/outbound", json=payload)
    assert response.status_code == 422
    assert set(response.json()) == {"error", "detail"}
    assert gateway.outbound == []


def test_outbound_rejects_bad_json(gw_client: httpx.Client) -> None:
    response = gw_client.post(
        "/v1/outbound", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422


def test_outbound_after_stop_is_409_except_the_one_confirmation(
    gateway: SimGateway, gw_client: httpx.Client
) -> None:
    gateway.add_message(from_=PHONE, body="OUT", keyword="OUT")
    assert _send(gw_client, "before").status_code == 202
    stop_id = gateway.add_message(from_="5055550123", body=" stop ", keyword="STOP")
    refused = _send(gw_client, "after")
    assert refused.status_code == 409
    assert refused.json() == {"error": "opted_out"}
    # The single confirmation answering the STOP itself may go, once.
    assert _send(gw_client, "confirm", in_reply_to=stop_id).status_code == 202
    assert _send(gw_client, "confirm-2", in_reply_to=stop_id).status_code == 409
    # A repeat of an accepted key still answers the same.
    assert _send(gw_client, "before").status_code == 202
    gateway.add_message(from_=PHONE, body="START", keyword="START")
    assert _send(gw_client, "after-start").status_code == 202


def test_help_reply_reaches_an_opted_out_number(
    gateway: SimGateway, gw_client: httpx.Client
) -> None:
    gateway.add_message(from_=PHONE, body="OUT")
    gateway.add_message(from_=PHONE, body="QUIT")
    help_id = gateway.add_message(from_=PHONE, body="help")
    assert _send(gw_client, "help-reply", in_reply_to=help_id).status_code == 202
    assert _send(gw_client, "promo").status_code == 409


def test_texting_the_program_keyword_opts_back_in(
    gateway: SimGateway, gw_client: httpx.Client
) -> None:
    gateway.add_message(from_=PHONE, body="OPT OUT")
    assert _send(gw_client, "a").status_code == 409
    gateway.add_message(from_=PHONE, body="OUT tree on line")
    assert _send(gw_client, "b").status_code == 202


# -- opt-in registry --------------------------------------------------------------------------
def test_optin_registry_tracks_keywords_and_tags(
    gateway: SimGateway, gw_client: httpx.Client
) -> None:
    gateway.add_message(from_=PHONE, body="OUT tree on line", tags=["north"])
    gateway.add_message(from_="5055550123", body="#out", tags=["acct-1002"])
    gateway.add_message(from_=PHONE, body="Out - pole damage", tags=["acct-1002"])
    gateway.add_message(from_=PHONE, body="status?")
    for path in (f"/v1/optins/{PHONE}", "/v1/optins/%2B15055550123", "/v1/optins/5055550123"):
        response = gw_client.get(path)
        assert response.status_code == 200, path
        entry = response.json()
        assert entry["phone"] == PHONE
        by_keyword = {k["keyword"]: k for k in entry["keywords"]}
        assert set(by_keyword) == {"OUT", "#OUT", "STATUS"}
        assert {k["status"] for k in entry["keywords"]} == {"opted_in"}
        assert by_keyword["OUT"]["tags"] == ["north", "acct-1002"]
        assert by_keyword["#OUT"]["tags"] == ["acct-1002"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", by_keyword["OUT"]["since"])


def test_stop_family_matches_the_whole_message_only(
    gateway: SimGateway, gw_client: httpx.Client
) -> None:
    gateway.add_message(from_=PHONE, body="OUT")
    gateway.add_message(from_=PHONE, body="Stop sending me these messages")
    assert gw_client.get(f"/v1/optins/{PHONE}").json()["keywords"][0]["status"] == "opted_in"
    gateway.add_message(from_=PHONE, body="alto")
    assert gw_client.get(f"/v1/optins/{PHONE}").json()["keywords"][0]["status"] == "opted_out"
    gateway.add_message(from_=PHONE, body="INICIO")
    assert gw_client.get(f"/v1/optins/{PHONE}").json()["keywords"][0]["status"] == "opted_in"


def test_optin_unknown_number_is_404(gateway: SimGateway, gw_client: httpx.Client) -> None:
    assert gw_client.get("/v1/optins/%2B13035550188").status_code == 404
    assert gw_client.get("/v1/optins/garbage").status_code == 404
    response = gw_client.post("/v1/optins/%2B13035550188/opt-out", json={"keyword": None})
    assert response.status_code == 404


def test_forced_opt_out_of_one_keyword_and_of_all(
    gateway: SimGateway, gw_client: httpx.Client
) -> None:
    gateway.add_message(from_=PHONE, body="OUT")
    gateway.add_message(from_=PHONE, body="STATUS")
    one = gw_client.post("/v1/optins/%2B15055550123/opt-out", json={"keyword": "status"})
    assert one.status_code == 200
    statuses = {k["keyword"]: k["status"] for k in one.json()["keywords"]}
    assert statuses == {"OUT": "opted_in", "STATUS": "opted_out"}
    every = gw_client.post(f"/v1/optins/{PHONE}/opt-out", json={"keyword": None})
    assert every.status_code == 200
    assert {k["status"] for k in every.json()["keywords"]} == {"opted_out"}
    assert [(r["phone"], r["keyword"]) for r in gateway.opt_out_requests] == [
        (PHONE, "STATUS"),
        (PHONE, None),
    ]
    assert _send(gw_client, "after-forced").status_code == 409


def test_forced_opt_out_rejects_a_bad_body(gateway: SimGateway, gw_client: httpx.Client) -> None:
    gateway.add_message(from_=PHONE, body="OUT")
    assert gw_client.post(f"/v1/optins/{PHONE}/opt-out", content=b"nope").status_code == 422
    assert gw_client.post(f"/v1/optins/{PHONE}/opt-out", json={"keyword": 3}).status_code == 422
    assert gateway.opt_out_requests == []


def test_unknown_route_is_404(gw_client: httpx.Client) -> None:
    assert gw_client.get("/v2/inbound").status_code == 404
    assert gw_client.post("/v1/inbound").status_code == 405


def test_restart_keeps_port_and_messages(make_client: ClientFactory, gateway_token: str) -> None:
    gateway = SimGateway(token=gateway_token)
    with gateway:
        url = gateway.url
        gateway.add_message(from_=PHONE, body="OUT")
    with pytest.raises(RuntimeError):
        _ = gateway.url
    with gateway, make_client(gateway.url, gateway_token) as client:
        assert gateway.url == url
        assert len(client.get("/v1/inbound").json()["messages"]) == 1


def test_only_loopback_hosts_are_allowed() -> None:
    with pytest.raises(ValueError, match="loopback"):
        SimGateway(host="0.0.0.0")
    with pytest.raises(ValueError, match="loopback"):
        SimGateway(host="example.org")


def test_many_keep_alive_requests_and_concurrent_clients(
    gateway: SimGateway, make_client: ClientFactory, gateway_token: str
) -> None:
    _add(gateway, 10)
    errors: list[Exception] = []

    def reader() -> None:
        try:
            with make_client(gateway.url, gateway_token) as client:
                for _ in range(50):
                    assert len(client.get("/v1/inbound").json()["messages"]) == 10
        except (AssertionError, httpx.HTTPError) as exc:  # reported by the main thread
            errors.append(exc)

    readers = [threading.Thread(target=reader) for _ in range(4)]
    for thread in readers:
        thread.start()
    for thread in readers:
        thread.join(30)
    assert not errors
    assert gateway.inbound_requests == 200
