"""Hostile input: XSS, SQL metacharacters, NUL and bad encodings, oversized bodies, forged tokens,
unknown fields, database outages and what ends up in the logs."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from quiz.app_state import get_content
from quiz.domain.scoring import sample_answers
from quiz.extensions import db
from quiz.mail import sender as outbox
from quiz.models import Answer, Consent, OutboxMessage, Response
from tests import coach_factories
from tests.conftest import FIXTURES
from tests.quizflow import (
    answer_all_pages,
    answer_page,
    complete_quiz,
    csrf_token,
    lead_step,
    start,
)

XSS = '<script>alert(1)</script><img src=x onerror="alert(2)">'
XSS_SHORT = "<script>alert(1)</script>"


def counts(app: Flask) -> tuple[int, int, int, int]:
    """How many rows the taker tables hold."""
    with app.app_context():
        return tuple(  # type: ignore[return-value]
            db.session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Response, Answer, Consent, OutboxMessage)
        )


def assert_escaped(html: str, payload: str = XSS_SHORT) -> None:
    """The payload appears only escaped: no live <script> or event handler from it."""
    assert payload not in html
    assert "<script>alert" not in html
    assert "onerror=" not in html.replace("onerror=&#34;", "").replace("onerror=&quot;", "")


def answer_all(client: FlaskClient, app: Flask) -> None:
    """Start and answer every question page (stopping before the lead step)."""
    content = get_content(app)
    answers = sample_answers(content, "random", seed=3)
    start(client)
    answer_all_pages(client, app, answers)  # with the extra page, if one is due


# --- XSS ----------------------------------------------------------------------------------------


@pytest.mark.dialect_independent
def test_xss_in_first_name_is_escaped_on_result_and_coach_pages(
    client: FlaskClient, app: Flask
) -> None:
    result = complete_quiz(client, app, first_name=XSS[:90])
    page = client.get(result.headers["Location"])
    assert page.status_code == 200
    assert_escaped(page.text)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    coach_factories.create_test_coach(app)
    coach = app.test_client()
    coach_factories.login(coach)
    leads = coach.get("/coach/leads")
    assert leads.status_code == 200
    assert_escaped(leads.text)
    with app.app_context():
        response_id = db.session.scalar(select(Response.id))
    detail = coach.get(f"/coach/leads/{response_id}")
    assert detail.status_code == 200
    assert_escaped(detail.text)


@pytest.mark.dialect_independent
def test_xss_in_first_name_is_escaped_in_the_emails(client: FlaskClient, app: Flask) -> None:
    complete_quiz(client, app, first_name=XSS_SHORT, consent_marketing="y")
    outbox.deliver_due(app)
    mails = list(Path(app.config["MAIL_DIR"]).glob("*.eml"))
    assert mails, "no mail written"
    import email
    from email import policy

    for path in mails:
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        html = message.get_body(preferencelist=("html",))
        assert html is not None
        assert_escaped(html.get_content())


@pytest.mark.dialect_independent
def test_xss_in_email_field_is_escaped_when_the_form_comes_back(
    client: FlaskClient, app: Flask
) -> None:
    answer_all(client, app)
    response = lead_step(client, app, email=f"{XSS_SHORT}@example.com", consent_data="y")
    assert response.status_code == 422
    assert_escaped(response.text)
    assert counts(app)[2] == 0  # no consent stored


@pytest.mark.dialect_independent
def test_xss_in_utm_parameters_and_referrer_is_escaped(client: FlaskClient, app: Flask) -> None:
    query = "?" + "&".join(
        f"{name}=%3Cscript%3Ealert(1)%3C%2Fscript%3E%22%3E"
        for name in ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
    )
    landing = client.get("/" + query, headers={"Referer": 'https://evil.example/"><script>x'})
    assert landing.status_code == 200
    assert_escaped(landing.text)
    assert '"><script>' not in landing.text
    result = complete_quiz(client, app)
    assert result.status_code == 302
    coach_factories.create_test_coach(app)
    coach = app.test_client()
    coach_factories.login(coach)
    for path in ("/coach/", "/coach/leads", "/coach/?campaign=" + "%3Cscript%3E"):
        page = coach.get(path)
        assert page.status_code == 200, path
        assert_escaped(page.text)


@pytest.mark.dialect_independent
def test_xss_in_csv_export_cannot_become_a_formula(client: FlaskClient, app: Flask) -> None:
    complete_quiz(client, app, first_name="=HYPERLINK(1)")
    coach_factories.create_test_coach(app)
    coach = app.test_client()
    coach_factories.login(coach)
    csv = coach.get("/coach/leads.csv").get_data(as_text=True)
    assert ";=HYPERLINK" not in csv and "\n=HYPERLINK" not in csv


@pytest.fixture
def hostile_content(tmp_path: Path) -> Path:
    """The mini content with script tags in questions, options, names, advice and tips."""
    text = (FIXTURES / "mini.yaml").read_text(encoding="utf-8")
    for original in (
        "Meine Regeln stehen schriftlich fest.",
        "Ich gebe sofort nach.",
        "Seite eins",
        '"Grenzen"',
        "Schreiben Sie Ihre Regeln auf.",
        "Ergänzen Sie Ihre Regeln.",
        "Bleiben Sie dabei.",
        "Grenzen fehlen",
        "Grenzen wackeln",
        "Grenzen stehen",
        "Regeln aufschreiben",
        "Halten Sie Zahlungsziele schriftlich fest.",
    ):
        assert original in text, original
        bare = original.strip('"')
        text = text.replace(bare, f"{XSS_SHORT} {bare}")
    path = tmp_path / "hostile.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_xss_in_content_is_escaped_on_every_quiz_page(
    hostile_content: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    import shutil

    from quiz import create_app
    from tests.conftest import base_config

    db_path = tmp_path / "hostile.sqlite3"
    shutil.copy(request.getfixturevalue("migrated_sqlite"), db_path)
    app = create_app(
        {**base_config(f"sqlite:///{db_path}", tmp_path), "QUIZ_CONTENT_PATH": str(hostile_content)}
    )
    client = app.test_client()
    assert_escaped(client.get("/").text)
    content = get_content(app)
    # The worst answers trigger the tips and the weakest advice, so all payloads are shown.
    answers = sample_answers(content, "worst")
    start(client)
    for number in range(1, len(content.pages) + 1):
        page = client.get(f"/quiz/{number}")
        assert_escaped(page.text)
        assert answer_page(client, app, number, answers).status_code == 302
    result = lead_step(client, app, email="kundin@example.com", consent_data="y")
    page = client.get(result.headers["Location"])
    assert page.status_code == 200
    assert page.text.count("&lt;script&gt;") >= 3
    assert_escaped(page.text)


# --- SQL metacharacters -------------------------------------------------------------------------

SQL = ["' OR '1'='1", '"; DROP TABLE responses; --', "%_\\", "1) UNION SELECT * FROM coaches--"]


@pytest.mark.parametrize("value", SQL)
def test_sql_metacharacters_in_query_parameters_are_plain_text(
    client: FlaskClient, app: Flask, value: str
) -> None:
    complete_quiz(client, app, first_name="Ada")
    from urllib.parse import quote

    landing = client.get(f"/?utm_campaign={quote(value)}&utm_source={quote(value)}")
    assert landing.status_code == 200
    coach_factories.create_test_coach(app)
    coach = app.test_client()
    coach_factories.login(coach)
    for path in (
        f"/coach/leads?q={quote(value)}",
        f"/coach/?campaign={quote(value)}&version={quote(value)}&from={quote(value)}",
        f"/coach/leads.csv?q={quote(value)}",
    ):
        assert coach.get(path).status_code == 200, path
    # Nothing matched the injection, and the table is still there.
    assert "Ada" not in coach.get(f"/coach/leads?q={quote(value)}").text
    assert counts(app)[0] == 1


# --- encodings, NUL, size, unknown fields -------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"first_name=A%00B&email=a%40example.com&consent_data=y",  # NUL, percent-encoded
        b"first_name=%FF%FE&email=a%40example.com&consent_data=y",  # not UTF-8, percent-encoded
        b"first_name=\xff\xfe&email=a%40example.com&consent_data=y",  # not UTF-8, raw
        b"first_name%00=x&email=a%40example.com&consent_data=y",  # NUL in a field name
    ],
)
def test_nul_and_invalid_utf8_are_a_clear_400_and_store_nothing(
    client: FlaskClient, app: Flask, body: bytes
) -> None:
    answer_all(client, app)
    lead_page = client.get(f"/quiz/{len(get_content(app).pages) + 1}")
    token = csrf_token(lead_page).encode()
    before = counts(app)
    response = client.post(
        f"/quiz/{len(get_content(app).pages) + 1}",
        data=body + b"&action=finish&csrf_token=" + token,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    assert "Ungültige Zeichen" in response.text
    assert counts(app) == before


def test_nul_in_multipart_form_is_rejected(client: FlaskClient, app: Flask) -> None:
    start(client)
    before = counts(app)
    page = client.get("/quiz/1")
    response = client.post(
        "/quiz/1",
        data={"csrf_token": csrf_token(page), "x": "a\x00b"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert counts(app) == before


@pytest.mark.parametrize(
    "path", ["/?utm_source=%00", "/?utm_source=%FF", "/r/abc%00def", "/r/%FF%FE", "/quiz/%00"]
)
def test_nul_and_invalid_utf8_in_urls_are_no_500(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code in {400, 404}
    assert "<html" in response.text


def test_nul_in_the_draft_cookie_is_rejected(client: FlaskClient, app: Flask) -> None:
    client.set_cookie("quiz_draft", "abc\x00def")
    assert client.get("/quiz/1").status_code == 400


@pytest.mark.dialect_independent
@pytest.mark.parametrize(
    "header",
    [
        "quiz_draft=\xff\xfe",  # raw bytes that are not UTF-8 (the environ holds them as Latin-1)
        "quiz_draft=abc\xe4def",  # a lone Latin-1 "ä"
        "fremd=\xc3; quiz_draft=abc",  # a cut-off UTF-8 sequence in another cookie
    ],
)
def test_invalid_utf8_in_cookies_is_a_german_400(app: Flask, header: str) -> None:
    client = app.test_client(use_cookies=False)  # the header goes out exactly as written
    for path in ("/", "/quiz/1", "/coach/login"):
        response = client.get(path, headers={"Cookie": header})
        # Before: Werkzeug read the bytes as Latin-1 text and the request went through.
        assert response.status_code == 400, path
        assert "Ungültige Zeichen" in response.text


@pytest.mark.dialect_independent
def test_utf8_in_cookies_is_accepted(app: Flask) -> None:
    client = app.test_client(use_cookies=False)
    header = "fremd=" + "Grüße".encode().decode("latin-1")  # as the server hands it over
    assert client.get("/", headers={"Cookie": header}).status_code == 200


@pytest.mark.dialect_independent
def test_oversized_body_is_a_german_413(client: FlaskClient, app: Flask) -> None:
    start(client)
    before = counts(app)
    response = client.post(
        "/quiz/1",
        data=b"x=" + b"a" * (app.config["MAX_CONTENT_LENGTH"] + 1),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413
    assert "Zu viele Daten" in response.text
    assert counts(app) == before


@pytest.mark.dialect_independent
def test_unknown_fields_are_ignored(client: FlaskClient, app: Flask) -> None:
    answer_all(client, app)
    extra = {
        "status": "finished",
        "score_preise": "100",
        "score_werte": "100",
        "is_demo": "1",
        "result_token": "mine",
        "anonymised_at": "2020-01-01",
        "id": "1",
        "bottleneck": "preise",
    }
    result = lead_step(client, app, email="kundin@example.com", consent_data="y", **extra)
    assert result.status_code == 302
    assert "/r/mine" not in result.headers["Location"]
    with app.app_context():
        response = db.session.scalar(select(Response))
        assert response is not None
        assert response.is_demo is False
        assert response.anonymised_at is None
        assert response.result_token != "mine"
        expected = client.get(result.headers["Location"])
        assert expected.status_code == 200
    # Extra fields on the start form change nothing either: a plain new draft.
    client.post("/quiz/start", data={"csrf_token": csrf_token(client.get("/")), **extra})
    with app.app_context():
        newest = db.session.scalars(select(Response).order_by(Response.id.desc())).first()
        assert newest is not None
        assert (newest.status, newest.is_demo, newest.score_preise) == ("draft", False, None)


# --- tokens -------------------------------------------------------------------------------------


@pytest.mark.dialect_independent
def test_forged_result_tokens_are_404(client: FlaskClient, app: Flask) -> None:
    result = complete_quiz(client, app)
    token = result.headers["Location"].rsplit("/", 1)[1]
    for forged in (token[:-1] + ("A" if token[-1] != "A" else "B"), token.upper(), "x" * 65):
        assert client.get(f"/r/{forged}").status_code == 404, forged
        assert client.get(f"/r/{forged}/chart.png").status_code == 404


@pytest.mark.dialect_independent
def test_forged_draft_cookie_starts_over(client: FlaskClient, app: Flask) -> None:
    client.set_cookie("quiz_draft", "forged-" + "a" * 40)
    response = client.get("/quiz/1")
    assert response.status_code == 302 and response.headers["Location"].endswith("/")
    client.set_cookie("quiz_draft", "a" * 300)
    assert client.get("/quiz/1").status_code in {302, 400}


def test_reused_draft_cookie_after_finishing_cannot_change_the_result(
    client: FlaskClient, app: Flask
) -> None:
    result = complete_quiz(client, app)
    location = result.headers["Location"]
    page = client.get("/quiz/1")
    assert page.status_code == 302 and page.headers["Location"] == location
    with app.app_context():
        before = db.session.scalar(select(Response.score_preise))
    token = csrf_token(client.get("/"))
    replay = client.post("/quiz/1", data={"csrf_token": token, "action": "next"})
    assert replay.status_code == 302 and replay.headers["Location"] == location
    with app.app_context():
        assert db.session.scalar(select(Response.score_preise)) == before


def test_result_of_a_deleted_response_is_gone(client: FlaskClient, app: Flask) -> None:
    result = complete_quiz(client, app)
    location = result.headers["Location"]
    assert client.get(location).status_code == 200
    from quiz.taker import rights

    with app.app_context():
        rights.delete_data(db.session.scalar(select(Response.id)))
    assert client.get(location).status_code == 404


@pytest.mark.dialect_independent
def test_forged_account_links_are_refused(client: FlaskClient) -> None:
    for path in ("/daten/x.y.z", "/bestaetigen/forged", "/abmelden/' OR 1=1 --"):
        response = client.get(path)
        assert response.status_code in {400, 404}, path
        assert "<html" in response.text


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.dialect_independent
def test_405_is_a_german_page(client: FlaskClient) -> None:
    response = client.get("/quiz/start")
    assert response.status_code == 405
    assert "Das geht so nicht" in response.text
    assert "POST" in response.headers["Allow"]


@pytest.mark.dialect_independent
@pytest.mark.app_config(PROPAGATE_EXCEPTIONS=False)
def test_unexpected_error_is_a_german_500_page(
    client: FlaskClient, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> str:
        raise RuntimeError("boom")

    monkeypatch.setitem(app.view_functions, "legal.privacy", broken)
    response = client.get("/datenschutz")
    assert response.status_code == 500
    assert "Da ist etwas schiefgelaufen" in response.text
    assert "boom" not in response.text


def _fail_once(app: Flask, statement_start: str) -> dict[str, Any]:
    """Make the next statement starting with `statement_start` fail as if the server went away."""
    state: dict[str, Any] = {"failed": False}
    with app.app_context():
        engine = db.engine

    def before(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not state["failed"] and statement.lstrip().upper().startswith(statement_start):
            state["failed"] = True
            raise OperationalError(statement, {}, Exception("server closed the connection"))

    event.listen(engine, "before_cursor_execute", before)
    state["remove"] = lambda: event.remove(engine, "before_cursor_execute", before)
    return state


def test_database_going_away_mid_finish_is_a_503_without_partial_write(
    client: FlaskClient, app: Flask
) -> None:
    answer_all(client, app)
    before = counts(app)
    state = _fail_once(app, "INSERT INTO CONSENTS")
    try:
        response = lead_step(client, app, email="kundin@example.com", consent_data="y")
    finally:
        state["remove"]()
    assert state["failed"]
    assert response.status_code == 503
    assert "Gleich wieder da" in response.text
    assert response.headers["Retry-After"]
    assert counts(app) == before
    with app.app_context():
        assert db.session.scalar(select(Response.status)) == "draft"
    # The database is back: the same step now finishes.
    retry = lead_step(client, app, email="kundin@example.com", consent_data="y")
    assert retry.status_code == 302
    assert client.get(retry.headers["Location"]).status_code == 200


@pytest.mark.postgres
@pytest.mark.parametrize("app", ["postgres"], indirect=True)
def test_postgres_connection_killed_mid_request_is_a_503_then_recovers(
    client: FlaskClient, app: Flask
) -> None:
    from sqlalchemy import create_engine, text

    from quiz.config import database_url

    answer_all(client, app)
    before = counts(app)
    killer = create_engine(database_url(app.config["SQLALCHEMY_DATABASE_URI"]))
    state = {"killed": False}
    with app.app_context():
        engine = db.engine

    def before_execute(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not state["killed"] and statement.lstrip().upper().startswith("INSERT INTO CONSENTS"):
            state["killed"] = True
            pid = conn.connection.dbapi_connection.info.backend_pid
            with killer.begin() as admin:
                admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    event.listen(engine, "before_cursor_execute", before_execute)
    try:
        response = lead_step(client, app, email="kundin@example.com", consent_data="y")
    finally:
        event.remove(engine, "before_cursor_execute", before_execute)
        killer.dispose()
    assert state["killed"]
    assert response.status_code == 503
    assert counts(app) == before
    retry = lead_step(client, app, email="kundin@example.com", consent_data="y")
    assert retry.status_code == 302


def test_database_unreachable_at_request_time_is_a_503(app: Flask, tmp_path: Path) -> None:
    from quiz import create_app
    from tests.conftest import base_config

    missing = tmp_path / "no-such-dir" / "quiz.sqlite3"
    broken = create_app(base_config(f"sqlite:///{missing}", tmp_path))
    # A page that reads the database (/healthz asks nothing of it; /readyz says it is down).
    response = broken.test_client().get("/")
    assert response.status_code == 503
    assert "Gleich wieder da" in response.text
    assert broken.test_client().get("/readyz").status_code == 503


# --- logs ---------------------------------------------------------------------------------------


@pytest.mark.dialect_independent
def test_logs_contain_no_email_addresses_or_answers(
    client: FlaskClient,
    app: Flask,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    # Alembic's fileConfig (run by the migrated-database fixture) disables existing loggers.
    for name, logger in logging.Logger.manager.loggerDict.items():
        if name.startswith("quiz") and isinstance(logger, logging.Logger):
            monkeypatch.setattr(logger, "disabled", False)
    address = "geheim.kundin@example.com"
    result = complete_quiz(client, app, email=address, first_name="Gerlinde", consent_marketing="y")
    client.get(result.headers["Location"])
    outbox.deliver_due(app)
    logged = caplog.text
    assert caplog.records, "expected some log lines (mail written)"
    assert address not in logged and "geheim" not in logged
    assert "Gerlinde" not in logged
    assert not re.search(r"[\w.+-]+@example\.com", logged)


def test_redacting_a_long_line_takes_linear_time() -> None:
    import time

    from quiz.web.security import redact

    lines = ["GET /?q=" + "a" * 100_000, "x%41" * 25_000, "@a" * 50_000]
    started = time.perf_counter()
    for line in lines:
        redact(line)
    # Linear: a few milliseconds. A pattern tried at every position took minutes on these.
    assert time.perf_counter() - started < 1.0


def test_redacting_filter_removes_emails_and_secret_links() -> None:
    from quiz.web.security import RedactingFilter

    record = logging.LogRecord(
        "x",
        logging.WARNING,
        __file__,
        1,
        "550 %s rejected; GET /r/%s",
        ("a.b@example.org", "TOK"),
        None,
    )
    RedactingFilter().filter(record)
    message = record.getMessage()
    assert "a.b@example.org" not in message and "TOK" not in message
    assert "[E-Mail]" in message and "/r/…" in message
