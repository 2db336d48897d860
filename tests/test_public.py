"""The public quiz through the test client, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from flask import Flask, render_template
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import func, select

from quiz import caches, create_app
from quiz.app_state import get_content
from quiz.domain.flow import extra_page
from quiz.domain.scoring import sample_answers, score_answers
from quiz.extensions import db
from quiz.models import Answer, Consent, OutboxMessage, Response
from quiz.web import forms, prerendered, public
from tests.conftest import base_config
from tests.factories import with_extra
from tests.quizflow import (
    answer_all_pages,
    answer_extra,
    answer_page,
    complete_quiz,
    csrf_token,
    lead_step,
    start,
)


def finished_responses(app: Flask) -> list[Response]:
    with app.app_context():
        return list(db.session.scalars(select(Response).where(Response.status == "finished")))


@pytest.mark.dialect_independent
def test_landing_page_says_what_how_long_and_starts(client: FlaskClient, app: Flask) -> None:
    page = client.get("/")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    content = get_content(app)
    assert f"{len(content.questions)} kurze Fragen" in text
    assert "etwa 5 Minuten" in text or "etwa 6 Minuten" in text
    assert "Quiz starten" in text
    assert 'lang="de"' in text


def test_whole_flow_stores_the_result_and_shows_it(client: FlaskClient, app: Flask) -> None:
    content = get_content(app)
    answers = with_extra(content, sample_answers(content, "random", seed=5))
    expected = score_answers(content, answers)
    done = complete_quiz(client, app, answers, first_name="Jana", consent_marketing="y")
    assert done.status_code == 302
    assert done.location.startswith("/r/")
    token = done.location.removeprefix("/r/")
    assert len(token) >= 43  # 256 random bits, URL-safe

    result = client.get(done.location)
    text = result.get_data(as_text=True)
    assert result.status_code == 200
    bottleneck_name = content.dimension_by_id[expected.bottleneck].name
    assert f"Ihr größter Engpass: {bottleneck_name.replace('&', '&amp;')}" in text
    assert "für Jana" in text
    assert f"/r/{token}/chart.png" in text
    assert result.headers["Referrer-Policy"] == "no-referrer"
    for dimension in content.dimensions:
        assert f"<td>{expected.scores[dimension.id]}</td>" in text

    chart = client.get(f"/r/{token}/chart.png")
    assert chart.status_code == 200
    assert chart.mimetype == "image/png"
    assert chart.data.startswith(b"\x89PNG")

    (stored,) = finished_responses(app)
    with app.app_context():
        stored = db.session.get(Response, stored.id)
        assert stored.scores() == dict(expected.scores)
        assert stored.bottleneck == expected.bottleneck
        assert stored.runner_up == expected.runner_up
        assert stored.content_hash == content.sha256
        assert stored.content_version == content.version
        assert stored.email == "kundin@example.com"
        assert stored.chart_png is not None
        pages = {page.id for page in content.pages} | {"kontakt"}
        assert extra_page(content, answers), "seed 5 gets the extra page"
        assert set(stored.step_times) == pages | {"zusatz"}
        rows = db.session.scalars(select(Answer).where(Answer.response_id == stored.id)).all()
        assert {row.question_id: row.option_id for row in rows} == answers
        kinds = sorted(c.kind for c in db.session.scalars(select(Consent)))
        assert kinds == ["data", "marketing"]
        consent = db.session.scalars(select(Consent).where(Consent.kind == "data")).one()
        assert consent.text_version and len(consent.text_hash) == 64
        outbox = sorted(m.kind for m in db.session.scalars(select(OutboxMessage)))
        assert outbox == ["optin", "result"]


HIDDEN_TRACKING = re.compile(r'<input type="hidden" name="(utm_\w+|referrer)" value="([^"]*)"')


def test_utm_parameters_and_referrer_are_stored(client: FlaskClient, app: Flask) -> None:
    client.get(
        "/?utm_source=newsletter&utm_campaign=herbst",
        headers={"Referer": "https://blog.example/artikel"},
    )
    start(client, "?utm_source=newsletter&utm_campaign=herbst")
    with app.app_context():
        draft = db.session.scalars(select(Response)).one()
        assert draft.utm_source == "newsletter"
        assert draft.utm_campaign == "herbst"
        assert draft.status == "draft"


@pytest.mark.dialect_independent
def test_control_characters_in_utm_values_and_referrer_are_stripped(
    client: FlaskClient, app: Flask
) -> None:
    query = (
        "?utm_source=news%0D%0ALetter&utm_campaign=%1B%5B31mherbst%1B%5B0m"
        "&utm_term=a%09b%7F%C2%85c&utm_content=%E2%80%AEtxt.exe&utm_medium=%0A%0B"
    )
    landing = client.get("/" + query, headers={"Referer": "https://blog.example/\tartikel\x0b"})
    fields = dict(
        re.findall(r'<input type="hidden" name="(utm_\w+|referrer)" value="([^"]*)"', landing.text)
    )
    assert "\t" in fields["referrer"]  # the landing page passes it on as it came
    assert client.post("/quiz/start", data={"csrf_token": csrf_token(landing), **fields}).location
    with app.app_context():
        draft = db.session.scalars(select(Response)).one()
        assert draft.referrer == "https://blog.example/ artikel"
        # Before: stored as sent, line breaks and escape sequences included.
        assert draft.utm_source == "news Letter"
        assert draft.utm_campaign == "[31mherbst [0m"
        assert draft.utm_term == "a b c"
        assert draft.utm_content == "txt.exe"  # no right-to-left override
        assert draft.utm_medium is None  # nothing visible left


@pytest.mark.dialect_independent
def test_each_view_carries_the_hidden_fields_of_its_own_source(
    client: FlaskClient, app: Flask
) -> None:
    """The landing page is kept per worker with a slot for the hidden fields: each view gets
    exactly its own, escaped, however the sources come in turn."""
    views = [
        ("?utm_source=newsletter&utm_campaign=herbst", {}),
        ("?utm_source=a%22%3E%3Cb&utm_medium=x", {"Referer": "https://blog.example/?q=<i>"}),
        ("", {}),
        ("?utm_source=newsletter", {}),
    ]
    expected = [
        {"utm_source": "newsletter", "utm_campaign": "herbst"},
        {
            "utm_source": "a&#34;&gt;&lt;b",
            "utm_medium": "x",
            "referrer": "https://blog.example/?q=&lt;i&gt;",
        },
        {},
        {"utm_source": "newsletter"},
    ]
    for _round in range(2):  # the second time from what was kept
        for (query, headers), fields in zip(views, expected, strict=True):
            page = client.get("/" + query, headers=headers).text
            assert dict(HIDDEN_TRACKING.findall(page)) == fields, query


def test_finished_draft_cookie_is_kept_only_briefly(client: FlaskClient, app: Flask) -> None:
    from datetime import timedelta

    from quiz.database import begin_write
    from quiz.web.public import FINISHED_DRAFT_GRACE

    finished = complete_quiz(client, app)
    result = finished.location
    # The finish shortens the draft cookie from 30 days to the grace period (before: untouched).
    cookie = finished.headers["Set-Cookie"]
    assert cookie.startswith("quiz_draft=")
    assert f"Max-Age={int(FINISHED_DRAFT_GRACE.total_seconds())}" in cookie
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    # A reload of the last step or the back button still lands on the result...
    assert client.get("/quiz/1").location == result
    # ...but not once the grace period is over (a browser that kept the cookie, or one set
    # before this change): the quiz starts over, and the stale cookie is deleted.
    with app.app_context():
        begin_write()
        response = db.session.scalars(select(Response)).one()
        assert response.finished_at is not None
        response.finished_at -= FINISHED_DRAFT_GRACE + timedelta(seconds=5)
        db.session.commit()
    later = client.get("/quiz/1")
    assert later.status_code == 302 and later.location == "/"
    assert "quiz_draft=;" in later.headers["Set-Cookie"]
    assert client.get_cookie("quiz_draft") is None
    assert client.get("/quiz/1").location == "/"
    # The result itself stays at its own link.
    assert client.get(result).status_code == 200


@pytest.mark.dialect_independent
def test_progress_indicator_shows_the_step(client: FlaskClient, app: Flask) -> None:
    start(client)
    total = len(get_content(app).pages) + 1
    assert f"Schritt 1 von {total}" in client.get("/quiz/1").get_data(as_text=True)


def test_validation_error_keeps_the_other_answers(client: FlaskClient, app: Flask) -> None:
    content = get_content(app)
    answers = sample_answers(content, "random", seed=2)
    start(client)
    page = content.pages[0]
    missing = page.questions[2].id
    partial = {q.id: answers[q.id] for q in page.questions if q.id != missing}
    response = answer_page(client, app, 1, partial)
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Bitte wählen Sie eine Antwort." in text
    for question_id, option_id in partial.items():
        assert f'id="{question_id}-' in text
        assert _is_checked(text, question_id, option_id)
    # The summary says so, and it is true: a taker who leaves now finds them again.
    summary = _error_summary(text)
    assert "Bitte beantworten Sie noch eine Frage auf dieser Seite." in summary
    assert "Ihre übrigen Antworten sind gespeichert." in summary
    again = client.get("/quiz/1").get_data(as_text=True)
    for question_id, option_id in partial.items():
        assert _is_checked(again, question_id, option_id)
    assert not any(f'name="{missing}"' in tag and "checked" in tag for tag in _inputs(again))


def _error_summary(html: str) -> str:
    """The error summary's HTML (asserting there is exactly one, focused on load)."""
    page = html.split('<template id="fehler-vorlage">')[0]  # the script's own comes after
    summaries = re.findall(r'<div class="error-summary"[^>]*>.*?</div>', page, re.S)
    assert len(summaries) == 1, summaries
    assert re.match(
        r'<div class="error-summary" tabindex="-1" role="alert" autofocus>', summaries[0]
    )
    return summaries[0]


