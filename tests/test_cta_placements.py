"""The call to action where a taker decides: on the result page right after the next steps, in
both parts of the summary email and on the PDF's first content page, each through its own
/weiter/ link; the bottleneck's own text; a reply to the coach without a URL; nothing at all
without any target."""

from __future__ import annotations

import io
import re
from email.message import EmailMessage

import pytest
from flask import Flask
from pypdf import PdfReader

from quiz.links import read_cta_token
from quiz.mail.compose import compose_followup, new_message_id
from quiz.mail.sender import deliver_due
from quiz.site import settings as site_settings
from quiz.taker import pdf, response_reads
from tests.factories import Finished, finished_response
from tests.mailserver import MailServer
from tests.test_result_page import LONGEST_STEPS_SEED

TARGET = "https://termine.example/erstgespraech"
OWN_TEXT = "Ihr Engpass ist hier – im Erstgespräch rechnen wir Ihr Angebot gemeinsam durch."
SCORES = re.compile(r"ihre werte in allen bereichen|ihr profil in allen bereichen")
WEITER = re.compile(r"(?:http://quiz\.test)?/weiter/([A-Za-z0-9_.\-]+)")


def _configure(app: Flask, taker: Finished, **extra: str) -> str:
    """Set the call to action with a text of the taker's bottleneck; the bottleneck."""
    with app.app_context():
        response = response_reads.find_result(taker.token)
        assert response is not None and response.bottleneck
        site_settings.update(
            {"cta.url": TARGET, f"cta.text.{response.bottleneck}": OWN_TEXT, **extra}, "test"
        )
        return response.bottleneck


def _placements(app: Flask, text: str) -> list[tuple[int, str]]:
    """(response id, placement) of every /weiter/ link in `text`."""
    found = []
    for token in WEITER.findall(text):
        response_id, _digest, placement = read_cta_token(app.config, token)
        found.append((response_id, placement))
    return found


@pytest.mark.dialect_independent
def test_result_page_shows_the_call_to_action_right_after_the_next_steps(app: Flask) -> None:
    taker = finished_response(app)
    _configure(app, taker)
    html = app.test_client().get(taker.path).text
    cta = html.index('class="card cta"')
    assert html.index('class="card next-steps"') < cta < html.index('class="chart"')
    section = html[cta : html.index("</section>", cta)]
    assert OWN_TEXT in section
    assert _placements(app, section) == [(taker.id, "result")]
    assert TARGET not in html  # only through /weiter/, where the click is counted


@pytest.mark.dialect_independent
def test_without_a_url_it_replies_to_the_coach_and_without_any_address_it_is_gone(
    app: Flask,
) -> None:
    taker = finished_response(app)
    client = app.test_client()
    assert 'class="card cta"' not in client.get(taker.path).text  # no target: no dead end
    with app.app_context():
        site_settings.update({"contact.email": "coach@praxis.example"}, "test")
    html = client.get(taker.path).text
    assert 'class="card cta"' in html
    (link,) = WEITER.findall(html)
    answer = client.get(f"/weiter/{link}", headers={"User-Agent": "Mozilla/5.0 Firefox/128.0"})
    assert answer.headers["Location"] == "mailto:coach@praxis.example"


def _delivered(app: Flask) -> EmailMessage:
    server = MailServer().start()
    try:
        app.config.update(server.smtp_config())
        assert deliver_due(app).sent == 1
        (message,) = server.wait_for(1)
    finally:
        server.stop()
    return message


def test_both_parts_of_the_summary_email_carry_it(app: Flask) -> None:
    taker = finished_response(app)
    _configure(app, taker, **{"cta.label": "Termin buchen"})
    message = _delivered(app)
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    text, markup = str(plain.get_content()), str(html.get_content())  # type: ignore[attr-defined]
    for part in (text, markup):
        assert _placements(app, part) == [(taker.id, "email")]
        assert "Termin buchen" in part
        assert OWN_TEXT in " ".join(part.split())
        # After the next steps, before the scores.
        lower = part.lower()
        lower = lower[max(lower.find("<h2"), 0) :]  # the body after the preheader
        steps = lower.index("nächsten schritte")
        scores = SCORES.search(lower, steps)
        assert scores is not None
        assert steps < lower.index("/weiter/") < scores.start()


def test_the_pdf_has_it_on_its_first_content_page(app: Flask) -> None:
    # The longest three next steps of the first 1,500 random profiles still leave it room.
    taker = finished_response(app, seed=LONGEST_STEPS_SEED)
    _configure(app, taker)
    client = app.test_client()
    answer = client.get(f"{taker.path}/bericht.pdf")
    if answer.status_code == 202:
        assert pdf.wait_for_renders(app, timeout=90)
        answer = client.get(f"{taker.path}/bericht.pdf")
    assert answer.status_code == 200
    reader = PdfReader(io.BytesIO(answer.data))
    first_content = reader.pages[1]  # after the cover
    uris = [
        str(annotation.get_object()["/A"]["/URI"])
        for annotation in first_content.get("/Annots", [])
        if "/URI" in annotation.get_object().get("/A", {})
    ]
    assert _placements(app, " ".join(uris)) == [(taker.id, "pdf")]
    text = " ".join(first_content.extract_text().replace("-\n", "").split())
    assert "Begleitung gewünscht?" in text
    assert "termine.example/erstgespraech" in text  # written out for the printout


@pytest.mark.dialect_independent
def test_each_followup_email_carries_it_as_its_own_placement(app: Flask) -> None:
    taker = finished_response(app, consent_marketing=True)
    _configure(app, taker)
    with app.app_context():
        response = response_reads.find_result(taker.token)
        assert response is not None
        for number in (1, 2, 3):
            message = compose_followup(
                app,
                recipient="kundin@example.com",
                message_id=new_message_id(app.config),
                response=response,
                details={"number": number},
            )
            for kind in ("plain", "html"):
                body = message.get_body((kind,))
                assert body is not None
                part = str(body.get_content())  # type: ignore[attr-defined]
                assert _placements(app, part) == [(taker.id, f"followup-{number}")]
                assert OWN_TEXT in " ".join(part.split())
