"""Webhook delivery against a real local HTTP receiver that verifies every signature.

Retries and backoff, Retry-After, final failures, the same webhook-id on every retry, a
receiver that is down for ten minutes, two senders at once, and a sender that died mid-send.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from quiz.database import begin_write
from quiz.extensions import db
from quiz.models import utcnow
from quiz.webhooks import delivery, endpoints, sender
from quiz.webhooks.models import WebhookDelivery
from quiz.webhooks.queue import EVENT_TYPES, queue_event
from quiz.webhooks.transport import Client
from tests.webhook_receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on 127.0.0.1."""
    server = Receiver()
    yield server
    server.stop()


def add_endpoint(app: Flask, receiver: Receiver, events: tuple[str, ...] = EVENT_TYPES) -> int:
    """An endpoint for the receiver; the receiver learns its secret."""
    with app.app_context():
        endpoint, secret = endpoints.add_endpoint(receiver.url(), events)
        receiver.secret = secret
        return int(endpoint.id)


def queue(app: Flask, count: int = 1, event: str = "quiz.completed") -> None:
    """Queue `count` events in one transaction."""
    with app.app_context():
        begin_write()
        for n in range(count):
            queue_event(event, {"n": n}, response_id=n + 1)
        db.session.commit()


def deliveries(app: Flask) -> list[dict[str, Any]]:
    """Every delivery row as a dict, oldest first."""
    with app.app_context():
        rows = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
        return [
            {
                "status": r.status,
                "attempts": r.attempts,
                "message_id": r.message_id,
                "next": r.next_attempt_at.replace(tzinfo=UTC),
                "last_error": r.last_error,
                "last_status": r.last_status,
            }
            for r in rows
        ]


def test_an_event_arrives_signed_in_the_standard_webhooks_shape(
    app: Flask, receiver: Receiver
) -> None:
    add_endpoint(app, receiver)
    queue(app)
    report = sender.deliver_due(app)
    assert report.delivered == 1
    [request] = receiver.requests
    assert request.verified, "the library must accept the signature"
    assert request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["host"] == f"127.0.0.1:{receiver.port}"
    assert request.payload["type"] == "quiz.completed"
    assert request.payload["data"] == {"version": 1, "n": 0}
    assert request.payload["timestamp"].endswith("Z")
    [row] = deliveries(app)
    assert row["status"] == "delivered"
    assert row["message_id"] == request.headers["webhook-id"]
    assert row["last_status"] == 204


def test_a_tampered_body_fails_verification(app: Flask, receiver: Receiver) -> None:
    """The receiver's check is real: another secret does not verify."""
    add_endpoint(app, receiver)
    receiver.secret = endpoints.new_secret()
    queue(app)
    sender.deliver_due(app)
    assert [r.verified for r in receiver.requests] == [False]
    assert deliveries(app)[0]["status"] == "failed"  # 401 is final


def test_5xx_is_retried_with_exponential_backoff_and_the_same_webhook_id(
    app: Flask, receiver: Receiver
) -> None:
    add_endpoint(app, receiver)
    receiver.replies.extend([(500, {}), (502, {}), (503, {})])
    queue(app)
    start = utcnow()
    sender.deliver_due(app, now=start)
    row = deliveries(app)[0]
    assert (row["status"], row["attempts"], row["last_error"]) == ("queued", 1, "HTTP 500")
    assert row["next"] == start + timedelta(seconds=30)  # WEBHOOK_RETRY_SECONDS
    assert sender.deliver_due(app, now=start + timedelta(seconds=29)).claimed == 0
    sender.deliver_due(app, now=start + timedelta(seconds=30))
    assert deliveries(app)[0]["next"] == start + timedelta(seconds=30 + 60)
    sender.deliver_due(app, now=start + timedelta(seconds=90))
    assert deliveries(app)[0]["next"] == start + timedelta(seconds=90 + 120)
    sender.deliver_due(app, now=start + timedelta(seconds=210))
    row = deliveries(app)[0]
    assert (row["status"], row["attempts"]) == ("delivered", 4)
    ids = receiver.ids()
    assert len(ids) == 4 and len(set(ids)) == 1 and ids[0] == row["message_id"]
    assert all(r.verified for r in receiver.requests)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_seconds_is_honoured(app: Flask, receiver: Receiver, status: int) -> None:
    add_endpoint(app, receiver)
    receiver.replies.append((status, {"Retry-After": "120"}))
    queue(app)
    start = utcnow()
    sender.deliver_due(app, now=start)
    row = deliveries(app)[0]
    assert row["status"] == "queued"
    assert row["next"] == start + timedelta(seconds=120)


