"""The reads every page makes, straight through the driver on SQLite (issue 22).

Each page reads the site settings' version (so an edited setting shows at once on every
worker) and, a quiz page its draft, a result page its row's last change: one prebuilt
statement each. SQLAlchemy's statement machinery costs several times these queries, so on
SQLite they run through the driver, with SQLAlchemy's result processing of each column applied
as SQLAlchemy would (`read_rows`).

Where the request has a session, they run on its connection, in its transaction. Where it has
none yet, they need none: a session's transaction around a read or two (a Session, BEGIN, the
rollback at the end) cost more than the rest of the view, so the landing page of a new
visitor, a quiz page and a result page served from cache open no session at all. They read
through the thread's own connection to the database file, kept across requests
(`_own_connection`: taking one from the pool and giving it back cost more than the reads), or
where there is none (a database in memory), a connection of the engine's pool taken at the
request's first such read and given back at its end (`release`, from
`database.discard_session`); each statement on its own (SQLite's autocommit: one statement,
one consistent snapshot). A later read through the
session in the same request may then see a newer state than an earlier read showed: the
settings loaded on a cache miss (the worker keeps newer settings under the older version, and
the next request, which reads the newer version, loads them again), a result page rendered
from a row newer than the version it is kept under (rendered again on the next view); never
older data under a newer version. A write begins its own transaction on the session as always.

Should the driver raise, the statement runs again through SQLAlchemy on the session, so the
caller (and the 503 page) sees SQLAlchemy's error as always. PostgreSQL takes that way only:
there a failed statement would leave a transaction aborted for the second try.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import g, has_app_context
from sqlalchemy import Select, event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.pool import QueuePool

from quiz.extensions import db

log = logging.getLogger(__name__)

_READER = "_quiz_sqlite_reader"  # in g: this request's pooled connection, or False (no SQLite)


def _session_driver() -> Any | None:
    """The sqlite3 connection under the session's transaction (begun if need be), or None."""
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        return None
    return connection.connection.driver_connection


class _Kept(threading.local):
    """This thread's own connection to one engine's file database, for the reads below."""

    engine: weakref.ref[Engine] | None = None
    generation = -1
    pid = -1
    connection: sqlite3.Connection | None = None

    def drop(self) -> None:
        """Close and forget it (the next read opens another)."""
        connection, self.connection, self.engine = self.connection, None, None
        if connection is not None and self.pid == os.getpid():
            try:
                connection.close()
            except sqlite3.Error:
                log.debug("closing a reading connection failed", exc_info=True)


_kept = _Kept()
# Each engine's count of dispose() calls: a connection opened before the last one is dropped.
_generations: weakref.WeakKeyDictionary[Engine, int] = weakref.WeakKeyDictionary()
_generations_lock = threading.Lock()


def _own_connection(engine: Engine) -> sqlite3.Connection | None:
    """This thread's connection to `engine`'s SQLite file, opened on first use and kept across
    requests (None for any other database, or where it cannot be opened).

    A connection of the engine's pool would be taken and given back on every request, and that
    (the pool's bookkeeping, and the rollback it resets each connection with) cost more than
    the reads themselves. This one reads only, each statement on its own (autocommit: one
    statement, one snapshot of the latest commit), so holding it between requests holds no
    lock and no snapshot. It is dropped when the engine is disposed (a restore does that, so no
    connection keeps reading a replaced file), after a failed read, in a forked child, and when
    this thread reads another engine's database (a test's new app). A database in memory is
    one per connection, so only a file database (which SQLAlchemy pools with a QueuePool)
    takes this way.
    """
    kept = _kept
    generation = _generations.get(engine)
    if (
        kept.connection is not None
        and kept.engine is not None
        and kept.engine() is engine
        and kept.generation == generation
        and kept.pid == os.getpid()
    ):
        return kept.connection
    kept.drop()
    if engine.dialect.name != "sqlite" or not isinstance(engine.pool, QueuePool):
        return None
    if generation is None:
        with _generations_lock:
            if engine not in _generations:
                _generations[engine] = 0
                event.listen(engine, "engine_disposed", _disposed)
            generation = _generations[engine]
    arguments, options = engine.dialect.create_connect_args(engine.url)
    try:
        driver = engine.dialect.loaded_dbapi  # sqlite3, as for the pool's connections
        connection: sqlite3.Connection = driver.connect(
            *arguments, **{**options, "check_same_thread": True}
        )
        connection.isolation_level = None  # autocommit, as the pool's connections (database.py)
        connection.execute("PRAGMA busy_timeout=10000")
    except sqlite3.Error:
        log.debug("no reading connection of its own", exc_info=True)
        return None
    kept.engine, kept.generation, kept.pid = weakref.ref(engine), generation, os.getpid()
    kept.connection = connection
    return connection


