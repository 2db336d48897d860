"""Adding deltas to a counter table: the one upsert the counters' writers share.

Atomic on PostgreSQL under concurrency (INSERT ... ON CONFLICT DO UPDATE); SQLite writers are
serialised by BEGIN IMMEDIATE. Only the counters' writers call it, each for its own table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table
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
    _upsert_rows(table, rows, key_columns)


def _upsert_rows(table: Table, rows: list[dict[str, Any]], key: Iterable[str]) -> None:
    """Insert these rows, or add their `count` to the rows with the same key."""
    if not rows:
        return
    session = db.session()
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    statement = insert.on_conflict_do_update(
        index_elements=list(key), set_={"count": table.c.count + insert.excluded.count}
    )
    session.execute(statement, rows)