def test_a_429_holds_back_the_endpoints_other_events_without_using_their_attempts(
    app: Flask, receiver: Receiver
) -> None:
    add_endpoint(app, receiver)
    receiver.replies.append((429, {"Retry-After": "120"}))
    queue(app, 3)
    start = utcnow()
    report = sender.deliver_due(app, now=start)
    assert (report.retried, report.postponed) == (1, 2)
    assert len(receiver.requests) == 1
    rows = deliveries(app)
    assert [row["attempts"] for row in rows] == [1, 0, 0]
    assert {row["next"] for row in rows} == {start + timedelta(seconds=120)}
    assert sender.deliver_due(app, now=start + timedelta(seconds=120)).delivered == 3


def test_retry_after_as_an_http_date_is_honoured(app: Flask, receiver: Receiver) -> None:
    add_endpoint(app, receiver)
    queue(app)
    start = utcnow()
    when = (start + timedelta(hours=1)).replace(microsecond=0)
    receiver.replies.append((429, {"Retry-After": format_datetime(when, usegmt=True)}))
    sender.deliver_due(app, now=start)
    assert deliveries(app)[0]["next"] == when


@pytest.mark.parametrize("status", [400, 404, 410, 301])
def test_other_4xx_and_redirects_are_final(app: Flask, receiver: Receiver, status: int) -> None:
    add_endpoint(app, receiver)
    receiver.always = (status, {"Location": "http://127.0.0.1:9/elsewhere"})
    queue(app)
    start = utcnow()
    report = sender.deliver_due(app, now=start)
    assert report.failed == 1
    row = deliveries(app)[0]
    assert (row["status"], row["attempts"], row["last_status"]) == ("failed", 1, status)
    assert sender.deliver_due(app, now=start + timedelta(days=3)).claimed == 0
    assert len(receiver.requests) == 1


@pytest.mark.app_config(WEBHOOK_MAX_ATTEMPTS=3)
def test_after_the_last_attempt_the_delivery_is_failed(app: Flask, receiver: Receiver) -> None:
    add_endpoint(app, receiver)
    receiver.always = (500, {})
    queue(app)
    now = utcnow()
    for _ in range(5):
        sender.deliver_due(app, now=now)
        now += timedelta(days=1)
    row = deliveries(app)[0]
    assert (row["status"], row["attempts"], row["last_error"]) == ("failed", 3, "HTTP 500")
    assert len(receiver.requests) == 3


@pytest.mark.app_config(WEBHOOK_TIMEOUT_SECONDS=1)
def test_a_timeout_is_retried(app: Flask, receiver: Receiver) -> None:
    add_endpoint(app, receiver)
    receiver.delay = 2.5
    queue(app)
    report = sender.deliver_due(app)
    assert report.retried == 1
    row = deliveries(app)[0]
    assert row["status"] == "queued" and "timed out" in (row["last_error"] or "").lower()


