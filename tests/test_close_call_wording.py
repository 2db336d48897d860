"""A close result says so (issue 23): "knapp vor …", "gleichauf mit …" and where to start, in
words about the answers, on the result page, in the summary email and in the PDF; a clear
result says nothing of the kind."""

from __future__ import annotations

import re
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from quiz.app_state import get_content
from quiz.domain.analysis import close_call_note
from quiz.domain.content import Content
from quiz.domain.flow import evaluate, sample_taker
from quiz.domain.scoring import ScoreResult, sample_answers
from quiz.extensions import db
from quiz.models import Response
from tests.factories import finished_response
from tests.mailserver import MailServer
from tests.test_mail_result import summary
from tests.test_report_pdf import _download, _pdf_text

TIED_SEED = 2  # random answers (with their extra page) tied with one dimension, close to another


def _flat(text: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", text)).split())


def _scored(content: Content, answers: dict[str, str]) -> ScoreResult:
    result = evaluate(content, answers).result
    assert result is not None
    return result


def _clear(content: Content) -> dict[str, str]:
    """Best answers everywhere but one dimension, answered worst: nothing is close to it."""
    best, worst = sample_answers(content, "best"), sample_answers(content, "worst")
    weak = {q.id for q in content.questions_of("preise")}
    return {qid: worst[qid] if qid in weak else answer for qid, answer in best.items()}


@pytest.mark.dialect_independent
def test_a_close_result_says_so_on_the_page_in_the_email_and_in_the_pdf(
    app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    content = get_content(app)
    answers = sample_taker(content, "random", TIED_SEED)
    result = _scored(content, answers)
    assert result.confidence == "knapp" and result.tied_with and result.close_to
    note = close_call_note(content, result)
    assert note is not None and "knapp vor" in note
    names = {d.id: d.name for d in content.dimensions}
    tied = names[result.tied_with[0]]
    bottleneck = names[result.bottleneck]

    _message, text, html, page = summary(app, client, mail_server, answers)
    # The page: in the diagnosis, once (the collapsed section does not repeat it).
    diagnosis = page[page.index('<section class="card diagnosis') :]
    diagnosis = _flat(diagnosis[: diagnosis.index("</section>")])
    assert f"Gleichauf mit {bottleneck} liegt {tied}." in diagnosis
    assert note in diagnosis
    assert _flat(page).count(note) == 1
    for body in (_flat(page), _flat(html), " ".join(text.split())):
        assert "knapp vor" in body
        assert f"Gleichauf mit {bottleneck} liegt {tied}." in body
        assert note in body
        assert "Tipps" not in body.split("Ihre nächsten Schritte")[0].split("Ihre drei")[0]

    with app.app_context():
        token = db.session.execute(select(Response.result_token)).scalar_one()
    report = _pdf_text(_download(client, app, str(token)).data)
    assert "knapp vor" in report
    assert f"Gleichauf mit {bottleneck} liegt {tied}." in report


@pytest.mark.dialect_independent
def test_a_clear_result_has_no_close_call(app: Flask, client: FlaskClient) -> None:
    content = get_content(app)
    answers = _clear(content)
    result = _scored(content, answers)
    assert result.confidence == "klar" and result.bottleneck == "preise"
    done = finished_response(app, answers)
    page = _flat(client.get(done.path).get_data(as_text=True))
    assert "knapp" not in page and "Gleichauf" not in page
    assert 'class="close-call"' not in page


@pytest.mark.dialect_independent
def test_full_marks_are_never_room_to_grow(app: Flask, client: FlaskClient) -> None:
    content = get_content(app)
    done = finished_response(app, sample_answers(content, "best"))
    page = _flat(client.get(done.path).get_data(as_text=True))
    assert "In allen Bereichen 100 von 100" in page
    assert "Luft nach oben" not in page
