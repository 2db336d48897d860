"""The summary email follows the result page: diagnosis, the three next steps, chart, link.

Messages are composed from stored results and delivered to a real SMTP server in the test process.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from html import unescape

from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import select

from quiz.app_state import get_content
from quiz.domain.content import Content
from quiz.domain.scoring import sample_answers, score_answers
from quiz.extensions import db
from quiz.mail.compose import compose, new_message_id
from quiz.mail.transport import transport_for
from quiz.models import Response
from tests.factories import finished_response
from tests.mailserver import MailServer

EMAIL = "kundin@example.com"


def summary(
    app: Flask, client: FlaskClient, mail_server: MailServer, answers: dict[str, str]
) -> tuple[EmailMessage, str, str, str]:
    """Take the quiz, open the result page, send its summary; (message, text, html, page)."""
    done = finished_response(app, answers, email=EMAIL)
    page = client.get(done.path).get_data(as_text=True)
    chart = client.get(f"{done.path}/chart.png").data
    app.config.update(mail_server.smtp_config())
    with app.app_context():
        response = db.session.execute(select(Response)).scalar_one()
        message = compose(
            app,
            kind="result",
            recipient=EMAIL,
            message_id=new_message_id(app.config),
            response=response,
            chart_png=chart,
        )
    with transport_for(app.config) as transport:
        transport.send(message)
    [received] = mail_server.wait_for(1)
    text = html = ""
    for part in received.walk():
        if part.get_content_type() == "text/plain":
            text = part.get_content()  # type: ignore[attr-defined]
        elif part.get_content_type() == "text/html":
            html = part.get_content()  # type: ignore[attr-defined]
    assert text and html
    return received, text, html, page


def step_titles(page: str) -> list[str]:
    """The titles of the next steps on the result page, in order."""
    section = page[page.index('class="card next-steps"') : page.index('class="chart"')]
    return re.findall(r"<h3>([^<]+)</h3>", section)


def no_source_files(content: Content, body: str) -> None:
    """Neither a source's file name nor its hash appears."""
    assert ".txt" not in body
    for source in content.sources:
        digest = source.file.removesuffix(".txt").partition("_")[2]
        assert source.file not in body and digest not in body


def test_summary_reads_diagnosis_steps_chart_link_in_both_parts(
    app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    content = get_content(app)
    answers = sample_answers(content, "random", seed=3)
    result = score_answers(content, answers)
    message, text, html, _page = summary(app, client, mail_server, answers)
    name = content.dimension_by_id[result.bottleneck].name
    url = "http://quiz.test/r/"

    order = [
        text.index(f"IHR GRÖSSTER ENGPASS: {name.upper()}"),
        text.index("IHRE DREI NÄCHSTEN SCHRITTE"),
        text.index("IHRE WERTE IN ALLEN BEREICHEN"),
        text.index(url),
    ]
    assert order == sorted(order)
    order = [
        html.index("Ihr größter Engpass"),
        html.index("Ihre drei nächsten Schritte"),
        html.index('src="cid:'),
        html.index(f'href="{url}'),
    ]
    assert order == sorted(order)
    assert name in message["Subject"]
    # Nothing loaded from outside: the only image is the inline chart.
    assert re.findall(r'src="([^":]+):', html) == ["cid"]
    assert "<link" not in html and "url(" not in html
    # Sources stay on the page, cited there; never as file names anywhere in the email.
    no_source_files(content, text)
    no_source_files(content, html)


def test_summary_steps_are_the_result_pages_steps(
    app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    content = get_content(app)
    answers = sample_answers(content, "random", seed=529)
    _message, text, html, page = summary(app, client, mail_server, answers)
    titles = step_titles(page)
    assert len(titles) == 3
    positions = [
        text.index(f"{number}. {unescape(title)}") for number, title in enumerate(titles, 1)
    ]
    assert positions == sorted(positions)
    positions = [html.index(f"{number}. {title}") for number, title in enumerate(titles, 1)]
    assert positions == sorted(positions)


def test_summary_names_the_answers_and_discloses_ties(
    app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    content = get_content(app)
    answers = sample_answers(content, "worst")
    result = score_answers(content, answers)
    assert result.tied_with
    _message, text, html, _page = summary(app, client, mail_server, answers)
    with app.app_context():
        [item] = [
            item
            for item in db.session.execute(select(Response.analysis)).scalar_one()
            if item["kind"] == "bottleneck"
        ]
    weakest = item["evidence"][0]
    question = content.question_by_id[weakest].text
    answer = content.choice(weakest, answers[weakest]).label
    assert f"„{escape(question)}“ (Ihre Antwort: „{escape(answer)}“)" in html
    assert "Gleichauf mit" in html
    flat = " ".join(text.split())
    assert f"„{question}“ (Ihre Antwort: „{answer}“)" in flat
    for dimension in result.tied_with:
        assert str(escape(content.dimension_by_id[dimension].name)) in html
        assert content.dimension_by_id[dimension].name in flat


def test_summary_without_an_acute_bottleneck_says_so(
    app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    content = get_content(app)
    answers = sample_answers(content, "best")
    assert not score_answers(content, answers).bottleneck_acute
    message, text, html, _page = summary(app, client, mail_server, answers)
    assert "kein akuter Engpass" in message["Subject"]
    assert "KEIN AKUTER ENGPASS" in text and "Kein akuter Engpass" in html
    assert "GRÖSSTER ENGPASS" not in text and "größter Engpass" not in html
    assert "IHRE DREI NÄCHSTEN SCHRITTE" in text
