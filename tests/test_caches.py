"""The app's caches (quiz/caches.py): one object per app, and nothing per request in a cached page.

The real templates show no flash message, no coach and no session value on the cached pages; the
guard must hold even when a template one day does. So these tests give base.html a line that
shows one per-request value, let one visitor render the cached pages with their own value, and
check that another visitor never gets it. A cached page that showed it would fail them.
"""

from __future__ import annotations

import secrets

import pytest
from flask import Flask, Response, g
from flask.testing import FlaskClient
from flask_wtf.csrf import generate_csrf
from jinja2 import ChoiceLoader, DictLoader
from werkzeug.test import TestResponse

from quiz import caches
from quiz.app_state import get_content
from quiz.domain.flow import extra_page
from quiz.domain.scoring import sample_answers
from tests.coach_factories import create_test_coach, login
from tests.quizflow import complete_quiz, csrf_token, start

pytestmark = pytest.mark.dialect_independent

# Each shows one per-request value: a flash message, the logged-in coach, a session value, the
# CSRF token, and a CSP-style nonce drawn per response (kept in `g` and sent as a header).
SHOWN = {
    "flash": "{{ get_flashed_messages()|join(',') }}",
    "coach": "{% if current_user.is_authenticated %}{{ current_user.email }}{% endif %}",
    "session": "{{ session.get('note', '') }}",
    "csrf": "{{ csrf_token() }}",
    "nonce": "{{ g.nonce }}",
}
LINE = '<p id="per-request">'
NONCE_HEADER = "X-Test-Nonce"


def _show_in_layout(app: Flask, snippet: str) -> None:
    """base.html with a line showing `snippet` on every page."""
    loader = app.jinja_env.loader
    assert loader is not None
    source, _name, _uptodate = loader.get_source(app.jinja_env, "base.html")
    main = '<main id="inhalt" class="page">'
    patched = source.replace(main, f"{main}{LINE}{snippet}</p>")
    assert patched != source
    app.jinja_env.loader = ChoiceLoader([DictLoader({"base.html": patched}), loader])


def _draw_nonces(app: Flask) -> None:
    """A fresh nonce per request in `g`, also sent as a header (as a CSP nonce would be)."""

    @app.before_request
    def draw() -> None:
        g.nonce = secrets.token_hex(8)

    @app.after_request
    def send(response: Response) -> Response:
        response.headers[NONCE_HEADER] = g.nonce
        return response


def _shown(page: TestResponse) -> str:
    text = page.get_data(as_text=True)
    start_at = text.index(LINE) + len(LINE)
    return text[start_at : text.index("</p>", start_at)]


def _give_value(client: FlaskClient, kind: str) -> str | None:
    """Put a value of `kind` into the visitor's next request; None when the page tells it."""
    if kind == "flash":
        with client.session_transaction() as session:
            session["_flashes"] = [("message", "Nur-fuer-Besucher-A")]
        return "Nur-fuer-Besucher-A"
    if kind == "session":
        with client.session_transaction() as session:
            session["note"] = "Notiz-von-Besucher-A"
        return "Notiz-von-Besucher-A"
    if kind == "coach":
        return "coach@example.com"  # logged in before (see the test)
    return None


@pytest.mark.parametrize("kind", sorted(SHOWN))
def test_no_cached_page_shows_one_visitors_value_to_another(app: Flask, kind: str) -> None:
    _show_in_layout(app, SHOWN[kind])
    _draw_nonces(app)
    first, second = app.test_client(), app.test_client()
    if kind == "coach":
        create_test_coach(app)
        assert login(first).status_code == 302
    result = complete_quiz(first, app).location
    start(first)
    start(second)
    for url in ("/quiz/1", result):
        value = _give_value(first, kind)
        own = first.get(url)
        assert own.status_code == 200, url
        if value is None:  # the CSRF token or the nonce: read it from the page
            value = _shown(own)
        assert value and value in _shown(own), (kind, url)  # the layout really shows it
        other = second.get(url)
        assert other.status_code == 200, url
        assert value not in other.get_data(as_text=True), (kind, url)
        for page in (own, other):
            if kind == "nonce":  # each response's own nonce, the one of its header
                assert _shown(page) == page.headers[NONCE_HEADER], url


def test_a_form_fields_csrf_token_keeps_the_page_out_of_the_cache(app: Flask) -> None:
    """A token rendered without the marked `csrf_token()` (as a form field does) is caught too."""
    app.jinja_env.globals["form_token"] = generate_csrf
    _show_in_layout(app, "{{ form_token() }}")
    first, second = app.test_client(), app.test_client()
    start(first)
    start(second)
    token = _shown(first.get("/quiz/1"))
    assert token
    assert token not in second.get("/quiz/1").get_data(as_text=True)
    assert len(caches.of(app).step_pages) == 0


def test_the_real_pages_are_cached(app: Flask, client: FlaskClient) -> None:
    """The guard refuses only pages that show per-request values: the hot pages are kept."""
    content = get_content(app)
    answers = sample_answers(content, "random", seed=5)
    result = complete_quiz(client, app, answers).location
    assert client.get(result).status_code == 200
    start(client)
    assert client.get("/quiz/1").status_code == 200
    store = caches.of(app)
    assert len(store.step_pages) >= 1
    assert len(store.result_pages) == 1
    assert len(store.questions) >= len(content.pages[0].questions)
    # The core pages' forms, and the extra page's (seed 5 gets one).
    assert extra_page(content, answers)
    assert len(store.step_forms) == len(content.pages) + 1


def test_every_app_has_its_own_caches(app: Flask) -> None:
    """Two apps never share a cached value, and clearing one leaves the other alone."""
    other = Flask("other")
    other.jinja_env.auto_reload = False
    theirs = caches.init_app(other)
    ours = caches.of(app)
    assert theirs is not ours
    ours.coach_charts.put("key", "ours")
    assert theirs.coach_charts.get("key") is None
    with other.app_context():
        caches.clear_all()
    assert ours.coach_charts.get("key") == "ours"


def test_caches_are_off_while_templates_reload(app: Flask) -> None:
    other = Flask("other")
    other.jinja_env.auto_reload = True
    off = caches.init_app(other)
    off.coach_charts.put("key", "value")
    off.step_forms.put("key", type)
    assert off.coach_charts.get("key") is None and len(off.step_forms) == 0


def test_login_token_is_not_in_the_cached_pages_of_others(app: Flask) -> None:
    """A coach's CSRF token (the logout form's) never reaches a taker's cached quiz page."""
    coach, taker = app.test_client(), app.test_client()
    create_test_coach(app)
    login(coach)
    coach_token = csrf_token(coach.get("/coach/").text)
    start(coach)
    start(taker)
    coach.get("/quiz/1")
    assert coach_token not in taker.get("/quiz/1").text
