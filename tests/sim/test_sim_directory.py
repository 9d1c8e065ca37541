"""The fake customer directory: deterministic, streaming, fictional numbers only."""

from __future__ import annotations

import csv
import itertools
import re
import time
from collections import Counter
from pathlib import Path

from outagedesk.sim import DirectoryRow, generate_directory, write_directory_csv

FAKE_PHONE = re.compile(r"\+1(?!208|406)[2-9]\d{2}55501\d{2}")
HEADER = (
    "account_number,service_location_id,meter_id,customer_name,service_address,phones,life_support"
)


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    first = list(generate_directory(500, seed=7))
    assert first == list(generate_directory(500, seed=7))
    assert first != list(generate_directory(500, seed=8))
    assert len(first) == 500


def test_shape_of_the_rows() -> None:
    rows = list(generate_directory(4000, seed=3))
    assert rows[0].account_number == "1001"
    assert rows[0].service_location_id == "SL-1001-1"
    per_account = Counter(row.account_number for row in rows)
    multi = sum(1 for n in per_account.values() if n > 1) / len(per_account)
    assert 0.08 < multi < 0.25
    assert max(per_account.values()) <= 3
    for row in rows:
        assert re.fullmatch(rf"SL-{row.account_number}-[123]", row.service_location_id)
        assert row.meter_id is None or re.fullmatch(r"M-\d+", row.meter_id)
        assert len(row.phones) <= 3
        assert all(FAKE_PHONE.fullmatch(phone) for phone in row.phones), row.phones
        assert row.customer_name
        assert re.fullmatch(r"\d+ .+", row.service_address)
    meters = [row.meter_id for row in rows if row.meter_id is not None]
    assert len(meters) == len(set(meters))
    assert 0 < sum(row.meter_id is None for row in rows) < 0.1 * len(rows)
    assert 0 < sum(row.life_support for row in rows) < 0.05 * len(rows)
    assert any(not row.phones for row in rows)
    # Landlords: some phones appear on several accounts.
    accounts_per_phone: dict[str, set[str]] = {}
    for row in rows:
        for phone in row.phones:
            accounts_per_phone.setdefault(phone, set()).add(row.account_number)
    assert any(len(accounts) > 1 for accounts in accounts_per_phone.values())
    area_codes = {phone[2:5] for phone in accounts_per_phone}
    assert len(area_codes) >= 10


def test_generation_is_streaming_and_fast() -> None:
    first = list(itertools.islice(generate_directory(10**9), 3))
    assert [row.account_number for row in first] == ["1001", "1002", "1003"]
    started = time.perf_counter()
    count = sum(1 for _ in generate_directory(100_000, seed=2))
    assert count == 100_000
    assert time.perf_counter() - started < 10


def test_csv_header_and_rows(tmp_path: Path) -> None:
    rows = list(generate_directory(300, seed=5))
    path = tmp_path / "directory.csv"
    assert write_directory_csv(rows, path) == 300
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == HEADER
    with path.open(newline="", encoding="utf-8") as handle:
        parsed = list(csv.DictReader(handle))
    assert len(parsed) == 300
    for row, record in zip(rows, parsed, strict=True):
        assert record["account_number"] == row.account_number
        assert record["service_location_id"] == row.service_location_id
        assert record["meter_id"] == (row.meter_id or "")
        assert record["customer_name"] == row.customer_name
        assert record["service_address"] == row.service_address
        assert tuple(p for p in record["phones"].split(";") if p) == row.phones
        assert record["life_support"] == ("yes" if row.life_support else "no")


def test_csv_from_a_generator_and_empty(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    assert write_directory_csv(generate_directory(50), path) == 50
    assert write_directory_csv([], path) == 0
    assert path.read_text(encoding="utf-8").splitlines() == [HEADER]


def test_rows_are_frozen() -> None:
    row = next(generate_directory(1))
    assert isinstance(row, DirectoryRow)
    try:
        row.customer_name = "x"  # type: ignore[misc]
    except AttributeError:
        pass
    else:
        raise AssertionError("DirectoryRow must be frozen")
