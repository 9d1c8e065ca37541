"""The feed's SQL: keyset pages, filters, search, the live head, counts and details."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from outagedesk.store import feed
from outagedesk.store.feed import FeedFilter, FeedQuery
from outagedesk.store.models import (
    InboundMessage,
    OmsAttempt,
    OutboundText,
    PhoneLink,
    QuarantinedMessage,
    Report,
    ServiceLocation,
)

from dbsupport import DbUnderTest

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
LINKED = "+15055550101"


class Maker:
    def __init__(self, db: DbUnderTest) -> None:
        self.db = db
        self.n = 0

    def message(
        self,
        phone: str = "+12085550100",
        body: str = "OUT",
        kind: str = "outage",
        *,
        state: str | None = "queued",
        minutes: float | None = None,
        account: str | None = None,
        location: str | None = None,
        ticket: str | None = None,
        oms_message: str | None = None,
    ) -> int:
        self.n += 1
        at = T0 + timedelta(minutes=self.n if minutes is None else minutes)
        with self.db.sessions() as s:
            msg = InboundMessage(
                gateway_message_id=f"m-{self.n:06d}",
                phone=phone,
                to="85700",
                body=body,
                received_at=at,
                stored_at=T0 + timedelta(seconds=self.n),
                kind=kind,
                keyword="OUT" if kind == "outage" else None,
                raw={"id": f"m-{self.n:06d}", "from": phone, "body": body},
            )
            s.add(msg)
            s.flush()
            if kind == "outage" and state is not None:
                s.add(
                    Report(
                        report_id=f"r-{self.n:016d}",
                        message_id=msg.id,
                        phone=phone,
                        received_at=at,
                        state=state,
                        account_number=account,
                        service_location_id=location,
                        resolved_level="Meter" if account else "Unresolved",
                        priority="Normal",
                        ticket_id=ticket,
                        oms_message=oms_message,
                    )
                )
            s.commit()
            return msg.id

    def quarantine(self, raw: dict[str, object], reason: str) -> int:
        self.n += 1
        text = json.dumps(raw)
        with self.db.sessions() as s:
            q = QuarantinedMessage(
                raw_sha256=f"{self.n:064d}",
                raw=text,
                reason=reason,
                gateway_message_id=None,
                quarantined_at=T0 + timedelta(seconds=self.n),
            )
            s.add(q)
            s.commit()
            return -q.id

    def set_state(self, key: int, state: str, ticket: str | None = None) -> int:
        with self.db.sessions() as s:
            report = s.query(Report).filter(Report.message_id == key).one()
            report.state = state
            report.ticket_id = ticket
            s.commit()
            return report.id


@pytest.fixture
def make(db: DbUnderTest) -> Maker:
    return Maker(db)


def page(db: DbUnderTest, query: FeedQuery, limit: int = 200) -> feed.FeedPage:
    with db.sessions() as s:
        return feed.feed_page(s, query, None, limit)


def all_keys(db: DbUnderTest, query: FeedQuery, limit: int) -> list[int]:
    keys: list[int] = []
    with db.sessions() as s:
        p = feed.feed_page(s, query, None, limit)
        keys += [r.key for r in p.rows]
        while p.has_more:
            p = feed.feed_page(s, query, p.cursor, limit)
            keys += [r.key for r in p.rows]
    return keys


def test_pages_are_newest_first_and_cover_everything_once(db: DbUnderTest, make: Maker) -> None:
    expected = []
    for i in range(23):
        expected.append(make.message(body=f"OUT {i}"))
        if i % 7 == 3:
            expected.append(make.quarantine({"from": "nope", "body": "OUT"}, "from: not a phone"))
    keys = all_keys(db, FeedQuery(), limit=5)
    assert keys == sorted(expected, key=lambda k: expected.index(k), reverse=True)
    assert len(set(keys)) == len(keys)


def test_empty_database_has_one_empty_page(db: DbUnderTest) -> None:
    p = page(db, FeedQuery())
    assert p.rows == []
    assert not p.has_more
    assert p.marks is not None


def test_filters_select_by_state_kind_and_quarantine(db: DbUnderTest, make: Maker) -> None:
    queued = make.message()
    unlinked = make.message(state="unlinked", oms_message="number not found")
    held = make.message(state="held")
    forwarded = make.message(phone=LINKED, state="forwarded", account="1001", ticket="T-100")
    rejected = make.message(state="rejected", oms_message="bad payload")
    retrying = make.message(state="retrying")
    stop = make.message(body="STOP", kind="opt_out", state=None)
    help_ = make.message(body="HELP", kind="help", state=None)
    revoke = make.message(body="please stop texting me", kind="unknown", state=None)
    with db.sessions() as s:
        s.query(InboundMessage).filter(InboundMessage.id == revoke).update(
            {"revocation_suspected": True}
        )
        s.commit()
    status = make.message(body="STATUS", kind="status", state=None)
    bad = make.quarantine({"id": "x1", "from": "12345"}, "from: not a phone number")

    def keys(f: FeedFilter) -> set[int]:
        return {r.key for r in page(db, FeedQuery(f)).rows}

    assert keys(FeedFilter.ALL) == {
        queued, unlinked, held, forwarded, rejected, retrying, stop, help_, revoke, status, bad,
    }  # fmt: skip
    assert keys(FeedFilter.NEEDS_LINKING) == {unlinked, held}
    assert keys(FeedFilter.FAILED) == {rejected, retrying}
    assert keys(FeedFilter.FORWARDED) == {forwarded}
    assert keys(FeedFilter.OPT_OUT_HELP) == {stop, help_, revoke}
    assert keys(FeedFilter.QUARANTINE) == {bad}

    row = next(r for r in page(db, FeedQuery(FeedFilter.QUARANTINE)).rows)
    assert row.state == feed.QUARANTINED
    assert row.oms_message == "from: not a phone number"
    assert row.phone == "12345"

    fwd = page(db, FeedQuery(FeedFilter.FORWARDED)).rows[0]
    assert (fwd.ticket_id, fwd.account_number, fwd.phone) == ("T-100", "1001", LINKED)

    with db.sessions() as s:
        counts = feed.feed_counts(s)
    assert counts == feed.FeedCounts(needs_linking=2, failed=2, quarantined=1)


def test_filtered_pages_merge_states_in_order(db: DbUnderTest, make: Maker) -> None:
    made = [make.message(state="held" if i % 3 else "unlinked") for i in range(17)]
    make.message(state="forwarded")
    keys = all_keys(db, FeedQuery(FeedFilter.NEEDS_LINKING), limit=4)
    assert keys == list(reversed(made))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("505-555-0101", {"linked"}),
        ("(505) 555-0101", {"linked"}),
        ("0101", {"linked"}),
        ("tree", {"tree"}),
        ("TREE ON", {"tree"}),
        ("1001", {"linked"}),
        ("t-77", {"ticket"}),
        ("100%", set()),
        ("nothing like this", set()),
    ],
)
def test_search_covers_phone_text_account_ticket(
    db: DbUnderTest, make: Maker, text: str, expected: set[str]
) -> None:
    named = {
        "linked": make.message(phone=LINKED, body="OUT", account="1001", state="forwarded"),
        "tree": make.message(body="OUT tree on line"),
        "ticket": make.message(state="forwarded", ticket="T-77"),
        "other": make.message(body="OUT 100 percent dark"),
    }
    found = {r.key for r in page(db, FeedQuery(search=text)).rows}
    assert found == {named[n] for n in expected}


def test_search_works_inside_a_filter_and_on_quarantine(db: DbUnderTest, make: Maker) -> None:
    a = make.message(body="OUT tree down", state="unlinked")
    make.message(body="OUT tree down", state="forwarded")
    make.message(body="OUT pole", state="unlinked")
    bad = make.quarantine({"id": "zz-9", "from": "+1-CALL-NOW"}, "from: not a phone number")
    assert [r.key for r in page(db, FeedQuery(FeedFilter.NEEDS_LINKING, "tree")).rows] == [a]
    assert [r.key for r in page(db, FeedQuery(FeedFilter.QUARANTINE, "CALL-NOW")).rows] == [bad]
    assert [r.key for r in page(db, FeedQuery(FeedFilter.ALL, "zz-9")).rows] == [bad]


def test_newer_rows_continue_from_the_marks(db: DbUnderTest, make: Maker) -> None:
    make.message()
    first = page(db, FeedQuery(FeedFilter.NEEDS_LINKING))
    assert first.rows == []
    assert first.marks is not None
    a = make.message(state="unlinked")
    make.message(state="forwarded")
    b = make.message(state="held")
    with db.sessions() as s:
        newer = feed.newer_rows(s, FeedQuery(FeedFilter.NEEDS_LINKING), first.marks)
        assert newer.complete
        assert [r.key for r in newer.rows] == [b, a]
        again = feed.newer_rows(s, FeedQuery(FeedFilter.NEEDS_LINKING), newer.marks)
        assert again.rows == []
    for _ in range(5):
        make.message(state="unlinked")
    with db.sessions() as s:
        flood = feed.newer_rows(s, FeedQuery(FeedFilter.NEEDS_LINKING), newer.marks, limit=3)
    assert not flood.complete


def test_rows_for_reports_and_matching(db: DbUnderTest, make: Maker) -> None:
    key = make.message(body="OUT tree")
    other = make.message(body="OUT pole")
    report_pk = make.set_state(key, "unlinked")
    with db.sessions() as s:
        rows = feed.rows_for_reports(s, [report_pk])
        assert [(r.key, r.state) for r in rows] == [(key, "unlinked")]
        needs = FeedQuery(FeedFilter.NEEDS_LINKING)
        assert [r.key for r in feed.rows_for_reports(s, [report_pk], needs)] == [key]
        fwd = FeedQuery(FeedFilter.FORWARDED)
        assert feed.rows_for_reports(s, [report_pk], fwd) == []
        assert feed.rows_for_reports(s, []) == []
        assert feed.newest_needing_link(s) == key
        assert feed.newest_needing_link(s, below_key=key) is None
    assert other != key


def test_repeats_within_the_window_are_counted(db: DbUnderTest, make: Maker) -> None:
    phone = "+15755550111"
    first = make.message(phone=phone, minutes=0)
    second = make.message(phone=phone, minutes=10)
    third = make.message(phone=phone, minutes=25)
    later = make.message(phone=phone, minutes=70)
    make.message(phone="+15755550112", minutes=11)
    rows = {r.key: r.repeat for r in page(db, FeedQuery()).rows}
    assert (rows[first], rows[second], rows[third], rows[later]) == (1, 2, 3, 1)


def test_details_gather_report_attempts_replies_history_links(db: DbUnderTest, make: Maker) -> None:
    with db.sessions() as s:
        s.add(
            ServiceLocation(
                service_location_id="SL-1",
                account_number="1001",
                meter_id="M-1",
                customer_name="Ana Baca",
                service_address="12 Main St",
                life_support=True,
            )
        )
        s.add(PhoneLink(phone=LINKED, account_number="1001", service_location_id="SL-1",
                        source="directory"))  # fmt: skip
        s.add(OutboundText(phone=LINKED, body="We got your report", purpose="ack", state="sent",
                           idempotency_key="ack-1"))  # fmt: skip
        s.commit()
    earlier = make.message(phone=LINKED, body="OUT", account="1001", location="SL-1")
    key = make.message(phone=LINKED, body="OUT again", account="1001", location="SL-1",
                       state="forwarded", ticket="T-5")  # fmt: skip
    with db.sessions() as s:
        report = s.query(Report).filter(Report.message_id == key).one()
        for status, outcome, detail in ((503, "transient", "OMS answered HTTP 503"),
                                        (201, "ticket", "created")):  # fmt: skip
            s.add(OmsAttempt(report_pk=report.id, revision=1, idempotency_key="k.1",
                             http_status=status, outcome=outcome, detail=detail))  # fmt: skip
        s.commit()
        d = feed.details(s, key)
    assert isinstance(d, feed.MessageDetails)
    assert d.report is not None
    assert (d.report.ticket_id, d.report.service_address) == ("T-5", "12 Main St")
    assert [a.http_status for a in d.attempts] == [503, 201]
    assert [r.body for r in d.replies] == ["We got your report"]
    assert [h.key for h in d.history] == [earlier]
    assert [(li.account_number, li.life_support) for li in d.links] == [("1001", True)]
    assert d.repeat == 2
    assert d.raw["body"] == "OUT again"

    bad = make.quarantine({"id": "q"}, "received_at: missing")
    with db.sessions() as s:
        q = feed.details(s, bad)
        assert isinstance(q, feed.QuarantineDetails)
        assert q.reason == "received_at: missing"
        assert feed.details(s, 999_999) is None
        assert feed.details(s, -999_999) is None
