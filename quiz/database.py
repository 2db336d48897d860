"""Engine tuning and transaction helpers that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from quiz.extensions import db

# Execution option that marks a transaction as one that will write.
_WRITE = "quiz_write_transaction"


def init_app(app: Flask) -> None:
    """Tune SQLite connections of this app's engine (PostgreSQL needs nothing here)."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine)


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
