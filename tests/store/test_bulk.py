"""BulkInsert stores exactly what SQLAlchemy's insert stores, in as many statements as needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import insert, select, text

from outagedesk.store import bulk
from outagedesk.store.bulk import BulkInsert
from outagedesk.store.models import Base, ConsentRecord, InboundMessage

from dbsupport import DbUnderTest

MESSAGES = Base.metadata.tables[InboundMessage.__tablename__]
CONSENT = Base.metadata.tables[ConsentRecord.__tablename__]
MESSAGE_COLUMNS = (
    "gateway_message_id", "phone", "to", "body", "received_at", "stored_at", "carrier",
    "gateway_keyword", "tags", "kind", "keyword", "remarks", "revocation_suspected", "raw",
)  # fmt: skip


def message(ident: str, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "gateway_message_id": ident,
        "phone": "+15055550123",
        "to": "72550",
        "body": "OUT tree on the line, café ☕",
        # Not in UTC: both paths must store it converted.
        "received_at": datetime(
            2026, 11, 27, 9, 30, 15, 250_000, tzinfo=timezone(timedelta(hours=-7))
        ),
        "stored_at": datetime(2026, 11, 27, 16, 30, 16, tzinfo=UTC),
        "carrier": None,
        "gateway_keyword": "OUT",
        "tags": ["storm", "zone-4"],
        "kind": "outage",
        "keyword": "OUT",
        "remarks": "tree on the line",
        "revocation_suspected": True,
        "raw": {"id": "m-1", "nested": {"n": 1, "none": None}, "text": "ünïcode"},
    }  # fmt: skip
    row.update(changes)
    return row


def stored(db: DbUnderTest, ident: str) -> tuple[Any, ...]:
    """The row as the database holds it (no result processing), without its keys."""
    columns = ", ".join(f'"{name}"' for name in MESSAGE_COLUMNS[1:])
    with db.engine.connect() as conn:
        sql = f"SELECT {columns} FROM inbound_messages WHERE gateway_message_id = '{ident}'"
        return tuple(conn.exec_driver_sql(sql).one())


@pytest.mark.parametrize(
    "changes",
    [{}, {"tags": [], "raw": {}, "carrier": None, "keyword": None, "revocation_suspected": False}],
    ids=["full", "empty-and-null"],
)
def test_rows_are_stored_exactly_as_sqlalchemys_insert_stores_them(
    db: DbUnderTest, changes: dict[str, Any]
) -> None:
    with db.sessions() as s:
        s.execute(insert(MESSAGES), [message("reference", **changes)])
        BulkInsert(MESSAGES, MESSAGE_COLUMNS).execute(s, [message("bulk", **changes)])
        s.commit()
    assert stored(db, "bulk") == stored(db, "reference")
    with db.sessions() as s:
        loaded = s.scalars(
            select(InboundMessage).where(InboundMessage.gateway_message_id == "bulk")
        ).one()
        assert loaded.received_at == datetime(2026, 11, 27, 16, 30, 15, 250_000, tzinfo=UTC)
        assert loaded.raw == message("bulk", **changes)["raw"]
        assert loaded.tags == message("bulk", **changes)["tags"]


def test_values_shared_between_rows_are_bound_for_every_row(db: DbUnderTest) -> None:
    # A page's rows share one timestamp object; others alternate from row to row.
    now = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)
    early, late = now - timedelta(minutes=5), now - timedelta(minutes=1)
    received = [early, early, late, early, late, late]
    rows = [
        message(f"m-{n}", received_at=stamp, stored_at=now, tags=["a"] if n % 2 else [])
        for n, stamp in enumerate(received)
    ]
    with db.sessions() as s:
        BulkInsert(MESSAGES, MESSAGE_COLUMNS).execute(s, rows)
        s.commit()
    with db.sessions() as s:
        stored = s.execute(
            select(
                InboundMessage.received_at, InboundMessage.stored_at, InboundMessage.tags
            ).order_by(InboundMessage.gateway_message_id)
        ).all()
    assert [tuple(row) for row in stored] == [
        (stamp, now, ["a"] if n % 2 else []) for n, stamp in enumerate(received)
    ]


def test_returning_gives_every_row_across_several_statements(
    db: DbUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 14 columns a row: at most 3 rows a statement, so 10 rows take 4 statements.
    monkeypatch.setattr(bulk, "MAX_PARAMETERS", 3 * len(MESSAGE_COLUMNS) + 1)
    statements: list[str] = []
    inserter = BulkInsert(MESSAGES, MESSAGE_COLUMNS, returning=("gateway_message_id", "id"))
    with db.sessions() as s:
        conn = s.connection()
        original = conn.exec_driver_sql

        def counting(sql: str, *args: Any, **kwargs: Any) -> Any:
            statements.append(sql)
            return original(sql, *args, **kwargs)

        monkeypatch.setattr(conn, "exec_driver_sql", counting)
        returned = inserter.execute(s, [message(f"m-{n}") for n in range(10)])
        s.commit()
    assert len(statements) == 4
    with db.sessions() as s:
        ids = dict(s.execute(select(InboundMessage.gateway_message_id, InboundMessage.id)).all())
    assert dict(returned) == ids
    assert len(ids) == 10


def test_nothing_is_sent_for_no_rows(db: DbUnderTest) -> None:
    with db.sessions() as s:
        assert BulkInsert(MESSAGES, MESSAGE_COLUMNS, returning=("id",)).execute(s, []) == []


def test_a_row_missing_a_column_fails_before_anything_is_written(db: DbUnderTest) -> None:
    incomplete = message("m-2")
    del incomplete["body"]
    with db.sessions() as s:
        with pytest.raises(KeyError, match="body"):
            BulkInsert(MESSAGES, MESSAGE_COLUMNS).execute(s, [message("m-1"), incomplete])
        assert s.execute(text("SELECT count(*) FROM inbound_messages")).scalar() == 0


def test_a_database_error_leaves_the_transaction_to_be_rolled_back(db: DbUnderTest) -> None:
    inserter = BulkInsert(MESSAGES, MESSAGE_COLUMNS)
    with db.sessions() as s:
        inserter.execute(s, [message("m-1")])
        s.commit()
    with db.sessions() as s:
        with pytest.raises(Exception, match=r"(?i)unique"):
            inserter.execute(s, [message("m-2"), message("m-1")])
        s.rollback()
        assert s.scalars(select(InboundMessage.gateway_message_id)).all() == ["m-1"]


def test_columns_with_python_defaults_must_be_named() -> None:
    # stored_at and revocation_suspected have Python-side defaults that nothing would apply.
    with pytest.raises(ValueError, match="stored_at"):
        BulkInsert(MESSAGES, [c for c in MESSAGE_COLUMNS if c != "stored_at"])
    with pytest.raises(ValueError, match="no column colour"):
        BulkInsert(MESSAGES, (*MESSAGE_COLUMNS, "colour"))
    with pytest.raises(ValueError, match="no column colour"):
        BulkInsert(CONSENT, ("phone",), returning=("colour",))