def _disposed(engine: Engine) -> None:
    with _generations_lock:
        _generations[engine] = _generations.get(engine, 0) + 1


def _reader() -> Any | None:
    """The sqlite3 connection to read through: the session's where this request has one, else
    this thread's own (`_own_connection`), else a connection of the pool kept for the request;
    None on another database."""
    if db.session.registry.has():
        return _session_driver()
    own = _own_connection(db.engine)
    if own is not None:
        return own
    reader = g.get(_READER)
    if reader is None:
        engine = db.engine
        reader = False
        if engine.dialect.name == "sqlite":
            try:
                reader = engine.raw_connection()
            except sqlite3.Error:  # the session's way raises SQLAlchemy's error for it
                log.debug("no connection to read through", exc_info=True)
                return None
        setattr(g, _READER, reader)
    return reader.driver_connection if reader else None


def _forget(driver: Any) -> None:
    """After a failed read: drop this thread's own connection if that was the one."""
    if driver is _kept.connection:
        _kept.drop()


def release() -> None:
    """Give this request's reading connection back to the pool (at the end of a request)."""
    reader = g.pop(_READER, None) if has_app_context() else None
    if not reader:
        return
    try:
        reader.close()
    except Exception:  # a request that is done must not fail for it; the pool replaces it
        log.debug("giving the reading connection back failed", exc_info=True)


def read_fixed_value(sql: str) -> Any:
    """The first value of the first row of `sql`, a fixed statement without parameters (None
    without a row)."""
    driver = _reader()
    if driver is not None:
        try:
            row = driver.execute(sql).fetchone()
        except sqlite3.Error:
            log.debug("read through the driver failed; again through SQLAlchemy", exc_info=True)
            _forget(driver)
        else:
            return row[0] if row is not None else None
    return db.session.connection().exec_driver_sql(sql).scalar()


@dataclass(frozen=True)
class _SqliteRead:
    """A select compiled once for SQLite: its text, its parameters in order (with the values
    of its literals) and the result processing of each column, as SQLAlchemy would apply it."""

    sql: str
    names: tuple[str, ...]
    values: Mapping[str, Any]
    processors: tuple[Callable[[Any], Any] | None, ...]


_compiled: dict[int, tuple[Select[Any], _SqliteRead | None]] = {}


def _sqlite_read(statement: Select[Any]) -> _SqliteRead | None:
    """The statement compiled for SQLite, or None where SQLAlchemy must convert a parameter."""
    found = _compiled.get(id(statement))
    if found is not None and found[0] is statement:
        return found[1]
    dialect: Dialect = db.engine.dialect
    compiled = statement.compile(dialect=dialect)
    read: _SqliteRead | None = None
    plain = all(bind.type.bind_processor(dialect) is None for bind in compiled.binds.values())
    if plain and compiled.positiontup is not None:
        read = _SqliteRead(
            sql=compiled.string,
            names=tuple(compiled.positiontup),
            values=dict(compiled.params),
            processors=tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in statement.selected_columns
            ),
        )
    _compiled[id(statement)] = (statement, read)
    return read


def read_rows(statement: Select[Any], params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """The rows of a select built once at import, as tuples of the values SQLAlchemy would
    return (a time comes back as the same aware datetime); in the session's transaction where
    the request has one, else as a statement of its own (see `_reader`)."""
    driver = _reader()
    if driver is not None:
        read = _sqlite_read(statement)
        if read is not None:
            values = {**read.values, **params}
            try:
                rows: list[tuple[Any, ...]] = driver.execute(
                    read.sql, [values[name] for name in read.names]
                ).fetchall()
            except sqlite3.Error:
                log.debug("read through the driver failed; again through SQLAlchemy", exc_info=True)
                _forget(driver)
            else:
                processors = read.processors
                if not any(processors):
                    return rows
                return [
                    tuple(
                        value if process is None else process(value)
                        for process, value in zip(processors, row, strict=True)
                    )
                    for row in rows
                ]
    return [tuple(row) for row in db.session.connection().execute(statement, params)]
