"""Simulated outage management system speaking oms-webhook.md v1 at POST /v1/reports."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any

from outagedesk.sim._http import Request, Response, SimServer, json_response, with_delay
from outagedesk.sim._util import normalize_phone

REPORTS_PATH = "/v1/reports"
NOT_FOUND_MESSAGE = "This number does not appear in our records. Please call 1-800-555-0100."
_FIRST_TICKET = 4401

_REQUIRED_STR = ("report_id", "phone", "message_id")
_OPTIONAL_STR = (
    "received_at",
    "short_code",
    "keyword",
    "body",
    "remarks",
    "account_number",
    "service_location_id",
    "meter_id",
    "call_type",
    "taken_by",
)
_ENUMS = {
    "resolved_level": ("Meter", "Address", "Unresolved"),
    "priority": ("Normal", "NeedsAttention", "Urgent"),
}


def _invalid(message: str) -> Response:
    return json_response(422, {"error": "invalid_report", "message": message})


def _validate(payload: Any) -> str | None:
    """Return why ``payload`` is not a valid report, or None."""
    if not isinstance(payload, dict):
        return "the body must be a JSON object"
    for name in _REQUIRED_STR:
        value = payload.get(name)
        if not isinstance(value, str) or not value:
            return f"{name} must be a non-empty string"
    revision = payload.get("revision")
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 1:
        return "revision must be an integer >= 1"
    for name in _OPTIONAL_STR:
        if payload.get(name) is not None and not isinstance(payload[name], str):
            return f"{name} must be a string or null"
    for name, allowed in _ENUMS.items():
        value = payload.get(name)
        if value is not None and value not in allowed:
            return f"{name} must be one of {', '.join(allowed)}"
    tags = payload.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        return "tags must be a list of strings"
    return None


class SimOms(SimServer):
    """An OMS JSON webhook on loopback. Thread-safe; see oms-webhook.md."""

    def __init__(
        self,
        token: str = "sim-oms-token",  # noqa: S107 - fake credential of a loopback simulator
        known_phones: Iterable[str] = (),
        known_accounts: Iterable[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(token, host, port)
        self._lock = threading.Lock()
        self._known_phones = {normalize_phone(p) or p for p in known_phones}
        self._known_accounts = set(known_accounts)
        # Idempotency-Key -> the first successful answer, replayed byte for byte.
        self._answers: dict[str, Response] = {}
        self._tickets: dict[str, str] = {}
        self._tickets_created = 0
        self._replays = 0
        self._requests: list[tuple[str, dict[str, Any], int]] = []

    @property
    def url(self) -> str:
        return self.base_url + REPORTS_PATH

    # -- directory of the OMS ------------------------------------------------------------------
    def add_known_phone(self, phone: str) -> None:
        with self._lock:
            self._known_phones.add(normalize_phone(phone) or phone)

    def add_known_account(self, account: str) -> None:
        with self._lock:
            self._known_accounts.add(account)

    def knows_phone(self, phone: str) -> bool:
        with self._lock:
            return (normalize_phone(phone) or phone) in self._known_phones

    # -- inspection ----------------------------------------------------------------------------
    @property
    def tickets(self) -> dict[str, str]:
        with self._lock:
            return dict(self._tickets)

    @property
    def tickets_created(self) -> int:
        with self._lock:
            return self._tickets_created

    @property
    def replays(self) -> int:
        with self._lock:
            return self._replays

    @property
    def requests(self) -> list[tuple[str, dict[str, Any], int]]:
        """Every POST to /v1/reports as (Idempotency-Key or "", payload, status)."""
        with self._lock:
            return [(k, dict(p), s) for k, p, s in self._requests]

    # -- HTTP ----------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if request.path != REPORTS_PATH or request.method != "POST":
            if not self._authorized(request):
                message = "missing or invalid bearer token"
                return json_response(401, {"error": "unauthorized", "message": message})
            if request.path != REPORTS_PATH:
                return json_response(404, {"error": "not_found", "message": request.path})
            return json_response(405, {"error": "method_not_allowed", "message": "use POST"})
        key = (request.header("Idempotency-Key") or "").strip()
        try:
            payload: Any = json.loads(request.body)
        except ValueError:
            payload = None
        record = payload if isinstance(payload, dict) else {"_unparsed": repr(request.body[:200])}

        response, delay = self._answer(request, key, payload)
        with self._lock:
            self._requests.append((key, record, response.status))
        return with_delay(response, delay)

    def _answer(self, request: Request, key: str, payload: Any) -> tuple[Response, float]:
        if not self._authorized(request):
            message = "missing or invalid bearer token"
            return json_response(401, {"error": "unauthorized", "message": message}), 0.0
        if self._down:
            return json_response(503, {"error": "unavailable", "message": "OMS is down"}), 0.0
        fault, delay = self._take_fault()
        if fault is not None:
            return fault, 0.0
        if not key:
            message = "the Idempotency-Key header is required"
            return json_response(400, {"error": "missing_idempotency_key", "message": message}), 0.0
        with self._lock:
            stored = self._answers.get(key)
            if stored is not None:
                self._replays += 1
                return stored, delay
            problem = _validate(payload)
            if problem is not None:
                return _invalid(problem), delay
            assert isinstance(payload, dict)
            if not self._resolvable(payload):
                body = {"error": "number_not_found", "message": NOT_FOUND_MESSAGE}
                return json_response(404, body), delay
            report_id: str = payload["report_id"]
            ticket = self._tickets.get(report_id)
            if ticket is None:
                ticket = f"T-{_FIRST_TICKET + self._tickets_created}"
                self._tickets[report_id] = ticket
                self._tickets_created += 1
                status, code = "created", 201
            else:
                status, code = "attached", 200
            answer = json_response(
                code,
                {
                    "ticket_id": ticket,
                    "status": status,
                    "report_id": report_id,
                    "revision": payload["revision"],
                },
            )
            self._answers[key] = answer
            return answer, delay

    def _resolvable(self, payload: dict[str, Any]) -> bool:
        account = payload.get("account_number")
        if isinstance(account, str) and account in self._known_accounts:
            return True
        phone = payload["phone"]
        return (normalize_phone(phone) or phone) in self._known_phones
