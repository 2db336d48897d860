"""SQLite's side of a backup: a consistent copy while the site writes, and putting one back.

SQLite's online backup API copies the database page by page. Copied in one step, it reads the
whole file inside one read transaction, which in WAL mode never blocks the writers (they append
to the WAL meanwhile) and is never restarted by them, so the copy is the database as it was at
one commit, whatever the takers do meanwhile. (Copied in several steps, every write by another
connection would start it over.)
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy.engine import URL

# How long the copy waits for a writer that holds the lock while a WAL checkpoint runs.
BUSY_TIMEOUT_SECONDS = 30


def database_path(url: URL) -> Path:
    """The file a SQLite URL names; ValueError for an in-memory database."""
    if not url.database or url.database == ":memory:":
        raise ValueError("an in-memory SQLite database has nothing to back up or restore into")
    return Path(url.database)


def copy_online(source: Path, target: Path) -> None:
    """Copy the live database `source` into the new file `target` (which the caller created)."""
    with closing(_connect(source)) as origin, closing(_connect(target)) as copy:
        origin.backup(copy)  # all pages in one step: one read transaction, one snapshot
        # A file of its own, with no WAL beside it to carry along.
        copy.execute("PRAGMA journal_mode=DELETE")


def has_tables(path: Path) -> bool:
    """Whether the database file exists and holds any table."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    with closing(_connect(path)) as connection:
        found = connection.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchone()[0]
    return bool(found)


def copy_back(source: Path, target: Path) -> None:
    """Write the restored copy `source` into the (empty) database file `target`."""
    if not target.exists():
        # Personal data: only the site's user reads it, whatever the umask.
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    with closing(_connect(source)) as copy, closing(_connect(target)) as database:
        copy.backup(database)
        # The site runs the database in WAL mode (quiz.database sets it on every connection).
        database.execute("PRAGMA journal_mode=WAL")


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
