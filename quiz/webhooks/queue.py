"""Queue events for the endpoints: one delivery row per subscribed endpoint, in the caller's
transaction (the caller commits, so an event exists exactly when the change that caused it does).
The coach's own actions on the settings page (a test event, a resend) are write transactions of
their own.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import contains_eager

from quiz import database
from quiz.extensions import db
from quiz.models import utcnow
from quiz.webhooks.models import WebhookDelivery, WebhookEndpoint

# The events an endpoint can subscribe to (docs/webhooks.md shows each payload).
EVENT_TYPES: tuple[str, ...] = (
    "quiz.completed",
    "lead.optin_confirmed",
    "lead.unsubscribed",
    "lead.updated",
    "lead.deleted",
)
# Sent to one endpoint on request ("Test senden"), whatever it subscribed to.
TEST_EVENT = "webhook.test"
# The version of every payload's `data`: new fields keep it, a changed or removed one bumps it.
PAYLOAD_VERSION = 1


def new_message_id() -> str:
    """A fresh `webhook-id`: unique per delivery, kept for all its retries."""
    return "msg_" + secrets.token_urlsafe(18)


def iso(value: datetime) -> str:
    """An aware datetime as ISO 8601 in UTC with a Z."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def envelope(event_type: str, data: dict[str, Any], now: datetime) -> str:
    """The Standard Webhooks body: type, timestamp and the versioned data, as compact JSON."""
    body = {"type": event_type, "timestamp": iso(now), "data": {"version": PAYLOAD_VERSION, **data}}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def queue_event(event_type: str, data: dict[str, Any], *, response_id: int | None = None) -> None:
    """Add a delivery per enabled endpoint subscribed to `event_type` to the session.

    Does not commit: the caller's commit makes the event and its cause visible together.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    endpoints = db.session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True))
    ).all()
    subscribed = [endpoint for endpoint in endpoints if event_type in (endpoint.events or [])]
    if not subscribed:
        return
    now = utcnow()
    body = envelope(event_type, data, now)
    for endpoint in subscribed:
        db.session.add(
            WebhookDelivery(
                endpoint_id=endpoint.id,
                event_type=event_type,
                message_id=new_message_id(),
                payload=body,
                response_id=response_id,
                next_attempt_at=now,
                created_at=now,
            )
        )


def queue_test(endpoint_id: int) -> bool:
    """Queue a `webhook.test` event for one endpoint (its own transaction); False if unknown."""
    with database.write():
        if db.session.get(WebhookEndpoint, endpoint_id) is None:
            return False
        now = utcnow()
        db.session.add(
            WebhookDelivery(
                endpoint_id=endpoint_id,
                event_type=TEST_EVENT,
                message_id=new_message_id(),
                payload=envelope(TEST_EVENT, {"endpoint_id": endpoint_id}, now),
                next_attempt_at=now,
                created_at=now,
            )
        )
        return True


def resend(delivery_id: int, now: datetime | None = None) -> bool:
    """Queue a failed or delivered event again, with a fresh attempt budget and the same id.

    Its own transaction. False when the delivery is unknown or still waiting or being sent.
    """
    with database.write():
        result = db.session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.status.in_(("failed", "delivered")),
            )
            .values(status="queued", attempts=0, next_attempt_at=now or utcnow(), claimed_at=None)
            .execution_options(synchronize_session=False)
        )
        assert isinstance(result, CursorResult)  # an UPDATE's result
        return bool(result.rowcount)


def drop_for_response(response_id: int) -> int:
    """Delete every event about this taker (not committed); return how many.

    Used when their data is deleted: queued events must not go out any more, and sent or failed
    ones keep a copy of the payload (email, name) that has to go too. One being sent right now
    may still arrive; `lead.deleted`, queued after it, tells the receiver to delete it again.
    """
    result = db.session.execute(
        delete(WebhookDelivery)
        .where(WebhookDelivery.response_id == response_id)
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)  # a DELETE's result
    return int(result.rowcount)


def forget_older_than(cutoff: datetime) -> int:
    """Delete delivered and failed events queued before `cutoff` (not committed); how many.

    For retention: their payloads keep a copy of what was sent (email, name), which must not
    outlive the data it came from.
    """
    result = db.session.execute(
        delete(WebhookDelivery)
        .where(
            WebhookDelivery.created_at < cutoff,
            WebhookDelivery.status.in_(("delivered", "failed")),
        )
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)  # a DELETE's result
    return int(result.rowcount)


def sent_about(response_id: int) -> list[dict[str, Any]]:
    """Every event about this taker, for their data export (what went where, and when)."""
    rows = db.session.execute(
        select(WebhookDelivery, WebhookEndpoint.url)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.response_id == response_id)
        .order_by(WebhookDelivery.id)
    ).all()
    return [
        {
            "event": delivery.event_type,
            "webhook_id": delivery.message_id,
            "endpoint": url,
            "status": delivery.status,
            "attempts": delivery.attempts,
            "queued_at": iso(delivery.created_at),
            "delivered_at": iso(delivery.delivered_at) if delivery.delivered_at else None,
            "payload": delivery.body(),
        }
        for delivery, url in rows
    ]


def recent_deliveries(limit: int = 50) -> list[WebhookDelivery]:
    """The newest deliveries with their endpoints, for the coach's delivery log."""
    return list(
        db.session.scalars(
            select(WebhookDelivery)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .options(contains_eager(WebhookDelivery.endpoint))
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        ).all()
    )