def _inputs(html: str) -> list[str]:
    return re.findall(r"<input[^>]*>", html)


@pytest.mark.dialect_independent
def test_error_summary_links_to_each_unanswered_question(client: FlaskClient, app: Flask) -> None:
    """An empty first page: every question listed, and nothing claimed to be saved."""
    content = get_content(app)
    start(client)
    response = answer_page(client, app, 1, {})
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "<title>Fehler: " in text
    summary = _error_summary(text)
    assert "Bitte beantworten Sie die Fragen auf dieser Seite." in summary
    assert "gespeichert" not in text
    links = re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary)
    assert links == [
        (f"frage-{q.id}", f"Frage {content.question_number[q.id]}: Bitte wählen Sie eine Antwort.")
        for q in content.pages[0].questions
    ]
    for question in content.pages[0].questions:
        assert f'id="frage-{question.id}"' in text
    # The summary comes before the questions, and the script's own message is the server's.
    assert text.index('class="error-summary"') < text.index('class="question')
    vorlage = text[text.index('<template id="fehler-vorlage">') :]
    assert f'<p class="field-error">{forms.CHOOSE_ONE}</p>' in vorlage
    assert f"Frage {{n}}: {forms.CHOOSE_ONE}" in vorlage


@pytest.mark.dialect_independent
def test_empty_later_page_says_the_earlier_pages_are_saved(client: FlaskClient, app: Flask) -> None:
    content = get_content(app)
    answers = sample_answers(content, "random", seed=8)
    start(client)
    assert answer_page(client, app, 1, answers).status_code == 302
    text = answer_page(client, app, 2, {}).get_data(as_text=True)
    assert "Ihre Antworten auf den vorigen Seiten sind gespeichert." in _error_summary(text)
    assert "übrigen" not in text


