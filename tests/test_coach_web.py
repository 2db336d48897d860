"""The coach view over HTTP: access, login, throttling, redirects, leads, CSV, delete."""

from __future__ import annotations

import csv
import io
import re

import pytest
from argon2 import extract_parameters, profiles
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from markupsafe import escape

from quiz.app_state import get_content
from quiz.database import begin_write
from quiz.domain.analysis import build_analysis
from quiz.domain.scoring import sample_answers, score_answers
from quiz.extensions import db
from quiz.models import Coach, Response
from quiz.web.coach import dashboard as coach_view
from tests.coach_factories import PASSWORD, add_response, create_test_coach, csrf_token, login
from tests.conftest import PRODUCTION_HASHER
from tests.factories import finished_response, with_extra

CSRF_VALUE = re.compile(r'name="csrf_token"[^>]*value="[^"]+"')
COACH_URLS = [
    "/coach/",
    "/coach/?from=2026-01-01&campaign=x",
    "/coach/chart/funnel.png",
    "/coach/chart/scores.png",
    "/coach/leads",
    "/coach/leads.csv",
    "/coach/leads/1",
    "/coach/leads/1/export.json",
]


@pytest.fixture(autouse=True)
def _fresh_chart_cache() -> None:
    coach_view.clear_cache()


def _lead(app: Flask, **fields: object) -> int:
    defaults: dict[str, object] = {
        "started": "2026-03-02 10:00:00",
        "finished": "2026-03-02 10:05:00",
        "first_name": "Jürgen",
        "email": "juergen@example.com",
        "mail_status": "sent",
    }
    with app.app_context():
        return add_response(**(defaults | fields)).id  # type: ignore[arg-type]


@pytest.mark.dialect_independent
def test_the_login_page_answers_a_head_as_its_get(client: FlaskClient) -> None:
    """A monitor's HEAD sees the page as a browser's GET does, not as an empty form sent."""
    page, head = client.get("/coach/login"), client.head("/coach/login")
    assert (page.status_code, head.status_code) == (200, 200)
    assert head.headers["Content-Type"] == page.headers["Content-Type"]
    assert head.get_data() == b""
    # A form sent without its fields still says so.
    token = csrf_token(page.get_data(as_text=True))
    assert client.post("/coach/login", data={"csrf_token": token}).status_code == 422


@pytest.mark.dialect_independent
def test_anonymous_users_are_sent_to_the_login_from_every_coach_url(client: FlaskClient) -> None:
    for url in COACH_URLS:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/coach/login?next=/coach/"), url
    token = csrf_token(client.get("/coach/login").get_data(as_text=True))
    for url in ("/coach/logout", "/coach/leads/1/delete"):
        assert client.post(url).status_code == 400  # no CSRF token: refused before anything else
        response = client.post(url, data={"csrf_token": token})
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/coach/login"), url


