"""Recording a scenario from history leaves no original number, name, account or address."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from outagedesk.directory import import_directory_rows
from outagedesk.sim.directory import DirectoryRow
from outagedesk.store.models import InboundMessage, PhoneLink, utcnow
from outagedesk.training.record import RecordError, record_scenario
from outagedesk.training.scenario import Scenario, dump_scenario, load_scenario

from dbsupport import DbUnderTest

ROWS = (
    DirectoryRow("204518", "SL-204518-1", "M-77001", "Rosa Quintana", "3720 Mill St",
                 ("+15055550142",), False),
    DirectoryRow("204518", "SL-204518-2", "M-77002", "Rosa Quintana", "3722 Mill St",
                 ("+15055550142",), False),
    DirectoryRow("311207", "SL-311207-1", None, "Tomas Baca", "14 Acequia Trl",
                 ("+15755550123", "+13035550111"), True),
    DirectoryRow("408866", "SL-408866-1", "M-77010", "Ximena Lucero", "9 Pinon Ct", (), False),
    DirectoryRow("509990", "SL-509990-1", "M-77020", "Hal Whitlock", "88 Quail Run",
                 ("+16025550199",), False),
)  # fmt: skip
LATE_LINKED = "+17205550177"
STRANGER = "+14805550155"
TEXTS = (
    (-10, "+16025550199", "OUT before the range"),
    (5, "+15055550142", "OUT acct 204518 call 505-555-0142"),
    (10, "+15755550123",
     "OUT tree on line, this is Tomas Baca, call (303) 555-0111 or 303.555.0111"),
    (20, LATE_LINKED, "OUT 9 Pinon Ct, ximena lucero here, meter M-77010, my cell +17205550177"),
    (30, "+15055550142", "STOP"),
    (40, "+13035550111", "OUT 3720 Mill, account 204518, and 14 ACEQUIA TRL too, ref 9988776655"),
    (50, LATE_LINKED, "please stop texting me ROSA"),
    (55, STRANGER, "out at sl-311207-1 5055550142 +1 (575) 555-0123"),
    (58, STRANGER, "my neighbour hal whitlock at 88 Quail Run has no power either, m-77020"),
    (130, "+15055550142", "OUT after the range"),
)  # fmt: skip
ORIGINALS = (
    "+15055550142", "5055550142", "505-555-0142", "(505) 555-0142", "505.555.0142",
    "+15755550123", "5755550123", "575-555-0123", "(575) 555-0123",
    "+13035550111", "3035550111", "303-555-0111", "(303) 555-0111", "303.555.0111",
    "+17205550177", "7205550177", "+14805550155", "4805550155", "+16025550199", "9988776655",
    "204518", "311207", "408866", "509990",
    "SL-204518-1", "SL-204518-2", "SL-311207-1", "SL-408866-1", "SL-509990-1",
    "M-77001", "M-77002", "M-77010", "M-77020",
    "Rosa Quintana", "Rosa", "Quintana", "Tomas Baca", "Tomas", "Baca", "Ximena Lucero",
    "Ximena", "Lucero", "Hal Whitlock", "Whitlock",
    "3720 Mill St", "3722 Mill St", "3720 Mill", "14 Acequia Trl", "9 Pinon Ct", "88 Quail Run",
)  # fmt: skip


def seed(db: DbUnderTest) -> datetime:
    import_directory_rows(db.engine, ROWS, source="directory", actor="test")
    start = utcnow() + timedelta(minutes=1)
    with db.sessions() as s:
        # A dispatcher linked this number during the storm: it was unlinked when it texted.
        s.add(
            PhoneLink(
                phone=LATE_LINKED, account_number="408866", service_location_id=None,
                source="dispatcher", created_by="ana", created_at=start + timedelta(seconds=200),
            )
        )  # fmt: skip
        for i, (offset, phone, body) in enumerate(TEXTS):
            s.add(
                InboundMessage(
                    gateway_message_id=f"g-{i}", phone=phone, to="85700", body=body,
                    received_at=start + timedelta(seconds=offset), kind="outage", tags=[],
                    raw={"from": phone, "body": body},
                )
            )  # fmt: skip
        s.commit()
    return start


def record(db: DbUnderTest, start: datetime, seed_value: int = 5) -> Scenario:
    with db.sessions() as s:
        return record_scenario(
            s, start, start + timedelta(seconds=120), title="Storm of test", seed=seed_value
        )


def word(text: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w]){re.escape(text)}(?![\w])", re.IGNORECASE)


def test_no_original_remains_in_the_recorded_scenario(db: DbUnderTest, tmp_path: Path) -> None:
    scenario = record(db, seed(db))
    dumped = dump_scenario(scenario)
    left = [original for original in ORIGINALS if word(original).search(dumped)]
    assert left == [], dumped
    # Nothing outside the range; the neighbour a text names joins the directory, replaced.
    assert "before the range" not in dumped
    assert "after the range" not in dumped
    assert len(scenario.directory) == 5
    path = tmp_path / "recorded.toml"
    path.write_text(dumped, encoding="utf-8")
    again = load_scenario(path)
    assert again.messages == scenario.messages
    assert again.directory == scenario.directory


def test_texts_and_timing_are_kept_and_replacements_are_consistent(db: DbUnderTest) -> None:
    scenario = record(db, seed(db))
    messages = scenario.messages
    assert [m.offset for m in messages] == [5, 10, 20, 30, 40, 50, 55, 58]
    assert scenario.duration == 120
    assert scenario.key == "storm-of-test"
    senders = [m.sender for m in messages]
    assert all(re.fullmatch(r"\+1\d{3}55501\d{2}", s) for s in senders)
    rosa, tomas, late, rosa_again, tomas_cell, late_again, stranger, stranger_again = senders
    assert stranger == stranger_again
    assert rosa == rosa_again
    assert late == late_again
    assert len({rosa, tomas, late, tomas_cell, stranger}) == 5
    by_phone = {p: row for row in scenario.directory for p in row.phones}
    rosa_rows = [r for r in scenario.directory if r.account_number == by_phone[rosa].account_number]
    tomas_row = by_phone[tomas]
    lucero = next(r for r in scenario.directory if r.account_number == messages[2].expect_account)
    assert not lucero.phones
    assert by_phone[tomas_cell] == tomas_row
    assert tomas_row.life_support
    assert tomas_row.meter_id is None
    # One account with two locations: one fake account and name, two fake locations.
    assert len(rosa_rows) == 2
    assert rosa_rows[0].customer_name == rosa_rows[1].customer_name
    assert rosa_rows[0].service_location_id != rosa_rows[1].service_location_id
    account, name = rosa_rows[0].account_number, rosa_rows[0].customer_name
    first_address = rosa_rows[0].service_address

    def spelled(phone: str, template: str) -> str:
        d = phone[2:]
        return template.format(d[:3], d[3:6], d[6:])

    # Every spelling of a number becomes the same fake number, spelled the same way.
    assert messages[0].body == f"OUT acct {account} call {spelled(rosa, '{}-{}-{}')}"
    assert messages[1].body == (
        f"OUT tree on line, this is {tomas_row.customer_name}, call "
        f"{spelled(tomas_cell, '({}) {}-{}')} or {spelled(tomas_cell, '{}.{}.{}')}"
    )
    assert messages[2].body == (
        f"OUT {lucero.service_address}, {lucero.customer_name} here, meter {lucero.meter_id}, "
        f"my cell {late}"
    )
    assert messages[3].body == "STOP"
    short_address = " ".join(first_address.split()[:2])  # "3720 Mill" -> "<n> <street>"
    fake_ref = re.fullmatch(r"OUT .+, account .+, and .+ too, ref (\d{10})", messages[4].body)
    assert fake_ref is not None, messages[4].body
    assert messages[4].body == (
        f"OUT {short_address}, account {account}, and {tomas_row.service_address} too, "
        f"ref {fake_ref.group(1)}"
    )
    assert fake_ref.group(1) not in {p[2:] for p in senders}
    assert messages[5].body == f"please stop texting me {name.split()[0]}"
    assert messages[6].body == (
        f"out at {tomas_row.service_location_id} {rosa[2:]} {spelled(tomas, '+1 ({}) {}-{}')}"
    )
    # A customer named in a text, though none of the numbers is theirs.
    (neighbour,) = [r for r in scenario.directory if not r.phones and r != lucero]
    assert messages[7].body == (
        f"my neighbour {neighbour.customer_name} at {neighbour.service_address} has no power "
        f"either, {neighbour.meter_id}"
    )


def test_numbers_linked_during_the_range_become_unlinked_senders_with_an_expected_account(
    db: DbUnderTest,
) -> None:
    scenario = record(db, seed(db))
    late = scenario.messages[2]
    # The text names the customer's address: that is the account a trainee should find.
    (lucero,) = [r for r in scenario.directory if r.service_address in late.body]
    assert late.sender not in {p for row in scenario.directory for p in row.phones}
    assert late.expect_account == lucero.account_number
    assert late.expect_location is None
    assert all(m.expect_account is None for i, m in enumerate(scenario.messages) if i not in (2, 5))
    assert [m.expect_opt_out for m in scenario.messages] == [
        False, False, False, True, False, True, False, False,
    ]  # fmt: skip


def test_the_seed_decides_the_fakes(db: DbUnderTest) -> None:
    start = seed(db)
    one, same, other = record(db, start), record(db, start), record(db, start, seed_value=6)
    assert one == same
    assert one.messages[0].sender != other.messages[0].sender


def test_an_empty_or_backward_range_is_refused(db: DbUnderTest) -> None:
    start = seed(db)
    with db.sessions() as s:
        with pytest.raises(RecordError, match="no texts were received"):
            record_scenario(
                s, start + timedelta(hours=1), start + timedelta(hours=2), title="x", seed=1
            )
        with pytest.raises(RecordError, match="must be after its start"):
            record_scenario(s, start, start, title="x", seed=1)
