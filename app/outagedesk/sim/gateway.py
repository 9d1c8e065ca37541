"""Simulated SMS gateway speaking gateway-api.md v1 (polling inbound, outbound, opt-in registry)."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from outagedesk.sim._http import (
    Request,
    Response,
    SimServer,
    dumps,
    json_response,
    with_delay,
)
from outagedesk.sim._util import (
    DEFAULT_KEYWORD,
    HELP_WORDS,
    classify_body,
    normalize_phone,
    rfc3339,
    utcnow,
)

_CURSOR = re.compile(r"c-(\d{1,18})")
_MAX_WAIT = 30.0
_MAX_BODY_CHARS = 1600
_OPTINS = "/v1/optins/"
_OPT_OUT_SUFFIX = "/opt-out"


@dataclass
class _KeywordState:
    status: str
    since: str
    tags: list[str] = field(default_factory=list)


def _error(status: int, error: str, detail: str) -> Response:
    return json_response(status, {"error": error, "detail": detail})


class SimGateway(SimServer):
    """A polling SMS gateway on loopback. Thread-safe; see gateway-api.md."""

    def __init__(
        self,
        token: str = "sim-gateway-token",  # noqa: S107 - fake credential of a loopback simulator
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(token, host, port)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._messages: list[dict[str, Any]] = []
        # Each message is encoded once when added; pages are joined from these bytes.
        self._encoded: list[bytes] = []
        self._seq = 0
        self._inbound_requests = 0
        self._redeliver = 0
        # phone -> keyword -> state; a number present here has been "seen" by the gateway.
        self._registry: dict[str, dict[str, _KeywordState]] = {}
        # Inbound ids of STOP/HELP texts: the one direct answer to each may reach an
        # opted-out number (carrier rule), once.
        self._answerable: dict[str, str] = {}
        self._answered: set[str] = set()
        self._outbound: list[dict[str, Any]] = []
        self._outbound_by_key: dict[str, str] = {}
        self._opt_out_requests: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return self.base_url

    # -- feeding -------------------------------------------------------------------------------
    def add_message(
        self,
        *,
        from_: str,
        body: str,
        id: str | None = None,
        to: str = "85700",
        received_at: datetime | None = None,
        carrier: str | None = "31003",
        keyword: str | None = None,
        tags: list[str] | None = None,
    ) -> str:
        moment = received_at if received_at is not None else utcnow()
        stamp = rfc3339(moment)
        tag_list = list(tags) if tags else []
        with self._cond:
            self._seq += 1
            message_id = id if id is not None else f"m-{self._seq:06d}"
            message: dict[str, Any] = {
                "id": message_id,
                "from": from_,
                "to": to,
                "body": body,
                "received_at": stamp,
                "carrier": carrier,
                "keyword": keyword,
                "tags": tag_list,
            }
            self._append(message)
            self._register(from_, body, tag_list, stamp, message_id)
        return message_id

    def add_raw(self, obj: dict[str, Any]) -> None:
        """Append ``obj`` exactly as given (for malformed messages)."""
        with self._cond:
            self._seq += 1
            self._append(dict(obj))

    def _append(self, message: dict[str, Any]) -> None:
        self._messages.append(message)
        self._encoded.append(dumps(message))
        self._cond.notify_all()

    def redeliver_next(self, n: int) -> None:
        with self._lock:
            self._redeliver = max(0, n)

    # -- inspection ----------------------------------------------------------------------------
    @property
    def messages_added(self) -> int:
        with self._lock:
            return len(self._messages)

    @property
    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(m) for m in self._messages]

    @property
    def inbound_requests(self) -> int:
        with self._lock:
            return self._inbound_requests

    @property
    def outbound(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(o) for o in self._outbound]

    @property
    def opt_out_requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._opt_out_requests]

    def optin_entry(self, phone: str) -> dict[str, Any] | None:
        """The registry entry as GET /v1/optins would return it, or None if never seen."""
        e164 = normalize_phone(phone)
        with self._lock:
            if e164 is None or e164 not in self._registry:
                return None
            return self._entry(e164)

    # -- HTTP ----------------------------------------------------------------------------------
    def _on_stop(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def handle(self, request: Request) -> Response:
        path = request.path
        inbound = path == "/v1/inbound"
        if inbound:
            with self._lock:
                self._inbound_requests += 1
        if not self._authorized(request):
            return _error(401, "unauthorized", "missing or invalid bearer token")
        if self._down:
            return _error(503, "unavailable", "gateway is down")
        if inbound:
            if request.method != "GET":
                return _error(405, "method_not_allowed", "use GET")
            fault, delay = self._take_fault()
            if fault is not None:
                return fault
            return with_delay(self._inbound(request), delay)
        if path == "/v1/outbound":
            if request.method != "POST":
                return _error(405, "method_not_allowed", "use POST")
            return self._send(request)
        if path.startswith(_OPTINS):
            rest = path[len(_OPTINS) :]
            if rest.endswith(_OPT_OUT_SUFFIX) and "/" not in rest[: -len(_OPT_OUT_SUFFIX)]:
                if request.method != "POST":
                    return _error(405, "method_not_allowed", "use POST")
                return self._force_opt_out(unquote(rest[: -len(_OPT_OUT_SUFFIX)]), request)
            if rest and "/" not in rest:
                if request.method != "GET":
                    return _error(405, "method_not_allowed", "use GET")
                return self._get_optins(unquote(rest))
        return _error(404, "not_found", f"no route for {path}")

    def _inbound(self, request: Request) -> Response:
        cursor = request.query_value("cursor")
        try:
            limit = int(request.query_value("limit") or 100)
            wait = float(request.query_value("wait") or 0)
        except ValueError:
            return _error(400, "bad_request", "limit and wait must be numbers")
        if wait != wait or wait in (float("inf"), float("-inf")):
            return _error(400, "bad_request", "wait must be finite")
        limit = min(1000, max(1, limit))
        wait = min(_MAX_WAIT, max(0.0, wait))
        if cursor:
            match = _CURSOR.fullmatch(cursor)
            if match is None:
                return _error(400, "bad_cursor", f"cursor {cursor!r} is not valid")
            index = int(match.group(1))
        else:
            index = 0
        with self._cond:
            if index > len(self._messages):
                return _error(400, "unknown_cursor", f"cursor {cursor!r} is unknown")
            if self._redeliver:
                index = max(0, index - self._redeliver)
                self._redeliver = 0
            if index >= len(self._messages) and wait > 0:
                deadline = time.monotonic() + wait
                while len(self._messages) <= index and not self.stopping.is_set():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
            end = min(len(self._messages), index + limit)
            page = self._encoded[index:end]
            has_more = end < len(self._messages)
        body = b"".join(
            (
                b'{"messages":[',
                b",".join(page),
                b'],"next_cursor":"c-',
                str(end).encode(),
                b'","has_more":',
                b"true" if has_more else b"false",
                b"}",
            )
        )
        return Response(200, body)

    def _send(self, request: Request) -> Response:
        try:
            payload = json.loads(request.body)
        except ValueError:
            return _error(422, "invalid_json", "body is not JSON")
        if not isinstance(payload, dict):
            return _error(422, "invalid_request", "body must be a JSON object")
        to, text = payload.get("to"), payload.get("body")
        key, in_reply_to = payload.get("idempotency_key"), payload.get("in_reply_to")
        for name, value in (("to", to), ("body", text), ("idempotency_key", key)):
            if value is None:
                return _error(422, "missing_field", f"{name} is required")
            if not isinstance(value, str) or not value:
                return _error(422, "invalid_field", f"{name} must be a non-empty string")
        assert isinstance(to, str)
        assert isinstance(text, str)
        assert isinstance(key, str)
        if in_reply_to is not None and not isinstance(in_reply_to, str):
            return _error(422, "invalid_field", "in_reply_to must be a string or null")
        phone = normalize_phone(to)
        if phone is None:
            return _error(422, "invalid_field", "to is not a phone number")
        if len(text) > _MAX_BODY_CHARS:
            return _error(422, "invalid_field", f"body is longer than {_MAX_BODY_CHARS}")
        with self._lock:
            known = self._outbound_by_key.get(key)
            if known is not None:
                return json_response(202, {"id": known, "status": "queued"})
            if self._opted_out(phone):
                if not self._may_answer(phone, in_reply_to):
                    return json_response(409, {"error": "opted_out"})
                assert in_reply_to is not None
                self._answered.add(in_reply_to)
            out_id = f"o-{len(self._outbound) + 1}"
            self._outbound_by_key[key] = out_id
            self._outbound.append(
                {
                    "id": out_id,
                    "to": phone,
                    "body": text,
                    "in_reply_to": in_reply_to,
                    "idempotency_key": key,
                }
            )
        return json_response(202, {"id": out_id, "status": "queued"})

    def _get_optins(self, raw_phone: str) -> Response:
        phone = normalize_phone(raw_phone)
        with self._lock:
            if phone is None or phone not in self._registry:
                return _error(404, "not_found", "the gateway has never seen this number")
            return json_response(200, self._entry(phone))

    def _force_opt_out(self, raw_phone: str, request: Request) -> Response:
        keyword: str | None = None
        if request.body.strip():
            try:
                payload = json.loads(request.body)
            except ValueError:
                return _error(422, "invalid_json", "body is not JSON")
            if not isinstance(payload, dict):
                return _error(422, "invalid_request", "body must be a JSON object")
            value = payload.get("keyword")
            if value is not None and (not isinstance(value, str) or not value.strip()):
                return _error(422, "invalid_field", "keyword must be a non-empty string or null")
            keyword = value.strip().upper() if isinstance(value, str) else None
        phone = normalize_phone(raw_phone)
        now = rfc3339(utcnow())
        with self._lock:
            if phone is None or phone not in self._registry:
                return _error(404, "not_found", "the gateway has never seen this number")
            states = self._registry[phone]
            if keyword is None:
                self._opt_out_all(states, now)
            else:
                state = states.get(keyword)
                if state is None:
                    states[keyword] = _KeywordState("opted_out", now)
                else:
                    state.status, state.since = "opted_out", now
            self._opt_out_requests.append({"phone": phone, "keyword": keyword, "at": now})
            return json_response(200, self._entry(phone))

    # -- registry (call with the lock held) ----------------------------------------------------
    def _register(self, sender: str, body: str, tags: list[str], stamp: str, msg_id: str) -> None:
        phone = normalize_phone(sender)
        if phone is None:
            return
        states = self._registry.setdefault(phone, {})
        kind, keyword = classify_body(body) if isinstance(body, str) else ("none", None)
        if kind == "stop":
            self._opt_out_all(states, stamp)
            self._answerable[msg_id] = phone
        elif kind == "start":
            if not states:
                states[DEFAULT_KEYWORD] = _KeywordState("opted_in", stamp, list(tags))
            for state in states.values():
                state.status, state.since = "opted_in", stamp
        elif kind == "keyword" and keyword is not None:
            current = states.get(keyword)
            if current is None:
                states[keyword] = _KeywordState("opted_in", stamp, list(tags))
            else:
                current.status, current.since = "opted_in", stamp
                current.tags.extend(t for t in tags if t not in current.tags)
            if keyword in HELP_WORDS:
                self._answerable[msg_id] = phone

    @staticmethod
    def _opt_out_all(states: dict[str, _KeywordState], stamp: str) -> None:
        if not states:
            states[DEFAULT_KEYWORD] = _KeywordState("opted_out", stamp)
        for state in states.values():
            state.status, state.since = "opted_out", stamp

    def _opted_out(self, phone: str) -> bool:
        states = self._registry.get(phone)
        if not states:
            return False
        # HELP does not opt a number back in to program texts; only START or a program keyword.
        if any(s.status == "opted_in" for k, s in states.items() if k not in HELP_WORDS):
            return False
        return any(s.status == "opted_out" for s in states.values())

    def _may_answer(self, phone: str, in_reply_to: str | None) -> bool:
        return (
            in_reply_to is not None
            and self._answerable.get(in_reply_to) == phone
            and in_reply_to not in self._answered
        )

    def _entry(self, phone: str) -> dict[str, Any]:
        return {
            "phone": phone,
            "keywords": [
                {"keyword": k, "status": s.status, "since": s.since, "tags": list(s.tags)}
                for k, s in self._registry[phone].items()
            ],
        }
