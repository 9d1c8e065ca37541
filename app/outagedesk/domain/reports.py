"""The outage report's lifecycle and the OMS fields derived from a link."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ReportState(StrEnum):
    HELD = "held"
    """Unlinked and held locally by setting until a dispatcher links the number."""
    QUEUED = "queued"
    RETRYING = "retrying"
    FORWARDED = "forwarded"
    UNLINKED = "unlinked"
    """The OMS answered ``number_not_found``: a dispatcher must link and re-send."""
    REJECTED = "rejected"


NEEDS_LINKING = frozenset({ReportState.HELD, ReportState.UNLINKED})


class ResolvedLevel(StrEnum):
    METER = "Meter"
    ADDRESS = "Address"
    UNRESOLVED = "Unresolved"


class Priority(StrEnum):
    NORMAL = "Normal"
    URGENT = "Urgent"


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """What the console knows about the caller: the account/location a phone is linked to."""

    account_number: str
    service_location_id: str | None
    meter_id: str | None
    life_support: bool

    @property
    def resolved_level(self) -> ResolvedLevel:
        if self.meter_id:
            return ResolvedLevel.METER
        return ResolvedLevel.ADDRESS

    @property
    def priority(self) -> Priority:
        return Priority.URGENT if self.life_support else Priority.NORMAL


def choose_link(targets: list[LinkTarget]) -> LinkTarget | None:
    """Pick the link a report is sent with when a phone maps to several locations.

    With one location the report resolves to it. With several, the OMS gets the account at
    address level only when they all share one account; otherwise the report stays
    unresolved for a dispatcher to choose. Any life-support location makes it urgent.
    """
    if not targets:
        return None
    if len(targets) == 1:
        return targets[0]
    accounts = {t.account_number for t in targets}
    urgent = any(t.life_support for t in targets)
    if len(accounts) == 1:
        return LinkTarget(accounts.pop(), None, None, urgent)
    return None


def idempotency_key(report_id: str, revision: int) -> str:
    return f"{report_id}.{revision}"


def oms_payload(
    *,
    report_id: str,
    revision: int,
    message_id: str,
    phone: str,
    received_at: str,
    short_code: str,
    keyword: str | None,
    body: str,
    remarks: str,
    link: LinkTarget | None,
    tags: list[str],
    taken_by: str,
    urgent: bool = False,
) -> dict[str, object]:
    """The oms-webhook.md v1 body for one revision of a report."""
    urgent = urgent or bool(link and link.life_support)
    return {
        "report_id": report_id,
        "revision": revision,
        "message_id": message_id,
        "phone": phone,
        "received_at": received_at,
        "short_code": short_code,
        "keyword": keyword,
        "body": body,
        "remarks": remarks,
        "account_number": link.account_number if link else None,
        "service_location_id": link.service_location_id if link else None,
        "meter_id": link.meter_id if link else None,
        "resolved_level": (link.resolved_level if link else ResolvedLevel.UNRESOLVED).value,
        "tags": tags,
        "priority": (
            Priority.URGENT if urgent or (link and link.life_support) else Priority.NORMAL
        ).value,
        "call_type": "sms",
        "taken_by": taken_by,
    }
