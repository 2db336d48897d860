"""Engine tuning and transaction helpers that differ between SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from quiz.extensions import db

log = logging.getLogger(__name__)

# Execution option that marks a transaction as one that will write.
_WRITE = "quiz_write_transaction"


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
        immediate = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def begin_write(session: Session | None = None) -> None:
    """Start the session's next transaction as a write transaction (BEGIN IMMEDIATE on SQLite).

    A read transaction still open from earlier in the request is ended first: on SQLite a
    transaction cannot be upgraded to a writer safely, only begun as one.
    """
    session = session or db.session()
    if session.in_transaction():
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("begin_write() called with unsaved changes in the session")
        session.commit()
    session.connection(execution_options={_WRITE: True})