@pytest.mark.dialect_independent
def test_progress_figures_come_from_the_server(client: FlaskClient, app: Flask) -> None:
    """The bar counts questions: those before the page and all the quiz asks, as data for the
    script; the lead step's bar is full."""
    content = get_content(app)
    answers = sample_answers(content, "random", seed=6)
    start(client)
    answer_page(client, app, 1, answers)
    text = client.get("/quiz/2").get_data(as_text=True)
    before, total = len(content.pages[0].questions), len(content.questions)
    assert f'data-questions-before="{before}" data-questions-total="{total}"' in text
    assert f'<progress class="progress-bar" max="{total}" value="{before}"' in text
    assert 'data-question-label="Frage {k} von {n}"' in text
    answer_all_pages(client, app, answers)
    # Seed 6 gets the extra page: it counts from the core's end, and into the lead step's bar.
    due = extra_page(content, answers)
    assert due
    page = client.get("/quiz/zusatz").get_data(as_text=True)
    full = total + len(due)
    assert f'data-questions-before="{total}" data-questions-total="{full}"' in page
    assert answer_extra(client, with_extra(content, answers)) is not None
    lead = client.get(f"/quiz/{len(content.pages) + 1}").get_data(as_text=True)
    assert f'<progress class="progress-bar" max="{full}" value="{full}"' in lead


