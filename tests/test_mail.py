"""The emailed summary and the outbox, against a real SMTP server in the test process."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import func, select

from quiz.app_state import get_content
from quiz.extensions import db
from quiz.mail.compose import compose
from quiz.mail.headers import AddressError, address_header
from quiz.mail.sender import deliver_due
from quiz.models import OutboxMessage, Response, utcnow
from tests.factories import finished_response
from tests.mailserver import MailServer
from tests.quizflow import complete_quiz

EMAIL = "kundin@example.com"


@pytest.fixture
def smtp_app(app: Flask, mail_server: MailServer) -> Flask:
    """The app, sending to the test server."""
    app.config.update(mail_server.smtp_config())
    return app


def finish_quiz(
    app: Flask,
    _client: FlaskClient,
    email: str = "kundin@example.com",
    first_name: str | None = None,
    consent_marketing: str = "",
) -> str:
    """A finished quiz (through the writers; the lead as the form passes it on); the token."""
    return finished_response(
        app, email=email, first_name=first_name, consent_marketing=consent_marketing == "y"
    ).token


def outbox(app: Flask) -> list[OutboxMessage]:
    """Every outbox row, oldest first, detached from any session."""
    with app.app_context():
        rows = db.session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()
        db.session.expunge_all()
        return list(rows)


def parts(message: EmailMessage) -> dict[str, list[EmailMessage]]:
    """The leaf parts of a message by content type."""
    found: dict[str, list[EmailMessage]] = {}
    for part in message.walk():
        if not part.is_multipart():
            found.setdefault(part.get_content_type(), []).append(part)  # type: ignore[arg-type]
    return found


def test_summary_arrives_with_text_html_and_inline_chart(
    smtp_app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    token = finish_quiz(smtp_app, client)

    report = deliver_due(smtp_app)

    assert (report.sent, report.retried, report.failed) == (1, 0, 0)
    [message] = mail_server.wait_for(1)
    content = get_content(smtp_app)
    with smtp_app.app_context():
        response = db.session.execute(select(Response)).scalar_one()
        scores, bottleneck = response.scores(), response.bottleneck
        assert response.chart_png is not None  # rendered for the mail, kept for the page
    found = parts(message)
    text = found["text/plain"][0].get_content()
    html = found["text/html"][0].get_content()
    [image] = found["image/png"]
    assert image.get_content().startswith(b"\x89PNG")
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html
    bottleneck_name = content.dimension_by_id[bottleneck].name
    assert bottleneck_name in message["Subject"]
    for dimension in content.dimensions:
        assert f"{dimension.name}: {scores[dimension.id]} (" in text
        assert str(escape(dimension.name)) in html
    assert f"http://quiz.test/r/{token}" in text
    assert f"http://quiz.test/r/{token}" in html
    assert "http://fonts" not in html and "<link" not in html  # nothing loaded from outside
    assert message["To"].addresses[0].addr_spec == EMAIL
    assert message["List-Unsubscribe"].startswith("<http://quiz.test/abmelden/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Unsubscribe"].strip("<>") in text
    [row] = outbox(smtp_app)
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None
    assert message["Message-ID"] == row.message_id


def test_summary_shows_the_three_next_steps_of_the_analysis(
    smtp_app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    finish_quiz(smtp_app, client)
    deliver_due(smtp_app)
    [message] = mail_server.wait_for(1)
    text = parts(message)["text/plain"][0].get_content()
    with smtp_app.app_context():
        analysis = db.session.execute(select(Response.analysis)).scalar_one()
    # The analysis's one ranking, in its order; no other tip makes it into the email.
    expected = sorted((i for i in analysis if i.get("next_step")), key=lambda i: i["next_step"])
    assert len(expected) == 3
    positions = [
        text.index(f"{number}. {item['title']}") for number, item in enumerate(expected, 1)
    ]
    assert positions == sorted(positions)
    for tip in analysis:
        if tip["kind"] == "tip" and tip not in expected:
            assert tip["title"] not in text


def test_optin_mail_asks_for_confirmation_without_advertising(
    smtp_app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    finish_quiz(smtp_app, client, consent_marketing="y")

    assert deliver_due(smtp_app).sent == 2
    messages = mail_server.wait_for(2)
    [optin] = [m for m in messages if "bestätigen" in m["Subject"]]
    text = parts(optin)["text/plain"][0].get_content()
    html = parts(optin)["text/html"][0].get_content()
    assert "http://quiz.test/bestaetigen/" in text and "http://quiz.test/bestaetigen/" in html
    assert "Erstgespräch" not in text and "image/png" not in parts(optin)
    assert optin["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_server_down_at_submit_then_delivered_once_when_back(
    app: Flask, client: FlaskClient
) -> None:
    server = MailServer()  # not started: connection refused
    app.config.update(server.smtp_config())
    token = finish_quiz(app, client)
    assert client.get(f"/r/{token}").status_code == 200  # the taker never noticed

    report = deliver_due(app)

    assert (report.sent, report.retried, report.waiting) == (0, 0, 1)
    assert report.paused_until is not None and "Connection" in report.errors[0]
    [row] = outbox(app)
    assert row.status == "queued" and row.attempts == 0  # the outage cost it no attempt
    server.start()
    try:
        assert deliver_due(app).claimed == 0  # not due yet: the sender pauses
        later = utcnow() + timedelta(seconds=61)
        assert deliver_due(app, now=later).sent == 1
        assert deliver_due(app, now=later + timedelta(days=1)).claimed == 0
        server.wait_for(1)
        assert len(server.messages) == 1
    finally:
        server.stop()
    [row] = outbox(app)
    assert row.status == "sent" and row.attempts == 1


def test_451_then_250_is_retried_with_backoff_and_sent(
    smtp_app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    mail_server.handler.replies.append("451 4.3.0 Bitte später noch einmal")
    finish_quiz(smtp_app, client)
    start = utcnow()

    first = deliver_due(smtp_app, now=start)

    assert (first.sent, first.retried) == (0, 1)
    [row] = outbox(smtp_app)
    assert row.status == "queued" and (row.last_error or "").startswith("451")
    message_id = row.message_id
    assert deliver_due(smtp_app, now=start + timedelta(seconds=30)).claimed == 0
    assert deliver_due(smtp_app, now=start + timedelta(seconds=61)).sent == 1
    [message] = mail_server.wait_for(1)
    assert message["Message-ID"] == message_id  # the retry is the same message
    [row] = outbox(smtp_app)
    assert row.status == "sent" and row.attempts == 2 and row.last_error is None


def test_backoff_doubles_between_attempts(
    smtp_app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    mail_server.handler.always = "421 4.7.0 Zu viele Verbindungen"
    finish_quiz(smtp_app, client)
    now = utcnow()
    waits = []
    for _ in range(3):
        deliver_due(smtp_app, now=now)
        [row] = outbox(smtp_app)
        due = row.next_attempt_at.replace(tzinfo=now.tzinfo)
        waits.append(round((due - now).total_seconds()))
        now = due
    assert waits == [60, 120, 240]


def test_550_fails_at_once_and_is_never_tried_again(
    smtp_app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    mail_server.handler.always = "550 5.1.1 Postfach unbekannt"
    finish_quiz(smtp_app, client)

    report = deliver_due(smtp_app)

    assert (report.sent, report.retried, report.failed) == (0, 0, 1)
    for days in (1, 7, 30):
        assert deliver_due(smtp_app, now=utcnow() + timedelta(days=days)).claimed == 0
    assert mail_server.handler.attempts == 1
    [row] = outbox(smtp_app)
    assert row.status == "failed" and (row.last_error or "").startswith("550")


@pytest.mark.app_config(MAIL_MAX_ATTEMPTS=3)
def test_temporary_failures_end_failed_after_the_last_attempt(
    smtp_app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    mail_server.handler.always = "451 4.3.0 Bitte später"
    finish_quiz(smtp_app, client)
    now = utcnow()
    for _ in range(6):
        deliver_due(smtp_app, now=now)
        now += timedelta(days=1)
    assert mail_server.handler.attempts == 3
    [row] = outbox(smtp_app)
    assert row.status == "failed" and row.attempts == 3


def test_message_stuck_in_sending_is_due_again_after_the_lease(
    smtp_app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    finish_quiz(smtp_app, client)
    with smtp_app.app_context():
        row = db.session.execute(select(OutboxMessage)).scalar_one()
        row.status, row.attempts, row.claimed_at = "sending", 1, utcnow()  # a sender crashed
        db.session.commit()

    assert deliver_due(smtp_app).claimed == 0  # its lease still runs
    later = utcnow() + timedelta(seconds=smtp_app.config["MAIL_LEASE_SECONDS"] + 1)
    assert deliver_due(smtp_app, now=later).sent == 1
    mail_server.wait_for(1)
    [row] = outbox(smtp_app)
    assert row.status == "sent" and row.attempts == 2


@pytest.mark.app_config(MAIL_BATCH_SIZE=4)
def test_two_senders_at_once_send_each_message_exactly_once(
    smtp_app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    finish_quiz(smtp_app, client)
    with smtp_app.app_context():
        response_id = db.session.execute(select(Response.id)).scalar_one()
        db.session.add_all(
            OutboxMessage(response_id=response_id, kind="result", recipient=f"n{i}@example.com")
            for i in range(39)
        )
        db.session.commit()
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def sender() -> None:
        try:
            start.wait()
            while deliver_due(smtp_app).claimed:
                pass
        except BaseException as exc:  # reported below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    messages = mail_server.wait_for(40)
    ids = Counter(str(message["Message-ID"]) for message in messages)
    assert len(ids) == 40 and set(ids.values()) == {1}
    assert {row.status for row in outbox(smtp_app)} == {"sent"}


def test_without_smtp_host_mail_is_written_to_files_and_no_address_is_logged(
    app: Flask,
    client: FlaskClient,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # migrations/env.py's fileConfig() disables loggers that exist when the tests migrate.
    monkeypatch.setattr(logging.getLogger("quiz.mail.transport"), "disabled", False)
    monkeypatch.setattr(logging.getLogger("quiz.mail.outbox"), "disabled", False)
    finish_quiz(app, client, first_name="Anna")
    with caplog.at_level(logging.INFO):
        assert deliver_due(app).sent == 1
    [path] = Path(app.config["MAIL_DIR"]).glob("*.eml")
    assert b"Content-Type: multipart/alternative" in path.read_bytes()
    assert str(path) in caplog.text
    assert EMAIL not in caplog.text and "Anna" not in caplog.text


@pytest.mark.app_config(MAIL_MAX_PER_HOUR=2)
def test_one_address_gets_only_a_few_summaries_per_hour(app: Flask) -> None:
    for _ in range(3):
        finish_quiz(app, app.test_client(), email="Viel@Example.com")
    finish_quiz(app, app.test_client(), email="andere@example.com")
    with app.app_context():
        per_address = dict(
            db.session.execute(
                select(func.lower(OutboxMessage.recipient), func.count()).group_by(
                    func.lower(OutboxMessage.recipient)
                )
            ).all()
        )
        responses = db.session.scalar(select(func.count(Response.id)))
    assert per_address == {"viel@example.com": 2, "andere@example.com": 1}
    assert responses == 4  # the result itself is always saved


def test_names_cannot_inject_headers(app: Flask, client: FlaskClient) -> None:
    # A line break drops the name; a line break in the address refuses the address.
    assert str(address_header("To", "Anna\r\nBcc: opfer@example.com", EMAIL)) == EMAIL
    with pytest.raises(AddressError):
        address_header("To", "Anna", "a@example.com\r\nBcc: opfer@example.com")
    finish_quiz(app, client, first_name='Müller, "Anna" <x@y.z>')
    with app.app_context():
        response = db.session.execute(select(Response)).scalar_one()
        message = compose(
            app,
            kind="result",
            recipient=EMAIL,
            message_id="<1@test>",
            response=response,
        )
    # What goes on the wire, read back by a strict parser.
    received = BytesParser(policy=policy.default).parsebytes(message.as_bytes())
    [to] = received["To"].addresses
    assert to.addr_spec == EMAIL and to.display_name == 'Müller, "Anna" <x@y.z>'
    assert "Bcc" not in received


def test_form_refuses_line_breaks_in_the_name(app: Flask, client: FlaskClient) -> None:
    finished = complete_quiz(client, app, first_name="Anna\r\nBcc: opfer@example.com")
    assert finished.status_code == 422
    assert outbox(app) == []


def test_send_mail_command_delivers_what_is_due(
    smtp_app: Flask, client: FlaskClient, mail_server: MailServer
) -> None:
    finish_quiz(smtp_app, client)
    result = smtp_app.test_cli_runner().invoke(args=["send-mail"])
    assert result.exit_code == 0, result.output
    assert "sent: 1" in result.output
    mail_server.wait_for(1)
