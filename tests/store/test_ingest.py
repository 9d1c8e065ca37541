from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from outagedesk.domain.keywords import Classifier
from outagedesk.gateway.contract import parse_page
from outagedesk.store import ingest as ingest_module
from outagedesk.store.ingest import IngestPolicy, ingest_page, load_cursor
from outagedesk.store.models import (
    ConsentRecord,
    GatewayCursor,
    InboundMessage,
    OutboxTask,
    PhoneLink,
    QuarantinedMessage,
    Report,
    ServiceLocation,
)

from dbsupport import DbUnderTest

# Replies have tests of their own (test_replies.py); these look at reports alone.
POLICY = IngestPolicy(Classifier(), replies=None)


def msg(ident: str, phone: str = "+15055550123", body: str = "OUT", **extra: Any) -> dict[str, Any]:
    return {
        "id": ident,
        "from": phone,
        "to": "85700",
        "body": body,
        "received_at": "2026-11-24T10:15:03Z",
        **extra,
    }


def page(*messages: Any, cursor: str = "c-1", more: bool = False) -> Any:
    return parse_page({"messages": list(messages), "next_cursor": cursor, "has_more": more})


def count(db: DbUnderTest, model: type[Any]) -> int:
    with db.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def link(
    db: DbUnderTest, phone: str, account: str, location: str | None, *, life: bool = False
) -> None:
    with db.sessions() as s:
        if location and not s.scalar(
            select(ServiceLocation).where(ServiceLocation.service_location_id == location)
        ):
            s.add(
                ServiceLocation(
                    service_location_id=location,
                    account_number=account,
                    meter_id=f"M-{location}",
                    customer_name="Pat Example",
                    service_address="12 Main St",
                    life_support=life,
                )
            )
        s.add(
            PhoneLink(
                phone=phone, account_number=account, service_location_id=location, source="test"
            )
        )
        s.commit()


def test_a_page_is_stored_with_its_cursor(db: DbUnderTest) -> None:
    with db.sessions() as s:
        result = ingest_page(s, "gw", page(msg("m-1"), msg("m-2", body="HELP")), POLICY)
    assert result.stored == 2
    assert len(result.report_ids) == 1
    with db.sessions() as s:
        assert load_cursor(s, "gw") == "c-1"
        report = s.scalars(select(Report)).one()
        assert report.state == "queued"
        assert report.resolved_level == "Unresolved"
        task = s.scalars(select(OutboxTask)).one()
        assert task.idempotency_key == f"{report.report_id}.1"
        assert task.payload["message_id"] == "m-1"


def test_duplicates_within_and_across_pages_are_stored_once(db: DbUnderTest) -> None:
    with db.sessions() as s:
        first = ingest_page(s, "gw", page(msg("m-1"), msg("m-1"), msg("m-2")), POLICY)
    with db.sessions() as s:
        again = ingest_page(s, "gw", page(msg("m-2"), msg("m-3"), cursor="c-2"), POLICY)
    assert (first.stored, first.duplicates) == (2, 1)
    assert (again.stored, again.duplicates) == (1, 1)
    assert count(db, InboundMessage) == 3
    assert count(db, Report) == 3
    assert count(db, OutboxTask) == 3


def test_only_outage_texts_become_reports(db: DbUnderTest) -> None:
    bodies = ["STOP", "HELP", "START", "status", "hello?", "please stop texting me", "OUT tree"]
    with db.sessions() as s:
        ingest_page(s, "gw", page(*(msg(f"m-{i}", body=b) for i, b in enumerate(bodies))), POLICY)
    with db.sessions() as s:
        report = s.scalars(select(Report)).one()
        assert report.remarks == "tree"
        kinds = dict(s.execute(select(InboundMessage.body, InboundMessage.kind)).all())
        flagged = s.scalars(
            select(InboundMessage.body).where(InboundMessage.revocation_suspected.is_(True))
        ).all()
    assert kinds["STOP"] == "opt_out"
    assert kinds["hello?"] == "unknown"
    assert flagged == ["please stop texting me"]


