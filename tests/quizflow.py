"""Helpers that walk a test client through the quiz the way a browser would."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from quiz.app_state import get_content
from quiz.domain.scoring import sample_answers
from tests.factories import with_extra

CSRF_PATTERN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
# The landing page's hidden fields the start form carries on (source, referrer, A/B variants).
HIDDEN = re.compile(r'<input type="hidden" name="(utm_\w+|referrer|variants)" value="([^"]*)"')


def csrf_token(page: TestResponse | str) -> str:
    """The CSRF token of the first form on a page."""
    text = page if isinstance(page, str) else page.get_data(as_text=True)
    match = CSRF_PATTERN.search(text)
    assert match, "no csrf_token on the page"
    return match.group(1)


def start(client: FlaskClient, query: str = "") -> TestResponse:
    """Open the landing page and press start; returns the redirect to step 1."""
    landing = client.get(f"/{query}")
    assert landing.status_code == 200
    fields = dict(HIDDEN.findall(landing.text))
    return client.post("/quiz/start", data={"csrf_token": csrf_token(landing), **fields})


def answer_page(
    client: FlaskClient, app: Flask, number: int, answers: dict[str, str], action: str = "next"
) -> TestResponse:
    """Submit one question page with the given answers (only this page's are sent)."""
    content = get_content(app)
    page = content.pages[number - 1]
    form = client.get(f"/quiz/{number}")
    assert form.status_code == 200, form.status_code
    data = {"csrf_token": csrf_token(form), "action": action}
    data |= {q.id: answers[q.id] for q in page.questions if q.id in answers}
    return client.post(f"/quiz/{number}", data=data)


def answer_all_pages(
    client: FlaskClient, app: Flask, answers: dict[str, str], *, extra: bool = True
) -> None:
    """Submit every question page in order, each redirecting onward; then, with `extra`, the
    extra page if one is due (the answers' own extra answers, else those `with_extra` gives)."""
    content = get_content(app)
    for number in range(1, len(content.pages) + 1):
        response = answer_page(client, app, number, answers)
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    if extra:
        done = answer_extra(client, with_extra(content, answers))
        assert done is None or done.status_code == 302, done.status_code


def answer_extra(
    client: FlaskClient, answers: dict[str, str], action: str = "next"
) -> TestResponse | None:
    """Submit the extra page with the given answers, if one is due (None: none is)."""
    form = client.get("/quiz/zusatz")
    if form.status_code == 302:
        return None
    assert form.status_code == 200, form.status_code
    asked = re.findall(r'<fieldset class="question[^"]*" id="frage-([\w-]+)"', form.text)
    assert asked, "an extra page without questions"
    data = {"csrf_token": csrf_token(form), "action": action}
    data |= {qid: answers[qid] for qid in asked if qid in answers}
    return client.post("/quiz/zusatz", data=data)


def lead_step(client: FlaskClient, app: Flask, **fields: str) -> TestResponse:
    """Submit the last step (email and consents)."""
    number = len(get_content(app).pages) + 1
    form = client.get(f"/quiz/{number}")
    assert form.status_code == 200, form.status_code
    data = {"csrf_token": csrf_token(form), "action": "finish", **fields}
    return client.post(f"/quiz/{number}", data=data)


def complete_quiz(
    client: FlaskClient,
    app: Flask,
    answers: dict[str, str] | None = None,
    email: str = "kundin@example.com",
    **lead: str,
) -> TestResponse:
    """Take the whole quiz; returns the redirect to the result page."""
    content = get_content(app)
    answers = answers or sample_answers(content, "random", seed=11)
    start(client)
    answer_all_pages(client, app, answers)
    fields = {"email": email, "consent_data": "y", **lead} if email else dict(lead)
    return lead_step(client, app, **fields)
