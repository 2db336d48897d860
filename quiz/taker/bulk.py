"""Fast bulk inserts for the demo data (COPY on PostgreSQL), used by the tables' writers."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import JSON, Connection, Table, insert


def bulk_insert(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows: COPY on PostgreSQL (psycopg's executemany sends one INSERT per row)."""
    if connection.dialect.name != "postgresql":
        connection.execute(insert(table), rows)
        return
    names = list(rows[0])  # every row has the same keys
    json_columns = {column.name for column in table.columns if isinstance(column.type, JSON)}
    driver_connection = connection.connection.driver_connection
    assert driver_connection is not None  # None only once the connection is closed
    cursor = driver_connection.cursor()
    statement = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
    with cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(
                [
                    json.dumps(row.get(name)) if name in json_columns else row.get(name)
                    for name in names
                ]
            )
