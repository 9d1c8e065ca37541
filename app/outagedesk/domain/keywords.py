"""Keyword classification per the carrier rules (carrier-rules.md).

Reserved words (opt-out, opt-in, help) trigger only as the whole trimmed message; program
keywords (outage, status) lead the message and the words after them are the customer's
remarks. Free text that reads like a revocation is flagged for a person to confirm.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class MessageKind(StrEnum):
    OUTAGE = "outage"
    STATUS = "status"
    HELP = "help"
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    UNKNOWN = "unknown"


OPT_OUT_WORDS = frozenset(
    {
        "STOP", "STOPALL", "END", "CANCEL", "UNSUBSCRIBE", "QUIT", "REVOKE", "OPTOUT",
        "OPT-OUT", "OPT OUT", "REMOVE", "ARRET", "TD", "ALTO",
    }
)  # fmt: skip
OPT_IN_WORDS = frozenset({"START", "UNSTOP", "YES", "INICIO"})
HELP_WORDS = frozenset({"HELP", "INFO", "AUXILIO"})
STATUS_WORDS = frozenset({"STATUS", "STAT"})
DEFAULT_OUTAGE_KEYWORDS: tuple[str, ...] = ("OUT", "OUTAGE", "#OUT")

# Reasonable wordings of "stop texting me" that the FCC expects to be honoured even though
# they are not a reserved word; a person confirms them.
_REVOCATION = re.compile(
    r"\b(stop\s+(texting|messaging|sending|contacting)|unsubscribe|opt\s*(me\s+)?out|"
    r"remove\s+me|take\s+me\s+off|no\s+more\s+(texts|messages)|do\s*n[o']?t\s+text|"
    r"dont\s+text|leave\s+me\s+alone|no\s+me\s+(envíe|envie|manden|escriban)|"
    r"ya\s+no\s+(quiero|me))",
    re.IGNORECASE,
)
_LEAD_WORD = re.compile(r"^(#?[^\W\d_]+)(?=$|[\s\-:,.;!?])[\s\-:,.;!?]*(.*)$", re.DOTALL)
_TRAILING_PUNCT = re.compile(r"[\s.!?]+$")


@dataclass(frozen=True, slots=True)
class Classification:
    kind: MessageKind
    keyword: str | None = None
    """The canonical keyword matched (upper case), ``None`` for unknown text."""
    remarks: str = ""
    """The customer's words after an outage or status keyword."""
    revocation_suspected: bool = False


class Classifier:
    """Classifies inbound texts; outage keywords come from the utility's settings."""

    def __init__(self, outage_keywords: Iterable[str] = DEFAULT_OUTAGE_KEYWORDS) -> None:
        self.outage_keywords = frozenset(k.strip().upper() for k in outage_keywords if k.strip())
        if not self.outage_keywords:
            raise ValueError("at least one outage keyword is needed")

    def classify(self, body: str) -> Classification:
        whole = " ".join(_TRAILING_PUNCT.sub("", body.strip()).split()).upper()
        if whole in OPT_OUT_WORDS:
            return Classification(MessageKind.OPT_OUT, whole)
        if whole in OPT_IN_WORDS:
            return Classification(MessageKind.OPT_IN, whole)
        if whole in HELP_WORDS:
            return Classification(MessageKind.HELP, whole)
        lead = _LEAD_WORD.match(body.strip())
        if lead:
            word = lead.group(1).upper()
            remarks = " ".join(lead.group(2).split())
            if word in self.outage_keywords:
                return Classification(MessageKind.OUTAGE, word, remarks)
            if word in STATUS_WORDS:
                return Classification(MessageKind.STATUS, word, remarks)
        return Classification(
            MessageKind.UNKNOWN, revocation_suspected=bool(_REVOCATION.search(body))
        )
