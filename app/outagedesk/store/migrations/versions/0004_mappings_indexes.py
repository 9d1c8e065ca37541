"""indexes of the Mappings screen: its sort orders, prefix searches and removed locations

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27

Every order the screen offers is an index on (sort key, id), so a page is an index range
scan whatever the table's size. The phone, account and location prefix searches need byte
order (as in 0002: ``prefix <= x < prefix || U+10FFFF`` is only a prefix test in byte
order): SQLite's default BINARY collation is that already, PostgreSQL gets ``COLLATE "C"``
expression indexes, which the models cannot describe on both backends (hence the ``_bytes``
names, left out of schema comparisons).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_UP = (
    # Phone prefixes use uq_phone_link, which leads with the phone (0003 dropped the
    # single-column phone index).
    "CREATE INDEX ix_phone_links_account_bytes ON phone_links (account_number, id)",
    "CREATE INDEX ix_phone_links_location_bytes ON phone_links (service_location_id, id)",
)
_POSTGRES_UP = tuple(
    f'CREATE INDEX ix_phone_links_{name}_bytes ON phone_links (({col} COLLATE "C"), id)'
    for name, col in (
        ("phone", "phone"),
        ("account", "account_number"),
        ("location", "service_location_id"),
    )
)
_BYTE_INDEXES = ("phone", "account", "location")


def upgrade() -> None:
    op.create_index("ix_phone_links_created", "phone_links", ["created_at", "id"])
    op.create_index("ix_phone_links_source", "phone_links", ["source", "id"])
    op.create_index("ix_service_locations_removed", "service_locations", ["removed_at"])
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in _POSTGRES_UP if postgres else _SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    for name in _BYTE_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS ix_phone_links_{name}_bytes")
    op.drop_index("ix_service_locations_removed", "service_locations")
    op.drop_index("ix_phone_links_source", "phone_links")
    op.drop_index("ix_phone_links_created", "phone_links")
