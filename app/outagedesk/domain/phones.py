"""Phone numbers: normalise what carriers send to E.164, format for people, mask for logs."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers


class InvalidPhoneError(ValueError):
    """The text is not a phone number we can route to."""


@lru_cache(maxsize=65_536)  # storms repeat numbers; parsing is the costly part of ingest
def normalize_phone(raw: str, region: str = "US") -> str:
    """Return the E.164 form of ``raw`` (``5055550123`` → ``+15055550123``).

    Raises :class:`InvalidPhoneError` for anything that is not a valid number, so a bad
    ``from`` field is quarantined instead of creating a report nobody can call back.
    """
    text = raw.strip()
    if not text or len(text) > 32:
        raise InvalidPhoneError(f"not a phone number: {raw[:40]!r}")
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneError(f"not a phone number: {raw[:40]!r}") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneError(f"not a valid phone number: {raw[:40]!r}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def format_phone(e164: str, region: str = "US") -> str:
    """National format for numbers of the home region, international for the rest."""
    try:
        parsed = phonenumbers.parse(e164, region)
    except phonenumbers.NumberParseException:
        return e164
    if phonenumbers.region_code_for_number(parsed) == region:
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def mask_phone(e164: str) -> str:
    """Logs carry ``+1•••••0123``: enough to correlate, not enough to identify."""
    if len(e164) <= 6:
        return "•" * len(e164)
    head = 2 if e164.startswith("+") else 0
    return e164[:head] + "•" * (len(e164) - head - 4) + e164[-4:]
