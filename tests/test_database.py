"""The one way to write (`database.write()` commits, rolls back on error, can rehearse), times
that come back as they went in on both databases, and SQL compiled once, not per request."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import bindparam, create_engine, event, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.compiler import SQLCompiler

from quiz import database, hot_reads
from quiz.extensions import db
from quiz.models import Answer, Coach, Response
from tests.factories import finished_response
from tests.quizflow import complete_quiz, start


def coaches() -> int:
    """How many coach rows another transaction sees."""
    db.session.remove()
    return int(db.session.scalar(select(func.count()).select_from(Coach)) or 0)


def add_coach(email: str) -> None:
    db.session.add(Coach(email=email, password_hash="x", session_nonce="n"))
    db.session.flush()


def test_a_write_is_committed_when_its_block_ends_also_by_return(app: Flask) -> None:
    def write_and_return() -> str:
        with database.write():
            add_coach("a@example.com")
            return "done"

    with app.app_context():
        assert write_and_return() == "done"
        assert coaches() == 1


def test_a_write_that_raises_leaves_nothing_behind(app: Flask) -> None:
    with app.app_context():
        with pytest.raises(LookupError), database.write():
            add_coach("a@example.com")
            raise LookupError("something further down failed")
        assert coaches() == 0
        with database.write():  # the session is usable again at once
            add_coach("b@example.com")
        assert coaches() == 1


def test_a_dry_run_rolls_back_what_it_wrote(app: Flask) -> None:
    with app.app_context():
        with database.write(dry_run=True):
            add_coach("a@example.com")
            assert db.session.scalar(select(func.count()).select_from(Coach)) == 1
        assert coaches() == 0


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)  # BEGIN IMMEDIATE is SQLite's
def test_a_write_holds_the_sqlite_write_lock_from_its_start(app: Flask) -> None:
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with app.app_context(), database.write():
            db.session.scalar(select(func.count()).select_from(Coach))  # a read, nothing written
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free again once the write ended
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_times_come_back_aware_and_in_utc_whatever_zone_they_went_in(app: Flask) -> None:
    summer_noon_in_berlin = datetime(2026, 7, 1, 12, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    with app.app_context():
        with database.write():
            coach = Coach(email="a@example.com", password_hash="x", session_nonce="n")
            coach.created_at = summer_noon_in_berlin
            db.session.add(coach)
        db.session.remove()
        stored = db.session.scalar(select(Coach.created_at))
        # Compared in SQL too: the stored moment is the one given, not its wall-clock digits.
        later = db.session.scalar(
            select(func.count()).where(Coach.created_at > datetime(2026, 7, 1, 10, 30, tzinfo=UTC))
        )
    assert stored == summer_noon_in_berlin and stored.tzinfo is UTC and stored.hour == 10
    assert later == 0


def test_a_fixed_read_sees_the_sessions_transaction_and_raises_sqlalchemys_errors(
    app: Flask,
) -> None:
    """The per-request read of the settings' version (straight through the driver on SQLite):
    the same value as a statement, uncommitted writes of the same transaction included, None
    without a row, and SQLAlchemy's error for a statement that fails."""
    with app.app_context():
        sql = "SELECT COUNT(*) FROM coaches"
        assert hot_reads.read_fixed_value(sql) == 0
        with database.write():
            add_coach("fixed@example.com")
            assert hot_reads.read_fixed_value(sql) == 1  # inside the writer's transaction
        assert hot_reads.read_fixed_value(sql) == 1
        assert hot_reads.read_fixed_value("SELECT id FROM coaches WHERE id < 0") is None
        with pytest.raises(SQLAlchemyError):
            hot_reads.read_fixed_value("SELECT nothing FROM no_such_table")
        database.discard_session()
        assert hot_reads.read_fixed_value(sql) == 1


