"""What the window and the headless runner share: opening the database and the engine."""

from __future__ import annotations

import gc
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from outagedesk.config import Settings, SettingsError
from outagedesk.domain.replies import PROVIDER_FAMILIES, ReplyPolicy, template_problems
from outagedesk.engine.core import EngineConfig
from outagedesk.store.db import make_engine, migrate, session_factory


def freeze_heap() -> None:
    """Move everything alive now (modules, SQLAlchemy's caches, phone metadata, Qt wrappers)
    out of the garbage collector's sight: a full collection then scans only what the storm
    creates, in milliseconds instead of 100+ ms (a frozen GUI, a stalled engine).

    Called once a process is set up, and again once it has loaded what it loads lazily."""
    gc.collect()
    gc.freeze()


@dataclass
class Database:
    engine: Engine
    sessions: sessionmaker[Session]

    def close(self) -> None:
        self.engine.dispose()


def open_database(settings: Settings) -> Database:
    """Connect and migrate (an SQLite file is backed up before any migration)."""
    try:
        engine = make_engine(settings.database_url)
        migrate(engine)
    except Exception as exc:
        raise SettingsError(
            f"cannot open the database {_safe_url(settings.database_url)}: "
            f"{str(exc).splitlines()[0]} (check --db-url / OUTAGEDESK_DB_URL)"
        ) from exc
    return Database(engine, session_factory(engine))


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL that will not parse is shown as a placeholder
        return "<unparseable URL>"


def engine_config(settings: Settings) -> EngineConfig:
    missing = [
        (name, fix)
        for name, fix in (
            ("gateway_url", "--gateway-url or OUTAGEDESK_GATEWAY_URL"),
            ("gateway_token", "the keyring or OUTAGEDESK_GATEWAY_TOKEN"),
            ("oms_url", "--oms-url or OUTAGEDESK_OMS_URL"),
            ("oms_token", "the keyring or OUTAGEDESK_OMS_TOKEN"),
        )
        if not getattr(settings, name)
    ]
    if missing:
        name, fix = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise SettingsError(f"no {name.replace('_', ' ')} is set{more}: set it with {fix}")
    assert settings.gateway_url
    assert settings.gateway_token
    assert settings.oms_url
    assert settings.oms_token
    return EngineConfig(
        gateway_url=settings.gateway_url,
        gateway_token=settings.gateway_token,
        oms_url=settings.oms_url,
        oms_token=settings.oms_token,
        region=settings.region,
        outage_keywords=settings.outage_keywords,
        hold_unlinked=settings.hold_unlinked,
        taken_by=f"{settings.desk}/auto",
        desk=settings.desk,
        poll_wait=settings.poll_wait,
        poll_limit=settings.poll_limit,
        forward_concurrency=settings.forward_concurrency,
        single_desk=settings.database_url.startswith("sqlite"),
        replies=reply_policy(settings),
    )


def reply_policy(settings: Settings) -> ReplyPolicy:
    unknown = set(settings.provider_answers) - set(PROVIDER_FAMILIES)
    if unknown:
        raise SettingsError(
            f"provider_answers: unknown reply family {sorted(unknown)[0]!r} "
            f"(use {', '.join(PROVIDER_FAMILIES)})"
        )
    problems = template_problems(settings.reply_templates)
    if problems:
        raise SettingsError(f"reply_templates: {problems[0]}")
    return ReplyPolicy(
        program=settings.program_name,
        templates=tuple(sorted(settings.reply_templates.items())),
        support=settings.support_contact,
        provider_answers=frozenset(settings.provider_answers),
        acknowledge_outages=settings.ack_outages,
    )
