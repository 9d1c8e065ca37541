"""The database schema. Every change here comes with an Alembic migration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names keep migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


class InboundMessage(Base):
    """Every well-formed text the gateway delivered, with its raw payload kept."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    gateway_message_id: Mapped[str] = mapped_column(String(128), unique=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    to: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]
    stored_at: Mapped[datetime] = mapped_column(default=utcnow)
    carrier: Mapped[str | None] = mapped_column(String(32))
    gateway_keyword: Mapped[str | None] = mapped_column(String(64))
    tags: Mapped[list[str]] = mapped_column(default=list)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    keyword: Mapped[str | None] = mapped_column(String(32))
    remarks: Mapped[str] = mapped_column(Text, default="")
    revocation_suspected: Mapped[bool] = mapped_column(Boolean, default=False)
    raw: Mapped[dict[str, Any]]


class QuarantinedMessage(Base):
    """A gateway entry that broke the contract: kept raw with the reason, never dropped."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    raw_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    raw: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    gateway_message_id: Mapped[str | None] = mapped_column(String(200))
    quarantined_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ServiceLocation(Base):
    """The account directory: one row per service location of an account."""

    __tablename__ = "service_locations"
    __table_args__ = (Index("ix_service_locations_removed", "removed_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    service_location_id: Mapped[str] = mapped_column(String(64), unique=True)
    account_number: Mapped[str] = mapped_column(String(64), index=True)
    # Meters are looked up without case: through ix_service_locations_meter_id_ci on SQLite,
    # and on PostgreSQL through upper(meter_id) or ix_service_locations_meter_id (migrations
    # 0002 and 0009).
    meter_id: Mapped[str | None] = mapped_column(String(64))
    customer_name: Mapped[str] = mapped_column(String(200), default="")
    service_address: Mapped[str] = mapped_column(String(300), default="")
    life_support: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[datetime | None]
    """Set when a full directory import no longer lists the location; the row stays so that
    links and reports pointing at it can still be read and corrected."""


class PhoneLink(Base):
    """A phone linked to an account (whole account when ``service_location_id`` is null)."""

    __tablename__ = "phone_links"
    __table_args__ = (
        # A unique index, not a constraint: the directory import drops it while it fills an
        # empty table, and builds it at the end (migration 0008).
        Index("uq_phone_link", "phone", "account_number", "service_location_id", unique=True),
        # By account: ix_phone_links_account (PostgreSQL only) or, on SQLite, the byte-order
        # ix_phone_links_account_bytes (migrations 0004 and 0007).
        # The supervisors' review queue: unreviewed links, oldest first.
        Index("ix_phone_links_review", "reviewed", "id"),
        # The Mappings screen's sort orders (its byte-order prefix indexes: migration 0004).
        Index("ix_phone_links_created", "created_at", "id"),
        Index("ix_phone_links_source", "source", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Look-ups by phone use uq_phone_link, whose leading column is the phone.
    phone: Mapped[str] = mapped_column(String(20))
    account_number: Mapped[str] = mapped_column(String(64))
    service_location_id: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(100), default="")
    desk: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    reviewed: Mapped[bool] = mapped_column(Boolean, default=False)
    reviewed_by: Mapped[str | None] = mapped_column(String(100))
    reviewed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class Report(Base):
    """One outage report per outage text; re-sends raise its revision."""

    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_state_id", "state", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    report_id: Mapped[str] = mapped_column(String(40), unique=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("inbound_messages.id"), unique=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    remarks: Mapped[str] = mapped_column(Text, default="")
    revision: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(16))
    account_number: Mapped[str | None] = mapped_column(String(64), index=True)
    service_location_id: Mapped[str | None] = mapped_column(String(64))
    meter_id: Mapped[str | None] = mapped_column(String(64))
    resolved_level: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16))
    ticket_id: Mapped[str | None] = mapped_column(String(64), index=True)
    oms_status: Mapped[str | None] = mapped_column(String(32))
    oms_message: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxTask(Base):
    """A delivery owed to the OMS or the gateway, written with the change that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "done", "next_attempt_at"),
        # Each sender leases its own kind of task (migration 0006).
        Index("ix_outbox_kind_due", "kind", "done", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    report_pk: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), index=True)
    outbound_pk: Mapped[int | None] = mapped_column(ForeignKey("outbound_texts.id"), index=True)
    payload: Mapped[dict[str, Any]]
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    """The desk holding the lease: a desk that restarts frees its own leases at once."""
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class OmsAttempt(Base):
    """Each answer the OMS gave, for the details pane and for audits."""

    __tablename__ = "oms_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    report_pk: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    http_status: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)


class ConsentRecord(Base):
    """Append-only opt-in/opt-out history; the current state is derived from it."""

    __tablename__ = "consent_records"
    __table_args__ = (Index("ix_consent_phone_keyword", "phone", "keyword", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    phone: Mapped[str] = mapped_column(String(20))
    keyword: Mapped[str] = mapped_column(String(32))
    """A program keyword, or ``*`` for every keyword of the program (opt-out words)."""
    opted_in: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    how: Mapped[str] = mapped_column(String(32))
    message_pk: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    actor: Mapped[str | None] = mapped_column(String(100))
    tags: Mapped[list[str]] = mapped_column(default=list)


class OutboundText(Base):
    """A text the console asked the gateway to send, and what became of it."""

    __tablename__ = "outbound_texts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    body: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(32))
    keyword: Mapped[str | None] = mapped_column(String(32))
    """The program keyword the text belongs to; consent is checked against it."""
    in_reply_to: Mapped[str | None] = mapped_column(String(128))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    state: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    gateway_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class GatewayCursor(Base):
    """Where the poller resumes; written in the same transaction as the batch it follows."""

    __tablename__ = "gateway_cursors"

    gateway: Mapped[str] = mapped_column(String(100), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(String(500))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """Who changed what, from which desk; never edited or deleted by the application."""

    __tablename__ = "audit_log"
    # The Audit screen filters by person or by subject (a phone, an account), newest first.
    __table_args__ = (
        Index("ix_audit_log_actor", "actor", "id"),
        Index("ix_audit_log_subject", "subject", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    desk: Mapped[str] = mapped_column(String(100), default="")
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(200), default="")
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class AuditRef(Base):
    """A value an audit row is about (its subject, a string inside before/after), so that
    the phone and account filters are an index range scan instead of a scan of the JSON.
    Written with the row by ``outagedesk.store.audit_refs``; never changed or deleted."""

    __tablename__ = "audit_refs"
    # SQLite: the primary key is the table (no rowid b-tree beside it), half the size.
    __table_args__ = {"sqlite_with_rowid": False}

    ref: Mapped[str] = mapped_column(String(200), primary_key=True)
    audit_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("audit_log.id"), primary_key=True, autoincrement=False
    )


class Person(Base):
    """Someone who signs in at a desk; the password is kept only as a salted hash."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    """Lower case: sign-in names are not case-sensitive."""
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    password_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sign_in_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class ServiceToken(Base):
    """A credential an admin issued to a script; only its SHA-256 is stored."""

    __tablename__ = "service_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(16))
    """The token's first characters, so that people can tell tokens apart."""
    issued_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
