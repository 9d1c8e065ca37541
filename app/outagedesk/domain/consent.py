"""Consent derived from the append-only records, and the one rule for what may be sent.

Carrier rules: texting a keyword opts the number in to it; an opt-out word opts it out of every
keyword of the program; only the customer opts back in. To an opted-out number only two texts
may ever go, each a direct answer to the customer's own text: the single confirmation of the
opt-out, and the reply to a HELP.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

ALL_KEYWORDS = "*"
PROGRAM_KEYWORD = "OUT"
"""The keyword a text belongs to when it answers nothing in particular (a link confirmation)."""


class Purpose(StrEnum):
    OPT_OUT_CONFIRMATION = "opt_out_confirmation"
    HELP = "help"
    OPT_IN_CONFIRMATION = "opt_in_confirmation"
    UNKNOWN_HINT = "unknown_hint"
    OUTAGE_ACK = "outage_ack"
    STATUS = "status"
    LINK_CONFIRMATION = "link_confirmation"


# The only texts an opted-out number may receive.
ALWAYS_OWED = frozenset({Purpose.OPT_OUT_CONFIRMATION, Purpose.HELP})


@dataclass
class ConsentState:
    """Per-keyword opt-in state of one number; ``default`` covers keywords never named."""

    keywords: dict[str, bool] = field(default_factory=dict)
    default: bool | None = None

    def opted_in(self, keyword: str) -> bool:
        """A number nobody has recorded anything for has not opted out."""
        if keyword in self.keywords:
            return self.keywords[keyword]
        return self.default is not False

    def apply(self, keyword: str, opted_in: bool) -> None:
        """One more record, newest last."""
        if keyword == ALL_KEYWORDS:
            self.keywords = dict.fromkeys(self.keywords, opted_in)
            self.default = opted_in
        else:
            self.keywords[keyword] = opted_in

    @property
    def opted_out_everywhere(self) -> bool:
        return self.default is False and not any(self.keywords.values())


def replay(records: Iterable[tuple[str, bool]]) -> ConsentState:
    """Fold (keyword, opted_in) records, oldest first, into the current state."""
    state = ConsentState()
    for keyword, opted_in in records:
        state.apply(keyword, opted_in)
    return state


def may_send(state: ConsentState, keyword: str | None, purpose: Purpose) -> bool:
    """The guard every outbound text passes."""
    if purpose in ALWAYS_OWED:
        return True
    return state.opted_in(keyword or PROGRAM_KEYWORD)
