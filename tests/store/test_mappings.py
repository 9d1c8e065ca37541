"""The Mappings screen's queries: keyset pages in every order, search, counts, review, conflicts."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from outagedesk.directory import import_directory_rows
from outagedesk.ops.base import Actor, Role
from outagedesk.ops.links import link_phone
from outagedesk.sim import DirectoryRow
from outagedesk.store import mappings
from outagedesk.store.mappings import (
    MappingQuery,
    MappingRow,
    MappingSort,
    count_conflicts,
    count_mappings,
    find_conflicts,
    page_mappings,
    review_count,
    review_queue,
)
from outagedesk.store.models import PhoneLink, ServiceLocation, utcnow

from dbsupport import DbUnderTest

DISPATCHER = Actor("jdoe", "desk-3", Role.DISPATCHER)
DIRECTORY = [
    DirectoryRow("A-100", "SL-100-1", "M-1", "Ana Baca", "1 Main St", ("+15055550101",), False),
    DirectoryRow("A-100", "SL-100-2", None, "Ana Baca", "2 Main St", ("+15055550105",), False),
    DirectoryRow(
        "A-200", "SL-200-1", None, "Ben Duran", "3 Oak Ave", ("+15755550102", "+15055550103"), False
    ),
    DirectoryRow("B-300", "SL-300-1", None, "Cy Diaz", "4 Elm Rd", ("+15055550101",), False),
]


@pytest.fixture
def links(db: DbUnderTest) -> DbUnderTest:
    import_directory_rows(db.engine, DIRECTORY)
    with db.sessions() as s:
        link_phone(s, DISPATCHER, "+15055550104", "A-200", resend=False)
        link_phone(s, DISPATCHER, "+15055550106", "A-100", "SL-100-2", resend=False)
    return db


def every_page(db: DbUnderTest, query: MappingQuery, size: int) -> list[MappingRow]:
    found: list[MappingRow] = []
    with db.sessions() as s:
        for _ in range(50):
            page = page_mappings(s, query, found[-1] if found else None, size)
            assert len(page) <= size
            found += page
            if len(page) < size:
                return found
    raise AssertionError("paging did not end")


def sort_value(row: MappingRow, sort: MappingSort) -> Any:
    return {
        MappingSort.PHONE: row.phone,
        MappingSort.ACCOUNT: row.account_number,
        MappingSort.CREATED: row.created_at,
        MappingSort.SOURCE: row.source,
    }[sort]


@pytest.fixture(params=["filter-driven", "sort-driven"])
def narrow(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both query plans: the filter's matches sorted, or the sort index walked."""
    monkeypatch.setattr(mappings, "NARROW", 10_000 if request.param == "filter-driven" else 1)
    return str(request.param)


@pytest.mark.parametrize("sort", list(MappingSort))
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("source", [None, "directory"])
def test_pages_follow_each_other_in_every_order_without_gaps_or_repeats(
    links: DbUnderTest, narrow: str, sort: MappingSort, descending: bool, source: str | None
) -> None:
    query = MappingQuery(sort=sort, descending=descending, source=source)
    everything = every_page(links, MappingQuery(), 100)
    assert len(everything) == 7
    expected = sorted(
        (r for r in everything if source is None or r.source == source),
        key=lambda r: (sort_value(r, sort), r.link_id),
        reverse=descending,
    )
    assert every_page(links, query, 2) == expected


def test_rows_carry_the_location_and_the_whole_account_links_the_customer(
    links: DbUnderTest,
) -> None:
    rows = {r.phone: r for r in every_page(links, MappingQuery(source="dispatcher"), 10)}
    whole, located = rows["+15055550104"], rows["+15055550106"]
    assert (whole.service_location_id, whole.customer_name, whole.service_address) == (
        None,
        "Ben Duran",
        "",
    )
    assert (located.customer_name, located.service_address) == ("Ana Baca", "2 Main St")
    assert (located.created_by, located.desk, located.reviewed, located.version) == (
        "jdoe",
        "desk-3",
        False,
        1,
    )
    assert not located.location_removed


@pytest.mark.parametrize(
    ("text", "phones"),
    [
        ("5055550101", {"+15055550101"}),  # national digits
        ("(505) 555-010", {"+15055550101", "+15055550103", "+15055550104", "+15055550105",
                           "+15055550106"}),
        ("+1575", {"+15755550102"}),
        ("A-20", {"+15755550102", "+15055550103", "+15055550104"}),  # account prefix
        ("sl-100-2", {"+15055550105", "+15055550106"}),  # location prefix, any case
        ("duran oak", {"+15755550102", "+15055550103", "+15055550104"}),  # words, whole account
        ("elm", {"+15055550101"}),
        ("nobody", set()),
        ("'\"*():&|", set()),
    ],
)  # fmt: skip
def test_search_by_phone_account_location_or_words(
    links: DbUnderTest, narrow: str, text: str, phones: set[str]
) -> None:
    found = every_page(links, MappingQuery(text=text), 3)
    assert {r.phone for r in found} == phones
    with links.sessions() as s:
        assert count_mappings(s, MappingQuery(text=text)) == (len(found), False)


def test_filters_combine_and_the_count_stops_at_the_cap(links: DbUnderTest) -> None:
    with links.sessions() as s:
        assert count_mappings(s, MappingQuery()) == (7, False)
        assert count_mappings(s, MappingQuery(), cap=5) == (5, True)
        assert count_mappings(s, MappingQuery(), cap=7) == (7, False)
        unreviewed = MappingQuery(reviewed=False, text="505")
        assert {r.phone for r in page_mappings(s, unreviewed, None, 10)} == {
            "+15055550104",
            "+15055550106",
        }
        assert page_mappings(s, MappingQuery(source="upload"), None, 10) == []
        assert page_mappings(s, MappingQuery(), None, 0) == []


def test_review_queue_holds_dispatchers_unreviewed_links_oldest_first(links: DbUnderTest) -> None:
    with links.sessions() as s:
        queue = review_queue(s, None, 10)
        assert [r.phone for r in queue] == ["+15055550104", "+15055550106"]
        assert review_queue(s, queue[0].link_id, 10) == queue[1:]
        assert review_count(s) == 2
        s.execute(update(PhoneLink).where(PhoneLink.id == queue[0].link_id).values(reviewed=True))
        assert review_count(s) == 1


def test_conflicts_removed_locations_several_customers_and_too_many_accounts(
    links: DbUnderTest,
) -> None:
    with links.sessions() as s:
        assert [c.kind for c in find_conflicts(s, account_limit=5, limit=10)] == [
            "several_customers"
        ]
        s.execute(
            update(ServiceLocation)
            .where(ServiceLocation.service_location_id == "SL-100-2")
            .values(removed_at=utcnow())
        )
        conflicts = find_conflicts(s, account_limit=1, limit=10)
        assert [(c.kind, c.phone, len(c.link_ids)) for c in conflicts] == [
            ("removed_location", "+15055550105", 1),
            ("removed_location", "+15055550106", 1),
            ("several_customers", "+15055550101", 2),
            ("too_many_accounts", "+15055550101", 2),
        ]
        assert "SL-100-2" in conflicts[0].detail
        assert "A-100, B-300" in conflicts[2].detail
        assert count_conflicts(s, account_limit=1) == 4
        assert len(find_conflicts(s, account_limit=1, limit=3)) == 3
        removed = every_page_in(s, MappingQuery(text="SL-100-2"))
        assert all(r.location_removed for r in removed)


def every_page_in(s: Any, query: MappingQuery) -> list[MappingRow]:
    return page_mappings(s, query, None, 100)
