"""phone links: uniqueness by a unique index instead of a table constraint

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28

Same name, same columns, same effect (``ON CONFLICT (phone, account_number,
service_location_id)`` finds it). On SQLite an index that belongs to a table constraint can
never be dropped; this one can, so an import into an empty ``phone_links`` writes its million
links without it and builds it once at the end, in a third to a half of the time. SQLite
rebuilds the table to shed the constraint (the links are copied, ids and all).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "uq_phone_link"
_COLUMNS = ["phone", "account_number", "service_location_id"]


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if _sqlite():
        with op.batch_alter_table("phone_links", recreate="always") as batch:
            batch.drop_constraint(_NAME, type_="unique")
    else:
        op.drop_constraint(_NAME, "phone_links", type_="unique")
    op.create_index(_NAME, "phone_links", _COLUMNS, unique=True)


def downgrade() -> None:
    op.drop_index(_NAME, "phone_links")
    if _sqlite():
        with op.batch_alter_table("phone_links", recreate="always") as batch:
            batch.create_unique_constraint(_NAME, _COLUMNS)
    else:
        op.create_unique_constraint(_NAME, "phone_links", _COLUMNS)
