"""audit refs: what each audit row is about, for the Audit screen's phone and account filters

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

``audit_refs(ref, audit_id)``: the subject of an audit row and every string value inside its
before/after (see ``outagedesk.store.audit_refs``), so that finding a phone or an account is
an index range scan instead of a LIKE over the JSON of every row. Filled here from the rows
already written, a batch at a time. Refs are append-only like the rows they describe: the
same triggers as migration 0003 refuse UPDATE and DELETE. The walk over the JSON is spelled
out here rather than imported so that this revision never changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_REF_LENGTH = 200
_BATCH = 5000
# Big enough for SQLite to keep most of the refs b-tree in memory while it is filled in key
# order it does not get (refs arrive in audit order); restored afterwards.
_SQLITE_CACHE_KIB = 256 * 1024

_SQLITE_GUARDS = tuple(
    f"""
    CREATE TRIGGER audit_refs_no_{verb.lower()} BEFORE {verb} ON audit_refs
    BEGIN SELECT RAISE(ABORT, 'audit rows cannot be changed or deleted'); END
    """
    for verb in ("UPDATE", "DELETE")
)
# audit_log_append_only() is migration 0003's function: it only raises.
_PG_GUARD = """
    CREATE TRIGGER audit_refs_append_only BEFORE UPDATE OR DELETE ON audit_refs
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()
"""

_PG_INSERT = sa.text(
    "INSERT INTO audit_refs (ref, audit_id) "
    "SELECT * FROM unnest(CAST(:refs AS varchar[]), CAST(:ids AS bigint[]))"
)

_PK = "pk_audit_refs"
_FK = "fk_audit_refs_audit_id_audit_log"
_audit_refs = sa.table("audit_refs", sa.column("ref", sa.String()), sa.column("audit_id", _ID))
_audit_log = sa.table(
    "audit_log",
    sa.column("id", _ID),
    sa.column("subject", sa.String()),
    sa.column("before", sa.JSON()),
    sa.column("after", sa.JSON()),
)


def _refs(subject: object, before: object, after: object) -> list[str]:
    found: dict[str, None] = {}
    pending: list[object] = [after, before, subject]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if 0 < len(value) <= _REF_LENGTH:
                found[value] = None
        elif isinstance(value, dict):
            pending.extend(reversed(list(value.values())))
        elif isinstance(value, list):
            pending.extend(reversed(value))
    return list(found)


def _backfill(conn: sa.Connection) -> None:
    last = 0
    while True:
        rows = conn.execute(
            sa.select(_audit_log)
            .where(_audit_log.c.id > last)
            .order_by(_audit_log.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        values = [
            (ref, row.id) for row in rows for ref in _refs(row.subject, row.before, row.after)
        ]
        last = rows[-1].id
        if not values:
            continue
        if conn.dialect.name == "postgresql":
            # One statement a batch: an executemany would send (and check) a row at a time.
            found, ids = zip(*values, strict=True)
            conn.execute(_PG_INSERT, {"refs": list(found), "ids": list(ids)})
        else:
            conn.execute(sa.insert(_audit_refs), [{"ref": ref, "audit_id": i} for ref, i in values])


def _columns() -> tuple[sa.Column[str], sa.Column[int]]:
    return (
        sa.Column("ref", sa.String(_REF_LENGTH), nullable=False),
        sa.Column("audit_id", _ID, autoincrement=False, nullable=False),
    )


def _upgrade_postgres(conn: sa.Connection) -> None:
    # The keys come after the fill: one sorted index build and one validating join, where
    # keys from the start would cost an index insert and a foreign-key look-up per ref.
    op.create_table("audit_refs", *_columns())
    _backfill(conn)
    op.create_primary_key(_PK, "audit_refs", ["ref", "audit_id"])
    op.create_foreign_key(_FK, "audit_refs", "audit_log", ["audit_id"], ["id"])
    op.execute(_PG_GUARD)
    # Fresh statistics: the planner would otherwise take the new table for empty.
    op.execute("ANALYZE audit_refs")


def _upgrade_sqlite(conn: sa.Connection) -> None:
    # Without rowid the primary key is the table: it has to be there from the start.
    op.create_table(
        "audit_refs",
        *_columns(),
        sa.ForeignKeyConstraint(["audit_id"], ["audit_log.id"], name=_FK),
        sa.PrimaryKeyConstraint("ref", "audit_id", name=_PK),
        sqlite_with_rowid=False,
    )
    cache = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{_SQLITE_CACHE_KIB}")
    try:
        _backfill(conn)
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(cache or -2000)}")
    for statement in _SQLITE_GUARDS:
        op.execute(statement)


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        _upgrade_postgres(conn)
    else:
        _upgrade_sqlite(conn)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_refs_append_only ON audit_refs")
    else:
        op.execute("DROP TRIGGER audit_refs_no_update")
        op.execute("DROP TRIGGER audit_refs_no_delete")
    op.drop_table("audit_refs")
