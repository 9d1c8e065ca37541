"""Which reply an inbound text is owed, the editable templates, and SMS segment counting."""

from __future__ import annotations

import math
import string
from dataclasses import dataclass

from outagedesk.domain.consent import Purpose
from outagedesk.domain.keywords import MessageKind

# GSM 03.38 basic set and its extension table (each extension character costs two septets).
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")


@dataclass(frozen=True, slots=True)
class Segments:
    encoding: str
    """``GSM-7`` or ``UCS-2``."""
    units: int
    segments: int


def count_segments(text: str) -> Segments:
    """How many SMS parts a text costs: 160/153 GSM-7 septets, or 70/67 UCS-2 units."""
    if all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in text):
        units = sum(2 if c in _GSM_EXTENDED else 1 for c in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    parts = 1 if units <= single else math.ceil(units / multi)
    return Segments(encoding, units, parts)


DEFAULT_TEMPLATES: dict[str, str] = {
    Purpose.HELP: (
        "{program}: outage reporting. Text OUT to report an outage, STATUS for updates. "
        "Help: {support}. Msg frequency varies. Msg&data rates may apply. Reply STOP to opt out."
    ),
    Purpose.OPT_OUT_CONFIRMATION: (
        "{program}: you are unsubscribed and will get no more messages. Reply START to resubscribe."
    ),
    Purpose.OPT_IN_CONFIRMATION: (
        "{program}: you are subscribed again. Msg&data rates may apply. Reply HELP for more, "
        "STOP to opt out."
    ),
    Purpose.UNKNOWN_HINT: (
        "{program}: we did not understand that. Text OUT to report an outage, STATUS for "
        "updates, HELP for help, STOP to opt out."
    ),
    Purpose.OUTAGE_ACK: (
        "{program}: thanks, we received your outage report. Reply STATUS for updates, STOP to "
        "opt out."
    ),
    Purpose.STATUS: (
        "{program}: crews are working on outages in your area. We'll text when power is "
        "restored. Reply STOP to opt out."
    ),
    Purpose.LINK_CONFIRMATION: (
        "{program}: thanks, we've linked your number to {address}; your outage is reported."
    ),
}

PLACEHOLDERS = frozenset({"program", "support", "address"})


def template_problems(templates: dict[str, str]) -> list[str]:
    """What is wrong with replacement templates, in words for the settings file's editor."""
    problems = []
    for purpose, text in templates.items():
        if purpose not in {p.value for p in Purpose}:
            known = ", ".join(p.value for p in Purpose)
            problems.append(f"unknown reply {purpose!r} (use one of {known})")
            continue
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(text) if name}
        except ValueError as exc:
            problems.append(f"{purpose}: {exc}")
            continue
        if names - PLACEHOLDERS:
            problems.append(
                f"{purpose}: unknown placeholder {{{sorted(names - PLACEHOLDERS)[0]}}} "
                f"(use {{program}}, {{support}} or {{address}})"
            )
        if not text.strip():
            problems.append(f"{purpose}: the text is empty")
    return problems


_PURPOSE_FOR_KIND = {
    MessageKind.HELP: Purpose.HELP,
    MessageKind.OPT_OUT: Purpose.OPT_OUT_CONFIRMATION,
    MessageKind.OPT_IN: Purpose.OPT_IN_CONFIRMATION,
    MessageKind.UNKNOWN: Purpose.UNKNOWN_HINT,
    MessageKind.OUTAGE: Purpose.OUTAGE_ACK,
    MessageKind.STATUS: Purpose.STATUS,
}

# A provider that answers a family itself (the reference provider answers HELP and STOP) must
# not be doubled by the console.
PROVIDER_FAMILIES = {
    "help": MessageKind.HELP,
    "opt_out": MessageKind.OPT_OUT,
    "opt_in": MessageKind.OPT_IN,
}


@dataclass(frozen=True)
class ReplyPolicy:
    program: str = "OutageDesk Utility"
    support: str = "call 1-800-555-0100"
    templates: tuple[tuple[str, str], ...] = ()
    provider_answers: frozenset[str] = frozenset()
    """Families (help, opt_out, opt_in) the SMS provider answers itself."""
    acknowledge_outages: bool = True
    hint_unknown: bool = True

    def template(self, purpose: Purpose) -> str:
        return dict(self.templates).get(purpose, DEFAULT_TEMPLATES[purpose])

    def render(self, purpose: Purpose, **values: str) -> str:
        fields = {"program": self.program, "support": self.support, "address": "", **values}
        return self.template(purpose).format_map(fields)

    def reply_for(self, kind: MessageKind, revocation_suspected: bool = False) -> Purpose | None:
        """The automatic reply a text of this kind is owed, if any."""
        if any(PROVIDER_FAMILIES.get(f) == kind for f in self.provider_answers):
            return None
        if kind == MessageKind.OUTAGE and not self.acknowledge_outages:
            return None
        if kind == MessageKind.UNKNOWN and (revocation_suspected or not self.hint_unknown):
            # A person confirms a revocation first; a hint now would text someone asking us
            # to stop.
            return None
        return _PURPOSE_FOR_KIND[kind]
