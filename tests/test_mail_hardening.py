"""Issue 10, items 1-4 (and the coach alert of item 9): hostile names, international addresses,
SMTP outages and raw List-Unsubscribe, end to end through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage

import pytest
from flask import Flask
from sqlalchemy import select, update

from quiz.app_state import get_content
from quiz.coach import stats
from quiz.extensions import db
from quiz.mail import pause as mail_pause
from quiz.mail.outbox import queue_coach_alert
from quiz.mail.sender import deliver_due
from quiz.models import OutboxMessage, Response, utcnow
from quiz.web.coach import dashboard as coach_view
from tests.coach_factories import assert_rollups_equal_a_rebuild, create_test_coach, login
from tests.factories import finished_response
from tests.mailserver import DROP, MailServer
from tests.quizflow import complete_quiz

# The payloads from the issue: an encoded CRLF + Reply-To, and one that ends the header block.
REPLY_TO_NAME = "=?utf-8?b?DQpSZXBseS1UbzogYXR0YWNrZXJAZXZpbC5leGFtcGxl?="
PHISHING_TEXT = "Konto gesperrt: http://evil.example/login"
BODY_NAME = "=?utf-8?b?" + base64.b64encode(f"\r\n\r\n{PHISHING_TEXT}".encode()).decode() + "?="


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    """A running SMTP server without SMTPUTF8 that accepts everything."""
    server = MailServer(smtputf8=False).start()
    yield server
    server.stop()


@pytest.fixture
def smtp_app(app: Flask, mail_server: MailServer) -> Flask:
    """The app, sending to the test server."""
    app.config.update(mail_server.smtp_config())
    return app


def finish(
    app: Flask,
    email: str = "kundin@example.com",
    first_name: str | None = None,
    consent_marketing: str = "",
) -> int:
    """A finished quiz (through the writers; the lead as the form passes it on); the id."""
    return finished_response(
        app, email=email, first_name=first_name, consent_marketing=consent_marketing == "y"
    ).id


def set_first_name(app: Flask, response_id: int, name: str) -> None:
    """Store a name as rows from before the form refused it would have it."""
    with app.app_context():
        db.session.execute(
            update(Response).where(Response.id == response_id).values(first_name=name)
        )
        db.session.commit()


def outbox(app: Flask) -> list[OutboxMessage]:
    """Every outbox row, oldest first, detached."""
    with app.app_context():
        rows = db.session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()
        db.session.expunge_all()
        return list(rows)


def header_block(raw: bytes) -> list[bytes]:
    """The header lines of a message as it arrived (continuation lines joined)."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    return head.replace(b"\r\n ", b" ").replace(b"\r\n\t", b" ").split(b"\r\n")


