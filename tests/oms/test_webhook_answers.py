"""Every row of the oms-webhook.md answer table maps to the right outcome."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from outagedesk.oms.webhook import OutcomeKind, classify_answer


def answer(
    status: int, body: Any = None, *, text: str | None = None, **headers: str
) -> httpx.Response:
    if text is not None:
        return httpx.Response(status, text=text, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize("status", [200, 201])
@pytest.mark.parametrize("ticket_status", ["created", "attached", "duplicate"])
def test_a_ticket(status: int, ticket_status: str) -> None:
    outcome = classify_answer(answer(status, {"ticket_id": "T-4411", "status": ticket_status}))
    assert outcome.kind is OutcomeKind.TICKET
    assert (outcome.ticket_id, outcome.status) == ("T-4411", ticket_status)


def test_success_without_a_ticket_is_not_trusted() -> None:
    assert classify_answer(answer(200, {"status": "created"})).kind is OutcomeKind.TRANSIENT
    assert classify_answer(answer(200, text="OK")).kind is OutcomeKind.TRANSIENT


@pytest.mark.parametrize("status", [404, 422])
def test_number_not_found(status: int) -> None:
    message = "This number does not appear in our records. Please call 1-800-555-0100."
    outcome = classify_answer(answer(status, {"error": "number_not_found", "message": message}))
    assert outcome.kind is OutcomeKind.NOT_FOUND
    assert outcome.message == message


def test_other_422_is_a_rejection_with_the_oms_message() -> None:
    outcome = classify_answer(answer(422, {"error": "bad_location", "message": "no such SL"}))
    assert outcome.kind is OutcomeKind.REJECTED
    assert (outcome.status, outcome.message) == ("bad_location", "no such SL")


def test_422_without_json_is_still_a_rejection() -> None:
    outcome = classify_answer(answer(422, text="<html>nope</html>"))
    assert outcome.kind is OutcomeKind.REJECTED
    assert outcome.message == "<html>nope</html>"


def test_a_plain_404_is_transient_not_unlinked() -> None:
    # A 404 without the error code is a wrong URL or a proxy, not an answer about the caller.
    assert classify_answer(answer(404, text="Not Found")).kind is OutcomeKind.TRANSIENT


@pytest.mark.parametrize("status", [401, 403])
def test_credentials(status: int) -> None:
    assert classify_answer(answer(status, {"error": "unauthorized"})).kind is OutcomeKind.AUTH


def test_429_carries_retry_after() -> None:
    outcome = classify_answer(answer(429, {}, **{"Retry-After": "7"}))
    assert outcome.kind is OutcomeKind.TRANSIENT
    assert outcome.retry_after == 7


@pytest.mark.parametrize("value", ["soon", "-3", "nan", ""])
def test_a_bad_retry_after_falls_back_to_a_default(value: str) -> None:
    outcome = classify_answer(answer(429, {}, **{"Retry-After": value}))
    assert outcome.retry_after == 5.0


@pytest.mark.parametrize("status", [500, 502, 503, 504, 418])
def test_other_statuses_are_transient(status: int) -> None:
    assert classify_answer(answer(status, text="err")).kind is OutcomeKind.TRANSIENT
