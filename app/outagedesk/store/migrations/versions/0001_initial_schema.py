"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("desk", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)

    op.create_table(
        "gateway_cursors",
        sa.Column("gateway", sa.String(length=100), nullable=False),
        sa.Column("cursor", sa.String(length=500), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("gateway", name=op.f("pk_gateway_cursors")),
    )
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("gateway_message_id", sa.String(length=128), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("to", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("carrier", sa.String(length=32), nullable=True),
        sa.Column("gateway_keyword", sa.String(length=64), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("keyword", sa.String(length=32), nullable=True),
        sa.Column("remarks", sa.Text(), nullable=False),
        sa.Column("revocation_suspected", sa.Boolean(), nullable=False),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_messages")),
        sa.UniqueConstraint(
            "gateway_message_id", name=op.f("uq_inbound_messages_gateway_message_id")
        ),
    )
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbound_messages_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_inbound_messages_phone"), ["phone"], unique=False)

    op.create_table(
        "outbound_texts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("keyword", sa.String(length=32), nullable=True),
        sa.Column("in_reply_to", sa.String(length=128), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("gateway_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_texts")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbound_texts_idempotency_key")),
    )
    with op.batch_alter_table("outbound_texts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbound_texts_phone"), ["phone"], unique=False)

    op.create_table(
        "phone_links",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("account_number", sa.String(length=64), nullable=False),
        sa.Column("service_location_id", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("desk", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_links")),
        sa.UniqueConstraint("phone", "account_number", "service_location_id", name="uq_phone_link"),
    )
    with op.batch_alter_table("phone_links", schema=None) as batch_op:
        batch_op.create_index(
            "ix_phone_links_account", ["account_number", "service_location_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_phone_links_phone"), ["phone"], unique=False)

    op.create_table(
        "quarantine",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("raw_sha256", sa.String(length=64), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("gateway_message_id", sa.String(length=200), nullable=True),
        sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
        sa.UniqueConstraint("raw_sha256", name=op.f("uq_quarantine_raw_sha256")),
    )
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_quarantine_quarantined_at"), ["quarantined_at"], unique=False
        )

    op.create_table(
        "service_locations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("service_location_id", sa.String(length=64), nullable=False),
        sa.Column("account_number", sa.String(length=64), nullable=False),
        sa.Column("meter_id", sa.String(length=64), nullable=True),
        sa.Column("customer_name", sa.String(length=200), nullable=False),
        sa.Column("service_address", sa.String(length=300), nullable=False),
        sa.Column("life_support", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_locations")),
        sa.UniqueConstraint(
            "service_location_id", name=op.f("uq_service_locations_service_location_id")
        ),
    )
    with op.batch_alter_table("service_locations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_locations_account_number"), ["account_number"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_service_locations_meter_id"), ["meter_id"], unique=False
        )

    op.create_table(
        "consent_records",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("keyword", sa.String(length=32), nullable=False),
        sa.Column("opted_in", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("how", sa.String(length=32), nullable=False),
        sa.Column(
            "message_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("actor", sa.String(length=100), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_pk"],
            ["inbound_messages.id"],
            name=op.f("fk_consent_records_message_pk_inbound_messages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_records")),
    )
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.create_index("ix_consent_phone_keyword", ["phone", "keyword", "id"], unique=False)

    op.create_table(
        "reports",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("report_id", sa.String(length=40), nullable=False),
        sa.Column(
            "message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("remarks", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("account_number", sa.String(length=64), nullable=True),
        sa.Column("service_location_id", sa.String(length=64), nullable=True),
        sa.Column("meter_id", sa.String(length=64), nullable=True),
        sa.Column("resolved_level", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("ticket_id", sa.String(length=64), nullable=True),
        sa.Column("oms_status", sa.String(length=32), nullable=True),
        sa.Column("oms_message", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["inbound_messages.id"],
            name=op.f("fk_reports_message_id_inbound_messages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint("message_id", name=op.f("uq_reports_message_id")),
        sa.UniqueConstraint("report_id", name=op.f("uq_reports_report_id")),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reports_account_number"), ["account_number"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_reports_phone"), ["phone"], unique=False)
        batch_op.create_index(batch_op.f("ix_reports_received_at"), ["received_at"], unique=False)
        batch_op.create_index("ix_reports_state_id", ["state", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reports_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "oms_attempts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "report_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["report_pk"], ["reports.id"], name=op.f("fk_oms_attempts_report_pk_reports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oms_attempts")),
    )
    with op.batch_alter_table("oms_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oms_attempts_report_pk"), ["report_pk"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
        sa.Column("report_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "outbound_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["outbound_pk"],
            ["outbound_texts.id"],
            name=op.f("fk_outbox_outbound_pk_outbound_texts"),
        ),
        sa.ForeignKeyConstraint(
            ["report_pk"], ["reports.id"], name=op.f("fk_outbox_report_pk_reports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_idempotency_key")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_due", ["done", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_outbound_pk"), ["outbound_pk"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_report_pk"), ["report_pk"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_report_pk"))
        batch_op.drop_index(batch_op.f("ix_outbox_outbound_pk"))
        batch_op.drop_index("ix_outbox_due")

    op.drop_table("outbox")
    with op.batch_alter_table("oms_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oms_attempts_report_pk"))

    op.drop_table("oms_attempts")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reports_ticket_id"))
        batch_op.drop_index("ix_reports_state_id")
        batch_op.drop_index(batch_op.f("ix_reports_received_at"))
        batch_op.drop_index(batch_op.f("ix_reports_phone"))
        batch_op.drop_index(batch_op.f("ix_reports_account_number"))

    op.drop_table("reports")
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_phone_keyword")

    op.drop_table("consent_records")
    with op.batch_alter_table("service_locations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_locations_meter_id"))
        batch_op.drop_index(batch_op.f("ix_service_locations_account_number"))

    op.drop_table("service_locations")
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quarantine_quarantined_at"))

    op.drop_table("quarantine")
    with op.batch_alter_table("phone_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_phone_links_phone"))
        batch_op.drop_index("ix_phone_links_account")

    op.drop_table("phone_links")
    with op.batch_alter_table("outbound_texts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbound_texts_phone"))

    op.drop_table("outbound_texts")
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_messages_phone"))
        batch_op.drop_index(batch_op.f("ix_inbound_messages_kind"))

    op.drop_table("inbound_messages")
    op.drop_table("gateway_cursors")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))
        batch_op.drop_index(batch_op.f("ix_audit_log_action"))

    op.drop_table("audit_log")