def plain_text(message: EmailMessage) -> str:
    """The text/plain part."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


# --- item 1: encoded words in the first name ----------------------------------------------


@pytest.mark.parametrize("name", [REPLY_TO_NAME, BODY_NAME], ids=["reply-to", "body"])
def test_encoded_word_in_a_stored_name_adds_no_header_and_no_body_text(
    smtp_app: Flask, mail_server: MailServer, name: str
) -> None:
    set_first_name(smtp_app, finish(smtp_app), name)

    assert deliver_due(smtp_app).sent == 1

    [message] = mail_server.wait_for(1)
    [raw] = mail_server.raw
    names = {line.split(b":", 1)[0].lower() for line in header_block(raw)}
    assert b"reply-to" not in names and "Reply-To" not in message
    assert b"attacker@evil.example" not in raw and b"evil.example" not in raw
    assert message["To"].addresses[0].addr_spec == "kundin@example.com"
    assert message["To"].addresses[0].display_name == ""  # the unsafe name is left out
    text = plain_text(message)
    assert text.startswith("Guten Tag,") and PHISHING_TEXT not in text
    assert not message.defects


@pytest.mark.dialect_independent
def test_form_refuses_an_encoded_word_in_the_name_in_german(app: Flask) -> None:
    response = complete_quiz(app.test_client(), app, first_name=REPLY_TO_NAME)
    assert response.status_code == 422
    assert "ohne die Zeichenfolge „=?…?=“" in response.get_data(as_text=True)
    assert outbox(app) == []
    # A name with an = or ? alone is still a name, kept as typed.
    kept = finish(app, first_name="Anna-Lena (Coach?) = Mentorin")
    with app.app_context():
        name = db.session.scalar(select(Response.first_name).where(Response.id == kept))
    assert name == "Anna-Lena (Coach?) = Mentorin"


# --- item 2: international addresses ------------------------------------------------------


def test_idna_domain_is_sent_in_xn_form_to_a_server_without_smtputf8(
    smtp_app: Flask, mail_server: MailServer
) -> None:
    finish(smtp_app, email="kunde@müller-beratung.de", first_name='Zoë "Zo" Müller')

    assert deliver_due(smtp_app).sent == 1

    [message] = mail_server.wait_for(1)
    assert mail_server.handler.envelopes[0][1] == ["kunde@xn--mller-beratung-gsb.de"]
    [to] = message["To"].addresses
    assert to.addr_spec == "kunde@xn--mller-beratung-gsb.de"
    assert to.display_name == 'Zoë "Zo" Müller'  # our own encoded word, decoded as typed
    assert plain_text(message).startswith('Hallo Zoë "Zo" Müller,')
    [row] = outbox(smtp_app)
    assert row.status == "sent" and row.recipient == "kunde@müller-beratung.de"


def test_address_needing_smtputf8_fails_alone_at_once_and_holds_up_nobody(
    smtp_app: Flask, mail_server: MailServer
) -> None:
    bad = finish(smtp_app, email="jörg.müller@example.org")  # queued first, sorts first
    finish(smtp_app, email="anna@example.org")
    finish(smtp_app, email="kunde@müller-beratung.de")

    report = deliver_due(smtp_app)

    assert (report.sent, report.failed, report.retried) == (2, 1, 0)
    assert len(mail_server.wait_for(2)) == 2
    rows = {row.response_id: row for row in outbox(smtp_app)}
    assert rows[bad].status == "failed" and rows[bad].attempts == 1
    assert "SMTPUTF8" in (rows[bad].last_error or "")
    assert deliver_due(smtp_app, now=utcnow() + timedelta(days=2)).claimed == 0


def test_address_needing_smtputf8_goes_out_where_the_server_offers_it(app: Flask) -> None:
    server = MailServer().start()  # offers SMTPUTF8
    try:
        app.config.update(server.smtp_config())
        finish(app, email="jörg.müller@example.org")
        assert deliver_due(app).sent == 1
        [message] = server.wait_for(1)
        assert server.handler.envelopes[0][1] == ["jörg.müller@example.org"]
        assert "To: jörg.müller@example.org".encode() in server.raw[0]  # raw UTF-8
        assert message["Subject"].startswith("Ihre Engpass-Analyse")
    finally:
        server.stop()


# --- item 3: connection failures pause the sender, never charge a message ---------------


def _pause(app: Flask) -> mail_pause.SenderPause | None:
    with app.app_context():
        return mail_pause.current_pause()


def test_smtp_down_for_twenty_rounds_loses_nothing_and_costs_no_attempt(
    app: Flask, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # migrations/env.py's fileConfig() may disable loggers that exist when the tests migrate.
    monkeypatch.setattr(logging.getLogger("quiz.mail.pause"), "disabled", False)
    caplog.set_level(logging.INFO, logger="quiz.mail.pause")
    server = MailServer()  # not started: every connection is refused
    app.config.update(server.smtp_config())
    for index in range(3):
        finish(app, email=f"kunde{index}@example.org", consent_marketing="y")
    now = utcnow()
    waits = []
    for _ in range(20):  # 20 rounds, about 3 hours with the clock moved forward
        report = deliver_due(app, now=now)
        assert report.sent == report.failed == report.retried == 0
        pause = _pause(app)
        assert pause is not None and pause.reason == "unreachable"
        waits.append(round((pause.next_attempt_at - now).total_seconds()))
        now = max(now + timedelta(minutes=9), pause.next_attempt_at)
    rows = outbox(app)
    assert len(rows) == 6
    assert {(row.status, row.attempts) for row in rows} == {("queued", 0)}
    # The pause grows (doubling from MAIL_RETRY_SECONDS) up to a quarter of an hour.
    assert waits[:5] == [60, 120, 240, 480, 900] and set(waits[5:]) <= {900}

    server.start()
    try:
        assert deliver_due(app, now=now).sent == 6
        server.wait_for(6)
    finally:
        server.stop()
    assert {(row.status, row.attempts) for row in outbox(app)} == {("sent", 1)}
    assert _pause(app) is None
    assert "mail sender resumed" in caplog.text
    assert_rollups_equal_a_rebuild(app)


def test_wrong_smtp_password_over_a_weekend_then_fixed_delivers_everything(
    app: Flask,
) -> None:
    server = MailServer(password="richtig").start()
    try:
        app.config.update(server.smtp_config(), SMTP_USER="USER", SMTP_PASSWORD="abgelaufen")
        for index in range(4):
            finish(app, email=f"kunde{index}@example.org")
        friday = utcnow()  # Friday evening, the password has just expired
        monday = friday + timedelta(days=2, hours=15)
        now = friday
        while now < monday:  # a sender with --watch, looking every 10 minutes
            deliver_due(app, now=now)
            now += timedelta(minutes=10)
        pause = _pause(app)
        assert pause is not None and pause.reason == "login" and pause.paused_since == friday
        assert server.logins > 100 and server.messages == []
        assert {(row.status, row.attempts) for row in outbox(app)} == {("queued", 0)}

        app.config["SMTP_PASSWORD"] = "richtig"  # Monday morning: the password is renewed
        later = pause.next_attempt_at
        assert deliver_due(app, now=later).sent == 4
        server.wait_for(4)
    finally:
        server.stop()
    assert {(row.status, row.attempts) for row in outbox(app)} == {("sent", 1)}
    assert _pause(app) is None


def test_only_answers_about_a_message_count_and_a_dropped_connection_is_retried_fresh(
    smtp_app: Flask, mail_server: MailServer
) -> None:
    mail_server.handler.replies.extend(
        ["451 4.3.0 Bitte spaeter", "550 5.1.1 Postfach unbekannt", DROP, DROP, DROP]
    )
    for index in range(4):
        finish(smtp_app, email=f"kunde{index}@example.org")

    report = deliver_due(smtp_app)

    # 451 and 550 count for their messages. The third message loses its connection without an
    # answer: it goes again at once on a fresh one, and is charged only when that breaks too.
    # The fourth loses one connection too and goes out on the next.
    assert (report.retried, report.failed, report.sent) == (2, 1, 1)
    assert [(row.status, row.attempts) for row in outbox(smtp_app)] == [
        ("queued", 1),
        ("failed", 1),
        ("queued", 1),
        ("sent", 1),
    ]
    assert mail_server.handler.attempts == 6
    assert _pause(smtp_app) is None  # the server answered: no pause


def test_dashboard_shows_the_paused_sender(app: Flask) -> None:
    server = MailServer()
    app.config.update(server.smtp_config())
    finish(app)
    deliver_due(app)
    create_test_coach(app)
    client = app.test_client()
    login(client)
    coach_view.clear_cache()  # figures are cached a minute per worker (and database URL)

    page = client.get("/coach/").get_data(as_text=True)

    assert 'id="mail-paused"' in page
    assert "Mailversand pausiert seit" in page and "SMTP-Server nicht erreichbar" in page
    assert "nächster Versuch" in page and "Es geht keine E-Mail verloren" in page


# --- item 4: List-Unsubscribe raw -------------------------------------------------------


def test_list_unsubscribe_arrives_raw_on_one_line(smtp_app: Flask, mail_server: MailServer) -> None:
    smtp_app.config["PUBLIC_URL"] = "https://www.ein-recht-langer-name-fuer-ein-quiz.example/quiz"
    finish(smtp_app, consent_marketing="y")

    assert deliver_due(smtp_app).sent == 2

    mail_server.wait_for(2)
    for raw in mail_server.raw:
        [line] = [
            line for line in raw.split(b"\r\n") if line.lower().startswith(b"list-unsubscribe:")
        ]
        value = line.split(b":", 1)[1].strip()
        assert value.startswith(b"<https://www.ein-recht-langer-name-fuer-ein-quiz.example/")
        assert value.endswith(b">") and b"=?" not in value
        assert len(line) > 78  # long, and still not folded or encoded
        assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in raw


# --- item 9's email: the coach alert -----------------------------------------------------


@pytest.mark.app_config(MAIL_MAX_PER_HOUR=2)
def test_coach_alert_is_sent_limited_per_hour_and_never_counted_on_the_dashboard(
    smtp_app: Flask, mail_server: MailServer
) -> None:
    finish(smtp_app)  # one taker's summary, so the counters are not all zero
    with smtp_app.app_context():
        for _ in range(5):  # an attacker tripping the lock again and again
            queue_coach_alert("Coach@Example.com", locked_minutes=60)
            db.session.commit()
    alerts = [row for row in outbox(smtp_app) if row.kind == "coach_alert"]
    assert len(alerts) == 2 and alerts[0].response_id is None

    assert deliver_due(smtp_app).sent == 3

    messages = mail_server.wait_for(3)
    [alert, _second] = [m for m in messages if "Coach-Login" in str(m["Subject"])]
    text = plain_text(alert)
    assert alert["To"].addresses[0].addr_spec == "Coach@Example.com"
    assert "60 Minuten gesperrt" in text
    assert "schon einmal angemeldet haben, kommt weiterhin herein" in text
    assert "Waren Sie es nicht" in text and "--reset" in text
    assert "List-Unsubscribe" not in alert and "/abmelden/" not in str(alert)
    content = get_content(smtp_app)
    labels = [page.title for page in content.pages] + ["Kontakt"]
    with smtp_app.app_context():
        figures = stats.dashboard(stats.Filters(), labels, [d.id for d in content.dimensions])
    assert figures.email_states["sent"] == 1  # the summary only, not the two alerts
    assert_rollups_equal_a_rebuild(smtp_app)
    result = smtp_app.test_cli_runner().invoke(args=["rebuild-rollups", "--check"])
    assert result.exit_code == 0, result.output
