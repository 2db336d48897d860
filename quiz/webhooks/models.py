"""The webhook tables: the coach's endpoints and one delivery row per event and endpoint.

Kept beside the webhook code rather than in quiz/models.py; registered on the same `db`, so the
app's metadata (and Alembic's comparison) sees them once `quiz.webhooks` is imported.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from quiz.extensions import db
from quiz.models import UTCDateTime, utcnow


class WebhookEndpoint(db.Model):  # type: ignore[name-defined,misc]
    """A URL of the coach's CRM (or Zapier, Make, n8n) that receives signed events."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    # The event types this endpoint receives (a JSON list of names from queue.EVENT_TYPES).
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    # A disabled endpoint gets no new events; what was queued for it waits until it is enabled.
    enabled: Mapped[bool] = mapped_column(default=True)
    # `whsec_` + base64: stored as it is, because signing needs the secret itself (a hash would
    # not do). Shown to the coach once, when it is made.
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    deliveries: Mapped[list[WebhookDelivery]] = relationship(
        back_populates="endpoint", cascade="all, delete-orphan", passive_deletes=True
    )


class WebhookDelivery(db.Model):  # type: ignore[name-defined,misc]
    """One event for one endpoint, written in the same transaction as what caused it."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    event_type: Mapped[str] = mapped_column(String(60))
    # The `webhook-id` header: fixed when queued, so every retry carries the same one.
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    # The exact JSON body, fixed when queued, so every retry sends the same bytes.
    payload: Mapped[str] = mapped_column(Text)
    # The taker the event is about (no foreign key: `lead.deleted` outlives the response).
    response_id: Mapped[int | None] = mapped_column(index=True)
    # queued -> sending -> delivered, or back to queued with a later next_attempt_at, or failed.
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    endpoint: Mapped[WebhookEndpoint] = relationship(back_populates="deliveries")

    def body(self) -> dict[str, Any]:
        """The stored payload, parsed."""
        body: dict[str, Any] = json.loads(self.payload)
        return body


Index("ix_webhook_deliveries_due", WebhookDelivery.status, WebhookDelivery.next_attempt_at)
Index("ix_webhook_deliveries_created", WebhookDelivery.created_at)
