"""Adding deltas to a counter table: the one upsert the counters' writers share.

Atomic on PostgreSQL under concurrency (INSERT ... ON CONFLICT DO UPDATE); SQLite writers are
serialised by BEGIN IMMEDIATE. Only the counters' writers call it, each for its own table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, TextClause, bindparam, text
from sqlalchemy.dialects import postgresql, sqlite

from quiz.extensions import db


def add_counts(table: Table, key_columns: Sequence[str], deltas: Mapping[Any, int]) -> None:
    """Add these deltas (key tuple in `key_columns` order -> n) to the `count` of `table`, in a
    fixed order, so two concurrent writers never lock the same rows the other way round."""
    rows = [
        {**dict(zip(key_columns, key, strict=True)), "count": count}
        for key, count in sorted(deltas.items())
        if count
    ]
    if not rows:
        return
    session = db.session()
    dialect = session.get_bind().dialect.name
    session.execute(_upsert_statement(dialect, table, tuple(key_columns)), rows)


_statements: dict[tuple[str, str, tuple[str, ...]], TextClause] = {}


def _upsert_statement(dialect: str, table: Table, key: tuple[str, ...]) -> TextClause:
    """Insert a row of every column of `table`, or add its `count` to the row with its `key`;
    compiled once per dialect, table and key.

    Every visit, start, finish and click compiled it afresh before (see `compiled_once`).
    """
    cache_key = (dialect, table.name, key)
    statement = _statements.get(cache_key)
    if statement is not None:
        return statement
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    upsert = insert.on_conflict_do_update(
        index_elements=list(key), set_={"count": table.c.count + insert.excluded.count}
    )
    # Every column has a parameter: no column default is left for SQLAlchemy to fill in.
    statement = compiled_once(upsert, dialect, column_keys=list(table.columns.keys()))
    _statements[cache_key] = statement
    return statement


def compiled_once(statement: Any, dialect: str, **compile_kwargs: Any) -> TextClause:
    """`statement` compiled for `dialect` into a `text()` with the same typed parameters.

    SQLAlchemy 2.0 cannot cache statements with ON CONFLICT (`OnConflictDoUpdate` has no cache
    key), so each execution compiled them afresh: about a millisecond every time. The text is
    cached as usual; its caller keeps it, so the statement is compiled once per process.
    """
    compiler_dialect: Any = (
        # SQLAlchemy leaves the psycopg2 dialect's __init__ unannotated.
        postgresql.dialect(paramstyle="named")  # type: ignore[no-untyped-call]
        if dialect == "postgresql"
        else sqlite.pysqlite.dialect(paramstyle="named")
    )
    compiled = statement.compile(dialect=compiler_dialect, **compile_kwargs)
    return text(compiled.string).bindparams(
        *(bindparam(bind.key, type_=bind.type) for bind in compiled.binds.values())
    )
