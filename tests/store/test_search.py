"""Directory search and suggestions for the link dialog, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import delete, event, select, text, update

from outagedesk.directory import import_directory_rows
from outagedesk.sim import DirectoryRow
from outagedesk.store.db import alembic_config, current_revision, head_revision, include_object
from outagedesk.store.models import Base, PhoneLink, ServiceLocation, utcnow
from outagedesk.store.search import (
    MAX_LINKED_PHONES,
    LocationHit,
    search_directory,
    suggest_for_message,
)

from dbsupport import DbUnderTest

PAT = "+15055550123"
ANA = "+15755550142"
JO_HOME, JO_CELL = "+13035550111", "+13035550112"
STRANGER = "+12085550100"  # in no directory

ROWS = (
    DirectoryRow("1002", "SL-1002-1", "M-55123", "Pat Smith", "12 Main St", (PAT,), True),
    DirectoryRow("1002", "SL-1002-2", "M-55124", "Pat Smith", "450 Lake Rd", (PAT,), True),
    DirectoryRow("10021", "SL-10021-1", "M-60001", "Ana Baca", "1200 Main St", (ANA,), False),
    DirectoryRow("2001", "SL-2001-1", None, "Smithson Rentals", "12 Maine Ave", (), False),
    DirectoryRow(
        "A-300", "SL-A300-1", "m-77001", "Jo O'Neil", "7 Oak Ln Unit 4", (JO_HOME, JO_CELL), False
    ),
    DirectoryRow("3003", "SL-3003-1", "M-30031", "Ben Duran", "1002 Elm St", (), False),
)


@pytest.fixture
def directory(db: DbUnderTest) -> DbUnderTest:
    import_directory_rows(db.engine, ROWS)
    return db


def search(db: DbUnderTest, query: str, **kw: Any) -> list[LocationHit]:
    with db.sessions() as session:
        return search_directory(session, query, **kw)


def suggest(db: DbUnderTest, phone: str, body: str, **kw: Any) -> list[LocationHit]:
    with db.sessions() as session:
        return suggest_for_message(session, phone, body, **kw)


def ids(hits: Sequence[LocationHit]) -> list[str]:
    return [hit.service_location_id for hit in hits]


def add_link(
    db: DbUnderTest, phone: str, account: str, location: str | None, source: str = "dispatcher"
) -> None:
    with db.sessions() as session:
        session.add(
            PhoneLink(
                phone=phone,
                account_number=account,
                service_location_id=location,
                source=source,
                created_by="test",
                desk="",
                created_at=utcnow(),
                reviewed=False,
            )
        )
        session.commit()


# --------------------------------------------------------------------------- search


@pytest.mark.parametrize("query", ["", "   ", "\t\n"])
def test_empty_text_finds_nothing(directory: DbUnderTest, query: str) -> None:
    assert search(directory, query) == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("A-300", ["SL-A300-1"]),  # account number
        ("SL-2001-1", ["SL-2001-1"]),  # service location ID
        ("M-55124", ["SL-1002-2"]),  # meter ID
        ("Baca", ["SL-10021-1"]),  # customer name
        ("Lake Rd", ["SL-1002-2"]),  # service address
        ("O'Neil", ["SL-A300-1"]),  # punctuation inside a name
    ],
)
def test_each_field_is_searched(directory: DbUnderTest, query: str, expected: list[str]) -> None:
    assert ids(search(directory, query)) == expected


def test_id_prefixes_in_id_order(directory: DbUnderTest) -> None:
    assert ids(search(directory, "SL-100")) == ["SL-1002-1", "SL-1002-2", "SL-10021-1"]
    assert ids(search(directory, "M-551")) == ["SL-1002-1", "SL-1002-2"]
    assert ids(search(directory, "A-3")) == ["SL-A300-1"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sl-2001-1", ["SL-2001-1"]),
        ("m-55123", ["SL-1002-1"]),
        ("M-77001", ["SL-A300-1"]),  # stored as "m-77001"
        ("a-300", ["SL-A300-1"]),
        ("sl-a3", ["SL-A300-1"]),
        ("BACA", ["SL-10021-1"]),
        ("lAkE", ["SL-1002-2"]),
    ],
)
def test_case_does_not_matter(directory: DbUnderTest, query: str, expected: list[str]) -> None:
    assert ids(search(directory, query)) == expected


def test_every_word_must_start_a_word_of_the_name_or_address(directory: DbUnderTest) -> None:
    assert ids(search(directory, "12 Main")) == ["SL-1002-1", "SL-10021-1", "SL-2001-1"]
    assert ids(search(directory, "12 Main St")) == ["SL-1002-1", "SL-10021-1"]
    assert ids(search(directory, "smi")) == ["SL-1002-1", "SL-1002-2", "SL-2001-1"]
    assert ids(search(directory, "pat sm")) == ["SL-1002-1", "SL-1002-2"]
    assert ids(search(directory, "smith lake")) == ["SL-1002-2"]  # name and address together
    assert ids(search(directory, "main  PAT")) == ["SL-1002-1"]  # any order, any case
    assert ids(search(directory, "rentals 12 maine ave")) == ["SL-2001-1"]


def test_words_are_matched_at_word_starts_only(directory: DbUnderTest) -> None:
    assert search(directory, "mith") == []
    assert search(directory, "ain") == []


@pytest.mark.parametrize("query", ["zebra", "smith zebra", "12 Main Zebra", "SL-9"])
def test_a_word_that_matches_nothing_finds_nothing(directory: DbUnderTest, query: str) -> None:
    assert search(directory, query) == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('"smith"', ["SL-1002-1", "SL-1002-2", "SL-2001-1"]),
        ("smith'", ["SL-1002-1", "SL-1002-2", "SL-2001-1"]),
        ("smi*", ["SL-1002-1", "SL-1002-2", "SL-2001-1"]),
        ("smith & pat", ["SL-1002-1", "SL-1002-2"]),
        ("smith | baca", []),  # both words are required
        ("smith:*", ["SL-1002-1", "SL-1002-2", "SL-2001-1"]),
        ("(smith", ["SL-1002-1", "SL-1002-2", "SL-2001-1"]),
        ("!pat", ["SL-1002-1", "SL-1002-2"]),
        ("pat <-> smith", ["SL-1002-1", "SL-1002-2"]),
        ("name:pat", []),  # not a column filter: "name" is just a word
        ("NEAR(pat smith)", []),
        ("pat AND", []),
        ("OR", []),
        ("'; DROP TABLE service_locations; --", []),
        ("\\'", []),
        ("🔥", []),
        ("pat 🔥", ["SL-1002-1", "SL-1002-2"]),
        ("nul\x00char", []),
        ("lone \ud800 surrogate", []),
        ("%", []),
        ("SL-1002-%", []),  # no LIKE wildcards either
        ("SL-1002-_", []),
        ("_", []),
        ("*", []),
        ('"', []),
        ("x" * 1000, []),
        ("1 " * 200, ["SL-1002-1", "SL-10021-1", "SL-2001-1", "SL-3003-1"]),  # words "1"
    ],
)
def test_hostile_input_is_only_ever_words(
    directory: DbUnderTest, query: str, expected: list[str]
) -> None:
    assert ids(search(directory, query)) == expected
    with directory.sessions() as session:  # nothing was dropped
        assert session.scalar(select(ServiceLocation.id).limit(1)) is not None


@pytest.mark.parametrize(
    "query",
    [PAT, "(505) 555-0123", "505.555.0123", "505-555-0123", "1 505 555 0123", "+1 505 555 0123"],
)
def test_a_phone_number_finds_the_locations_linked_to_it(
    directory: DbUnderTest, query: str
) -> None:
    hits = search(directory, query)
    assert ids(hits) == ["SL-1002-1", "SL-1002-2"]
    assert all(hit.reason == f"{PAT} is linked to this location" for hit in hits)


def test_a_whole_account_link_offers_every_location_of_the_account(directory: DbUnderTest) -> None:
    add_link(directory, STRANGER, "1002", None)
    hits = search(directory, "208 555 0100")
    assert ids(hits) == ["SL-1002-1", "SL-1002-2"]
    assert hits[0].reason == f"{STRANGER} is linked to account 1002 (all its locations)"


def test_a_phone_number_nobody_has_finds_nothing(directory: DbUnderTest) -> None:
    assert search(directory, "(208) 555-0100") == []


def test_an_account_number_that_looks_like_a_phone_number_is_still_found(db: DbUnderTest) -> None:
    import_directory_rows(
        db.engine,
        [
            DirectoryRow("5055550199", "SL-1", None, "Kim Lee", "1 Pine St", (), False),
            DirectoryRow("7", "SL-2", None, "Lou Ray", "505 555 Rd", (PAT,), False),
        ],
    )
    assert ids(search(db, "5055550199")) == ["SL-1"]
    # the digit groups of a phone number are not searched as words of an address
    assert [(h.service_location_id, h.reason) for h in search(db, "505 555 0123")] == [
        ("SL-2", f"{PAT} is linked to this location")
    ]
    assert ids(search(db, "505 555")) == ["SL-2"]


def test_hits_carry_the_location_its_phones_and_the_account_size(directory: DbUnderTest) -> None:
    (jo,) = search(directory, "SL-A300-1")
    assert jo == LocationHit(
        account_number="A-300",
        service_location_id="SL-A300-1",
        meter_id="m-77001",
        customer_name="Jo O'Neil",
        service_address="7 Oak Ln Unit 4",
        life_support=False,
        linked_phones=(JO_HOME, JO_CELL),
        account_locations=1,
    )
    pat = search(directory, "SL-1002-2")[0]
    assert (pat.life_support, pat.account_locations, pat.linked_phones) == (True, 2, (PAT,))
    (smithson,) = search(directory, "smithson")
    assert (smithson.meter_id, smithson.linked_phones) == (None, ())


def test_linked_phones_include_whole_account_links_after_the_locations_own(
    directory: DbUnderTest,
) -> None:
    add_link(directory, STRANGER, "1002", None)
    add_link(directory, "+12085550101", "1002", "SL-1002-2")
    hits = {hit.service_location_id: hit for hit in search(directory, "1002")}
    assert hits["SL-1002-1"].linked_phones == (PAT, STRANGER)
    assert hits["SL-1002-2"].linked_phones == (PAT, "+12085550101", STRANGER)
    assert hits["SL-10021-1"].linked_phones == (ANA,)  # another account's links stay out


def test_linked_phones_are_capped(directory: DbUnderTest) -> None:
    for n in range(MAX_LINKED_PHONES + 5):
        add_link(directory, f"+1208555{n:04d}", "A-300", None)
    (jo,) = search(directory, "A-300")
    assert len(jo.linked_phones) == MAX_LINKED_PHONES
    assert jo.linked_phones[:2] == (JO_HOME, JO_CELL)


def test_exact_ids_first_then_prefixes_then_names_and_addresses(directory: DbUnderTest) -> None:
    # account 1002 exactly, account 10021 by prefix, then "1002 Elm St" by address
    assert ids(search(directory, "1002")) == ["SL-1002-1", "SL-1002-2", "SL-10021-1", "SL-3003-1"]


def test_an_exact_location_or_meter_comes_before_a_longer_one(db: DbUnderTest) -> None:
    import_directory_rows(
        db.engine,
        [
            DirectoryRow("7", "X-10", "X-1", "Kim Lee", "1 Pine St", (), False),
            DirectoryRow("8", "X-1", None, "Lou Ray", "2 Pine St", (), False),
            DirectoryRow("9", "X-100", "X-10", "Max Orr", "3 Pine St", (), False),
        ],
    )
    # exact: location X-1, then meter X-1; then by prefix, in ID order
    assert ids(search(db, "x-1")) == ["X-1", "X-10", "X-100"]
    assert ids(search(db, "x-10")) == ["X-10", "X-100"]


def test_results_are_unique_stable_and_limited(directory: DbUnderTest) -> None:
    everything = search(directory, "1")
    assert len(ids(everything)) == len(set(ids(everything)))
    assert search(directory, "1") == everything
    assert ids(search(directory, "1", limit=2)) == ids(everything)[:2]
    assert search(directory, "1", limit=0) == []


def test_many_matches_fill_the_limit(db: DbUnderTest) -> None:
    rows = [
        DirectoryRow(
            f"{5000 + n}",
            f"SL-{n}",
            f"M-{n}",
            f"Sam Sandoval {n}",
            f"{n} Sage Blvd",
            (),
            n % 7 == 0,
        )
        for n in range(120)
    ]
    import_directory_rows(db.engine, rows)
    hits = search(db, "san s", limit=50)
    assert len(hits) == 50
    assert len(set(ids(hits))) == 50
    assert all(hit.customer_name.startswith("Sam Sandoval") for hit in hits)
    assert search(db, "san s", limit=50) == hits


def test_the_search_index_follows_updates_and_deletes(directory: DbUnderTest) -> None:
    moved = DirectoryRow("1002", "SL-1002-2", "M-55124", "Pat Smith", "99 Birch Way", (PAT,), True)
    renamed = DirectoryRow("10021", "SL-10021-1", "M-60001", "Ana Quill", "1200 Main St", (), False)
    import_directory_rows(directory.engine, [moved, renamed])
    assert search(directory, "lake") == []
    assert ids(search(directory, "birch")) == ["SL-1002-2"]
    assert search(directory, "baca") == []
    assert ids(search(directory, "quill main")) == ["SL-10021-1"]
    with directory.sessions() as session:
        session.execute(
            update(ServiceLocation)
            .where(ServiceLocation.service_location_id == "SL-3003-1")
            .values(customer_name="Bea Duran-Ortiz")
        )
        session.execute(
            delete(ServiceLocation).where(ServiceLocation.service_location_id == "SL-2001-1")
        )
        session.commit()
    assert search(directory, "smithson") == []
    assert search(directory, "ben duran") == []
    assert ids(search(directory, "bea ortiz")) == ["SL-3003-1"]
    if directory.backend == "sqlite":  # the FTS index agrees with the table, row for row
        with directory.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO service_locations_fts (service_locations_fts, rank) "
                    "VALUES ('integrity-check', 1)"
                )
            )


def test_the_session_is_left_as_it_was(directory: DbUnderTest) -> None:
    setting = text("SELECT current_setting('enable_seqscan')")
    with directory.sessions() as session:
        assert ids(search_directory(session, "pat smith")) == ["SL-1002-1", "SL-1002-2"]
        if directory.backend == "postgres":  # the planner setting the search changes for itself
            assert session.scalar(setting) == "on"
            session.execute(text("SET LOCAL enable_seqscan = off"))
            search_directory(session, "pat smith")
            assert session.scalar(setting) == "off"
        assert session.scalar(select(ServiceLocation.customer_name).limit(1)) == "Pat Smith"


_TABLE_SCAN = re.compile(r"SCAN (service_locations|peer|phone_links)\b")


def test_sqlite_searches_use_indexes_only(sqlite_db: DbUnderTest) -> None:
    import_directory_rows(sqlite_db.engine, ROWS)
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, params))

    event.listen(sqlite_db.engine, "before_cursor_execute", record)
    try:
        for query in ("sl-100", "1002", "m-5", "pat sm", "12 main st", PAT):
            search(sqlite_db, query)
        suggest(sqlite_db, PAT, "OUT acct 1002 meter M-55123 at 12 Main St SL-2001-1")
    finally:
        event.remove(sqlite_db.engine, "before_cursor_execute", record)
    assert statements
    with sqlite_db.engine.connect() as conn:
        for statement, params in statements:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).all()
            # A full scan of a table (or of a whole index) reads "SCAN <table>"; the FTS5 table
            # and the small subquery results are fine.
            scans = [row[3] for row in plan if _TABLE_SCAN.match(row[3])]
            assert scans == [], (statement, plan)


# --------------------------------------------------------------------------- suggestions


@pytest.mark.parametrize(
    "body",
    [
        "OUT acct 1002",
        "OUT account #1002",
        "OUT acct: 1002",
        "out Acct#1002 pls",
        "OUT account number 1002",
        "OUT acct no. 1002",
        "power out, my account is 1002",
    ],
)
def test_suggests_the_account_written_in_the_text(directory: DbUnderTest, body: str) -> None:
    hits = suggest(directory, STRANGER, body)
    assert ids(hits) == ["SL-1002-1", "SL-1002-2"]
    assert {hit.reason for hit in hits} == {"account 1002 is written in the text"}


@pytest.mark.parametrize(
    ("body", "expected", "reason"),
    [
        ("OUT meter M-55124", "SL-1002-2", "meter M-55124 is written in the text"),
        ("OUT meter # m-55124", "SL-1002-2", "meter M-55124 is written in the text"),
        ("OUT M-60001 no lights", "SL-10021-1", "meter M-60001 is written in the text"),
        ("OUT m-77001", "SL-A300-1", "meter m-77001 is written in the text"),
        ("OUT at SL-2001-1", "SL-2001-1", "service location SL-2001-1 is written in the text"),
        ("OUT acct A-300", "SL-A300-1", "account A-300 is written in the text"),
    ],
)
def test_suggests_the_meter_or_id_written_in_the_text(
    directory: DbUnderTest, body: str, expected: str, reason: str
) -> None:
    hits = suggest(directory, STRANGER, body)
    assert [(h.service_location_id, h.reason) for h in hits] == [(expected, reason)]


@pytest.mark.parametrize(
    ("body", "expected", "written"),
    [
        ("OUT 12 Main St", "SL-1002-1", "12 Main St"),
        ("OUT 12 main street since 3 pm", "SL-1002-1", "12 main street"),
        ("no power at 450 Lake Road since 3pm", "SL-1002-2", "450 Lake Road"),
        ("OUT 7 Oak Lane", "SL-A300-1", "7 Oak Lane"),
        ("out since 2 pm at 12 Maine Avenue.", "SL-2001-1", "12 Maine Avenue."),
    ],
)
def test_suggests_the_street_address_written_in_the_text(
    directory: DbUnderTest, body: str, expected: str, written: str
) -> None:
    hits = suggest(directory, STRANGER, body)
    assert [(h.service_location_id, h.reason) for h in hits] == [
        (expected, f"address '{written}' is written in the text")
    ]


@pytest.mark.parametrize(
    "body",
    [
        "OUT 1 Main St",  # no such house number
        "OUT 12 Main Ave",  # the street is a St
        "OUT 12 Elm St",
        "acct 9999 out",
        "meter M-1 out",
        "OUT for 2 hours on my street",
        "account is out",
        "",
    ],
)
def test_nothing_suggested_for_what_is_not_in_the_directory(
    directory: DbUnderTest, body: str
) -> None:
    assert suggest(directory, STRANGER, body) == []


def test_suggests_the_numbers_earlier_links(directory: DbUnderTest) -> None:
    add_link(directory, STRANGER, "2001", "SL-2001-1")
    add_link(directory, STRANGER, "A-300", None)  # later, and for the whole account
    hits = suggest(directory, STRANGER, "OUT")
    assert ids(hits) == ["SL-A300-1", "SL-2001-1"]  # newest first
    assert {hit.reason for hit in hits} == {"this number was linked here before"}


def test_suggests_the_locations_the_directory_lists_the_number_for(
    directory: DbUnderTest,
) -> None:
    hits = suggest(directory, ANA, "OUT")
    assert [(h.service_location_id, h.reason) for h in hits] == [
        ("SL-10021-1", "this number is on file for this account")
    ]
    assert ids(suggest(directory, "5055550123", "OUT")) == ["SL-1002-1", "SL-1002-2"]


def test_suggestions_come_strongest_first_each_once(directory: DbUnderTest) -> None:
    add_link(directory, PAT, "A-300", "SL-A300-1")
    hits = suggest(directory, PAT, "OUT acct 2001, meter M-60001, at 450 Lake Rd")
    assert [(h.service_location_id, h.reason) for h in hits] == [
        ("SL-2001-1", "account 2001 is written in the text"),
        ("SL-10021-1", "meter M-60001 is written in the text"),
        # also on file for the number: keeps the stronger reason
        ("SL-1002-2", "address '450 Lake Rd' is written in the text"),
        ("SL-A300-1", "this number was linked here before"),
        ("SL-1002-1", "this number is on file for this account"),
    ]
    assert ids(suggest(directory, PAT, "OUT acct 2001, at 450 Lake Rd", limit=2)) == [
        "SL-2001-1",
        "SL-1002-2",
    ]
    assert suggest(directory, PAT, "OUT", limit=0) == []


def test_suggestions_carry_phones_and_account_size(directory: DbUnderTest) -> None:
    (hit, _) = suggest(directory, STRANGER, "acct 1002")
    assert (hit.linked_phones, hit.account_locations, hit.life_support) == ((PAT,), 2, True)


@pytest.mark.parametrize(
    "body", ["'; DROP TABLE phone_links; --", 'acct "1002', "meter *", '12 "Main" St', "🔥" * 50]
)
def test_hostile_messages_are_harmless(directory: DbUnderTest, body: str) -> None:
    suggest(directory, PAT, body)
    assert ids(suggest(directory, PAT, "OUT")) == ["SL-1002-1", "SL-1002-2"]


# --------------------------------------------------------------------------- migration


def test_schema_matches_the_models_apart_from_the_search_objects(db: DbUnderTest) -> None:
    with db.engine.connect() as conn:
        everything = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        filtered = compare_metadata(
            MigrationContext.configure(conn, opts={"include_object": include_object}),
            Base.metadata,
        )
    assert filtered == []
    # What the filter leaves out is exactly what migrations 0002 and 0004 add, and the
    # account and meter indexes that migrations 0007 and 0009 keep on PostgreSQL only.
    removed = {(diff[0], diff[1].name) for diff in everything}
    indexes = {
        "ix_service_locations_account_number_ci",
        "ix_service_locations_service_location_id_ci",
        "ix_service_locations_meter_id_ci",
        "ix_phone_links_account_bytes",
        "ix_phone_links_location_bytes",
    }
    if db.backend == "postgres":
        indexes |= {
            "ix_phone_links_phone_bytes",
            "ix_phone_links_account",
            "ix_service_locations_meter_id",
        }
    if db.backend == "sqlite":
        tables = {"", "_config", "_data", "_idx"}
        expected = {("remove_table", f"service_locations_fts{t}") for t in tables}
    else:
        expected = {("remove_index", "ix_service_locations_fts")}
    assert removed == expected | {("remove_index", name) for name in indexes}


def test_downgrade_and_upgrade_again(db: DbUnderTest) -> None:
    import_directory_rows(db.engine, ROWS)
    config = alembic_config(db.engine)
    command.downgrade(config, "0001")
    assert current_revision(db.engine) == "0001"
    if db.backend == "sqlite":
        with db.engine.connect() as conn:
            left = conn.scalars(
                text("SELECT name FROM sqlite_master WHERE name LIKE '%fts%' OR name LIKE '%_ci'")
            ).all()
        assert left == []
    # The directory changes while the search objects are gone (in SQL: today's import
    # needs the later revisions' columns)...
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE service_locations SET service_address = '9 Quarry Rd' "
                "WHERE service_location_id = 'SL-1002-2'"
            )
        )
        conn.execute(
            text(
                "INSERT INTO service_locations (service_location_id, account_number, meter_id,"
                " customer_name, service_address, life_support, updated_at) VALUES"
                " ('SL-4004-1', '4004', 'M-40041', 'Del Frost', '3 Ash Ct', false,"
                " CURRENT_TIMESTAMP)"
            )
        )
    command.upgrade(config, "head")
    assert current_revision(db.engine) == head_revision(db.engine)
    # ...and the upgrade indexes the rows as they are now.
    assert ids(search(db, "quarry")) == ["SL-1002-2"]
    assert search(db, "lake") == []
    assert ids(search(db, "frost")) == ["SL-4004-1"]
    assert ids(search(db, "sl-4004")) == ["SL-4004-1"]
    import_directory_rows(
        db.engine, [DirectoryRow("4004", "SL-4004-1", None, "Del Frost", "5 Ash Ct", (), False)]
    )
    assert ids(search(db, "5 ash")) == ["SL-4004-1"]
    assert search(db, "3 ash") == []


def _reference(rows: Sequence[DirectoryRow], query: str) -> list[str]:
    """Word-prefix matching done the slow way: every word starts a word of name or address."""
    words = re.findall(r"[^\W_]+", query.lower())
    found = []
    for row in rows:
        have = re.findall(r"[^\W_]+", f"{row.customer_name} {row.service_address}".lower())
        if all(any(h.startswith(w) for h in have) for w in words):
            found.append(row.service_location_id)
    return found


@pytest.mark.parametrize(
    "query",
    ["ros", "rosa s", "r s", "r s m", "mesa rd", "1 main", "4 m", "u u", "sage 5", "tomas x"],
)
def test_full_text_matches_a_plain_reference(db: DbUnderTest, query: str) -> None:
    rows = [
        DirectoryRow(
            f"{9000 + n // 2}",
            f"SL-{9000 + n // 2}-{n % 2 + 1}",
            f"M-{70000 + n}",
            ("Rosa Sandoval", "Tomas Trujillo", "Uma Ulibarri", "Ross Santos")[n % 4],
            f"{n % 50 + 1} {('Mesa Rd', 'Main St', 'Sage Blvd')[n % 3]}",
            (),
            False,
        )
        for n in range(400)
    ]
    import_directory_rows(db.engine, rows)
    expected = _reference(rows, query)
    assert len(expected) < 400
    assert ids(search(db, query, limit=400)) == expected