def test_a_receiver_down_for_ten_minutes_loses_nothing(app: Flask, receiver: Receiver) -> None:
    add_endpoint(app, receiver)
    queue(app, 20)
    receiver.stop()
    now = utcnow()
    end_of_outage = now + timedelta(minutes=10)
    while now < end_of_outage:  # a sender looking every 10 seconds
        sender.deliver_due(app, now=now)
        now += timedelta(seconds=10)
    rows = deliveries(app)
    assert {row["status"] for row in rows} == {"queued"}
    assert "refused" in (rows[0]["last_error"] or "").lower()
    # Only the first event of each round was tried; the others waited without using up tries.
    assert max(row["attempts"] for row in rows) <= 6
    receiver.start()
    for _ in range(200):
        sender.deliver_due(app, now=now)
        if {row["status"] for row in deliveries(app)} == {"delivered"}:
            break
        now += timedelta(seconds=10)
    assert {row["status"] for row in deliveries(app)} == {"delivered"}
    ids = receiver.ids()
    assert len(ids) == 20 and len(set(ids)) == 20
    assert all(r.verified for r in receiver.requests)
    assert now - end_of_outage <= timedelta(minutes=10)


def test_the_default_attempts_outlast_a_long_outage() -> None:
    """16 attempts with the default 30 s base and a 12 h cap span more than two days."""
    total = sum((delivery.retry_delay(30, n) for n in range(1, 16)), timedelta())
    assert total > timedelta(days=2)


@pytest.mark.parametrize("senders", [2, 4])
def test_several_senders_at_once_deliver_every_event_exactly_once(
    app: Flask, receiver: Receiver, senders: int
) -> None:
    add_endpoint(app, receiver)
    queue(app, 120)
    errors: list[BaseException] = []
    start = threading.Barrier(senders)

    def run() -> None:
        try:
            start.wait()
            with Client(10) as client:
                for _ in range(100):
                    if sender.deliver_due(app, limit=7, client=client).claimed == 0:
                        break
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    counts = Counter(receiver.ids())
    assert len(counts) == 120
    assert max(counts.values()) == 1
    assert {row["status"] for row in deliveries(app)} == {"delivered"}


def test_only_the_claiming_sender_records_and_a_dead_sender_is_taken_over(
    app: Flask, receiver: Receiver
) -> None:
    add_endpoint(app, receiver)
    queue(app)
    start = utcnow()
    with app.app_context():
        [stale] = delivery.claim_due(app, start, 10)  # this sender hangs from now on
    assert stale.attempt == 1
    assert sender.deliver_due(app, now=start + timedelta(seconds=599)).claimed == 0
    later = start + timedelta(seconds=600)  # WEBHOOK_LEASE_SECONDS
    with app.app_context():
        [current] = delivery.claim_due(app, later, 10)  # another sender takes it over
    assert current.attempt == 2
    # The first sender wakes up and reports a failure: not its attempt any more, so ignored.
    late = delivery.Outcome(False, "late", temporary=True)
    with app.app_context():
        delivery.record(app, stale, late, later)
    row = deliveries(app)[0]
    assert (row["status"], row["attempts"], row["last_error"]) == ("sending", 2, None)
    with app.app_context():
        delivery.record(app, current, delivery.Outcome(True, status=204), later)
    row = deliveries(app)[0]
    assert (row["status"], row["attempts"]) == ("delivered", 2)


@pytest.mark.app_config(WEBHOOK_MAX_ATTEMPTS=1)
def test_a_sender_that_died_during_the_last_attempt_leaves_a_failed_delivery(
    app: Flask, receiver: Receiver
) -> None:
    add_endpoint(app, receiver)
    queue(app)
    start = utcnow()
    with app.app_context():
        delivery.claim_due(app, start, 10)
    assert sender.deliver_due(app, now=start + timedelta(hours=1)).claimed == 0
    row = deliveries(app)[0]
    assert row["status"] == "failed" and "stopped" in (row["last_error"] or "")
    assert receiver.requests == []


