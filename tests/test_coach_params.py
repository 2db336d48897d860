"""Malformed parameters on every coach route: a 404, or the filter ignored with a German notice.

Never a 500, and never a CSV that starts and then breaks off: the export validates its parameters
and runs its first fetch before the first byte.
"""

from __future__ import annotations

import csv
import gc
import io
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from quiz.web.coach import dashboard as coach_view
from tests.coach_factories import add_response, create_test_coach, csrf_token, login

FILTER_NOTICE = "Ein Filter war ungültig und wurde nicht angewendet"


@pytest.fixture(autouse=True)
def _fresh_chart_cache() -> None:
    coach_view.clear_cache()


@pytest.fixture
def coach(app: Flask, client: FlaskClient) -> FlaskClient:
    """A logged-in coach with one finished lead."""
    create_test_coach(app)
    with app.app_context():
        add_response(
            started="2026-03-02 10:00:00",
            finished="2026-03-02 10:05:00",
            first_name="Jürgen",
            email="juergen@example.com",
            mail_status="sent",
        )
    assert login(client).status_code == 302
    return client


IMPOSSIBLE_IDS = ["9223372036854775808", "2147483648", "99999999999999999999999", "0", "²", "١"]


@pytest.mark.parametrize("lead_id", IMPOSSIBLE_IDS)
def test_an_impossible_lead_id_is_a_404_on_every_lead_route(
    coach: FlaskClient, lead_id: str
) -> None:
    assert coach.get(f"/coach/leads/{lead_id}").status_code == 404
    assert coach.get(f"/coach/leads/{lead_id}/export.json").status_code == 404
    token = csrf_token(coach.get("/coach/leads").get_data(as_text=True))
    deleted = coach.post(f"/coach/leads/{lead_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 404


def test_every_id_of_every_coach_route_is_checked_like_a_lead_id(
    app: Flask, coach: FlaskClient
) -> None:
    """Every id parameter of every coach route (found in the URL map, so a new route is checked
    too) takes the row-id converter: an id the database cannot hold is a 404, never a 500."""
    token = csrf_token(coach.get("/coach/einstellungen").get_data(as_text=True))
    checked = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/coach/"):
            continue
        for converter, name in re.findall(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", rule.rule):
            assert converter == "row_id" or not (
                name.endswith("_id") or converter in ("int", "float")
            ), f"{rule.rule}: <{name}> must be a <row_id:{name}>"
        if not rule.arguments or rule.arguments == {"name"} or rule.arguments == {"group"}:
            continue
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            for bad in IMPOSSIBLE_IDS:
                url = rule.rule.replace(f"<row_id:{next(iter(rule.arguments))}>", bad)
                answer = coach.open(url, method=method, data={"csrf_token": token})
                assert answer.status_code == 404, (method, url, answer.status_code)
            checked.append(f"{method} {rule.rule}")
    assert "POST /coach/einstellungen/webhooks/<row_id:endpoint_id>/test" in checked
    assert "POST /coach/einstellungen/zustellungen/<row_id:delivery_id>/erneut" in checked
    assert len(checked) >= 11, checked


BAD_FILTERS = [
    "to=9999-12-31",
    "from=9999-12-31",
    "from=0001-01-01",
    "to=0001-01-01",
    "from=2026-02-30",
    "from=2026-03-01xyz",
    "from=20260301",
    "to=2026-W10-1",
    "from=%D9%A2%D9%A0%D9%A2%D9%A6-01-01",
    "demo=maybe",
    "campaign=" + "x" * 101,
    "version=" + "v" * 41,
]


@pytest.mark.dialect_independent
@pytest.mark.parametrize("query", BAD_FILTERS)
def test_a_bad_filter_is_ignored_with_a_german_notice(coach: FlaskClient, query: str) -> None:
    for path in ("/coach/", "/coach/leads"):
        page = coach.get(f"{path}?{query}")
        assert page.status_code == 200, (path, query)
        text = page.get_data(as_text=True)
        assert FILTER_NOTICE in text, (path, query)
        assert "Jürgen" in text or path == "/coach/", query  # the bad filter narrowed nothing


@pytest.mark.dialect_independent
@pytest.mark.parametrize("page", ["%C2%B2", "%D9%A1", "-1", "0", "1.5", "abc", "9" * 5000])
def test_a_bad_page_number_shows_the_first_page_with_a_notice(
    coach: FlaskClient, page: str
) -> None:
    response = coach.get(f"/coach/leads?page={page}")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "Jürgen" in text
    assert "Die Seitenzahl war ungültig" in text


@pytest.mark.dialect_independent
def test_a_too_long_search_is_ignored_with_a_notice(coach: FlaskClient) -> None:
    text = coach.get("/coach/leads?q=" + "j" * 101).get_data(as_text=True)
    assert "Jürgen" in text and FILTER_NOTICE in text


def test_valid_filters_show_no_notice(coach: FlaskClient) -> None:
    for path in ("/coach/", "/coach/leads"):
        page = coach.get(f"{path}?from=2026-03-01&to=2026-03-31&demo=real&page=1&q=j")
        assert page.status_code == 200
        assert FILTER_NOTICE not in page.get_data(as_text=True)


@pytest.mark.dialect_independent
@pytest.mark.parametrize("query", [*BAD_FILTERS, "q=" + "j" * 101])
def test_a_csv_with_a_bad_filter_fails_before_the_first_byte(
    coach: FlaskClient, query: str
) -> None:
    response = coach.get(f"/coach/leads.csv?{query}")
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Content-Disposition" not in response.headers


@pytest.mark.dialect_independent
@pytest.mark.parametrize("query", BAD_FILTERS[:3])
def test_a_chart_with_a_bad_filter_is_a_400(coach: FlaskClient, query: str) -> None:
    assert coach.get(f"/coach/chart/timeline.png?{query}").status_code == 400


def test_the_widest_valid_range_still_exports_completely(coach: FlaskClient) -> None:
    response = coach.get("/coach/leads.csv?from=2000-01-01&to=2199-12-31")
    assert response.status_code == 200
    rows = list(
        csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")), delimiter=";")
    )
    assert [row[0] for row in rows[1:]] == ["Jürgen"]
    assert coach.get("/coach/?from=2000-01-01&to=2199-12-31").status_code == 200


HIDDEN_FORMULAS = [
    "\n=1+1",
    "\x0b=1+1",
    " =1+1",
    '\xa0=HYPERLINK("http://evil")',
    "\u2003+49",
    "\u200b@SUM(A1)",
    "\ufeff-1",
    "\x0c=1",
    "\x1f=1",
    "  \t=1",
]


@pytest.mark.dialect_independent
@pytest.mark.parametrize("name", HIDDEN_FORMULAS)
def test_csv_neutralises_formulas_behind_whitespace_and_invisible_characters(
    app: Flask, coach: FlaskClient, name: str
) -> None:
    with app.app_context():
        add_response(
            started="2026-03-03 10:00:00",
            finished="2026-03-03 10:05:00",
            first_name=name,
            email="versteckt@example.com",
        )
    body = coach.get("/coach/leads.csv").get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(body, newline=""), delimiter=";"))
    assert rows[1][0] == "'" + name
    assert rows[2][0] == "Jürgen"  # plain names keep no apostrophe


