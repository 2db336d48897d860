"""Issue 21, finding 9: names with bidi and other format characters, addresses whose local part
looks like an encoded word; refused by the form in German, and harmless when already stored."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from quiz.extensions import db
from quiz.mail.sender import deliver_due
from quiz.models import OutboxMessage, Response
from tests.factories import finished_response
from tests.mailserver import MailServer
from tests.quizflow import complete_quiz

ENCODED_LOCAL_PART = "=?utf-8?q?evil=40attacker.test?=@example.org"
FORMAT_CHARACTERS = {
    "right-to-left override": "Anna\u202egnaL",
    "right-to-left isolate": "Anna\u2067x\u2069",
    "zero-width space": "An\u200bna",
    "zero-width joiner": "An\u200dna",
    "byte order mark": "\ufeffAnna",
    "soft hyphen": "An\u00adna",
}


def responses_stored(app: Flask) -> int:
    """How many responses were finished."""
    with app.app_context():
        return int(
            db.session.scalar(
                select(func.count()).select_from(Response).where(Response.status == "finished")
            )
            or 0
        )


@pytest.mark.dialect_independent
@pytest.mark.parametrize("name", FORMAT_CHARACTERS.values(), ids=FORMAT_CHARACTERS.keys())
def test_the_form_refuses_format_characters_in_a_name_in_german(app: Flask, name: str) -> None:
    answer = complete_quiz(app.test_client(), app, first_name=name)
    assert answer.status_code == 422
    assert "unsichtbare Steuerzeichen" in answer.get_data(as_text=True)
    assert responses_stored(app) == 0


@pytest.mark.dialect_independent
def test_the_form_refuses_an_encoded_word_as_local_part_in_german(app: Flask) -> None:
    answer = complete_quiz(app.test_client(), app, email=ENCODED_LOCAL_PART)
    assert answer.status_code == 422
    assert "ohne die Zeichenfolge „=?…?=“" in answer.get_data(as_text=True)
    assert responses_stored(app) == 0
    # "=" and "?" alone are ordinary characters of a local part.
    assert complete_quiz(app.test_client(), app, email="a=b?c@example.org").status_code == 302


@pytest.mark.dialect_independent
def test_a_stored_name_with_a_bidi_override_is_left_out_of_headers_and_greeting(
    app: Flask, mail_server: MailServer
) -> None:
    app.config.update(mail_server.smtp_config())
    taker = finished_response(app)
    with app.app_context():
        db.session.execute(
            update(Response).where(Response.id == taker.id).values(first_name="Anna\u202egnaL")
        )
        db.session.commit()
    assert deliver_due(app).sent == 1
    [message] = mail_server.wait_for(1)
    [raw] = mail_server.raw
    assert "\u202e".encode() not in raw and b"gnaL" not in raw
    assert message["To"].addresses[0].display_name == ""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None and str(part.get_content()).startswith("Guten Tag,")


@pytest.mark.dialect_independent
def test_a_stored_encoded_word_address_is_never_sent_to(
    app: Flask, mail_server: MailServer
) -> None:
    app.config.update(mail_server.smtp_config())
    taker = finished_response(app)
    with app.app_context():
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.response_id == taker.id)
            .values(recipient=ENCODED_LOCAL_PART)
        )
        db.session.commit()
    report = deliver_due(app)
    assert report.sent == 0
    assert mail_server.raw == []
    with app.app_context():
        assert db.session.scalars(select(OutboxMessage.status)).all() == ["failed"]
