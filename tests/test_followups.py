"""The follow-up series: three emails after a confirmed newsletter sign-up, tailored to the
bottleneck, through the real sender and an SMTP server, at their due times (seconds here),
never at night, never in a burst, cancelled by unsubscribing, deleting or a failed address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from quiz.app_state import get_content
from quiz.domain.content_model import Content
from quiz.domain.followups import quoted_answer
from quiz.domain.scoring import sample_answers
from quiz.extensions import db
from quiz.mail.followup_timing import allowed_at
from quiz.mail.sender import deliver_due
from quiz.models import OutboxMessage, Response
from quiz.site import settings as site_settings
from quiz.site.durations import parse_durations
from quiz.taker import clicks, rights
from tests.factories import finished_response
from tests.mailserver import MailServer

BERLIN = ZoneInfo("Europe/Berlin")
# A weekday morning in Berlin, a day after any test runs: nothing here is in quiet hours.
T0 = (datetime.now(UTC) + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)


@pytest.fixture
def smtp_app(app: Flask, mail_server: MailServer) -> Flask:
    app.config.update(mail_server.smtp_config())
    with app.app_context():
        site_settings.update(
            {"followup.schedule": "1s 2s 3s", "followup.min_gap": "0s"}, changed_by="test"
        )
    return app


def _confirmed_taker(app: Flask, email: str = "kundin@example.com", seed: int = 11) -> int:
    taker = finished_response(
        app, email=email, first_name="Jana", consent_marketing=True, seed=seed
    )
    with app.app_context():
        assert rights.confirm_optin(taker.id, now=T0) == "confirmed"
    return taker.id


def _followups(app: Flask) -> list[tuple[str, int, str]]:
    with app.app_context():
        rows = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "followup").order_by(OutboxMessage.id)
        )
        return [(row.status, (row.details or {}).get("number", 0), row.recipient) for row in rows]


def _subjects(server: MailServer) -> list[str]:
    return [str(message["Subject"]) for message in server.handler.messages]


def test_three_followups_arrive_in_order_at_their_times_each_quoting_an_answer(
    smtp_app: Flask, mail_server: MailServer
) -> None:
    response_id = _confirmed_taker(smtp_app)
    deliver_due(smtp_app, now=T0)  # the summary and the opt-in mail, nothing of the series
    assert len(mail_server.handler.messages) == 2
    with smtp_app.app_context():
        bottleneck = db.session.get(Response, response_id).bottleneck
        series = get_content().followups[bottleneck]

    for second in (1, 2, 3):
        deliver_due(smtp_app, now=T0 + timedelta(seconds=second) - timedelta(milliseconds=1))
        assert len(mail_server.handler.messages) == 1 + second  # not before its time
        deliver_due(smtp_app, now=T0 + timedelta(seconds=second))
        assert len(mail_server.handler.messages) == 2 + second

    followups = mail_server.handler.messages[2:]
    assert _subjects(mail_server)[2:] == [email.subject for email in series]
    quoted = set()
    for message in followups:
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert "Sie hatten im Engpass-Quiz auf die Frage „" in text
        assert "Hallo Jana," in text and "Quellen:" in text
        assert "Sie hatten im Engpass-Quiz auf die Frage" in html
        assert message["List-Unsubscribe"] and message["List-Unsubscribe-Post"]
        quoted.add(text.split("„", 1)[1].split("“", 1)[0])
    assert len(quoted) == 3  # three different questions of the bottleneck
    assert [s for s, _n, _r in _followups(smtp_app)] == ["sent", "sent", "sent"]


def test_unsubscribing_after_the_first_cancels_the_rest(
    smtp_app: Flask, mail_server: MailServer
) -> None:
    response_id = _confirmed_taker(smtp_app)
    deliver_due(smtp_app, now=T0 + timedelta(seconds=1))
    with smtp_app.app_context():
        rights.unsubscribe(response_id, now=T0 + timedelta(seconds=1))

    deliver_due(smtp_app, now=T0 + timedelta(minutes=5))

    assert [(s, n) for s, n, _r in _followups(smtp_app)] == [
        ("sent", 1),
        ("cancelled", 2),
        ("cancelled", 3),
    ]
    assert len(mail_server.handler.messages) == 3  # summary, opt-in, the first follow-up


def test_no_followup_without_a_confirmed_newsletter_consent(smtp_app: Flask) -> None:
    finished_response(smtp_app, consent_marketing=False)
    pending = finished_response(smtp_app, email="offen@example.com", consent_marketing=True, seed=2)

    deliver_due(smtp_app, now=T0 + timedelta(days=30))

    assert _followups(smtp_app) == []
    with smtp_app.app_context():
        assert rights.confirm_optin(pending.id, now=T0) == "confirmed"
        assert rights.confirm_optin(pending.id, now=T0) == "already"  # queued once only
    assert len(_followups(smtp_app)) == 3


def test_switched_off_queues_nothing_and_later_switching_on_sends_nothing_old(
    smtp_app: Flask,
) -> None:
    with smtp_app.app_context():
        site_settings.update({"followup.enabled": "false"}, changed_by="test")
    _confirmed_taker(smtp_app)
    with smtp_app.app_context():
        site_settings.update({"followup.enabled": "true"}, changed_by="test")

    deliver_due(smtp_app, now=T0 + timedelta(days=30))

    assert _followups(smtp_app) == []


def test_quiet_hours_hold_a_followup_until_seven_in_the_morning(
    smtp_app: Flask, mail_server: MailServer
) -> None:
    evening = datetime(2026, 12, 8, 20, 59, 58, tzinfo=BERLIN).astimezone(UTC)
    taker = finished_response(smtp_app, consent_marketing=True)
    with smtp_app.app_context():
        rights.confirm_optin(taker.id, now=evening)
    deliver_due(smtp_app, now=evening)
    before = len(mail_server.handler.messages)

    deliver_due(smtp_app, now=evening + timedelta(seconds=5))  # 21:00:03: quiet

    assert len(mail_server.handler.messages) == before
    with smtp_app.app_context():
        first = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "followup").order_by(OutboxMessage.id)
        ).first()
        assert first is not None and first.status == "queued"
        assert first.next_attempt_at == datetime(2026, 12, 9, 7, 0, tzinfo=BERLIN)
    deliver_due(smtp_app, now=datetime(2026, 12, 9, 6, 59, 59, tzinfo=BERLIN))
    assert len(mail_server.handler.messages) == before
    deliver_due(smtp_app, now=datetime(2026, 12, 9, 7, 0, 1, tzinfo=BERLIN))
    assert len(mail_server.handler.messages) == before + 3  # no gap set in this test


def test_after_an_outage_the_series_resumes_one_email_per_gap(
    smtp_app: Flask, mail_server: MailServer
) -> None:
    with smtp_app.app_context():
        site_settings.update({"followup.min_gap": "1h"}, changed_by="test")
    _confirmed_taker(smtp_app)
    deliver_due(smtp_app, now=T0)

    late = T0 + timedelta(minutes=10)  # all three overdue at once
    deliver_due(smtp_app, now=late)
    deliver_due(smtp_app, now=late + timedelta(minutes=59))
    assert len(mail_server.handler.messages) == 3
    deliver_due(smtp_app, now=late + timedelta(hours=1))
    assert len(mail_server.handler.messages) == 4
    deliver_due(smtp_app, now=late + timedelta(hours=2))
    assert len(mail_server.handler.messages) == 5


def test_a_permanent_failure_for_the_address_cancels_the_series(
    smtp_app: Flask, mail_server: MailServer
) -> None:
    _confirmed_taker(smtp_app)
    mail_server.handler.always = "550 5.1.1 Postfach unbekannt"
    deliver_due(smtp_app, now=T0)  # the summary and opt-in mail are refused for good
    mail_server.handler.always = None

    deliver_due(smtp_app, now=T0 + timedelta(seconds=5))

    assert [s for s, _n, _r in _followups(smtp_app)] == ["cancelled"] * 3
    assert mail_server.handler.messages == []


def test_deleting_the_taker_removes_the_series(smtp_app: Flask) -> None:
    response_id = _confirmed_taker(smtp_app)
    with smtp_app.app_context():
        assert rights.delete_data(response_id)
    assert _followups(smtp_app) == []


def test_the_schedule_setting_refuses_what_the_series_cannot_do(
    app: Flask, runner: FlaskCliRunner
) -> None:
    for bad, words in [
        ("1s 2s 3s 4s", "1 bis 3 Zeitpunkte"),  # the content has three per dimension
        ("5d 2d", "aufsteigend"),
        ("2 Tage", "Zahl mit Einheit"),
        ("", "1 bis 3"),
    ]:
        result = runner.invoke(args=["settings", "set", "followup.schedule", bad])
        if bad == "":  # an empty value restores the default
            assert result.exit_code == 0
            continue
        assert result.exit_code != 0, bad
        assert words in result.output
    ok = runner.invoke(args=["settings", "set", "followup.schedule", "3s 6s 9s"])
    assert ok.exit_code == 0, ok.output
    with app.app_context():
        assert site_settings.current().text("followup.schedule") == "3s 6s 9s"


@pytest.mark.dialect_independent
def test_quiet_hours_and_gap_rules() -> None:
    at = datetime(2026, 6, 1, 12, 0, tzinfo=BERLIN).astimezone(UTC)
    assert allowed_at(at, None, timedelta(days=1), BERLIN) == at
    assert allowed_at(at, at - timedelta(hours=1), timedelta(days=1), BERLIN) == at + timedelta(
        hours=23
    )
    night = datetime(2026, 6, 1, 23, 30, tzinfo=BERLIN)
    assert allowed_at(night, None, timedelta(0), BERLIN) == datetime(2026, 6, 2, 7, tzinfo=BERLIN)
    early = datetime(2026, 6, 2, 6, 59, tzinfo=BERLIN)
    assert allowed_at(early, None, timedelta(0), BERLIN) == datetime(2026, 6, 2, 7, tzinfo=BERLIN)
    assert parse_durations("2d 5d 10d") == (timedelta(2), timedelta(5), timedelta(10))
    with pytest.raises(ValueError):
        parse_durations("2d fünf")


@pytest.mark.dialect_independent
def test_each_email_quotes_the_next_weakest_answer_of_the_bottleneck(content: Content) -> None:
    answers = sample_answers(content, "best")
    dimension = content.dimensions[0].id
    questions = content.questions_of(dimension)
    worst = min(content.choices(questions[2].id), key=lambda c: c.points)
    answers[questions[2].id] = worst.id

    first = quoted_answer(content, answers, dimension, 1)

    assert first is not None and first.question_id == questions[2].id
    assert first.answer == worst.label
    second = quoted_answer(content, answers, dimension, 2)
    assert second is not None and second.question_id != first.question_id


def test_the_call_to_action_of_a_followup_is_counted_and_stops_the_series(
    smtp_app: Flask, mail_server: MailServer, client: FlaskClient
) -> None:
    with smtp_app.app_context():
        site_settings.update({"cta.url": "https://termine.example.com/erstgespraech"}, "test")
    _confirmed_taker(smtp_app)
    deliver_due(smtp_app, now=T0 + timedelta(seconds=1))
    first = mail_server.handler.messages[-1]
    text = first.get_body(("plain",)).get_content()
    link = next(word for word in text.split() if "/weiter/" in word)
    with smtp_app.app_context():  # the person reads it a while later (a scanner would at once)
        for row in db.session.scalars(select(OutboxMessage)):
            row.sent_at = row.sent_at and row.sent_at - timedelta(minutes=5)
        db.session.commit()

    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    answer = client.get(
        path,
        headers={
            "User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1"
        },
    )

    assert answer.status_code == 303
    assert answer.headers["Location"] == "https://termine.example.com/erstgespraech"
    with smtp_app.app_context():
        placements = [c["placement"] for c in clicks.for_response(_only_response_id())]
    assert placements == ["followup-1"]
    assert [s for s, _n, _r in _followups(smtp_app)] == ["sent", "cancelled", "cancelled"]


def _only_response_id() -> int:
    return int(db.session.scalar(select(Response.id)) or 0)