def test_names_with_inner_signs_keep_no_apostrophe() -> None:
    from quiz.coach.leads import neutralise

    for plain in ("Anna-Lena", "Jürgen", " Anna", "A=B", "", "\u00a0Bärbel", "x@example.org"):
        assert neutralise(plain) == plain


# --- the export and a database that fails --------------------------------------------------------


def _is_lead_query(statement: str) -> bool:
    return (
        statement.lstrip().upper().startswith("SELECT")
        and "ORDER BY RESPONSES.FINISHED_AT DESC" in statement.upper()
    )


# SQLAlchemy leaves psycopg's server-side cursor of a dead connection to the garbage collector,
# which warns about it (ResourceWarning); nothing in the app can close it any earlier.
DEAD_CURSOR_WARNING = (
    "ignore:Exception ignored in. <function ServerCursorMixin.__del__"
    ":pytest.PytestUnraisableExceptionWarning"
)


@pytest.mark.filterwarnings(DEAD_CURSOR_WARNING)
def test_a_database_failure_at_the_export_query_is_a_503_before_the_first_byte(
    app: Flask, coach: FlaskClient
) -> None:
    """On PostgreSQL the backend is really terminated; SQLite gets the driver's error injected."""
    from sqlalchemy import create_engine, event, text
    from sqlalchemy.exc import OperationalError

    from quiz.config import database_url
    from quiz.extensions import db

    with app.app_context():
        engine = db.engine
    postgres = engine.dialect.name == "postgresql"
    killer = (
        create_engine(database_url(app.config["SQLALCHEMY_DATABASE_URI"])) if postgres else None
    )
    state = {"failed": False}

    def before(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if state["failed"] or not _is_lead_query(statement):
            return
        state["failed"] = True
        if killer is None:
            raise OperationalError(statement, {}, Exception("database is locked"))
        pid = conn.connection.dbapi_connection.info.backend_pid
        with killer.begin() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    event.listen(engine, "before_cursor_execute", before)
    try:
        response = coach.get("/coach/leads.csv")
        body = response.get_data(as_text=True)
    finally:
        event.remove(engine, "before_cursor_execute", before)
        if killer is not None:
            killer.dispose()
        gc.collect()  # the dead cursor's warning belongs to this test, not a later one
    assert state["failed"]
    assert response.status_code == 503
    assert "Content-Disposition" not in response.headers
    assert "Vorname;" not in body
    again = coach.get("/coach/leads.csv")  # the next request reconnects
    assert again.status_code == 200 and "Jürgen" in again.get_data(as_text=True)


@pytest.mark.filterwarnings(DEAD_CURSOR_WARNING)
@pytest.mark.postgres
@pytest.mark.parametrize("app", ["postgres"], indirect=True)
def test_a_connection_lost_mid_export_breaks_the_download_instead_of_ending_it(
    app: Flask, coach: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backend terminated after the first batch: the body raises, so the server aborts the
    chunked transfer (no final chunk) and the browser reports the download as failed."""
    from sqlalchemy import create_engine, event, text
    from sqlalchemy.exc import DBAPIError

    from quiz.coach import leads
    from quiz.config import database_url
    from quiz.extensions import db

    monkeypatch.setattr(leads, "FETCH_ROWS", 5)
    with app.app_context():
        for n in range(20):
            add_response(
                started="2026-03-04 10:00:00",
                finished=f"2026-03-04 10:{n:02d}:00",
                first_name=f"Person {n}",
                email=f"p{n}@example.com",
            )
        engine = db.engine
    pids: list[int] = []

    def before(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if _is_lead_query(statement):
            pids.append(conn.connection.dbapi_connection.info.backend_pid)

    event.listen(engine, "before_cursor_execute", before)
    killer = create_engine(database_url(app.config["SQLALCHEMY_DATABASE_URI"]))
    try:
        response = coach.get("/coach/leads.csv", buffered=False)
        assert response.status_code == 200
        chunks = iter(response.response)
        assert next(chunks)  # the header line
        with killer.begin() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[0]})
        received = []
        with pytest.raises(DBAPIError):
            for chunk in chunks:
                received.append(chunk)
        assert b"Person 0" not in b"".join(received)  # the oldest rows never arrived
    finally:
        event.remove(engine, "before_cursor_execute", before)
        killer.dispose()
        response.close()
        gc.collect()