def test_keywords_record_consent(db: DbUnderTest) -> None:
    with db.sessions() as s:
        ingest_page(
            s,
            "gw",
            page(msg("m-1", tags=["north"]), msg("m-2", body="STOP"), msg("m-3", body="START")),
            POLICY,
        )
    with db.sessions() as s:
        rows = s.execute(
            select(ConsentRecord.keyword, ConsentRecord.opted_in, ConsentRecord.tags).order_by(
                ConsentRecord.id
            )
        ).all()
    assert [tuple(r) for r in rows] == [("OUT", True, ["north"]), ("*", False, []), ("*", True, [])]


def test_malformed_messages_are_quarantined_once_and_the_rest_goes_on(db: DbUnderTest) -> None:
    bad = [msg("m-x", phone="not-a-phone"), {"from": "5055550123", "body": "OUT"}, "junk"]
    with db.sessions() as s:
        first = ingest_page(s, "gw", page(msg("m-1"), *bad), POLICY)
    with db.sessions() as s:
        again = ingest_page(s, "gw", page(*bad, cursor="c-2"), POLICY)
    assert (first.stored, first.quarantined, again.quarantined) == (1, 3, 0)
    with db.sessions() as s:
        rows = s.execute(
            select(QuarantinedMessage.reason, QuarantinedMessage.gateway_message_id)
        ).all()
    assert sorted(r.reason for r in rows) == sorted(
        [
            "not a phone number: 'not-a-phone'",
            "id is missing or not 1..128 characters",
            "message is not a JSON object",
        ]
    )
    assert "m-x" in {r.gateway_message_id for r in rows}


def test_linked_numbers_resolve_to_meter_and_life_support_is_urgent(db: DbUnderTest) -> None:
    link(db, "+15055550123", "1002", "SL-1002-1", life=True)
    with db.sessions() as s:
        ingest_page(s, "gw", page(msg("m-1")), POLICY)
    with db.sessions() as s:
        report = s.scalars(select(Report)).one()
        payload = s.scalars(select(OutboxTask.payload)).one()
    assert (report.account_number, report.resolved_level, report.priority) == (
        "1002",
        "Meter",
        "Urgent",
    )
    assert payload["meter_id"] == "M-SL-1002-1"
    assert payload["priority"] == "Urgent"


def test_a_phone_on_two_customers_accounts_stays_unresolved(db: DbUnderTest) -> None:
    link(db, "+15055550123", "1002", "SL-1002-1")
    link(db, "+15055550123", "2001", "SL-2001-1")
    with db.sessions() as s:
        ingest_page(s, "gw", page(msg("m-1")), POLICY)
    with db.sessions() as s:
        report = s.scalars(select(Report)).one()
    assert report.resolved_level == "Unresolved"
    assert report.account_number is None


def test_hold_unlinked_keeps_unlinked_reports_out_of_the_outbox(db: DbUnderTest) -> None:
    link(db, "+15055550199", "1002", "SL-1002-1")
    policy = IngestPolicy(Classifier(), hold_unlinked=True, replies=None)
    with db.sessions() as s:
        ingest_page(s, "gw", page(msg("m-1"), msg("m-2", phone="+15055550199")), policy)
    with db.sessions() as s:
        states = dict(s.execute(select(Report.phone, Report.state)).all())
    assert states == {"+15055550123": "held", "+15055550199": "queued"}
    assert count(db, OutboxTask) == 1


def test_a_failure_mid_page_stores_nothing_not_even_the_cursor(
    db: DbUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.sessions() as s:
        ingest_page(s, "gw", page(msg("m-1")), POLICY)

    def boom(*_: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(ingest_module, "link_targets", boom)
    with db.sessions() as s, pytest.raises(RuntimeError, match="disk full"):
        ingest_page(s, "gw", page(msg("m-2"), msg("m-3", phone="+x"), cursor="c-9"), POLICY)
    assert count(db, InboundMessage) == 1
    assert count(db, QuarantinedMessage) == 0
    with db.sessions() as s:
        assert s.get(GatewayCursor, "gw").cursor == "c-1"  # type: ignore[union-attr]
