"""Every page's HTML passes the Nu HTML Checker (vnu.jar from the npm package vnu-jar).

The pages are collected with the test client, written to a temporary folder and checked in one
Java run (starting the JVM is the slow part), with a broken page beside them that it must flag.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from quiz.app_state import get_content
from quiz.domain.scoring import sample_answers
from quiz.extensions import db
from quiz.links import DATA, make_token
from quiz.models import Response
from quiz.site import settings as site_settings
from tests import coach_factories
from tests.quizflow import answer_all_pages, answer_page, csrf_token, lead_step, start

pytestmark = pytest.mark.dialect_independent

ROOT = Path(__file__).resolve().parent.parent
VNU_JAR = ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"


def vnu_errors(folder: Path) -> list[str]:
    """Run the checker over every .html file in `folder`; its errors as 'file:line: message'."""
    java = shutil.which("java")
    if java is None or not VNU_JAR.exists():
        pytest.skip(f"the Nu HTML Checker needs java and {VNU_JAR} (npm ci installs it)")
    run = subprocess.run(
        [
            java,
            # A short-lived JVM: the client compiler only, one GC thread, and a stack big enough
            # for the schema (with the default one the checker reports a StackOverflowError and
            # evaluates the schema again). Half the CPU time of the defaults.
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC",
            "-Xss8m",
            "-jar",
            str(VNU_JAR),
            "--errors-only",
            "--format",
            "json",
            "--skip-non-html",
            str(folder),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(run.stderr or run.stdout or '{"messages": []}')
    return [
        f"{Path(m.get('url', '')).name}:{m.get('lastLine', '?')}: {m.get('message')}"
        for m in report.get("messages", [])
        if m.get("type") in {"error", "non-document-error"}
    ]


def collect_public_pages(client: FlaskClient, app: Flask) -> dict[str, str]:
    """Landing, every step (also with validation errors), lead step, result, legal pages, errors."""
    pages: dict[str, str] = {}
    content = get_content(app)
    answers = sample_answers(content, "worst")
    pages["landing"] = client.get("/?utm_source=x&utm_campaign=y").text
    start(client)
    for number in range(1, len(content.pages) + 1):
        page = client.get(f"/quiz/{number}")
        pages[f"step-{number}"] = page.text
        if number == 1:
            invalid = client.post("/quiz/1", data={"csrf_token": csrf_token(page)})
            assert invalid.status_code == 422
            pages["step-1-errors"] = invalid.text
        assert answer_page(client, app, number, answers).status_code == 302
    lead_number = len(content.pages) + 1
    pages["lead"] = client.get(f"/quiz/{lead_number}").text
    pages["lead-errors"] = lead_step(client, app, email="kaputt").text
    result = lead_step(client, app, email="kundin@example.com", first_name="Ada", consent_data="y")
    pages["result"] = client.get(result.headers["Location"]).text
    with app.app_context():  # the call to action shows only with a target
        site_settings.update({"cta.url": "https://termine.example/erstgespraech"}, "test")
    pages["result-cta"] = client.get(result.headers["Location"]).text
    assert 'class="card cta"' in pages["result-cta"]
    pages["privacy"] = client.get("/datenschutz").text
    pages["impressum"] = client.get("/impressum").text
    pages["error-404"] = client.get("/gibt-es-nicht").text
    pages["error-405"] = client.get("/quiz/start").text
    pages["error-400-invalid"] = client.get("/?utm_source=%00").text
    # The extra page, for answers close after the core (seed 5), also with its errors.
    close = client.application.test_client()
    start(close)
    answer_all_pages(close, app, sample_answers(content, "random", seed=5), extra=False)
    extra = close.get("/quiz/zusatz")
    assert extra.status_code == 200
    pages["extra"] = extra.text
    pages["extra-errors"] = close.post("/quiz/zusatz", data={"csrf_token": csrf_token(extra)}).text
    return pages


def collect_all_pages(client: FlaskClient, app: Flask) -> dict[str, str]:
    """The public pages, the taker's account pages and the coach's pages."""
    pages = collect_public_pages(client, app)
    with app.app_context():
        finished = db.session.execute(
            select(Response.id, Response.result_token).where(Response.status == "finished")
        ).one()
    data_token = make_token(app.config, DATA, finished.id, finished.result_token)
    # The first view of a result whose taker gets no email shows the data link once.
    with client.session_transaction() as session:
        session["rights_link_once"] = data_token
    pages["result-with-data-link"] = client.get(f"/r/{finished.result_token}").text
    assert f"/daten/{data_token}" in pages["result-with-data-link"]
    pages["account-data"] = client.get(f"/daten/{data_token}").text
    pages["account-delete"] = client.get(f"/daten/{data_token}/loeschen").text
    pages["account-invalid-link"] = client.get("/daten/kaputt").text
    coach_factories.create_test_coach(app)
    coach = app.test_client()
    pages["coach-login"] = coach.get("/coach/login").text
    coach_factories.login(coach)
    pages["coach-dashboard"] = coach.get("/coach/").text
    pages["coach-leads"] = coach.get("/coach/leads").text
    pages["coach-settings"] = coach.get("/coach/einstellungen").text
    with app.app_context():
        response_id = db.session.scalar(select(Response.id).where(Response.status == "finished"))
    pages["coach-lead"] = coach.get(f"/coach/leads/{response_id}").text
    return pages


BROKEN = "broken.html"


def test_every_public_account_and_coach_page_is_valid_html(
    client: FlaskClient, app: Flask, tmp_path: Path
) -> None:
    pages = collect_all_pages(client, app)
    assert {"landing", "result", "account-data", "coach-lead"} <= set(pages)
    for name, html in pages.items():
        assert html.lstrip().lower().startswith("<!doctype html>"), name
        (tmp_path / f"{name}.html").write_text(html, encoding="utf-8")
    # Guard against a checker that silently passes everything: one broken page in the same run.
    (tmp_path / BROKEN).write_text(
        '<!doctype html><html lang="de"><head><title>x</title></head>'
        "<body><p><div>falsch verschachtelt</p></body></html>",
        encoding="utf-8",
    )
    errors = vnu_errors(tmp_path)
    assert any(error.startswith(f"{BROKEN}:") for error in errors), errors
    assert [error for error in errors if not error.startswith(f"{BROKEN}:")] == []
