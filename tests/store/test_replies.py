"""Automatic replies and the consent guard: what a customer's text is owed, and never more."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from outagedesk.domain.consent import ALWAYS_OWED, Purpose, replay
from outagedesk.domain.keywords import Classifier
from outagedesk.domain.replies import ReplyPolicy, count_segments
from outagedesk.gateway.contract import parse_page
from outagedesk.store.ingest import IngestPolicy, ingest_page
from outagedesk.store.models import ConsentRecord, OutboundText, OutboxTask
from outagedesk.store.outbound import (
    ClaimedText,
    SendResult,
    claim_texts,
    consent_states,
    queue_text,
    record_sends,
    text_key,
)

from dbsupport import DbUnderTest

PHONE = "+15055550123"
_ids = itertools.count(1)


def page(*texts: tuple[str, str]) -> Any:
    return parse_page(
        {
            "messages": [
                {"id": f"m-{next(_ids)}", "from": phone, "to": "85700", "body": body,
                 "received_at": "2026-11-24T10:15:03Z"}
                for phone, body in texts
            ],
            "next_cursor": "c",
        }
    )  # fmt: skip


def ingest(db: DbUnderTest, *texts: tuple[str, str], replies: ReplyPolicy | None = None) -> None:
    policy = IngestPolicy(Classifier(), replies=replies or ReplyPolicy())
    with db.sessions() as s:
        ingest_page(s, "gw", page(*texts), policy)


def queued(db: DbUnderTest, phone: str = PHONE) -> list[str]:
    with db.sessions() as s:
        return list(
            s.scalars(
                select(OutboundText.purpose)
                .where(OutboundText.phone == phone, OutboundText.state == "queued")
                .order_by(OutboundText.id)
            )
        )


def send_all(db: DbUnderTest) -> list[ClaimedText]:
    with db.sessions() as s:
        claimed = claim_texts(s, 1000, 60, "test")
        record_sends(s, [SendResult(c, "sent", f"o-{c.outbound_pk}") for c in claimed])
    return claimed


@pytest.mark.parametrize(
    ("body", "purpose"),
    [
        ("HELP", "help"),
        ("auxilio", "help"),
        ("STOP", "opt_out_confirmation"),
        ("Alto", "opt_out_confirmation"),
        ("START", "opt_in_confirmation"),
        ("what is this?", "unknown_hint"),
        ("OUT tree on line", "outage_ack"),
        ("STATUS", "status"),
    ],
)
def test_each_family_gets_its_reply(db: DbUnderTest, body: str, purpose: str) -> None:
    ingest(db, (PHONE, body))
    assert queued(db) == [purpose]


def test_a_revocation_phrase_gets_no_hint(db: DbUnderTest) -> None:
    ingest(db, (PHONE, "please stop texting me"))
    assert queued(db) == []


def test_only_one_confirmation_per_opt_out(db: DbUnderTest) -> None:
    ingest(db, (PHONE, "STOP"), (PHONE, "stop"))
    ingest(db, (PHONE, "QUIT"))
    assert queued(db) == ["opt_out_confirmation"]


def test_an_opted_out_number_gets_help_but_nothing_else(db: DbUnderTest) -> None:
    ingest(db, (PHONE, "STOP"))
    ingest(db, (PHONE, "hello?"), (PHONE, "HELP"))
    assert queued(db) == ["opt_out_confirmation", "help"]


def test_a_keyword_after_stop_opts_in_to_that_keyword_only(db: DbUnderTest) -> None:
    ingest(db, (PHONE, "STOP"), (PHONE, "STATUS"), (PHONE, "hello?"))
    assert queued(db) == ["opt_out_confirmation", "status"]
    with db.sessions() as s:
        state = consent_states(s, [PHONE])[PHONE]
    assert state.opted_in("STATUS")
    assert not state.opted_in("OUT")


def test_texting_the_keyword_again_opts_back_in(db: DbUnderTest) -> None:
    ingest(db, (PHONE, "STOP"), (PHONE, "OUT"))
    assert queued(db) == ["opt_out_confirmation", "outage_ack"]


def test_a_provider_that_answers_help_and_stop_is_not_doubled(db: DbUnderTest) -> None:
    policy = ReplyPolicy(provider_answers=frozenset({"help", "opt_out"}))
    ingest(db, (PHONE, "HELP"), (PHONE, "STOP"), replies=policy)
    assert queued(db) == []
    with db.sessions() as s:
        assert consent_states(s, [PHONE])[PHONE].opted_out_everywhere


def test_a_stop_after_queuing_blocks_the_queued_text(db: DbUnderTest) -> None:
    ingest(db, (PHONE, "OUT"))
    ingest(db, (PHONE, "STOP"))
    sent = send_all(db)
    with db.sessions() as s:
        rows = dict(s.execute(select(OutboundText.purpose, OutboundText.state)).all())
    assert rows == {"outage_ack": "blocked", "opt_out_confirmation": "sent"}
    assert len(sent) == 1
    with db.sessions() as s:
        tasks = s.execute(
            select(OutboxTask.done, OutboxTask.attempts, OutboxTask.lease_until)
            .join(OutboundText, OutboundText.id == OutboxTask.outbound_pk)
            .order_by(OutboundText.purpose)
        ).all()
    # The blocked text's task is closed unsent, without counting an attempt.
    assert [tuple(t) for t in tasks] == [(True, 1, None), (True, 0, None)]


def test_queue_text_refuses_an_opted_out_number(db: DbUnderTest) -> None:
    ingest(db, (PHONE, "STOP"))
    with db.sessions() as s:
        text = queue_text(
            s, phone=PHONE, body="linked!", purpose=Purpose.LINK_CONFIRMATION, keyword=None,
            in_reply_to=None, key=text_key(None, Purpose.LINK_CONFIRMATION, "r-1"),
        )  # fmt: skip
        s.commit()
        assert text.state == "blocked"


def test_templates_render_and_can_be_replaced() -> None:
    policy = ReplyPolicy(program="Lakeview Electric", support="call 555-0100")
    help_text = policy.render(Purpose.HELP)
    assert "Lakeview Electric" in help_text
    assert "Msg&data rates may apply" in help_text
    assert "STOP" in help_text
    custom = ReplyPolicy(templates=((Purpose.OUTAGE_ACK.value, "{program}: got it"),))
    assert custom.render(Purpose.OUTAGE_ACK) == "OutageDesk Utility: got it"


def test_every_default_template_fits_in_two_segments() -> None:
    policy = ReplyPolicy()
    for purpose in Purpose:
        assert count_segments(policy.render(purpose, address="12 Main St")).segments <= 2


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("€" * 80, "GSM-7", 160, 1),
        ("sin luz 🙁", "UCS-2", 10, 1),
        ("ñ" * 71 + "🙁", "UCS-2", 73, 2),
    ],
)
def test_segment_counting(text: str, encoding: str, units: int, segments: int) -> None:
    result = count_segments(text)
    assert (result.encoding, result.units, result.segments) == (encoding, units, segments)


# -- the property: no text but the two owed ones ever reaches an opted-out number ---------------

BODIES = ["OUT", "OUT tree", "STOP", "stop", "START", "HELP", "auxilio", "STATUS", "hello",
          "please stop texting me", "ALTO", "INICIO", "UNSTOP"]  # fmt: skip
_phones = (f"+1720555{n:04d}" for n in itertools.count(100))
# What each number's records must be, across examples (they share one database).
MODEL: dict[str, list[tuple[str, bool]]] = {}
Step = tuple[str, int, str]  # (action, which number, body)


@pytest.fixture(scope="module")
def shared_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DbUnderTest]:
    from dbsupport import sqlite_db_at

    yield from sqlite_db_at(tmp_path_factory.mktemp("consent"))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["text", "text", "text", "send", "link_reply"]),
            st.integers(0, 2),
            st.sampled_from(BODIES),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_no_text_beyond_the_owed_ones_reaches_an_opted_out_number(
    shared_db: DbUnderTest, steps: list[Step]
) -> None:
    db = shared_db
    phones = [next(_phones) for _ in range(3)]  # fresh numbers: examples never meet
    classify = Classifier().classify
    model = MODEL
    model.update({p: [] for p in phones})
    for action, who, body in steps:
        phone = phones[who]
        if action == "text":
            ingest(db, (phone, body))
            verdict = classify(body)
            if verdict.kind == "opt_out":
                model[phone].append(("*", False))
            elif verdict.kind == "opt_in":
                model[phone].append(("*", True))
            elif verdict.kind in ("outage", "status", "help") and verdict.keyword:
                model[phone].append((verdict.keyword, True))
        elif action == "link_reply":
            with db.sessions() as s:
                queue_text(
                    s, phone=phone, body="linked", purpose=Purpose.LINK_CONFIRMATION,
                    keyword=None, in_reply_to=None,
                    key=text_key(None, Purpose.LINK_CONFIRMATION, f"{phone}-{len(model[phone])}"),
                )  # fmt: skip
                s.commit()
        else:
            for claimed in send_all(db):
                with db.sessions() as s:
                    text = s.get(OutboundText, claimed.outbound_pk)
                    assert text is not None
                    state = replay(model[text.phone])
                    allowed = state.opted_in(text.keyword or "OUT")
                    assert allowed or Purpose(text.purpose) in ALWAYS_OWED, (text.purpose, steps)
        # The derived state always equals the replay of the records.
        with db.sessions() as s:
            derived = consent_states(s, phones)
            for p in phones:
                records = s.execute(
                    select(ConsentRecord.keyword, ConsentRecord.opted_in)
                    .where(ConsentRecord.phone == p)
                    .order_by(ConsentRecord.id)
                ).all()
                assert [tuple(r) for r in records] == model[p]
                assert derived[p] == replay(model[p])
    # Exactly one confirmation per opt-out that changed something.
    with db.sessions() as s:
        for p in phones:
            confirmations = s.scalars(
                select(OutboundText.in_reply_to).where(
                    OutboundText.phone == p, OutboundText.purpose == "opt_out_confirmation"
                )
            ).all()
            transitions = 0
            state = replay([])
            for keyword, opted_in in model[p]:
                before = state.opted_out_everywhere
                state.apply(keyword, opted_in)
                transitions += int(keyword == "*" and not opted_in and not before)
            assert len(confirmations) == transitions


def test_template_problems_name_the_fix() -> None:
    from outagedesk.domain.replies import template_problems

    assert template_problems({"outage_ack": "{program}: got it at {address}"}) == []
    assert "unknown reply 'ack'" in template_problems({"ack": "x"})[0]
    assert "{programme}" in template_problems({"help": "{programme}"})[0]
    assert "empty" in template_problems({"help": "  "})[0]
    assert "help:" in template_problems({"help": "{unclosed"})[0]