@pytest.mark.dialect_independent
def test_step_template_counts_the_questions_it_is_given(app: Flask) -> None:
    """What a page of extra questions (issue 23) passes is what the bar and the script count."""
    content = get_content(app)
    extra = public.QuestionProgress(before=len(content.questions), total=len(content.questions) + 5)
    with app.test_request_context("/quiz/7"):
        html = render_template(
            "quiz/step.html",
            content=content,
            page=content.pages[-1],
            answers={},
            errors={},
            number=len(content.pages) + 1,
            total=len(content.pages) + 2,
            action="/quiz/zusatz",
            numbers=content.question_number,
            progress=extra,
            question_html=prerendered.question_html,
            csrf_value="token",
        )
    assert f'data-questions-before="{extra.before}" data-questions-total="{extra.total}"' in html
    assert f'max="{extra.total}" value="{extra.before}"' in html


@pytest.mark.dialect_independent
def test_enter_in_a_field_moves_on(client: FlaskClient, app: Flask) -> None:
    """A form's first submit button is what Enter in a field presses: "Weiter", not "Zurück"."""
    content = get_content(app)
    start(client)
    step = client.get("/quiz/1").get_data(as_text=True)
    assert re.findall(r'<button type="submit" name="action" value="(\w+)"', step) == [
        "next",
        "back",
    ]
    assert re.search(r'value="back"[^>]*hidden>Zurück', step), "no way back from page 1"
    answer_all_pages(client, app, sample_answers(content, "best"))
    lead = client.get(f"/quiz/{len(content.pages) + 1}").get_data(as_text=True)
    assert re.findall(r'<button type="submit" name="action" value="(\w+)"', lead) == [
        "finish",
        "back",
    ]


def _is_checked(html: str, name: str, value: str) -> bool:
    import re

    for tag in re.findall(r"<input[^>]*>", html):
        if f'name="{name}"' in tag and f'value="{value}"' in tag:
            return "checked" in tag
    return False


@pytest.mark.dialect_independent
def test_invalid_option_is_a_german_error_not_a_crash(client: FlaskClient, app: Flask) -> None:
    content = get_content(app)
    answers = sample_answers(content, "best") | {content.pages[0].questions[0].id: "<script>"}
    start(client)
    response = answer_page(client, app, 1, answers)
    assert response.status_code == 422
    assert "Bitte wählen Sie eine der angebotenen Antworten." in response.get_data(as_text=True)
    assert "<script>" not in response.get_data(as_text=True)


def test_back_and_next_keep_answers(client: FlaskClient, app: Flask) -> None:
    content = get_content(app)
    answers = sample_answers(content, "random", seed=9)
    start(client)
    assert answer_page(client, app, 1, answers).status_code == 302
    # On page 2, choose two answers and go back: they are kept, page 1 still shows its answers.
    second = content.pages[1]
    chosen = {q.id: answers[q.id] for q in second.questions[:2]}
    back = answer_page(client, app, 2, chosen, action="back")
    assert back.status_code == 302 and back.location.endswith("/quiz/1")
    page_one = client.get("/quiz/1").get_data(as_text=True)
    for question in content.pages[0].questions:
        assert _is_checked(page_one, question.id, answers[question.id])
    page_two = client.get("/quiz/2").get_data(as_text=True)
    for question_id, option_id in chosen.items():
        assert _is_checked(page_two, question_id, option_id)


@pytest.mark.dialect_independent
def test_only_the_opening_question_shows_before_the_script_runs(
    client: FlaskClient, app: Flask
) -> None:
    """The question the one-per-screen script opens with is marked, so that CSS (with scripting
    on) hides the others from the first paint and nothing shifts: the first with an error, else
    the first unanswered, else the last."""
    content = get_content(app)
    answers = sample_answers(content, "random", seed=3)
    questions = [q.id for q in content.pages[0].questions]
    start(client)

    def opening(html: str) -> list[str]:
        return re.findall(r'id="frage-([\w-]+)"[^>]*data-step-start', html)

    assert opening(client.get("/quiz/1").text) == [questions[0]]
    missing = questions[2]
    partial = {qid: answers[qid] for qid in questions if qid != missing}
    assert opening(answer_page(client, app, 1, partial).text) == [missing]
    assert opening(client.get("/quiz/1").text) == [missing]
    assert answer_page(client, app, 1, answers).status_code == 302
    assert opening(client.get("/quiz/1").text) == [questions[-1]]
    css = (Path(app.static_folder or "") / "css" / "site.css").read_text()
    assert re.search(
        r"\n\.has-script form\[data-quiz-steps\]:not\(\.is-stepped\) "
        r"\.question:not\(\[data-step-start\]\) \{ display: none; \}",
        css,
    )
    marker = (Path(app.static_folder or "") / "js" / "scripting.js").read_text()
    assert 'document.documentElement.classList.add("has-script");' in marker
    # Render-blocking in the head (neither deferred nor a module), before the first paint.
    head = client.get("/quiz/1").text.split("</head>")[0]
    assert re.search(r'<script src="/static/js/scripting\.[\w.]*js"></script>', head), head