def test_disabled_endpoints_get_no_new_events_and_paused_ones_wait(
    app: Flask, receiver: Receiver
) -> None:
    endpoint_id = add_endpoint(app, receiver)
    queue(app)
    with app.app_context():
        endpoints.set_enabled(endpoint_id, False)
    queue(app)  # not queued: the endpoint is disabled
    assert sender.deliver_due(app).claimed == 0
    assert len(deliveries(app)) == 1
    with app.app_context():
        endpoints.set_enabled(endpoint_id, True)
    assert sender.deliver_due(app).delivered == 1


def test_events_go_only_to_endpoints_subscribed_to_them(app: Flask, receiver: Receiver) -> None:
    other = Receiver()
    try:
        add_endpoint(app, receiver, events=("lead.deleted",))
        with app.app_context():
            _endpoint, other.secret = endpoints.add_endpoint(other.url(), ("quiz.completed",))
        queue(app, event="quiz.completed")
        queue(app, event="lead.deleted")
        assert sender.deliver_due(app).delivered == 2
        assert [r.payload["type"] for r in receiver.requests] == ["lead.deleted"]
        assert [r.payload["type"] for r in other.requests] == ["quiz.completed"]
        assert all(r.verified for r in receiver.requests + other.requests)
    finally:
        other.stop()


def test_an_event_is_queued_only_with_the_callers_commit(app: Flask, receiver: Receiver) -> None:
    add_endpoint(app, receiver)
    with app.app_context():
        begin_write()
        queue_event("quiz.completed", {"n": 1})
        db.session.rollback()
    assert deliveries(app) == []
    with app.app_context(), pytest.raises(ValueError, match="unknown webhook event"):
        queue_event("quiz.started", {})


def test_cli_adds_lists_removes_and_sends(
    app: Flask, runner: FlaskCliRunner, receiver: Receiver
) -> None:
    added = runner.invoke(args=["webhooks", "add", receiver.url(), "--event", "quiz.completed"])
    assert added.exit_code == 0, added.output
    secret = next(
        line.split(": ", 1)[1] for line in added.output.splitlines() if line.startswith("secret:")
    )
    assert secret.startswith("whsec_")
    receiver.secret = secret
    listed = runner.invoke(args=["webhooks", "list"])
    assert receiver.url() in listed.output and "quiz.completed" in listed.output
    assert secret not in listed.output
    queue(app)
    sent = runner.invoke(args=["send-webhooks"])
    assert "delivered: 1" in sent.output
    assert receiver.requests[0].verified
    assert runner.invoke(args=["webhooks", "remove", "1"]).exit_code == 0
    assert runner.invoke(args=["webhooks", "list"]).output.strip() == "no endpoints"
    assert runner.invoke(args=["webhooks", "remove", "1"]).exit_code == 1
    refused = runner.invoke(args=["webhooks", "add", "ftp://example.com/x"])
    assert refused.exit_code == 1 and "http" in refused.output


def test_watch_keeps_delivering_until_stopped(app: Flask, receiver: Receiver) -> None:
    add_endpoint(app, receiver)
    stop = threading.Event()
    rounds: list[sender.Report] = []

    def on_round(report: sender.Report) -> None:
        rounds.append(report)
        if sum(r.delivered for r in rounds) >= 3:
            stop.set()

    thread = threading.Thread(target=sender.watch, args=(app, 0.05, stop, on_round))
    thread.start()
    queue(app, 3)
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(receiver.requests) == 3


def test_signature_uses_the_time_of_the_attempt(app: Flask, receiver: Receiver) -> None:
    """A retry hours later is signed anew, so receivers' five-minute window accepts it."""
    add_endpoint(app, receiver)
    receiver.replies.append((500, {}))
    queue(app)
    sender.deliver_due(app)
    sender.deliver_due(app, now=utcnow() + timedelta(hours=3))
    assert [r.verified for r in receiver.requests] == [True, True]
    stamps = [int(r.headers["webhook-timestamp"]) for r in receiver.requests]
    assert all(abs(stamp - datetime.now(UTC).timestamp()) < 60 for stamp in stamps)
