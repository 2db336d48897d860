"""The coach hears about new leads (issue 22, item 4): with notify.new_lead on, one email to
contact.email per confirmed double opt-in, through the outbox and the real sender, never twice
per lead; it goes with the lead's data and never counts among the taker's emails."""

from __future__ import annotations

from email.message import EmailMessage

from flask import Flask
from sqlalchemy import select

from quiz import counters
from quiz.app_state import get_content
from quiz.extensions import db
from quiz.links import OPTIN, make_token
from quiz.mail.sender import deliver_due
from quiz.models import OutboxMessage, Response
from quiz.site import settings as site_settings
from quiz.taker import rights
from tests.factories import Finished, finished_response
from tests.mailserver import MailServer
from tests.quizflow import csrf_token

COACH = "coach@praxis.example"


def _notes(app: Flask) -> list[tuple[str, str, dict[str, int] | None]]:
    with app.app_context():
        rows = db.session.execute(
            select(OutboxMessage.recipient, OutboxMessage.status, OutboxMessage.details).where(
                OutboxMessage.kind == "new_lead"
            )
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def _confirm_on_the_page(app: Flask, taker: Finished) -> str:
    client = app.test_client()
    link = f"/bestaetigen/{make_token(app.config, OPTIN, taker.id, taker.token)}"
    page = client.get(link).text
    if 'name="csrf_token"' not in page:  # confirmed already: nothing to press
        return page
    return client.post(link, data={"csrf_token": csrf_token(page)}).text


def _deliver(app: Flask, expected: int) -> list[EmailMessage]:
    server = MailServer().start()
    try:
        app.config.update(server.smtp_config())
        deliver_due(app)
        return server.wait_for(expected) if expected else server.messages
    finally:
        server.stop()


def test_a_confirmed_lead_is_announced_to_the_coach_once(app: Flask) -> None:
    with app.app_context():
        site_settings.update({"notify.new_lead": "true", "contact.email": COACH}, "test")
    taker = finished_response(app, first_name="Jana", consent_marketing=True)
    to_taker = _deliver(app, 2)  # the summary and the opt-in
    assert all("kundin@example.com" in str(message["To"]) for message in to_taker)
    assert _notes(app) == []  # not before the confirmation

    assert "Ihre Anmeldung ist bestätigt" in _confirm_on_the_page(app, taker)
    _confirm_on_the_page(app, taker)  # the link used again
    with app.app_context():
        assert rights.confirm_optin(taker.id) == "already"
    assert _notes(app) == [(COACH, "queued", {"lead_id": taker.id})]

    (note,) = _deliver(app, 1)
    assert str(note["To"]) == COACH
    assert "Jana" in str(note["Subject"])
    assert note["List-Unsubscribe"] is None
    plain, html = note.get_body(("plain",)), note.get_body(("html",))
    assert plain is not None and html is not None
    text, markup = str(plain.get_content()), str(html.get_content())  # type: ignore[attr-defined]
    lead_url = f"http://quiz.test/coach/leads/{taker.id}"
    with app.app_context():
        lead = db.session.get(Response, taker.id)
        assert lead is not None
        scores, bottleneck = lead.scores(), lead.bottleneck
    for part in (text, markup):
        assert lead_url in part
        assert "Jana" in part
        for score in scores.values():
            assert f">{score}<" in part or f": {score}" in part
    assert f"Engpass: {_dimension_name(app, bottleneck)}" in text
    assert _notes(app) == [(COACH, "sent", {"lead_id": taker.id})]
    assert _deliver(app, 0) == []  # nothing more, ever, for this lead
    # The taker's email figures never count the note.
    with app.app_context():
        assert counters.recount(check=True).differing == 0


def _dimension_name(app: Flask, dimension: str | None) -> str:
    with app.app_context():
        return next(d.name for d in get_content().dimensions if d.id == dimension)


def test_no_note_when_switched_off_or_without_an_address(app: Flask) -> None:
    first = finished_response(app, consent_marketing=True)
    with app.app_context():
        assert rights.confirm_optin(first.id) == "confirmed"  # off by default
        site_settings.update({"notify.new_lead": "true"}, "test")
    second = finished_response(app, seed=12, consent_marketing=True)
    with app.app_context():
        assert rights.confirm_optin(second.id) == "confirmed"  # no contact address
    assert _notes(app) == []


def test_the_note_goes_with_the_leads_data(app: Flask) -> None:
    with app.app_context():
        site_settings.update({"notify.new_lead": "true", "contact.email": COACH}, "test")
    taker = finished_response(app, consent_marketing=True)
    kept = finished_response(app, seed=12, consent_marketing=True)
    with app.app_context():
        rights.confirm_optin(taker.id)
        rights.confirm_optin(kept.id)
        rights.delete_data(taker.id)
    assert _notes(app) == [(COACH, "queued", {"lead_id": kept.id})]