def test_resume_after_reload_keeps_answers(client: FlaskClient, app: Flask) -> None:
    content = get_content(app)
    answers = sample_answers(content, "random", seed=4)
    start(client)
    answer_page(client, app, 1, answers)
    answer_page(client, app, 2, answers)
    # A new visit with the same cookie (closed tab) resumes at step 3.
    landing = client.get("/").get_data(as_text=True)
    assert "Quiz fortsetzen" in landing
    resumed = client.post("/quiz/start", data={"csrf_token": csrf_token(landing)})
    assert resumed.location.endswith("/quiz/3")
    page_two = client.get("/quiz/2").get_data(as_text=True)
    for question in content.pages[1].questions:
        assert _is_checked(page_two, question.id, answers[question.id])


@pytest.mark.dialect_independent
@pytest.mark.app_config(TESTING=False, WTF_CSRF_ENABLED=True)
def test_cached_quiz_pages_carry_each_takers_own_csrf_token(app: Flask) -> None:
    """Quiz pages come from one cached rendering; the CSRF token is still each taker's own."""
    content = get_content(app)
    answers = sample_answers(content, "random", seed=3)
    first, second = app.test_client(), app.test_client()
    start(first)
    start(second)
    page_first, page_second = first.get("/quiz/1"), second.get("/quiz/1")
    token_first, token_second = csrf_token(page_first), csrf_token(page_second)
    assert token_first != token_second
    assert prerendered.CSRF_SLOT not in page_first.text + page_second.text
    assert page_first.text.replace(token_first, "") == page_second.text.replace(token_second, "")
    data = {"action": "next"} | {q.id: answers[q.id] for q in content.pages[0].questions}
    stolen = second.post("/quiz/1", data={**data, "csrf_token": token_first})
    assert stolen.status_code == 400
    own = second.post("/quiz/1", data={**data, "csrf_token": token_second})
    assert own.status_code == 302
    # The answers of one taker never show on another's cached page.
    assert any(
        _is_checked(second.get("/quiz/1").text, q, answers[q]) for q in data if q != "action"
    )
    assert "checked" not in first.get("/quiz/1").text


def test_apps_with_different_settings_never_share_cached_pages(
    migrated_sqlite: Path, tmp_path: Path
) -> None:
    pages = []
    for name in ("Praxis Eins", "Praxis Zwei"):
        path = tmp_path / f"{name[-4:]}.sqlite3"
        shutil.copy(migrated_sqlite, path)
        other = create_app({**base_config(f"sqlite:///{path}", tmp_path), "QUIZ_COACH_NAME": name})
        client = other.test_client()
        start(client)
        pages.append(client.get("/quiz/1").text)
    assert "Praxis Eins" in pages[0] and "Praxis Zwei" not in pages[0]
    assert "Praxis Zwei" in pages[1] and "Praxis Eins" not in pages[1]


@pytest.mark.parametrize("auto_reload, cached_pages", [(False, 1), (True, 0)])
def test_quiz_pages_are_cached_unless_templates_reload(
    migrated_sqlite: Path, tmp_path: Path, auto_reload: bool, cached_pages: int
) -> None:
    path = tmp_path / "quiz.sqlite3"
    shutil.copy(migrated_sqlite, path)
    config = base_config(f"sqlite:///{path}", tmp_path)
    other = create_app({**config, "TEMPLATES_AUTO_RELOAD": auto_reload})
    client = other.test_client()
    start(client)
    assert client.get("/quiz/1").status_code == 200
    assert len(caches.of(other).step_pages) == cached_pages


