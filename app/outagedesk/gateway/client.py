"""Client for the gateway polling API v1 (gateway-api.md)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import httpx

from outagedesk.gateway.contract import Page, PageShapeError, parse_page


class GatewayError(Exception):
    """Base of what a poll can end in besides a page."""


class GatewayAuthError(GatewayError):
    """401/403: the token is wrong or revoked; polling stops until the settings change."""


class GatewayThrottled(GatewayError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"gateway asked to slow down for {retry_after:g} s")
        self.retry_after = retry_after


class GatewayUnavailable(GatewayError):
    """5xx, time-outs, refused connections, bodies that are not a v1 page: transient."""


def retry_after_seconds(value: str | None, default: float) -> float:
    """Seconds from a ``Retry-After`` header (delta-seconds form); the default when absent."""
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        return default
    return seconds if math.isfinite(seconds) and seconds >= 0 else default


class GatewayClient:
    """Polls one gateway over a shared ``httpx.AsyncClient``."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        token: str,
        *,
        region: str = "US",
        timeout: float = 10.0,
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._region = region
        self._timeout = timeout

    async def fetch_inbound(self, cursor: str | None, limit: int, wait: float) -> Page:
        params: dict[str, Any] = {"limit": limit, "wait": int(wait)}
        if cursor is not None:
            params["cursor"] = cursor
        try:
            answer = await self._http.get(
                f"{self._base}/v1/inbound",
                params=params,
                headers=self._headers,
                timeout=httpx.Timeout(self._timeout + wait, connect=5.0),
            )
        except httpx.HTTPError as exc:
            raise GatewayUnavailable(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc
        if answer.status_code in (401, 403):
            raise GatewayAuthError(f"gateway refused the token (HTTP {answer.status_code})")
        if answer.status_code == 429:
            raise GatewayThrottled(retry_after_seconds(answer.headers.get("Retry-After"), 5.0))
        if answer.status_code != 200:
            raise GatewayUnavailable(f"gateway answered HTTP {answer.status_code}")
        try:
            return parse_page(answer.json(), self._region)
        except (json.JSONDecodeError, UnicodeDecodeError, PageShapeError) as exc:
            raise GatewayUnavailable(f"gateway sent a body that is not a v1 page: {exc}") from exc


@dataclass(frozen=True, slots=True)
class SendAnswer:
    outcome: str
    """``sent``, ``refused`` (409 opted_out, 422: final), ``retry`` or ``auth``."""
    gateway_id: str | None = None
    detail: str | None = None
    retry_after: float | None = None


async def send_text(
    http: httpx.AsyncClient, base_url: str, token: str, payload: dict[str, Any]
) -> SendAnswer:
    """``POST /v1/outbound``; the payload's idempotency key makes a retry send nothing new."""
    try:
        answer = await http.post(
            f"{base_url.rstrip('/')}/v1/outbound",
            json=payload,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(15.0, connect=5.0),
        )
    except httpx.HTTPError as exc:
        return SendAnswer("retry", detail=f"{type(exc).__name__}: {exc}")
    try:
        data = answer.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    body = data if isinstance(data, dict) else {}
    code = answer.status_code
    if code in (200, 202) and isinstance(body.get("id"), str):
        return SendAnswer("sent", gateway_id=body["id"])
    if code == 409:
        return SendAnswer("refused", detail=f"gateway: {body.get('error', 'opted_out')}")
    if code == 422:
        return SendAnswer("refused", detail=f"gateway: {body.get('detail') or body.get('error')}")
    if code in (401, 403):
        return SendAnswer("auth", detail=f"gateway refused the token (HTTP {code})")
    if code == 429:
        wait = retry_after_seconds(answer.headers.get("Retry-After"), 5.0)
        return SendAnswer("retry", detail="gateway throttled", retry_after=wait)
    return SendAnswer("retry", detail=f"gateway answered HTTP {code}")


async def force_opt_out(
    http: httpx.AsyncClient, base_url: str, token: str, phone: str, keyword: str | None
) -> SendAnswer:
    """``POST /v1/optins/{e164}/opt-out``: tell the gateway what a person forced here."""
    try:
        answer = await http.post(
            f"{base_url.rstrip('/')}/v1/optins/{phone}/opt-out",
            json={"keyword": keyword},
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(15.0, connect=5.0),
        )
    except httpx.HTTPError as exc:
        return SendAnswer("retry", detail=f"{type(exc).__name__}: {exc}")
    code = answer.status_code
    if code == 200:
        return SendAnswer("sent")
    if code == 404:
        return SendAnswer("refused", detail="the gateway has never seen this number")
    if code in (401, 403):
        return SendAnswer("auth", detail=f"gateway refused the token (HTTP {code})")
    if 400 <= code < 500 and code != 429:
        return SendAnswer("refused", detail=f"gateway answered HTTP {code}")
    return SendAnswer("retry", detail=f"gateway answered HTTP {code}")
