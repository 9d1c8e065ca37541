"""directory search: case-insensitive ID indexes and full-text search on name + address

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

SQLite: NOCASE indexes on the three IDs (prefix lookups are index range scans) and an FTS5
external-content table over ``service_locations`` (customer name, service address), kept in
step by triggers. PostgreSQL: ``upper(id) COLLATE "C"`` expression indexes and a GIN index on
``to_tsvector('simple', customer_name || ' ' || service_address)``.

None of these objects is in the models (SQLAlchemy cannot describe an FTS5 table, and the
SQLite dialect cannot reflect expression indexes); ``outagedesk.store.db.include_object``
leaves them out of schema comparisons by name: keep the names in step with it. The
statements are spelled out here rather than imported so that this revision never changes.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID_COLUMNS = ("account_number", "service_location_id", "meter_id")

_SQLITE_UP = (
    # ASCII case folding, as SQLite's NOCASE does; the rowid (id) is the implicit last key.
    *(
        f"CREATE INDEX ix_service_locations_{col}_ci ON service_locations ({col} COLLATE NOCASE)"
        for col in _ID_COLUMNS
    ),
    # No positions (detail=none) and no per-row sizes (columnsize=0): the search needs
    # neither phrases nor ranking, and the index stays small and quick to write.
    """
    CREATE VIRTUAL TABLE service_locations_fts USING fts5(
        customer_name, service_address,
        content='service_locations', content_rowid='id',
        tokenize='unicode61 remove_diacritics 0', prefix='1 2 3',
        detail=none, columnsize=0
    )
    """,
    """
    CREATE TRIGGER service_locations_fts_ai AFTER INSERT ON service_locations BEGIN
        INSERT INTO service_locations_fts (rowid, customer_name, service_address)
        VALUES (new.id, new.customer_name, new.service_address);
    END
    """,
    """
    CREATE TRIGGER service_locations_fts_ad AFTER DELETE ON service_locations BEGIN
        INSERT INTO service_locations_fts
            (service_locations_fts, rowid, customer_name, service_address)
        VALUES ('delete', old.id, old.customer_name, old.service_address);
    END
    """,
    """
    CREATE TRIGGER service_locations_fts_au AFTER UPDATE OF id, customer_name, service_address
    ON service_locations
    WHEN old.id IS NOT new.id
      OR old.customer_name IS NOT new.customer_name
      OR old.service_address IS NOT new.service_address
    BEGIN
        INSERT INTO service_locations_fts
            (service_locations_fts, rowid, customer_name, service_address)
        VALUES ('delete', old.id, old.customer_name, old.service_address);
        INSERT INTO service_locations_fts (rowid, customer_name, service_address)
        VALUES (new.id, new.customer_name, new.service_address);
    END
    """,
    # Index the rows that are already there.
    "INSERT INTO service_locations_fts (service_locations_fts) VALUES ('rebuild')",
)

_SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS service_locations_fts_au",
    "DROP TRIGGER IF EXISTS service_locations_fts_ad",
    "DROP TRIGGER IF EXISTS service_locations_fts_ai",
    "DROP TABLE IF EXISTS service_locations_fts",
    *(f"DROP INDEX IF EXISTS ix_service_locations_{col}_ci" for col in _ID_COLUMNS),
)

_POSTGRES_UP = (
    # Byte order (COLLATE "C") makes "prefix <= x < prefix || U+10FFFF" an exact prefix test
    # whatever the database's collation; id is the tie-breaker the search orders by.
    *(
        f"CREATE INDEX ix_service_locations_{col}_ci ON service_locations "
        f'((upper({col}) COLLATE "C"), id)'
        for col in _ID_COLUMNS
    ),
    # Every search reads the GIN index's whole pending list (rows inserted since it was last
    # merged): 1 MB instead of the default 4 MB keeps that cheap even where autovacuum is off,
    # and costs a bulk import next to nothing (measured on 1,000,000 rows).
    "CREATE INDEX ix_service_locations_fts ON service_locations USING gin "
    "(to_tsvector('simple'::regconfig, customer_name || ' ' || service_address)) "
    "WITH (gin_pending_list_limit = 1024)",
)

_POSTGRES_DOWN = (
    "DROP INDEX IF EXISTS ix_service_locations_fts",
    *(f"DROP INDEX IF EXISTS ix_service_locations_{col}_ci" for col in _ID_COLUMNS),
)


def _run(statements: Sequence[str]) -> None:
    for statement in statements:
        op.execute(statement)


def _dialect() -> str:
    name = op.get_bind().dialect.name
    if name not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"directory search does not support {name}")
    return name


def upgrade() -> None:
    _run(_SQLITE_UP if _dialect() == "sqlite" else _POSTGRES_UP)


def downgrade() -> None:
    _run(_SQLITE_DOWN if _dialect() == "sqlite" else _POSTGRES_DOWN)
