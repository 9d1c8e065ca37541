"""people, service tokens, link reviews, removed locations, an append-only audit log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

The audit log refuses UPDATE and DELETE at the database (a trigger on both backends), so no
code path of the application can rewrite history, whatever it does by mistake. Also the
indexes of the review queue and of the Audit screen's filters.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_SQLITE_AUDIT_GUARDS = tuple(
    f"""
    CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit rows cannot be changed or deleted'); END
    """
    for verb in ("UPDATE", "DELETE")
)

_PG_AUDIT_GUARD = (
    """
    CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'audit rows cannot be changed or deleted'; END $$
    """,
    """
    CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()
    """,
)


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("id", _ID, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_sign_ins", sa.Integer(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("password_changed_at", _UTC, nullable=False),
        sa.Column("last_sign_in_at", _UTC, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people")),
        sa.UniqueConstraint("username", name=op.f("uq_people_username")),
    )
    op.create_table(
        "service_tokens",
        sa.Column("id", _ID, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("hint", sa.String(16), nullable=False),
        sa.Column("issued_by", sa.String(100), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("revoked_at", _UTC, nullable=True),
        sa.Column("last_used_at", _UTC, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_service_tokens_name")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_service_tokens_token_sha256")),
    )
    with op.batch_alter_table("phone_links") as batch:
        batch.add_column(sa.Column("reviewed_by", sa.String(100), nullable=True))
        batch.add_column(sa.Column("reviewed_at", _UTC, nullable=True))
    with op.batch_alter_table("service_locations") as batch:
        batch.add_column(sa.Column("removed_at", _UTC, nullable=True))
    op.create_index("ix_phone_links_review", "phone_links", ["reviewed", "id"])
    op.create_index("ix_audit_log_actor", "audit_log", ["actor", "id"])
    op.create_index("ix_audit_log_subject", "audit_log", ["subject", "id"])

    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in _PG_AUDIT_GUARD if postgres else _SQLITE_AUDIT_GUARDS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION audit_log_append_only()")
    else:
        op.execute("DROP TRIGGER audit_log_no_update")
        op.execute("DROP TRIGGER audit_log_no_delete")
    op.drop_index("ix_audit_log_subject", "audit_log")
    op.drop_index("ix_audit_log_actor", "audit_log")
    op.drop_index("ix_phone_links_review", "phone_links")
    with op.batch_alter_table("service_locations") as batch:
        batch.drop_column("removed_at")
    with op.batch_alter_table("phone_links") as batch:
        batch.drop_column("reviewed_at")
        batch.drop_column("reviewed_by")
    op.drop_table("service_tokens")
    op.drop_table("people")
