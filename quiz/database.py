"""Engine tuning, and the one way to write: `with write():`, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import (
    DBAPIError,
    InterfaceError,
    OperationalError,
    PendingRollbackError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session

from quiz import hot_reads
from quiz.extensions import db

log = logging.getLogger(__name__)

# Execution option that marks a transaction as one that will write.
_WRITE = "quiz_write_transaction"
T = TypeVar("T")


def init_app(app: Flask) -> None:
    """Tune SQLite connections, and end every request's session without letting a dead one raise."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine)
    # Flask runs teardown functions in reverse order of registration, so this one runs before
    # Flask-SQLAlchemy's own `session.remove()` and leaves it nothing to do.
    app.teardown_appcontext(lambda _error: discard_session())


def discard_session() -> None:
    """End the current session; a connection that died must not fail a request that is done.

    Removing the session rolls back whatever is still open. When the server has dropped the
    connection in the meantime (a restart, a terminated backend), that rollback raises, and
    raised from a teardown it would replace the finished response with the server's bare
    "Internal Server Error". Nothing is lost by swallowing it: the server has already rolled the
    transaction back. The connection is invalidated, so the pool opens a fresh one next time.
    """
    hot_reads.release()
    try:
        db.session.remove()
    except SQLAlchemyError as error:
        log.warning("database connection lost while ending a request: %s", type(error).__name__)
        try:
            db.session().invalidate()
        except SQLAlchemyError:
            log.debug("invalidating the lost connection failed", exc_info=True)
        db.session.registry.clear()


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when a transaction begins (see on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        # A writer takes the lock up front: a deferred transaction that reads first and writes
        # later fails at once with "database is locked" when another writer got in between,
        # whatever the busy timeout. Readers keep the cheap deferred BEGIN.
        if connection.get_execution_options().get(_WRITE, False):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            return
        # Every request's reads begin here: straight to the driver, which costs a tenth of a
        # statement through SQLAlchemy. A deferred BEGIN takes no lock; should it fail all the
        # same, SQLAlchemy's statement raises its own error for it (what the 503 page expects).
        try:
            connection.connection.driver_connection.execute("BEGIN")
        except sqlite3.Error:
            connection.exec_driver_sql("BEGIN")


@contextmanager
def write(*, dry_run: bool = False) -> Iterator[Session]:
    """A write transaction around the block: begun as a writer, committed when the block ends.

    The writers (the services) open it; views and commands call them and never open one
    themselves. It begins with `begin_write` (BEGIN IMMEDIATE on SQLite), commits when the block
    ends, also by `return`, and rolls back when it raises, so nothing is ever half-written.
    `dry_run` rolls back at the end instead: a check rehearses a rebuild and compares.
    """
    session = db.session()
    begin_write(session)
    try:
        yield session
    except BaseException:
        _roll_back(session)
        raise
    if dry_run:
        session.rollback()
        return
    try:
        session.commit()
    except BaseException:
        # A failed commit (a unique key another writer took first, the connection lost) leaves
        # the session waiting for a rollback; the caller's next statement must not meet that.
        _roll_back(session)
        raise


def _roll_back(session: Session) -> None:
    """Undo a failed block; the block's own error is the one that counts.

    When the database went away (the 503 page), the rollback may fail as well: it must not
    replace the error that says so. The request's teardown discards the session (see
    `discard_session`).
    """
    try:
        session.rollback()
    except SQLAlchemyError:
        log.debug("rolling back a failed write failed too", exc_info=True)


def in_write(session: Session | None = None) -> bool:
    """Whether a write transaction (`write()`) is open on the session."""
    session = session or db.session()
    if not session.in_transaction():
        return False
    return bool(session.connection().get_execution_options().get(_WRITE, False))


def begin_write(session: Session | None = None) -> None:
    """Start the session's next transaction as a write transaction (BEGIN IMMEDIATE on SQLite).

    `write()` begins with this; writers call that. A read transaction still open from earlier in
    the request is ended first: on SQLite a transaction cannot be upgraded to a writer safely,
    only begun as one.
    """
    session = session or db.session()
    if session.in_transaction():
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("begin_write() called with unsaved changes in the session")
        session.commit()
    session.connection(execution_options={_WRITE: True})


def unavailable(error: BaseException) -> bool:
    """Whether the error says the database cannot be reached now (worth waiting for), rather
    than that the statement is wrong (a taken key, a bad value)."""
    if isinstance(error, OperationalError | InterfaceError):
        return True
    if isinstance(error, PendingRollbackError):
        return True  # a session whose connection was lost before: discarded, it works again
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


def retry_write(
    block: Callable[[], T],
    *,
    what: str,
    give_up_after: float,
    trouble: threading.Event | None = None,
) -> T:
    """Run `block` (a write transaction of its own) until the database takes it.

    For the delivery rounds: what a receiver or the mail server accepted must be recorded, or it
    goes out again. While the database cannot be reached (a restart, a dropped connection), the
    session is discarded and the write tried again, a little less often each time (at most
    every 2 s), for up to `give_up_after` seconds; then the error is raised. `trouble` is set at
    the first failure, so the caller can stop starting new work.
    """
    deadline = time.monotonic() + give_up_after
    failures = 0
    while True:
        try:
            result = block()
        except SQLAlchemyError as error:
            if not unavailable(error) or time.monotonic() >= deadline:
                raise
            failures += 1
            if trouble is not None:
                trouble.set()
            if failures == 1:
                log.warning(
                    "database unavailable while %s (%s); trying again until it is back",
                    what,
                    type(error).__name__,
                )
            discard_session()
            time.sleep(min(0.1 * failures, 2.0))
            continue
        if failures:
            log.warning("%s: written after %d failed tries", what, failures)
        return result
