"""SQLite: drop ix_phone_links_account, which 0004's ix_phone_links_account_bytes covers

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28

On SQLite every index ends with the row ID, so ``ix_phone_links_account_bytes``
(account_number, id) answers what ``ix_phone_links_account`` (account_number,
service_location_id) did: the few links of an account, the location then checked on each.
The second index cost 38 MB and a tenth of the build time of a million-row directory import.
PostgreSQL keeps it: its byte-order index (``COLLATE "C"``) does not serve equality under the
database's own collation.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if _sqlite():
        op.drop_index("ix_phone_links_account", "phone_links")


def downgrade() -> None:
    if _sqlite():
        op.create_index(
            "ix_phone_links_account", "phone_links", ["account_number", "service_location_id"]
        )
