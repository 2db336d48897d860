"""Required fields say so in the markup; the server's German message still guards them."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from quiz.app_state import get_content
from quiz.domain.scoring import sample_answers
from tests.quizflow import answer_all_pages, lead_step, start

pytestmark = pytest.mark.dialect_independent

CONSENT_MESSAGE = "Bitte stimmen Sie zu, damit wir Ihr Ergebnis speichern und senden dürfen."
EMAIL_MESSAGE = "Bitte geben Sie Ihre E-Mail-Adresse an."


def _input_tag(html: str, name: str) -> str:
    match = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', html)
    assert match, f"no input {name}"
    return match.group(0)


def _is_required(tag: str) -> bool:
    return re.search(r"\srequired(\s|>|=)", tag) is not None or 'aria-required="true"' in tag


def _reach_lead_step(client: FlaskClient, app: Flask) -> str:
    start(client)
    answer_all_pages(client, app, sample_answers(get_content(app), "random", seed=3))
    page = client.get(f"/quiz/{len(get_content(app).pages) + 1}")
    assert page.status_code == 200
    return page.text


@pytest.mark.parametrize(
    "required",
    [
        pytest.param(True, marks=pytest.mark.app_config(QUIZ_REQUIRE_EMAIL=True)),
        # Without a required address, consent is needed only once an address is given.
        pytest.param(False, marks=pytest.mark.app_config(QUIZ_REQUIRE_EMAIL=False)),
    ],
)
def test_consent_and_email_are_marked_required_when_the_site_requires_them(
    client: FlaskClient, app: Flask, required: bool
) -> None:
    html = _reach_lead_step(client, app)
    assert _is_required(_input_tag(html, "consent_data")) is required
    assert _is_required(_input_tag(html, "email")) is required
    assert not _is_required(_input_tag(html, "consent_marketing"))
    assert not _is_required(_input_tag(html, "first_name"))


def test_server_message_shows_when_the_browser_check_is_bypassed(
    client: FlaskClient, app: Flask
) -> None:
    _reach_lead_step(client, app)
    # A plain POST without the consent, as a browser without validation (or a script) sends it.
    refused = lead_step(client, app, email="kundin@example.com")
    assert refused.status_code == 422
    assert CONSENT_MESSAGE in refused.text
    assert _is_required(_input_tag(refused.text, "consent_data"))
    assert 'aria-invalid="true"' in _input_tag(refused.text, "consent_data")
    no_email = lead_step(client, app, consent_data="y")
    assert no_email.status_code == 422
    assert EMAIL_MESSAGE in no_email.text
