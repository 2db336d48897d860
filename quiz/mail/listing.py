"""The outbox as an operator reads it: what is queued, sent or failed, without any local part.

`flask --app quiz mail list` prints these rows; the recipient's domain is enough to see where
mail goes (and whether one provider refuses it), and a listing never shows who receives it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from quiz.extensions import db
from quiz.models import OutboxMessage

STATUSES = ("queued", "sending", "sent", "failed", "cancelled")


@dataclass(frozen=True)
class ListedMessage:
    """One outbox message, as `mail list` shows it."""

    id: int
    kind: str
    status: str
    due_at: datetime
    response_id: int | None
    recipient_domain: str

    def to_json(self) -> dict[str, object]:
        """The JSON object of `mail list --json` (due_at in UTC, ISO 8601)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "due_at": self.due_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "response_id": self.response_id,
            "recipient_domain": self.recipient_domain,
        }


def recipient_domain(address: str) -> str:
    """The part after the last @, lower-cased; empty for an address without one."""
    _local, at, domain = address.rpartition("@")
    return domain.strip().lower() if at else ""


def messages(
    status: str | None = None, kind: str | None = None, limit: int = 1000
) -> list[ListedMessage]:
    """The outbox messages, oldest due first, optionally of one status and one kind."""
    query = select(OutboxMessage).order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
    if status:
        query = query.where(OutboxMessage.status == status)
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    rows = db.session.scalars(query.limit(limit))
    return [
        ListedMessage(
            id=row.id,
            kind=row.kind,
            status=row.status,
            due_at=row.next_attempt_at,
            response_id=row.response_id,
            recipient_domain=recipient_domain(row.recipient),
        )
        for row in rows
    ]
