"""The event payloads and the data-rights helpers, on real finished responses.

Each function here is what a later one-line hook calls (finishing a quiz, confirming the
opt-in, unsubscribing, deleting a taker's data); they queue in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from quiz.app_state import get_content
from quiz.database import begin_write
from quiz.domain.scoring import sample_answers
from quiz.extensions import db
from quiz.models import Consent, Response, utcnow
from quiz.webhooks import endpoints, events, sender
from quiz.webhooks.models import WebhookDelivery
from quiz.webhooks.queue import drop_for_response, forget_older_than, sent_about
from tests.coach_factories import add_response
from tests.factories import finished_response
from tests.webhook_receiver import Receiver


@pytest.fixture
def receiver(app: Flask) -> Iterator[Receiver]:
    """A real HTTP receiver with an endpoint for every event."""
    server = Receiver()
    with app.app_context():
        _endpoint, server.secret = endpoints.add_endpoint(server.url())
    yield server
    server.stop()


def _finished(app: Flask, _client: FlaskClient, consent_marketing: str = "") -> int:
    """A finished quiz with the worst answers, from a newsletter link (through the writers)."""
    return finished_response(
        app,
        sample_answers(get_content(app), "worst"),
        first_name="Erika",
        consent_marketing=consent_marketing == "y",
        tracking={"utm_source": "newsletter", "utm_campaign": "herbst"},
    ).id


def _completed(app: Flask, response_id: int) -> None:
    """Queue quiz.completed again the way the finishing transaction does, after dropping what
    is there (the finish's own event), so each test decides what is queued."""
    with app.app_context():
        begin_write()
        drop_for_response(response_id)
        response = db.session.get(Response, response_id)
        assert response is not None
        url = f"http://quiz.test/r/{response.result_token}"
        events.quiz_completed(response, response.analysis or [], url)
        db.session.commit()


def _delivered(app: Flask, receiver: Receiver) -> list[dict[str, Any]]:
    sender.deliver_due(app)
    assert all(request.verified for request in receiver.requests)
    return [request.payload for request in receiver.requests]


def test_quiz_completed_carries_the_result_and_with_consent_the_contact(
    app: Flask, client: FlaskClient, receiver: Receiver
) -> None:
    response_id = _finished(app, client)
    _completed(app, response_id)
    [payload] = _delivered(app, receiver)
    assert payload["type"] == "quiz.completed"
    data = payload["data"]
    assert data["version"] == 1
    assert data["response_id"] == response_id
    assert data["email"] == "kundin@example.com"
    assert data["first_name"] == "Erika"
    with app.app_context():
        response = db.session.get(Response, response_id)
        assert response is not None
        assert data["scores"] == response.scores()
        assert data["bands"] == response.bands
        assert data["bottleneck"]["dimension"] == response.bottleneck
        assert data["content_version"] == response.content_version
        assert data["result_url"] == f"http://quiz.test/r/{response.result_token}"
        titles = {item["title"] for item in response.analysis or []}
    assert data["bottleneck"]["acute"] is True  # the worst answers: the lowest band
    assert 1 <= len(data["next_steps"]) <= 3
    assert all(step["title"] in titles for step in data["next_steps"])
    assert data["utm"]["campaign"] == "herbst" and data["utm"]["source"] == "newsletter"
    assert data["newsletter"] == "none"


def test_without_the_data_consent_no_email_or_name_is_sent(
    app: Flask, client: FlaskClient, receiver: Receiver
) -> None:
    response_id = _finished(app, client)
    with app.app_context():
        begin_write()
        db.session.execute(
            update(Consent)
            .where(Consent.response_id == response_id, Consent.kind == "data")
            .values(withdrawn_at=db.func.now())
        )
        db.session.commit()
    _completed(app, response_id)
    [payload] = _delivered(app, receiver)
    assert "email" not in payload["data"] and "first_name" not in payload["data"]
    assert "kundin@example.com" not in str(receiver.requests[0].body)
    assert "Erika" not in receiver.requests[0].body.decode()


def test_optin_and_unsubscribe_events(app: Flask, receiver: Receiver) -> None:
    with app.app_context():
        response = add_response(
            started="2026-03-01 10:00:00",
            finished="2026-03-01 10:05:00",
            email="news@example.com",
            first_name="Nora",
            marketing="confirmed",
        )
        begin_write()
        response = db.session.get(Response, response.id)
        assert response is not None
        events.optin_confirmed(response)
        events.unsubscribed(response, [response.id, 99])
        db.session.commit()
        response_id = response.id
    confirmed, unsubscribed = _delivered(app, receiver)
    assert confirmed["type"] == "lead.optin_confirmed"
    assert confirmed["data"]["response_id"] == response_id
    # No data consent on this row: ids only, no contact.
    assert "email" not in confirmed["data"]
    assert unsubscribed["type"] == "lead.unsubscribed"
    assert unsubscribed["data"]["response_ids"] == sorted([response_id, 99])


def test_deleting_a_taker_drops_their_events_and_sends_ids_only(
    app: Flask, client: FlaskClient, receiver: Receiver
) -> None:
    response_id = _finished(app, client)
    _completed(app, response_id)
    assert len(_delivered(app, receiver)) == 1
    _completed(app, response_id)  # one more, still queued
    with app.app_context():
        begin_write()
        events.lead_deleted(response_id)
        db.session.commit()
        rows = db.session.scalars(select(WebhookDelivery)).all()
        assert [(row.event_type, row.response_id) for row in rows] == [("lead.deleted", None)]
        assert "kundin@example.com" not in rows[0].payload
    payloads = _delivered(app, receiver)
    assert [p["type"] for p in payloads] == ["quiz.completed", "lead.deleted"]
    assert set(payloads[1]["data"]) == {"version", "response_id", "deleted_at"}
    assert payloads[1]["data"]["response_id"] == response_id


def test_the_data_export_lists_the_webhooks_sent_about_a_taker(
    app: Flask, client: FlaskClient, receiver: Receiver
) -> None:
    response_id = _finished(app, client)
    _completed(app, response_id)
    _delivered(app, receiver)
    with app.app_context():
        [sent] = sent_about(response_id)
        assert sent_about(response_id + 1) == []
    assert sent["event"] == "quiz.completed"
    assert sent["endpoint_host"] == "127.0.0.1" and "endpoint" not in sent
    assert sent["status"] == "delivered" and sent["attempts"] == 1
    assert sent["webhook_id"] == receiver.requests[0].headers["webhook-id"]
    assert sent["payload"]["data"]["email"] == "kundin@example.com"
    assert sent["delivered_at"] is not None


def test_drop_for_response_touches_no_other_taker(app: Flask, receiver: Receiver) -> None:
    with app.app_context():
        begin_write()
        events.queue_event("lead.unsubscribed", {"n": 1}, response_id=1)
        events.queue_event("lead.unsubscribed", {"n": 2}, response_id=2)
        assert drop_for_response(1) == 1
        db.session.commit()
        left = db.session.scalars(select(WebhookDelivery.response_id)).all()
    assert left == [2]
    assert receiver.requests == []


def test_retention_forgets_old_sent_and_failed_events_but_not_waiting_ones(
    app: Flask, receiver: Receiver
) -> None:
    with app.app_context():
        begin_write()
        for n in range(3):
            events.queue_event("lead.unsubscribed", {"n": n}, response_id=n)
        db.session.commit()
    receiver.replies.extend([(204, {}), (410, {}), (500, {})])
    sender.deliver_due(app)
    with app.app_context():
        statuses = db.session.scalars(select(WebhookDelivery.status).order_by(WebhookDelivery.id))
        assert list(statuses) == ["delivered", "failed", "queued"]
        begin_write()
        assert forget_older_than(utcnow() - timedelta(days=1)) == 0
        assert forget_older_than(utcnow() + timedelta(seconds=1)) == 2
        db.session.commit()
        assert list(db.session.scalars(select(WebhookDelivery.status))) == ["queued"]
