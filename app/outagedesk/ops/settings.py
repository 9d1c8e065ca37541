"""Saving the settings file (connections, reply templates) as a person who may change them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from outagedesk.config import Settings, save_reply_templates, save_settings
from outagedesk.ops.base import Actor, Permission, audit, require


def save_settings_as(actor: Actor | None, settings: Settings) -> Path:
    """Write the settings file. ``actor`` is None only for the first-run dialog, which runs
    before anybody exists; everyone else needs the right to change settings."""
    if actor is not None:
        require(actor, Permission.MANAGE_SETTINGS)
    return save_settings(settings)


def save_templates_as(actor: Actor, path: Path, templates: dict[str, str]) -> Path:
    """Write the reply templates, and nothing else, into the settings file at ``path``."""
    require(actor, Permission.MANAGE_SETTINGS)
    return save_reply_templates(path, templates)


def audit_settings_change(
    session: Session, actor: Actor, before: dict[str, Any], after: dict[str, Any]
) -> None:
    """The audit row of a saved settings change (the file itself is not in the database)."""
    require(actor, Permission.MANAGE_SETTINGS)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if not changed:
        return
    audit(
        session,
        actor,
        "settings_save",
        "settings",
        {k: before.get(k) for k in changed},
        {k: after.get(k) for k in changed},
    )
    session.commit()