def test_the_right_password_logs_in_and_every_page_renders(app: Flask, client: FlaskClient) -> None:
    create_test_coach(app)
    lead_id = _lead(app)
    response = login(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/coach/"
    for url in [u.replace("/leads/1", f"/leads/{lead_id}") for u in COACH_URLS]:
        page = client.get(url)
        assert page.status_code == 200, url
    assert client.get("/coach/chart/nope.png").status_code == 404
    assert client.get("/coach/leads/99999").status_code == 404


@pytest.mark.dialect_independent
def test_wrong_password_and_unknown_email_fail_the_same_way(
    app: Flask, client: FlaskClient
) -> None:
    create_test_coach(app)
    wrong = login(client, password="falsch-falsch-falsch")
    unknown = login(client, email="nobody@example.com")
    assert wrong.status_code == unknown.status_code == 401

    def page(response: object) -> str:
        text = response.get_data(as_text=True)  # type: ignore[attr-defined]
        return CSRF_VALUE.sub("", text).replace("nobody@example.com", "coach@example.com")

    assert page(wrong) == page(unknown)
    assert client.get("/coach/").status_code == 302


@pytest.mark.dialect_independent
@pytest.mark.app_config(RATELIMIT_ENABLED=True)
def test_repeated_failures_are_throttled_with_retry_after(app: Flask, client: FlaskClient) -> None:
    create_test_coach(app)
    statuses = [login(client, password=f"falsch-{n}-xxxxxxx").status_code for n in range(6)]
    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429
    blocked = login(client)  # even the right password waits now
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0


@pytest.mark.dialect_independent
@pytest.mark.app_config(RATELIMIT_ENABLED=True)
def test_successful_logins_do_not_count_as_failures(app: Flask, client: FlaskClient) -> None:
    create_test_coach(app)
    for _ in range(7):
        assert login(client).status_code == 302


@pytest.mark.dialect_independent
@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/coach/",
        "/\\evil.example",
        "/\\/evil.example/",
        "https:/evil.example",
        "javascript:alert(1)",
        "/r/abc",
        "/coach/../evil",
        "%2F%2Fevil.example",
    ],
)
def test_open_redirect_attempts_land_on_the_dashboard(
    app: Flask, client: FlaskClient, target: str
) -> None:
    create_test_coach(app)
    response = login(client, next_=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/coach/"


@pytest.mark.dialect_independent
def test_next_to_a_coach_page_is_honoured(app: Flask, client: FlaskClient) -> None:
    create_test_coach(app)
    response = login(client, next_="/coach/leads?q=anna")
    assert response.headers["Location"] == "/coach/leads?q=anna"


@pytest.mark.dialect_independent
def test_login_starts_a_fresh_session(app: Flask, client: FlaskClient) -> None:
    create_test_coach(app)
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    login(client)
    with client.session_transaction() as session:
        assert "planted" not in session


def _stolen_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def test_logout_invalidates_a_copied_session_cookie(app: Flask, client: FlaskClient) -> None:
    create_test_coach(app)
    login(client)
    copied = _stolen_cookie(client)
    page = client.get("/coach/")
    client.post("/coach/logout", data={"csrf_token": csrf_token(page.get_data(as_text=True))})
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/coach/").status_code == 302


def test_password_reset_ends_sessions(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner
) -> None:
    create_test_coach(app)
    login(client)
    assert client.get("/coach/").status_code == 200
    result = runner.invoke(
        args=["create-coach", "coach@example.com", "--reset"],
        input="ein-neues-Passwort-99\nein-neues-Passwort-99\n",
    )
    assert result.exit_code == 0, result.output
    assert client.get("/coach/").status_code == 302
    assert login(client).status_code == 401
    assert login(client, password="ein-neues-Passwort-99").status_code == 302


def test_create_coach_hashes_with_argon2id_and_refuses_duplicates(
    app: Flask, runner: FlaskCliRunner
) -> None:
    result = runner.invoke(
        args=["create-coach", "Chefin@Example.com"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        coach = db.session.scalars(db.select(Coach)).one()
        assert coach.email == "chefin@example.com"
        assert coach.password_hash.startswith("$argon2id$")
        assert PASSWORD not in coach.password_hash
    again = runner.invoke(args=["create-coach", "chefin@example.com"], input=f"{PASSWORD}\n")
    assert again.exit_code == 1
    assert "exists already" in again.output
    mismatch = runner.invoke(
        args=["create-coach", "b@example.com"], input=f"{PASSWORD}\nanders-anders\n"
    )
    assert mismatch.exit_code == 1
    short = runner.invoke(args=["create-coach", "c@example.com"], input="kurz\nkurz\n")
    assert short.exit_code == 1
    assert (
        runner.invoke(
            args=["create-coach", "x@example.com", "--reset"], input=f"{PASSWORD}\n"
        ).exit_code
        == 1
    )


@pytest.mark.dialect_independent
def test_production_hashes_use_the_librarys_recommended_argon2id_parameters(app: Flask) -> None:
    # The tests hash at the cheapest parameters (conftest); the app itself never does.
    stored = PRODUCTION_HASHER.hash(PASSWORD)
    assert extract_parameters(stored) == profiles.RFC_9106_LOW_MEMORY
    assert extract_parameters(stored).memory_cost == 64 * 1024  # KiB
    with app.app_context():
        create_test_coach(app)
        cheap = db.session.scalars(db.select(Coach)).one().password_hash
    assert extract_parameters(cheap) == profiles.CHEAPEST  # so the swap is in effect here


def _logged_in(app: Flask, client: FlaskClient) -> None:
    create_test_coach(app)
    assert login(client).status_code == 302


def test_csv_export_neutralises_formulas_and_keeps_umlauts(app: Flask, client: FlaskClient) -> None:
    _logged_in(app, client)
    _lead(app, first_name='=HYPERLINK("http://evil")', email="a@example.com")
    _lead(app, first_name="+49 Bärbel", email="b@example.com", finished="2026-03-02 11:00:00")
    _lead(app, first_name="Jürgen Größe", email="-c@example.com", finished="2026-03-02 12:00:00")
    _lead(app, first_name="@Özlem", email="d@example.com", finished="2026-03-02 13:00:00")
    _lead(app, first_name="\tTab", email="e@example.com", finished="2026-03-02 14:00:00")
    response = client.get("/coach/leads.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["Vorname", "E-Mail", "Abgeschlossen (UTC)"]
    names = [row[0] for row in rows[1:]]
    assert names == [
        "'\tTab",
        "'@Özlem",
        "Jürgen Größe",
        "'+49 Bärbel",
        '\'=HYPERLINK("http://evil")',
    ]
    assert rows[3][1] == "'-c@example.com"
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_csv_export_follows_filters_and_search(app: Flask, client: FlaskClient) -> None:
    _logged_in(app, client)
    _lead(app, first_name="Anna", email="anna@example.com", campaign="herbst")
    _lead(app, first_name="Bernd", email="bernd@example.com")
    _lead(app, first_name="Anne_100%", email="anne@example.com", demo=True)
    body = client.get("/coach/leads.csv?campaign=herbst").get_data(as_text=True)
    assert "Anna" in body and "Bernd" not in body
    body = client.get("/coach/leads.csv?q=ANN").get_data(as_text=True)
    assert "Anna" in body and "Anne_100%" in body and "Bernd" not in body
    body = client.get("/coach/leads.csv?q=_100%25").get_data(as_text=True)
    assert "Anne_100%" in body and "Anna" not in body
    body = client.get("/coach/leads.csv?demo=real").get_data(as_text=True)
    assert "Anne_100%" not in body
    page = client.get("/coach/leads?q=%27%3B%20DROP%20TABLE%20responses%3B--")
    assert page.status_code == 200
    assert "Keine Abschlüsse" in page.get_data(as_text=True)


def test_leads_list_pages_and_shows_states(app: Flask, client: FlaskClient) -> None:
    _logged_in(app, client)
    for n in range(55):
        _lead(
            app,
            first_name=f"Person {n:02d}",
            email=f"p{n}@example.com",
            finished=f"2026-03-02 10:{n:02d}:30",
            marketing="confirmed" if n == 54 else None,
        )
    first = client.get("/coach/leads").get_data(as_text=True)
    assert "55 Abschlüsse" in first
    assert "Person 54" in first and "Person 04" not in first
    assert "bestätigt" in first and "gesendet" in first
    second = client.get("/coach/leads?page=2").get_data(as_text=True)
    assert "Person 04" in second and "Person 54" not in second
    assert client.get("/coach/leads?page=999").status_code == 200


def test_detail_shows_answers_and_can_export_and_delete(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner
) -> None:
    _logged_in(app, client)
    assert runner.invoke(args=["seed-demo", "30", "--seed", "5"]).exit_code == 0
    with app.app_context():
        lead_id = db.session.scalar(
            db.select(Response.id).where(Response.status == "finished").limit(1)
        )
    page = client.get(f"/coach/leads/{lead_id}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Antworten" in text and "Endgültig löschen" in text
    export = client.get(f"/coach/leads/{lead_id}/export.json")
    assert export.status_code == 200
    assert export.json is not None
    # Every core answer, and the extra page's if the (demo) taker got one.
    exported = {answer["question_id"] for answer in export.json["answers"]}
    content = get_content(app)
    assert {q.id for q in content.questions} <= exported
    assert exported <= {q.id for q in content.all_questions}

    assert client.post(f"/coach/leads/{lead_id}/delete").status_code == 400  # no CSRF token
    deleted = client.post(f"/coach/leads/{lead_id}/delete", data={"csrf_token": csrf_token(text)})
    assert deleted.status_code == 302
    assert client.get(f"/coach/leads/{lead_id}").status_code == 404
    assert runner.invoke(args=["rebuild-rollups", "--check"]).exit_code == 0


@pytest.mark.dialect_independent
def test_no_coach_data_on_public_pages(app: Flask, client: FlaskClient) -> None:
    _lead(app, first_name="Geheim", email="geheim@example.com")
    for url in ("/", "/datenschutz"):
        body = client.get(url).get_data(as_text=True)
        assert "geheim@example.com" not in body and "/coach/" not in body


def test_a_lead_without_stored_analysis_gets_the_domains_ranking(
    app: Flask, client: FlaskClient
) -> None:
    """Demo rows keep no analysis text: the lead page rebuilds it with the scoring's tie rule.

    Seed 16 (with the extra page it gets) ties three dimensions at the lowest score, and the
    answers (not the order of the dimensions in the content file) decide which is the bottleneck.
    """
    content = get_content(app)
    answers = with_extra(content, sample_answers(content, "random", seed=16))
    scored = score_answers(content, answers)
    assert scored.tied_with  # the case where a ranking by content order would differ
    token = finished_response(app, answers).token
    with app.app_context():
        begin_write()
        response = db.session.scalars(db.select(Response).filter_by(result_token=token)).one()
        response.analysis = None  # as the demo data stores it
        lead_id = response.id
        assert response.bottleneck == scored.bottleneck
        db.session.commit()
    create_test_coach(app)
    login(client)
    page = client.get(f"/coach/leads/{lead_id}").get_data(as_text=True)
    section = page[page.index('id="h-analysis"') : page.index('id="h-answers"')]
    titles = re.findall(r"<h3>(.*?)</h3>", section)
    expected = [str(escape(item.title)) for item in build_analysis(content, answers, scored)]
    assert titles == expected
