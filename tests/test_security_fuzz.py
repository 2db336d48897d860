"""Property test: random form data against every public endpoint never gives a 500, and a
4xx never leaves a row behind."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from quiz.app_state import get_content
from quiz.extensions import db
from quiz.models import Answer, Consent, OutboxMessage, Response
from tests.quizflow import csrf_token, start

pytestmark = pytest.mark.dialect_independent

FIELD_NAMES = st.one_of(
    st.sampled_from(
        [
            "csrf_token",
            "action",
            "email",
            "first_name",
            "consent_data",
            "consent_marketing",
            "website",
            "utm_source",
            "referrer",
            "status",
            "score_preise",
            "token",
        ]
    ),
    st.text(min_size=1, max_size=30),
)
VALUES = st.one_of(
    st.text(max_size=50),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=200, max_size=3000),
    st.sampled_from(["\x00", "a\x00b", "next", "back", "finish", "y", "ja", "' OR 1=1 --"]),
)
FORMS = st.lists(st.tuples(FIELD_NAMES, VALUES), max_size=8)


def _rows(app: Flask) -> tuple[int, ...]:
    with app.app_context():
        return tuple(
            db.session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Response, Answer, Consent, OutboxMessage)
        )


def _endpoints(app: Flask) -> list[str]:
    steps = len(get_content(app).pages) + 1
    return [
        "/",
        "/quiz/start",
        *(f"/quiz/{n}" for n in range(0, steps + 2)),
        "/r/nope",
        "/datenschutz",
        "/healthz",
        "/bestaetigen/neu",
        "/bestaetigen/x.y",
        "/abmelden/x.y",
        "/daten/x.y/loeschen",
        "/wieder/x.y",
    ]


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    endpoint=st.integers(min_value=0, max_value=100),
    form=FORMS,
    with_token=st.booleans(),
    method=st.sampled_from(["POST", "POST", "GET"]),
)
def test_random_form_data_never_crashes_or_stores_after_a_4xx(
    client: FlaskClient,
    app: Flask,
    endpoint: int,
    form: list[tuple[str, str]],
    with_token: bool,
    method: str,
) -> None:
    if client.get_cookie("quiz_draft") is None:
        start(client)
    endpoints = _endpoints(app)
    path = endpoints[endpoint % len(endpoints)]
    data = MultiDict(form)
    if with_token:
        data.add("csrf_token", csrf_token(client.get("/")))
    before = _rows(app)
    if method == "GET":
        response = client.get(path, query_string=data)
    else:
        response = client.post(path, data=data)
    assert response.status_code < 500, (path, data, response.status_code)
    if 400 <= response.status_code < 500:
        assert _rows(app) == before, (path, data, response.status_code)
