"""The whole simulator: directory, OMS records, both servers, and a trip through both APIs."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from outagedesk.sim import Simulator, TrafficMix

ClientFactory = Callable[..., httpx.Client]


def test_oms_knows_most_directory_phones_and_every_account() -> None:
    sim = Simulator(seed=2, directory_size=400)
    phones = sorted({phone for row in sim.directory for phone in row.phones})
    known = [phone for phone in phones if sim.oms.knows_phone(phone)]
    assert 0.8 * len(phones) <= len(known) < len(phones)
    assert sorted(set(phones) - set(known)) == sim.oms_unknown_phones
    again = Simulator(seed=2, directory_size=400)
    assert again.oms_unknown_phones == sim.oms_unknown_phones
    assert again.directory == sim.directory


def test_start_stop_and_a_round_trip(make_client: ClientFactory) -> None:
    with Simulator(seed=3, directory_size=50, gateway_token="g", oms_token="o") as sim:
        assert sim.gateway_url.startswith("http://127.0.0.1:")
        assert sim.oms_url.startswith("http://127.0.0.1:")
        assert sim.oms_url.endswith("/v1/reports")
        assert (sim.gateway_token, sim.oms_token) == ("g", "o")
        sim.traffic.feed(sim.gateway, 20)
        unknown = sim.oms_unknown_phones[0]
        sim.gateway.add_message(from_=unknown, body="OUT")
        with make_client(sim.gateway_url, "g") as gw:
            page = gw.get("/v1/inbound", params={"limit": 1000}).json()
        assert len(page["messages"]) == 21
        last = page["messages"][-1]
        row = next(r for r in sim.directory if unknown in r.phones)
        with make_client(sim.oms_url, "o") as oms:
            report = {
                "report_id": "r-1",
                "revision": 1,
                "message_id": last["id"],
                "phone": last["from"],
                "account_number": None,
            }
            first = oms.post(sim.oms_url, json=report, headers={"Idempotency-Key": "r-1.1"})
            assert first.status_code == 404
            linked = {**report, "revision": 2, "account_number": row.account_number}
            second = oms.post(sim.oms_url, json=linked, headers={"Idempotency-Key": "r-1.2"})
            assert second.status_code == 201
        sim.traffic.start(sim.gateway, rate_per_s=50)
    assert not sim.traffic.running
    assert not sim.gateway.running
    assert not sim.oms.running


def test_tokens_are_the_ones_handed_to_the_console() -> None:
    sim = Simulator(directory_size=5)
    assert (sim.gateway_token, sim.oms_token) == ("sim-gateway-token", "sim-oms-token")
    sim.gateway.token = "rotated"
    sim.oms.token = "rotated"
    # The console still holds the old tokens: they are now revoked.
    assert (sim.gateway_token, sim.oms_token) == ("sim-gateway-token", "sim-oms-token")


def test_mix_is_passed_to_the_traffic() -> None:
    sim = Simulator(seed=1, directory_size=10, mix=TrafficMix(malformed=1000))
    assert sum("raw" in sim.traffic.next_message() for _ in range(50)) > 40
