"""outbox tasks found by kind: texts and opt-outs no longer walk the reports' backlog

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27

Each sender leases the due tasks of its own kind. With only ``(done, next_attempt_at)`` the
text sender and the opt-out sender read every due OMS task to find theirs: 6 ms a claim with
40,000 reports waiting, and the claims repeat while replies flow. Leading with the kind makes
every claim an index range of its own kind. ``ix_outbox_due`` stays for the backlog count.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_outbox_kind_due", "outbox", ["kind", "done", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_kind_due", "outbox")
