"""SQLite: drop ix_service_locations_meter_id; meters are looked up case-insensitively

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28

Every look-up of a meter ID compares it without case (the directory search, the suggestions
from a text, the training recorder), through 0002's ``ix_service_locations_meter_id_ci``
(``COLLATE NOCASE``). The exact-case index served none of them: on a million-location
directory it cost 17 MB and 0.7-0.8 s of every first import. PostgreSQL keeps it: there the
case-folded index is on ``upper(meter_id)``, and equality on the column itself uses this one.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if _sqlite():
        op.drop_index("ix_service_locations_meter_id", "service_locations")


def downgrade() -> None:
    if _sqlite():
        op.create_index("ix_service_locations_meter_id", "service_locations", ["meter_id"])
