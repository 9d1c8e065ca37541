"""The traffic generator: repeatable texts of every kind, and a bounded background feed."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import datetime
from typing import Any

import pytest

from outagedesk.sim import (
    DirectoryRow,
    SimGateway,
    TrafficGenerator,
    TrafficMix,
    generate_directory,
)

FAKE_PHONE = re.compile(r"(\+1)?[2-9]\d{2}55501\d{2}")
ONLY = {name: 0.0 for name in TrafficMix().__dataclass_fields__}


def directory() -> list[DirectoryRow]:
    return list(generate_directory(200, seed=4))


def only(kind: str) -> TrafficMix:
    return TrafficMix(**{**ONLY, kind: 1.0})


def signature(message: dict[str, Any]) -> tuple[Any, ...]:
    raw = message.get("raw")
    if raw is not None:
        return ("raw", raw.get("id"), raw.get("from"), repr(raw.get("body")))
    return (message["from_"], message["body"], message["keyword"], tuple(message["tags"]))


def test_same_seed_same_sequence() -> None:
    rows = directory()
    mix = TrafficMix(malformed=3)
    first = signature(TrafficGenerator(rows, 9, mix).next_message())
    a, b = TrafficGenerator(rows, 9, mix), TrafficGenerator(rows, 9, mix)
    seq_a = [signature(a.next_message()) for _ in range(500)]
    seq_b = [signature(b.next_message()) for _ in range(500)]
    assert seq_a == seq_b
    assert seq_a[0] == first
    other = TrafficGenerator(rows, 10, mix)
    assert [signature(other.next_message()) for _ in range(500)] != seq_a


def test_default_mix_has_no_malformed_and_is_mostly_outages() -> None:
    gen = TrafficGenerator(directory(), seed=1)
    messages = [gen.next_message() for _ in range(2000)]
    assert all("raw" not in m for m in messages)
    outages = [m for m in messages if m["keyword"] in ("OUT", "OUTAGE", "#OUT")]
    assert len(outages) > 0.75 * len(messages)
    for message in messages:
        assert set(message) == {"from_", "body", "keyword", "tags"}
        assert FAKE_PHONE.fullmatch(message["from_"]), message


def test_malformed_share_produces_broken_raw_entries() -> None:
    gen = TrafficGenerator(directory(), seed=2, mix=TrafficMix(malformed=20))
    raws = [m["raw"] for m in (gen.next_message() for _ in range(1000)) if "raw" in m]
    assert 100 < len(raws) < 350
    flaws = Counter(_flaw(raw) for raw in raws)
    assert set(flaws) == {"missing id", "bad received_at", "bad from", "body not a string"}
    ids = [raw["id"] for raw in raws if "id" in raw]
    assert len(ids) == len(set(ids))
    # No two broken entries are identical, so a consumer can tell them apart without an id.
    assert len({repr(sorted(raw.items())) for raw in raws}) == len(raws)


def _flaw(raw: dict[str, Any]) -> str:
    if "id" not in raw:
        return "missing id"
    try:
        datetime.fromisoformat(raw["received_at"].replace("Z", "+00:00"))
    except ValueError:
        return "bad received_at"
    if not FAKE_PHONE.fullmatch(raw["from"]):
        return "bad from"
    assert not isinstance(raw["body"], str)
    return "body not a string"


def test_unlinked_outages_come_from_reserved_area_codes() -> None:
    rows = directory()
    listed = {phone for row in rows for phone in row.phones}
    gen = TrafficGenerator(rows, seed=3, mix=only("outage_unlinked"))
    for _ in range(200):
        message = gen.next_message()
        assert re.fullmatch(r"\+1(208|406)55501\d\d", message["from_"])
        assert message["from_"] not in listed
        assert message["keyword"] in ("OUT", "OUTAGE", "#OUT")


def test_outages_come_from_directory_phones_and_name_real_accounts() -> None:
    rows = directory()
    listed = {phone for row in rows for phone in row.phones}
    accounts = {row.account_number for row in rows}
    gen = TrafficGenerator(rows, seed=5, mix=only("outage"))
    bodies = set()
    for _ in range(500):
        message = gen.next_message()
        sender = message["from_"]
        assert (sender if sender.startswith("+") else "+1" + sender) in listed
        bodies.add(message["body"])
        match = re.fullmatch(r"OUT acct (\d+)", message["body"])
        if match:
            assert match.group(1) in accounts
    assert {"OUT", "OUTAGE", "#OUT", "OUT tree on line"} <= bodies
    assert any(body.startswith("OUT acct ") for body in bodies)


def test_repeats_reuse_an_earlier_sender_and_body() -> None:
    gen = TrafficGenerator(
        directory(), seed=6, mix=TrafficMix(**{**ONLY, "outage": 1, "repeat": 1})
    )
    seen: list[tuple[str, str]] = []
    repeats = 0
    for _ in range(300):
        message = gen.next_message()
        pair = (message["from_"], message["body"])
        repeats += pair in seen[-20:]
        seen.append(pair)
    assert repeats > 50


@pytest.mark.parametrize(
    ("kind", "keywords"),
    [
        ("status", {"STATUS", "STAT"}),
        ("help", {"HELP", "INFO"}),
        ("stop", {"STOP", "STOPALL", "END", "CANCEL", "UNSUBSCRIBE", "QUIT", "OPT OUT"}),
        ("start", {"START", "UNSTOP", "YES"}),
        ("revocation", {None}),
        ("unknown", {None}),
        ("spanish", {"ALTO", "AUXILIO", "INICIO", "OUT", "OUTAGE"}),
    ],
)
def test_each_kind(kind: str, keywords: set[str | None]) -> None:
    gen = TrafficGenerator(directory(), seed=7, mix=only(kind))
    got = {gen.next_message()["keyword"] for _ in range(300)}
    assert got == keywords


def test_empty_directory_still_generates() -> None:
    gen = TrafficGenerator([], seed=1, mix=TrafficMix(malformed=5))
    for _ in range(200):
        message = gen.next_message()
        sender = message["raw"].get("from") if "raw" in message else message["from_"]
        assert isinstance(sender, str)


def test_invalid_mix_is_refused() -> None:
    with pytest.raises(ValueError, match="weights"):
        TrafficGenerator([], mix=TrafficMix(**ONLY))
    with pytest.raises(ValueError, match="weights"):
        TrafficGenerator([], mix=TrafficMix(outage=-1))


def test_feed_adds_messages_and_updates_the_registry(gateway: SimGateway) -> None:
    gen = TrafficGenerator(directory(), seed=8, mix=TrafficMix(malformed=5))
    gen.feed(gateway, 300)
    assert gateway.messages_added == 300
    assert gen.sent == 300
    messages = gateway.messages
    assert any("id" not in m for m in messages)
    out = next(m for m in messages if m.get("keyword") == "OUT" and m["from"].startswith("+"))
    entry = gateway.optin_entry(out["from"])
    assert entry is not None
    assert any(k["keyword"] == "OUT" for k in entry["keywords"])


def test_background_feed_is_bounded_and_stops(gateway: SimGateway) -> None:
    gen = TrafficGenerator(directory(), seed=9)
    gen.start(gateway, rate_per_s=200)
    try:
        with pytest.raises(RuntimeError):
            gen.start(gateway, rate_per_s=1)
        deadline = time.monotonic() + 10
        while gateway.messages_added < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        gen.stop()
    assert not gen.running
    stopped_at = gateway.messages_added
    assert stopped_at >= 20
    time.sleep(0.1)
    assert gateway.messages_added == stopped_at
    with pytest.raises(ValueError, match="rate"):
        gen.start(gateway, rate_per_s=0)