@pytest.mark.dialect_independent
def test_cannot_skip_ahead(client: FlaskClient, app: Flask) -> None:
    start(client)
    response = client.get("/quiz/4")
    assert response.status_code == 302
    assert response.location.endswith("/quiz/1")


@pytest.mark.dialect_independent
def test_quiz_page_without_draft_goes_to_landing(client: FlaskClient) -> None:
    response = client.get("/quiz/2")
    assert response.status_code == 302
    assert response.location.endswith("/")


def test_double_submit_creates_one_response(client: FlaskClient, app: Flask) -> None:
    content = get_content(app)
    answers = sample_answers(content, "random", seed=1)
    start(client)
    answer_all_pages(client, app, answers)
    number = len(content.pages) + 1
    form = client.get(f"/quiz/{number}")
    data = {
        "csrf_token": csrf_token(form),
        "action": "finish",
        "email": "a@example.com",
        "consent_data": "y",
    }
    first = client.post(f"/quiz/{number}", data=data)
    second = client.post(f"/quiz/{number}", data=data)  # double click / back button + resend
    assert first.status_code == second.status_code == 302
    assert first.location == second.location
    assert len(finished_responses(app)) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


@pytest.mark.dialect_independent
def test_lead_step_requires_email_and_consent(client: FlaskClient, app: Flask) -> None:
    content = get_content(app)
    answers = sample_answers(content, "random", seed=3)
    start(client)
    answer_all_pages(client, app, answers)
    response = lead_step(client, app, first_name="Jörg", email="kein-at-zeichen")
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Bitte geben Sie eine gültige E-Mail-Adresse ein" in text
    assert "Bitte stimmen Sie zu" in text
    assert 'value="Jörg"' in text
    assert finished_responses(app) == []


@pytest.mark.dialect_independent
def test_marketing_consent_is_never_pre_ticked_and_optional(
    client: FlaskClient, app: Flask
) -> None:
    done = complete_quiz(client, app)
    assert done.status_code == 302
    with app.app_context():
        assert [c.kind for c in db.session.scalars(select(Consent))] == ["data"]


@pytest.mark.dialect_independent
def test_header_injection_in_name_is_a_form_error(client: FlaskClient, app: Flask) -> None:
    response = complete_quiz(client, app, first_name="Eve\r\nBcc: victim@example.com")
    assert response.status_code == 422
    assert "ohne Zeilenumbrüche" in response.get_data(as_text=True)
    assert finished_responses(app) == []


@pytest.mark.dialect_independent
def test_honeypot_rejects_bots_quietly(client: FlaskClient, app: Flask) -> None:
    response = complete_quiz(client, app, website="http://spam.example")
    assert response.status_code == 302
    assert not response.location.startswith("/r/")
    assert finished_responses(app) == []


@pytest.mark.app_config(QUIZ_REQUIRE_EMAIL=False)
def test_email_step_can_be_optional(client: FlaskClient, app: Flask) -> None:
    response = complete_quiz(client, app, email="")
    assert response.status_code == 302 and response.location.startswith("/r/")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


@pytest.mark.dialect_independent
def test_unknown_result_token_is_a_german_404(client: FlaskClient) -> None:
    response = client.get("/r/gibt-es-nicht")
    assert response.status_code == 404
    assert "Seite nicht gefunden" in response.get_data(as_text=True)
    assert client.get("/r/" + "x" * 500).status_code == 404
    assert client.get("/r/gibt-es-nicht/chart.png").status_code == 404


@pytest.mark.dialect_independent
@pytest.mark.app_config(TESTING=False, WTF_CSRF_ENABLED=True)
def test_missing_csrf_token_is_a_german_400(client: FlaskClient) -> None:
    response = client.post("/quiz/start", data={})
    assert response.status_code == 400
    assert "Das hat nicht geklappt" in response.get_data(as_text=True)


@pytest.mark.dialect_independent
def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_result_page_shows_analysis_with_sources(client: FlaskClient, app: Flask) -> None:
    content = get_content(app)
    done = complete_quiz(client, app, sample_answers(content, "worst"))
    text = client.get(done.location).get_data(as_text=True)
    assert "Ihre drei nächsten Schritte" in text
    assert "Quelle" in text
    # Sources as a publication cites them, never by their internal file names.
    citations = [str(escape(source.citation)) for source in content.sources]
    assert any(citation in text for citation in citations)
    assert not any(source.file in text for source in content.sources)
