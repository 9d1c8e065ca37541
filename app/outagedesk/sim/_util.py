"""Helpers shared by the simulated gateway, OMS and traffic generator.

The simulator keeps its own copy of the keyword tables on purpose: it plays the *other side* of
the wire and must not follow the console's interpretation when that one is wrong.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

# Carrier opt-out family: matched on the whole trimmed message only (carrier-rules.md).
STOP_WORDS = frozenset(
    {
        "STOP",
        "STOPALL",
        "END",
        "CANCEL",
        "UNSUBSCRIBE",
        "QUIT",
        "REVOKE",
        "OPTOUT",
        "OPT-OUT",
        "OPT OUT",
        "REMOVE",
        "ARRET",
        "ARRÊT",
        "TD",
        "ALTO",
    }
)
START_WORDS = frozenset({"START", "UNSTOP", "YES", "INICIO"})
HELP_WORDS = frozenset({"HELP", "INFO", "AUXILIO"})
OUTAGE_WORDS = frozenset({"OUT", "OUTAGE", "#OUT"})
STATUS_WORDS = frozenset({"STATUS", "STAT"})
# Program keywords match on the first word: the words after them are the customer's remarks.
PROGRAM_KEYWORDS = OUTAGE_WORDS | STATUS_WORDS | HELP_WORDS
# Keyword a number is put under when it opts out/in before it ever texted a program keyword.
DEFAULT_KEYWORD = "OUT"

_PHONE_NOISE = re.compile(r"[\s().-]")
_FIRST_WORD_TRIM = ".,!?:;-"


def normalize_phone(raw: object) -> str | None:
    """Return ``raw`` as E.164, accepting bare 10-digit NANP numbers; None if not a phone."""
    if not isinstance(raw, str):
        return None
    compact = _PHONE_NOISE.sub("", raw.strip())
    if compact.startswith("+"):
        digits = compact[1:]
        if digits.isascii() and digits.isdigit() and 8 <= len(digits) <= 15:
            return "+" + digits
        return None
    if not (compact.isascii() and compact.isdigit()):
        return None
    if len(compact) == 10:
        return "+1" + compact
    if len(compact) == 11 and compact.startswith("1"):
        return "+" + compact
    return None


def rfc3339(moment: datetime) -> str:
    """Serialise as RFC 3339 UTC with a ``Z``; naive datetimes are taken to be UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utcnow() -> datetime:
    return datetime.now(UTC)


def classify_body(body: str) -> tuple[str, str | None]:
    """Classify an inbound body as the gateway's keyword matcher would.

    Returns ``(kind, keyword)`` with kind one of ``stop``, ``start``, ``keyword`` or ``none``.
    """
    text = " ".join(body.split()).upper()
    if not text:
        return "none", None
    if text in STOP_WORDS:
        return "stop", text
    if text in START_WORDS:
        return "start", text
    first = text.split(" ", 1)[0].strip(_FIRST_WORD_TRIM)
    if first in PROGRAM_KEYWORDS:
        return "keyword", first
    return "none", None