def test_a_hot_read_returns_what_sqlalchemy_returns(app: Flask) -> None:
    """read_rows (straight through the driver on SQLite) gives the values SQLAlchemy gives: the
    same rows and types, an aware UTC time included, literals and parameters in their places."""
    finished = finished_response(app)
    statement = (
        select(
            Response.updated_at,
            Response.id,
            Response.status,
            Response.steps_completed,
            Answer.option_id,
        )
        .outerjoin(Answer, Answer.response_id == Response.id)
        .where(Response.result_token == bindparam("token"), Response.status == "finished")
        .order_by(Answer.id)
    )
    with app.app_context():
        for token in (finished.token, "nowhere"):
            expected = [tuple(row) for row in db.session.execute(statement, {"token": token})]
            for _ in range(2):  # compiled on the first call, kept for the second
                assert hot_reads.read_rows(statement, {"token": token}) == expected
        rows = hot_reads.read_rows(statement, {"token": finished.token})
        assert rows and rows[0][0].tzinfo == UTC
        with pytest.raises(SQLAlchemyError):
            hot_reads.read_rows(select(Response.id).where(Response.id == func.nothing()), {})


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)  # PostgreSQL reads in the session
def test_a_lone_read_without_a_session_reads_through_the_threads_own_connection(
    app: Flask,
) -> None:
    """The landing page's one read (the settings' version) needs no session and no connection
    of the pool: it goes through this thread's own connection, kept across requests, which sees
    every commit at once and holds nothing a writer waits for."""
    with app.app_context():
        engine = db.engine
    with app.app_context():
        assert not db.session.registry.has()
        assert hot_reads.read_fixed_value("SELECT COUNT(*) FROM coaches") == 0
        assert not db.session.registry.has()  # no session was made for it
        assert engine.pool.checkedout() == 0  # nor a pooled connection taken
        with database.write():  # a writer meanwhile is not held up by it
            add_coach("lone@example.com")
        assert hot_reads.read_fixed_value("SELECT COUNT(*) FROM coaches") == 1
    own = hot_reads._kept.connection
    assert own is not None
    client = app.test_client()
    assert client.get("/", headers={"User-Agent": "Mozilla/5.0"}).status_code == 200
    assert engine.pool.checkedout() == 0
    assert hot_reads._kept.connection is own  # the same one, request after request
    # A commit of another process (another worker) is seen by the next read.
    other = sqlite3.connect(str(engine.url.database))
    try:
        other.execute(
            "INSERT INTO coaches (email, password_hash, session_nonce, created_at)"
            " VALUES ('w@x.de', 'x', 'n', '2026-12-07 18:00:00')"
        )
        other.commit()
    finally:
        other.close()
    with app.app_context():
        assert hot_reads.read_fixed_value("SELECT COUNT(*) FROM coaches") == 2


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_the_own_connection_is_dropped_when_the_engine_is_disposed_or_a_read_fails(
    app: Flask,
) -> None:
    """A restore disposes the engine so that no connection keeps reading the replaced file:
    the thread's own connection goes with the pool's; so does one whose read failed."""
    sql = "SELECT COUNT(*) FROM coaches"
    with app.app_context():
        engine = db.engine
        assert hot_reads.read_fixed_value(sql) == 0
        first = hot_reads._kept.connection
        engine.dispose()
        assert hot_reads.read_fixed_value(sql) == 0
        second = hot_reads._kept.connection
        assert second is not None and second is not first
        with pytest.raises(sqlite3.ProgrammingError):  # closed, not merely forgotten
            first.execute("SELECT 1")
        with pytest.raises(SQLAlchemyError):  # the driver's error, then SQLAlchemy's own
            hot_reads.read_fixed_value("SELECT nothing FROM no_such_table")
        assert hot_reads._kept.connection is None
        database.discard_session()
        assert hot_reads.read_fixed_value(sql) == 0


def test_a_database_in_memory_is_never_read_through_a_connection_of_its_own() -> None:
    """Each connection to `:memory:` is a database of its own: those reads take the pool's."""
    for url in ("sqlite://", "sqlite:///:memory:", "sqlite:///file:mem?mode=memory&uri=true"):
        assert hot_reads._own_connection(create_engine(url)) is None, url


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)  # PostgreSQL reads in the session
def test_a_quiz_page_and_a_result_page_served_from_cache_open_no_transaction(app: Flask) -> None:
    """Their reads (the settings' version, the draft and its answers, the result's version) go
    through the request's pooled connection: no session's transaction, nothing held after."""
    finished = app.test_client()
    result = complete_quiz(finished, app).headers["Location"]
    taker = app.test_client()
    start(taker)
    with app.app_context():
        engine = db.engine
    begun: list[object] = []

    def on_begin(connection: object) -> None:
        begun.append(connection)

    event.listen(engine, "begin", on_begin)
    try:
        for client, path in ((taker, "/quiz/1"), (taker, "/"), (finished, result)):
            assert client.get(path).status_code == 200  # renders, and fills the caches
            begun.clear()
            page = client.get(path)
            assert page.status_code == 200
            assert begun == [], path
            assert engine.pool.checkedout() == 0
    finally:
        event.remove(engine, "begin", on_begin)


def test_a_second_takers_whole_quiz_compiles_no_sql(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every statement of a quiz, from the landing page's visit to the finish with its counters,
    comes from SQLAlchemy's cache after the first taker: a statement it cannot cache (an ON
    CONFLICT upsert, say) is compiled again on every request."""
    complete_quiz(app.test_client(), app, email="first@example.com")
    compiled: list[str] = []
    compile_statement = SQLCompiler.__init__

    def counting(self: SQLCompiler, *args: object, **kwargs: object) -> None:
        compile_statement(self, *args, **kwargs)
        compiled.append(self.string)

    monkeypatch.setattr(SQLCompiler, "__init__", counting)
    client = app.test_client()
    client.get("/")
    complete_quiz(client, app, email="second@example.com")
    assert compiled == []
