"""The scenario format: shipped files, determinism, clear errors for bad files, round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from outagedesk.domain.phones import normalize_phone
from outagedesk.sim.directory import UNLINKED_AREA_CODES
from outagedesk.training.scenario import (
    Scenario,
    ScenarioError,
    dump_scenario,
    load_scenario,
    parse_scenario,
    shipped_scenarios,
    unlinked_number,
)

SHIPPED = {path.stem: path for path in shipped_scenarios()}

SMALL = """
title = "Small"
description = "Two customers"

[[directory.rows]]
account_number = "9001"
service_location_id = "SL-9001-1"
meter_id = "M-1"
customer_name = "Ana Example"
service_address = "1 Main St"
phones = ["+15055550101"]
life_support = false

[[directory.rows]]
account_number = "9002"
service_location_id = "SL-9002-1"
customer_name = "Ben Example"
service_address = "2 Main St"
phones = []
life_support = true

[[messages]]
at = 30
from = "unlinked:0"
text = "OUT 2 Main St"
expect_account = "9002"
expect_location = "SL-9002-1"

[[messages]]
at = 10
from = "directory:0"
text = "OUT"

[[messages]]
at = 10
from = "5055550101"
text = "please stop texting me"
expect_opt_out = true

[[oms_down]]
start = 12
end = 20
"""


def small(text: str = SMALL) -> Scenario:
    return parse_scenario(text, Path("small.toml"))


def test_the_four_scenarios_of_the_issue_ship() -> None:
    assert set(SHIPPED) >= {
        "afternoon-thunderstorm",
        "ice-storm-night",
        "compliance-drill",
        "oms-outage-mid-storm",
    }


def test_shipped_scenarios_match_what_the_issue_describes() -> None:
    storm = load_scenario(SHIPPED["afternoon-thunderstorm"])
    assert 200 <= len(storm.messages) <= 600
    assert 30 * 60 <= storm.duration <= 60 * 60
    unlinked = [m for m in storm.messages if m.expect_account]
    assert 0.08 <= len(unlinked) / len(storm.messages) <= 0.18
    bodies = " ".join(m.body.lower() for m in storm.messages)
    for remark in ("tree on line", "wire down", "flickering", "pole on fire"):
        assert remark in bodies

    ice = load_scenario(SHIPPED["ice-storm-night"])
    assert len(ice.messages) >= 2000
    per_ten_minutes = [0] * (int(ice.duration // 600) + 1)
    for message in ice.messages:
        per_ten_minutes[int(message.offset // 600)] += 1
    assert max(per_ten_minutes) > 4 * (len(ice.messages) / len(per_ten_minutes)) / 2  # a surge

    drill = load_scenario(SHIPPED["compliance-drill"])
    words = {m.body.strip(".").upper() for m in drill.messages}
    assert {"STOP", "HELP", "START", "UNSTOP", "ALTO", "AYUDA", "SALIR"} <= words
    assert sum(m.expect_opt_out for m in drill.messages) >= 6
    stopped = {m.sender for m in drill.messages if m.expect_opt_out}
    assert any(m.sender in stopped and m.body.upper().startswith("OUT") for m in drill.messages)

    oms = load_scenario(SHIPPED["oms-outage-mid-storm"])
    ((start, end),) = oms.oms_down
    assert end - start >= 5 * 60
    assert 0.25 * oms.duration <= start
    assert end <= 0.75 * oms.duration


@pytest.mark.parametrize("key", sorted(SHIPPED))
def test_shipped_scenarios_use_fake_numbers_only(key: str) -> None:
    scenario = load_scenario(SHIPPED[key])
    phones = {normalize_phone(m.sender) for m in scenario.messages}
    phones |= {p for row in scenario.directory for p in row.phones}
    assert phones
    assert all(p[5:10] == "55501" for p in phones), sorted(p for p in phones if p[5:10] != "55501")


@pytest.mark.parametrize("key", sorted(SHIPPED))
def test_loading_twice_gives_the_same_texts(key: str) -> None:
    first, second = load_scenario(SHIPPED[key]), load_scenario(SHIPPED[key])
    assert first == second
    assert first.messages == tuple(sorted(first.messages, key=lambda m: m.offset))
    assert all(0 <= m.offset <= first.duration for m in first.messages)


def test_expected_accounts_are_directory_accounts() -> None:
    for path in SHIPPED.values():
        scenario = load_scenario(path)
        accounts = {row.account_number for row in scenario.directory}
        directory_phones = {p for row in scenario.directory for p in row.phones}
        for message in scenario.messages:
            if message.expect_account:
                assert message.expect_account in accounts
                assert normalize_phone(message.sender) not in directory_phones


def test_references_resolve_and_texts_are_sorted_stably() -> None:
    scenario = small()
    assert scenario.key == "small"
    assert [m.offset for m in scenario.messages] == [10, 10, 30]
    # Same offset: file order is kept.
    assert [m.body for m in scenario.messages[:2]] == ["OUT", "please stop texting me"]
    assert scenario.messages[0].sender == "+15055550101"
    assert scenario.messages[1].sender == "5055550101"  # kept as a carrier would send it
    assert scenario.messages[2].sender == unlinked_number(0)
    assert scenario.messages[2].expect_location == "SL-9002-1"
    assert scenario.duration == 30
    assert scenario.oms_down == ((12.0, 20.0),)


def test_unlinked_numbers_are_distinct_and_in_no_directory() -> None:
    numbers = [unlinked_number(i) for i in range(200)]
    assert len(set(numbers)) == 200
    assert all(n[2:5] in UNLINKED_AREA_CODES and n[5:10] == "55501" for n in numbers)
    with pytest.raises(ValueError, match="unlinked numbers go from 0 to 199"):
        unlinked_number(200)


def test_dump_and_load_give_the_same_scenario(tmp_path: Path) -> None:
    for original in (small(), load_scenario(SHIPPED["afternoon-thunderstorm"])):
        path = tmp_path / f"{original.key}.toml"
        path.write_text(dump_scenario(original), encoding="utf-8")
        again = load_scenario(path)
        assert again.messages == original.messages
        assert again.directory == original.directory
        assert (again.title, again.description, again.duration, again.oms_down) == (
            original.title,
            original.description,
            original.duration,
            original.oms_down,
        )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("at = 30", "at = -1"), r"small.toml: messages\[0\].at: -1 is out of range"),
        (("at = 30", 'at = "soon"'), r"messages\[0\].at: must be a number, not 'soon'"),
        (('from = "unlinked:0"', 'from = "unlinked:500"'), r"messages\[0\].from: .*up to 199"),
        (('from = "directory:0"', 'from = "directory:7"'), r"messages\[1\].from: .*has 2 rows"),
        (('from = "unlinked:0"', 'from = "call me"'), r"messages\[0\].from: not a phone number"),
        (('expect_account = "9002"', 'expect_account = "1"'), r"expect_account: '1' is not in"),
        (('expect_location = "SL-9002-1"', 'expect_location = "SL-9001-1"'), r"not a location"),
        (('text = "OUT"', "txt = 1"), r"messages\[1\]: unknown field 'txt'"),
        (("expect_opt_out = true", 'expect_opt_out = "yes"'), r"expect_opt_out: must be true"),
        (('title = "Small"', ""), r"small.toml: title: a non-empty text is needed"),
        (("end = 20", "end = 11"), r"oms_down\[0\].end: 11 must be after start"),
        (('"+15055550101"]', '"12345"]'), r"directory.rows\[0\].phones\[0\]: not a"),
        (('SL-9002-1"\ncustomer', 'SL-9001-1"\ncustomer'), r"rows\[1\].service_location_id: .*"),
        (('title = "Small"', 'title = "S"\nduration = 5'), r"small.toml: duration: 5 s ends"),
        (("title", "= broken"), r"small.toml: not valid TOML"),
    ],
)
def test_bad_files_say_which_file_entry_and_field(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in SMALL
    with pytest.raises(ScenarioError, match=expected):
        small(SMALL.replace(old, new, 1))


def test_a_directory_needs_a_seed_and_size_or_rows() -> None:
    with pytest.raises(ScenarioError, match=r"small\.toml: directory: a \[directory\] table"):
        small('title = "x"\n[[messages]]\nat = 1\nfrom = "unlinked:1"\ntext = "OUT"\n')
    both = 'title = "x"\n[directory]\nseed = 1\nsize = 5\nrows = []\n'
    with pytest.raises(ScenarioError, match="directory: give either seed and size or rows"):
        small(both)
    huge = 'title = "x"\n[directory]\nseed = 1\nsize = 999999999\n'
    with pytest.raises(ScenarioError, match=r"directory.size: 999999999 is out of range"):
        small(huge)


def test_waves_are_validated_and_seeded() -> None:
    base = 'title = "w"\n[directory]\nseed = 3\nsize = 50\n[[waves]]\nstart = 0\nend = 600\n'
    wave = base + 'count = 80\nseed = 9\nunlinked_share = 0.25\nprofile = "surge"\n'
    one, two = small(wave), small(wave)
    assert one.messages == two.messages
    assert len(one.messages) == 80
    other_seed = small(wave.replace("seed = 9", "seed = 10"))
    assert other_seed.messages != one.messages
    unlinked = [m for m in one.messages if m.expect_account]
    assert 8 <= len(unlinked) <= 35
    # A surge: more texts in the first third than in the last.
    first = sum(1 for m in one.messages if m.offset < 200)
    assert first > sum(1 for m in one.messages if m.offset >= 400)
    with pytest.raises(ScenarioError, match=r"waves\[0\].profile: 'wavy': use flat or surge"):
        small(wave.replace('"surge"', '"wavy"'))
    with pytest.raises(ScenarioError, match=r"waves\[0\].count: must be a whole number"):
        small(base + "seed = 1\n")
    with pytest.raises(ScenarioError, match=r"waves\[0\].unlinked_share: 2 is out of range"):
        small(wave.replace("0.25", "2"))


def test_a_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"missing\.toml: cannot read the file"):
        load_scenario(tmp_path / "missing.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ScenarioError, match=r"binary\.toml: cannot read the file"):
        load_scenario(binary)


def test_the_example_in_the_documentation_is_a_valid_scenario() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"
    example = docs.read_text(encoding="utf-8").split("```toml\n", 1)[1].split("```", 1)[0]
    scenario = parse_scenario(example, Path("example.toml"))
    assert scenario.duration == 900
    assert scenario.oms_down == ((300.0, 480.0),)
    assert len(scenario.messages) == 3 + 120


def test_shipped_scenarios_are_found_in_an_installed_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As pip unpacks the wheel: outagedesk/resources/scenarios/*.toml, no __init__.py.
    from importlib import resources
    from importlib.resources.readers import MultiplexedPath

    folder = tmp_path / "outagedesk" / "resources" / "scenarios"
    folder.mkdir(parents=True)
    for path in SHIPPED.values():
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "README.txt").write_text("not a scenario")

    def files(package: str) -> MultiplexedPath:
        assert package == "outagedesk.resources.scenarios"
        return MultiplexedPath(folder)

    monkeypatch.setattr(resources, "files", files)
    found = shipped_scenarios()
    assert [p.name for p in found] == sorted(p.name for p in SHIPPED.values())
    assert all(p.parent == folder for p in found)
