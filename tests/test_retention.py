"""Data retention: `flask --app quiz purge` expires opt-ins and anonymises old responses."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select, update

from quiz.database import begin_write
from quiz.extensions import db
from quiz.models import Answer, Consent, OutboxMessage, Response, utcnow
from quiz.webhooks import endpoints
from quiz.webhooks import sender as webhook_sender
from quiz.webhooks.models import WebhookDelivery
from tests.factories import finished_response
from tests.webhook_receiver import Receiver


def _age_everything(app: Flask, days: int) -> None:
    """Pretend every row was written `days` ago."""
    then = utcnow() - timedelta(days=days)
    with app.app_context():
        begin_write()
        db.session.execute(update(Response).values(started_at=then, finished_at=then))
        db.session.execute(update(Consent).values(granted_at=then))
        db.session.commit()


def _count(app: Flask, model: type, *where: object) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_purge_deletes_old_unconfirmed_optins_only(
    client: FlaskClient, app: Flask, runner: FlaskCliRunner
) -> None:
    finished_response(app, consent_marketing=True)
    _age_everything(app, 40)
    finished_response(app, email="neu@example.com", consent_marketing=True)
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    assert "unconfirmed opt-ins deleted (older than 30 days): 1" in result.output
    assert _count(app, Consent, Consent.kind == "marketing") == 1
    assert _count(app, Consent, Consent.kind == "data") == 2  # proof of the data consent stays
    assert _count(app, OutboxMessage, OutboxMessage.kind == "optin") == 1  # only the fresh one


def test_purge_keeps_confirmed_optins(
    client: FlaskClient, app: Flask, runner: FlaskCliRunner
) -> None:
    finished_response(app, consent_marketing=True)
    with app.app_context():
        begin_write()
        db.session.execute(update(Consent).values(confirmed_at=utcnow()))
        db.session.commit()
    _age_everything(app, 40)
    assert runner.invoke(args=["purge"]).exit_code == 0
    assert _count(app, Consent, Consent.kind == "marketing") == 1


def test_purge_anonymises_old_responses_and_keeps_statistics(
    client: FlaskClient, app: Flask, runner: FlaskCliRunner
) -> None:
    finished_response(app, first_name="Gerlinde")
    with app.app_context():
        begin_write()
        db.session.execute(
            update(Response).values(
                referrer="https://example.org/x", utm_term="t", utm_content="c", utm_campaign="k"
            )
        )
        db.session.commit()
        before = db.session.scalar(select(Response))
        assert before is not None
        scores, answers = before.scores(), _count(app, Answer)
    _age_everything(app, 400)
    result = runner.invoke(args=["purge"])
    assert "responses anonymised (older than 365 days): 1" in result.output
    with app.app_context():
        after = db.session.scalar(select(Response))
        assert after is not None
        assert (after.email, after.first_name, after.referrer) == (None, None, None)
        assert (after.utm_term, after.utm_content) == (None, None)
        assert after.utm_campaign == "k"
        assert after.anonymised_at is not None
        assert after.scores() == scores
        assert after.status == "finished"
    assert _count(app, Answer) == answers
    assert _count(app, OutboxMessage) == 0


def test_purge_is_idempotent_and_leaves_recent_data(
    client: FlaskClient, app: Flask, runner: FlaskCliRunner
) -> None:
    finished_response(app, consent_marketing=True)
    _age_everything(app, 400)
    finished_response(app, email="neu@example.com", consent_marketing=True)
    first = runner.invoke(args=["purge"])
    assert "responses anonymised (older than 365 days): 1" in first.output
    second = runner.invoke(args=["purge"])
    assert second.exit_code == 0
    assert "opt-ins deleted (older than 30 days): 0" in second.output
    assert "responses anonymised (older than 365 days): 0" in second.output
    assert "emails deleted: 0" in second.output
    assert _count(app, Response, Response.email == "neu@example.com") == 1


def test_purge_options_and_dry_run(client: FlaskClient, app: Flask, runner: FlaskCliRunner) -> None:
    finished_response(app, consent_marketing=True)
    _age_everything(app, 10)
    dry = runner.invoke(args=["purge", "--optin-days", "5", "--anonymise-days", "7", "--dry-run"])
    assert dry.exit_code == 0
    assert "dry run" in dry.output and "responses anonymised (older than 7 days): 1" in dry.output
    assert _count(app, Response, Response.anonymised_at.is_(None)) == 1
    real = runner.invoke(args=["purge", "--optin-days", "5", "--anonymise-days", "7"])
    assert "unconfirmed opt-ins deleted (older than 5 days): 1" in real.output
    assert _count(app, Response, Response.anonymised_at.is_(None)) == 0
    assert runner.invoke(args=["purge", "--optin-days", "0"]).exit_code == 2


def test_result_page_of_an_anonymised_response_shows_no_name(
    client: FlaskClient, app: Flask, runner: FlaskCliRunner
) -> None:
    location = finished_response(app, first_name="Gerlinde").path
    assert "Gerlinde" in client.get(location).text
    _age_everything(app, 400)
    runner.invoke(args=["purge"])
    page = client.get(location)
    assert page.status_code == 200
    assert "Gerlinde" not in page.text


def test_purge_forgets_sent_webhook_events_as_old_as_the_anonymised_responses(
    client: FlaskClient, app: Flask, runner: FlaskCliRunner
) -> None:
    receiver = Receiver()
    try:
        with app.app_context():
            endpoints.add_endpoint(receiver.url())
        finished_response(app, first_name="Gerlinde")
        webhook_sender.deliver_due(app)  # quiz.completed, with the name and address in it
        finished_response(app, email="neu@example.com")  # still queued
    finally:
        receiver.stop()
    then = utcnow() - timedelta(days=400)
    with app.app_context():
        begin_write()
        db.session.execute(update(WebhookDelivery).values(created_at=then))
        db.session.commit()
    dry = runner.invoke(args=["purge", "--dry-run"])
    assert "webhook events deleted (older than 365 days): 1" in dry.output
    assert _count(app, WebhookDelivery) == 2
    result = runner.invoke(args=["purge"])
    assert "webhook events deleted (older than 365 days): 1" in result.output
    with app.app_context():
        left = db.session.execute(select(WebhookDelivery.status)).scalars().all()
    assert left == ["queued"]  # one waiting to go out is not forgotten
