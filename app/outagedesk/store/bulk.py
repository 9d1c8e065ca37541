"""Many-row INSERTs for the ingest and delivery paths, bound column by column.

SQLAlchemy's executemany builds a parameter dict per row and runs every value through its
own layers before the driver sees it; for a storm page (about five rows a text) that was
about 40 % of the database thread's time. A `BulkInsert` binds with the very same type
processors (so what is stored is identical), but applies each column's processor to the whole
column at once and hands the driver one multi-row statement.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Dialect, Table
from sqlalchemy.orm import Session

# Bound values per statement: under SQLite's limit of 32,766 variables and PostgreSQL's 65,535.
MAX_PARAMETERS = 30_000


@dataclass(frozen=True, slots=True)
class _Compiled:
    head: str
    group: str
    returning: str
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]


class BulkInsert:
    """``INSERT INTO table (columns) VALUES (…), (…) [RETURNING …]`` for a list of row dicts.

    Every column with a Python-side default must be named: unlike ``insert(table)``, nothing
    fills them in. Returned values are the driver's own (keys and ids; no result processing).
    """

    def __init__(self, table: Table, columns: Sequence[str], returning: Sequence[str] = ()) -> None:
        unknown = [name for name in (*columns, *returning) if name not in table.c]
        if unknown:
            raise ValueError(f"{table.name} has no column {', '.join(unknown)}")
        defaulted = [
            column.name
            for column in table.c
            if column.default is not None and column.name not in columns
        ]
        if defaulted:
            raise ValueError(f"{table.name}: name the defaulted columns {', '.join(defaulted)}")
        self.table = table
        self.columns = tuple(columns)
        self.returning = tuple(returning)
        self._values_of = itemgetter(*self.columns)
        self._by_dialect: dict[str, _Compiled] = {}

    def execute(
        self, target: Session | Connection, rows: Sequence[Mapping[str, Any]]
    ) -> list[tuple[Any, ...]]:
        """Insert ``rows``; with ``returning``, one tuple of those columns per row, in no order."""
        if not rows:
            return []
        connection = target.connection() if isinstance(target, Session) else target
        compiled = self._compile(connection.dialect)
        width = len(self.columns)
        values_of = self._values_of
        flat: list[Any] = []
        if width == 1:
            flat.extend(values_of(row) for row in rows)
        else:
            for row in rows:
                flat.extend(values_of(row))
        for position, process in compiled.processors:
            flat[position::width] = _processed(process, flat[position::width])
        found: list[tuple[Any, ...]] = []
        per_statement = max(1, MAX_PARAMETERS // width)
        for start in range(0, len(rows), per_statement):
            count = min(per_statement, len(rows) - start)
            sql = compiled.head + ", ".join([compiled.group] * count) + compiled.returning
            result = connection.exec_driver_sql(
                sql, tuple(flat[start * width : (start + count) * width])
            )
            if self.returning:
                found.extend(tuple(row) for row in result)
        return found

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            compiled = self._by_dialect[dialect.name] = self._compile_for(dialect)
        return compiled

    def _compile_for(self, dialect: Dialect) -> _Compiled:
        if dialect.paramstyle == "qmark":
            mark = "?"
        elif dialect.paramstyle in ("format", "pyformat"):
            mark = "%s"
        else:
            raise NotImplementedError(f"BulkInsert: paramstyle {dialect.paramstyle}")
        quote = dialect.identifier_preparer
        columns = [self.table.c[name] for name in self.columns]
        processors = []
        for position, column in enumerate(columns):
            process = column.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors.append((position, process))
        returning = ""
        if self.returning:
            returning = " RETURNING " + ", ".join(
                quote.format_column(self.table.c[name]) for name in self.returning
            )
        names = ", ".join(quote.format_column(column) for column in columns)
        return _Compiled(
            # Only names from the schema, quoted by the dialect; every value is bound.
            head=f"INSERT INTO {quote.format_table(self.table)} ({names}) VALUES ",  # noqa: S608
            group="(" + ", ".join([mark] * len(columns)) + ")",
            returning=returning,
            processors=tuple(processors),
        )


def _processed(process: Callable[[Any], Any], values: list[Any]) -> list[Any]:
    """``process`` applied to each value, once for a run of the very same object: a page's
    rows share their timestamps, and formatting a datetime is most of binding one."""
    out: list[Any] = []
    last: object = out  # no value is this list
    bound: Any = None
    for value in values:
        if value is not last:
            last, bound = value, process(value)
        out.append(bound)
    return out
