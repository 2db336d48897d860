"""Database connections that die around a request: the response or a clean 503, never a bare 500.

The PostgreSQL tests terminate the request's real backend with `pg_terminate_backend` from a
second connection; the SQLite ones take the database file away.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from werkzeug.wrappers import Response as BaseResponse

from quiz import create_app
from quiz.app_state import get_content
from quiz.config import database_url
from quiz.domain.scoring import sample_answers
from quiz.extensions import db
from tests import coach_factories
from tests.conftest import base_config
from tests.quizflow import answer_all_pages, start


@pytest.fixture
def killer(app: Flask) -> Iterator[Engine]:
    """A second engine on the same PostgreSQL database, to terminate the app's backends."""
    engine = create_engine(database_url(app.config["SQLALCHEMY_DATABASE_URI"]))
    yield engine
    engine.dispose()


def terminate(killer: Engine, pid: int) -> None:
    """Terminate one backend and wait until it is really gone."""
    with killer.begin() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    for _ in range(200):
        with killer.connect() as admin:
            alive = admin.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            ).scalar()
        if not alive:
            return
        time.sleep(0.01)
    raise AssertionError(f"backend {pid} still alive")


def app_engine(app: Flask) -> Engine:
    """The engine the app's session uses."""
    with app.app_context():
        return db.engine


@pytest.mark.postgres
@pytest.mark.parametrize("app", ["postgres"], indirect=True)
def test_backend_killed_after_the_view_still_returns_its_page(
    app: Flask, client: FlaskClient, killer: Engine
) -> None:
    """The view read the draft and built its page; then the connection dies before teardown."""
    state: dict[str, Any] = {"armed": False, "pid": None, "killed": 0}

    def remember(conn: Any, *_args: Any) -> None:
        state["pid"] = conn.connection.dbapi_connection.info.backend_pid

    @app.after_request
    def kill_after_the_view(response: BaseResponse) -> BaseResponse:
        if state["armed"] and request.path == "/quiz/1" and state["pid"]:
            terminate(killer, state["pid"])
            state["killed"] += 1
        return response

    event.listen(app_engine(app), "before_cursor_execute", remember)
    start(client)
    state["armed"] = True
    page = client.get("/quiz/1")
    assert state["killed"] == 1
    # Before: the teardown's rollback on the dead connection raised out of Flask (a bare 500).
    assert page.status_code == 200
    assert 'name="csrf_token"' in page.text
    state["armed"] = False
    # The lost connection is not handed out again: the next request simply works.
    assert client.get("/quiz/1").status_code == 200
    assert client.get("/healthz").status_code == 200


@pytest.mark.postgres
@pytest.mark.app_config(PROPAGATE_EXCEPTIONS=False)
@pytest.mark.parametrize("app", ["postgres"], indirect=True)
def test_coach_cookie_gets_the_503_page_without_a_second_database_call(
    app: Flask, killer: Engine
) -> None:
    """Every statement's backend is terminated as it runs: the page may not need the database."""
    coach_factories.create_test_coach(app)
    coach = app.test_client()
    assert coach_factories.login(coach).status_code == 302
    assert coach.get("/coach/").status_code == 200
    attempts: list[str] = []

    def kill_every_statement(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        attempts.append(statement)
        terminate(killer, conn.connection.dbapi_connection.info.backend_pid)

    engine = app_engine(app)
    event.listen(engine, "before_cursor_execute", kill_every_statement)
    try:
        for path in ("/coach/", "/coach/leads", "/"):
            attempts.clear()
            response = coach.get(path)
            # Before: the error page loaded the coach again from the dead database, a 500.
            assert response.status_code == 503, path
            assert "Gleich wieder da" in response.text
            assert response.headers["Retry-After"] == "30"
            assert len(attempts) <= 1, (path, attempts)
    finally:
        event.remove(engine, "before_cursor_execute", kill_every_statement)
    # The database is back: the coach is still logged in.
    dashboard = coach.get("/coach/")
    assert dashboard.status_code == 200
    assert "Abmelden" in dashboard.text


@pytest.fixture
def movable_sqlite(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[Flask, Path]:
    """An app whose SQLite file lives in a folder of its own, which the test can take away."""
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(request.getfixturevalue("migrated_sqlite"), folder / "quiz.sqlite3")
    config = base_config(f"sqlite:///{folder / 'quiz.sqlite3'}", tmp_path)
    return create_app({**config, "PROPAGATE_EXCEPTIONS": False}), folder


def test_sqlite_gone_with_a_coach_cookie_is_the_503_page(
    movable_sqlite: tuple[Flask, Path],
) -> None:
    app, folder = movable_sqlite
    coach_factories.create_test_coach(app)
    coach = app.test_client()
    assert coach_factories.login(coach).status_code == 302
    assert coach.get("/coach/").status_code == 200
    away = folder.with_name("away")
    app_engine(app).dispose()
    folder.rename(away)  # the volume is gone: no new connection can open the file
    try:
        for path in ("/coach/", "/coach/leads", "/"):
            response = coach.get(path)
            # Before: the error page tried to load the coach again and failed: a 500.
            assert response.status_code == 503, path
            assert "Gleich wieder da" in response.text
    finally:
        away.rename(folder)
    assert coach.get("/coach/").status_code == 200


def test_unexpected_error_with_the_database_gone_is_the_german_500_page(
    movable_sqlite: tuple[Flask, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, folder = movable_sqlite
    coach_factories.create_test_coach(app)
    coach = app.test_client()
    assert coach_factories.login(coach).status_code == 302

    def broken() -> str:
        raise RuntimeError("boom")

    monkeypatch.setitem(app.view_functions, "legal.privacy", broken)
    app_engine(app).dispose()
    away = folder.with_name("away")
    folder.rename(away)
    try:
        response = coach.get("/datenschutz")
    finally:
        away.rename(folder)
    # Before: the 500 page loaded the coach from the missing database and failed itself.
    assert response.status_code == 500
    assert "Da ist etwas schiefgelaufen" in response.text


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_sqlite_rollback_failing_in_teardown_keeps_the_response(app: Flask) -> None:
    """SQLite connections do not die like server backends; a failing final rollback (a disk error)
    must keep the finished response all the same. The lead step reads through the session (a
    cached quiz page reads without one, quiz.hot_reads, and has no final rollback)."""
    client = app.test_client()
    start(client)
    answer_all_pages(client, app, sample_answers(get_content(app), "random", seed=11))
    lead = f"/quiz/{len(get_content(app).pages) + 1}"
    from sqlalchemy.exc import OperationalError

    state = {"armed": False, "failed": 0}

    def failing_rollback(_conn: Any) -> None:
        if state["armed"]:
            state["failed"] += 1
            raise OperationalError("ROLLBACK", {}, Exception("disk I/O error"))

    engine = app_engine(app)
    event.listen(engine, "rollback", failing_rollback)
    state["armed"] = True
    try:
        page = client.get(lead)
    finally:
        state["armed"] = False
        event.remove(engine, "rollback", failing_rollback)
    assert state["failed"] >= 1
    assert page.status_code == 200
    assert client.get(lead).status_code == 200
