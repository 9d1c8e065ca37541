"""Validation of gateway pages per gateway-api.md v1.

A page whose shape is wrong is a transient gateway fault (retry); a single message that
breaks the rules is quarantined with the reason and the rest of the page goes on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from outagedesk.domain.phones import InvalidPhoneError, normalize_phone

MAX_BODY = 1600
MAX_TAG = 75


class PageShapeError(ValueError):
    """The gateway answered 200 with something that is not a v1 inbound page."""


@dataclass(frozen=True, slots=True)
class GatewayMessage:
    id: str
    phone: str
    to: str
    body: str
    received_at: datetime
    carrier: str | None
    keyword: str | None
    tags: tuple[str, ...]
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rejected:
    raw: Any
    reason: str

    @property
    def raw_text(self) -> str:
        return json.dumps(self.raw, ensure_ascii=False, sort_keys=True, default=str)

    @property
    def message_id(self) -> str | None:
        if isinstance(self.raw, dict):
            ident = self.raw.get("id")
            if isinstance(ident, str | int):
                return str(ident)[:200]
        return None


@dataclass(frozen=True, slots=True)
class Page:
    messages: list[GatewayMessage]
    rejected: list[Rejected]
    next_cursor: str | None
    has_more: bool
    count: int


def parse_timestamp(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("received_at is not a string")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    stamp = datetime.fromisoformat(text)
    if stamp.tzinfo is None or "T" not in text.upper():
        raise ValueError(f"received_at is not RFC 3339 with an offset: {value!r}")
    return stamp.astimezone(UTC)


def format_timestamp(stamp: datetime) -> str:
    """RFC 3339 in UTC with ``Z``, as the specs write times."""
    return stamp.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _optional_str(obj: dict[str, Any], key: str, limit: int) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} is not a string")
    return value[:limit]


def parse_message(obj: Any, region: str) -> GatewayMessage | Rejected:
    if not isinstance(obj, dict):
        return Rejected(obj, "message is not a JSON object")
    try:
        ident = obj.get("id")
        if not isinstance(ident, str) or not 1 <= len(ident) <= 128:
            raise ValueError("id is missing or not 1..128 characters")
        sender = obj.get("from")
        if not isinstance(sender, str):
            raise ValueError("from is missing")
        phone = normalize_phone(sender, region)
        to = obj.get("to")
        if not isinstance(to, str) or not to.strip():
            raise ValueError("to is missing")
        body = obj.get("body")
        if not isinstance(body, str):
            raise ValueError("body is missing or not a string")
        if len(body) > MAX_BODY:
            raise ValueError(f"body is longer than {MAX_BODY} characters")
        received_at = parse_timestamp(obj.get("received_at"))
        tags_raw = obj.get("tags") or []
        if not isinstance(tags_raw, list) or not all(isinstance(t, str) for t in tags_raw):
            raise ValueError("tags is not a list of strings")
        if any(len(t) > MAX_TAG for t in tags_raw):
            raise ValueError(f"a tag is longer than {MAX_TAG} characters")
        return GatewayMessage(
            id=ident,
            phone=phone,
            to=to.strip()[:32],
            body=body,
            received_at=received_at,
            carrier=_optional_str(obj, "carrier", 32),
            keyword=_optional_str(obj, "keyword", 64),
            tags=tuple(tags_raw),
            raw=obj,
        )
    except (ValueError, InvalidPhoneError) as exc:
        return Rejected(obj, str(exc))


def parse_page(data: Any, region: str = "US") -> Page:
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        raise PageShapeError("the answer has no 'messages' list")
    cursor = data.get("next_cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise PageShapeError("next_cursor is not a string")
    messages: list[GatewayMessage] = []
    rejected: list[Rejected] = []
    for item in data["messages"]:
        parsed = parse_message(item, region)
        if isinstance(parsed, GatewayMessage):
            messages.append(parsed)
        else:
            rejected.append(parsed)
    return Page(messages, rejected, cursor, bool(data.get("has_more")), len(data["messages"]))
