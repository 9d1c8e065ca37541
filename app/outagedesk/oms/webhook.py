"""Client for the OMS JSON webhook v1 (oms-webhook.md): every answer mapped to an outcome."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

from outagedesk.gateway.client import retry_after_seconds


class OutcomeKind(StrEnum):
    TICKET = "ticket"
    NOT_FOUND = "number_not_found"
    REJECTED = "rejected"
    AUTH = "auth_error"
    TRANSIENT = "transient"


@dataclass(frozen=True, slots=True)
class OmsOutcome:
    kind: OutcomeKind
    http_status: int | None = None
    ticket_id: str | None = None
    status: str | None = None
    message: str | None = None
    retry_after: float | None = None


def _json_object(answer: httpx.Response) -> dict[str, Any] | None:
    try:
        data = answer.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def classify_answer(answer: httpx.Response) -> OmsOutcome:
    code = answer.status_code
    data = _json_object(answer)
    if code in (200, 201):
        ticket = _text(data, "ticket_id") if data else None
        if not ticket:
            return OmsOutcome(OutcomeKind.TRANSIENT, code, message="answer without a ticket_id")
        return OmsOutcome(OutcomeKind.TICKET, code, ticket, _text(data, "status") if data else None)
    if code in (404, 422) and data and data.get("error") == "number_not_found":
        return OmsOutcome(OutcomeKind.NOT_FOUND, code, message=_text(data, "message"))
    if code == 422:
        error = (_text(data, "error") if data else None) or "unprocessable"
        detail = (_text(data, "message") if data else None) or answer.text[:500]
        return OmsOutcome(OutcomeKind.REJECTED, code, status=error, message=detail)
    if code in (401, 403):
        return OmsOutcome(OutcomeKind.AUTH, code, message=f"OMS refused the token (HTTP {code})")
    if code == 429:
        wait = retry_after_seconds(answer.headers.get("Retry-After"), 5.0)
        return OmsOutcome(OutcomeKind.TRANSIENT, code, message="OMS throttled", retry_after=wait)
    return OmsOutcome(OutcomeKind.TRANSIENT, code, message=f"OMS answered HTTP {code}")


class OmsWebhookClient:
    """Delivers one report revision; the idempotency key makes every retry safe."""

    def __init__(self, http: httpx.AsyncClient, url: str, token: str, timeout: float = 15.0):
        self._http = http
        self._url = url
        self._token = token
        self._timeout = httpx.Timeout(timeout, connect=5.0)

    async def deliver(self, idempotency_key: str, payload: dict[str, Any]) -> OmsOutcome:
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Idempotency-Key": idempotency_key,
        }
        try:
            answer = await self._http.post(
                self._url, json=payload, headers=headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            return OmsOutcome(OutcomeKind.TRANSIENT, message=f"{type(exc).__name__}: {exc}")
        return classify_answer(answer)
