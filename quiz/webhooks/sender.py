"""The webhook sender: claim due deliveries, sign and POST them, record each outcome.

It works like the email outbox (quiz/mail/outbox.py): a sender claims rows in a short write
transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL; `BEGIN IMMEDIATE` serialises claimers on
SQLite), marks them `sending` with a fresh attempt number, and only the holder of that attempt
records the outcome, so two senders never deliver one event twice. A sender that dies mid-send
leaves its rows `sending`; after WEBHOOK_LEASE_SECONDS they are due again (at least once).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import and_, or_, select, text, update
from sqlalchemy.sql.elements import ColumnElement

from quiz import database
from quiz.extensions import db
from quiz.models import utcnow
from quiz.webhooks import guard
from quiz.webhooks.models import WebhookDelivery, WebhookEndpoint
from quiz.webhooks.transport import Client, SendError, retry_after, signed_headers

log = logging.getLogger(__name__)

# Backoff (and a Retry-After) never waits longer than this between two attempts.
MAX_DELAY = timedelta(hours=12)


@dataclass(frozen=True)
class Claim:
    """A delivery this sender holds: what to send, where, and the attempt that proves it ours."""

    id: int
    endpoint_id: int
    url: str
    secret: str
    message_id: str
    payload: str
    attempt: int


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to."""

    delivered: bool
    error: str | None = None
    status: int | None = None
    # A temporary failure (timeout, connection, 5xx, 429) is retried; others are final.
    temporary: bool = False
    wait: timedelta | None = None
    # The endpoint did not answer at all, or asked to slow down (429, 503): its other
    # deliveries in this round wait as long, without using up an attempt.
    unreachable: bool = False


@dataclass
class Report:
    """What one delivery round did."""

    delivered: int = 0
    retried: int = 0
    failed: int = 0
    postponed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def claimed(self) -> int:
        """How many deliveries this round handled."""
        return self.delivered + self.retried + self.failed + self.postponed


def retry_delay(base_seconds: int, attempt: int) -> timedelta:
    """Exponential backoff: `base_seconds` after the first failure, doubling, at most 12 h."""
    return min(timedelta(seconds=base_seconds * 2 ** min(max(attempt - 1, 0), 20)), MAX_DELAY)


def claim_due(app: Flask, now: datetime, limit: int) -> list[Claim]:
    """Mark up to `limit` due deliveries of enabled endpoints `sending` and return them."""
    config = app.config
    lease_cutoff = now - timedelta(seconds=int(config["WEBHOOK_LEASE_SECONDS"]))
    max_attempts = int(config["WEBHOOK_MAX_ATTEMPTS"])
    with database.write():
        rows = db.session.execute(
            select(
                WebhookDelivery.id,
                WebhookDelivery.status,
                WebhookDelivery.attempts,
                WebhookDelivery.endpoint_id,
                WebhookDelivery.message_id,
                WebhookDelivery.payload,
                WebhookEndpoint.url,
                WebhookEndpoint.secret,
            )
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(
                WebhookEndpoint.enabled.is_(True),
                or_(
                    and_(
                        WebhookDelivery.status == "queued", WebhookDelivery.next_attempt_at <= now
                    ),
                    and_(
                        WebhookDelivery.status == "sending",
                        WebhookDelivery.claimed_at <= lease_cutoff,
                    ),
                ),
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=WebhookDelivery)
        ).all()
        # Its sender vanished during the last allowed attempt: that counts as the last failure.
        exhausted = [r.id for r in rows if r.status == "sending" and r.attempts >= max_attempts]
        if exhausted:
            db.session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_(exhausted))
                .values(
                    status="failed",
                    last_error="the sender stopped during the last attempt",
                    claimed_at=None,
                )
            )
        claims = [
            Claim(r.id, r.endpoint_id, r.url, r.secret, r.message_id, r.payload, r.attempts + 1)
            for r in rows
            if r.id not in exhausted
        ]
        if claims:
            db.session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_([claim.id for claim in claims]))
                .values(status="sending", claimed_at=now, attempts=WebhookDelivery.attempts + 1)
            )
    return claims


def attempt(app: Flask, client: Client, claim: Claim, now: datetime) -> Outcome:
    """Check the address, sign, POST; classify the answer."""
    config = app.config
    try:
        target = guard.resolve(
            claim.url,
            https_only=bool(config["WEBHOOK_HTTPS_ONLY"]),
            public_only=bool(config["WEBHOOK_PUBLIC_ONLY"]),
        )
    except guard.BlockedURL as exc:
        return Outcome(False, f"refused: {exc}")
    except (OSError, UnicodeError) as exc:
        return Outcome(False, f"DNS: {exc}"[:300], temporary=True, unreachable=True)
    # The signature's timestamp is the real time of this attempt (receivers check it).
    headers = signed_headers(claim.secret, claim.message_id, claim.payload, utcnow())
    try:
        answer = client.post(target, headers, claim.payload.encode("utf-8"))
    except SendError as exc:
        return Outcome(False, str(exc), temporary=True, unreachable=True)
    status = answer.status
    if 200 <= status < 300:
        return Outcome(True, status=status)
    if status == 429 or status >= 500:
        return Outcome(
            False,
            f"HTTP {status}",
            status=status,
            temporary=True,
            wait=retry_after(answer.retry_after, now),
            # "Too many" and "unavailable" speak for the whole endpoint: its other events wait.
            unreachable=status in (429, 503),
        )
    reason = "redirects are not followed" if 300 <= status < 400 else "refused by the receiver"
    return Outcome(False, f"HTTP {status} ({reason})", status=status)


def deliver_due(
    app: Flask,
    *,
    now: datetime | None = None,
    limit: int | None = None,
    client: Client | None = None,
) -> Report:
    """One delivery round: claim what is due, send it, record each outcome."""
    now = now or utcnow()
    own = client is None
    client = client or Client(float(app.config["WEBHOOK_TIMEOUT_SECONDS"]))
    with app.app_context():
        try:
            report = Report()
            claims = claim_due(app, now, limit or int(app.config["WEBHOOK_BATCH_SIZE"]))
            unreachable: dict[int, timedelta] = {}
            for claim in claims:
                if claim.endpoint_id in unreachable:
                    # Its endpoint just failed to answer: wait with it, without using up a try.
                    _record(app, report, claim, _postpone(unreachable[claim.endpoint_id]), now)
                    continue
                try:
                    outcome = attempt(app, client, claim, now)
                except Exception as exc:
                    # A bug or bad data must not stop the others; it is retried like a 5xx.
                    log.exception("webhook %s: could not send", claim.id)
                    outcome = Outcome(False, f"{type(exc).__name__}: {exc}"[:300], temporary=True)
                wait = _record(app, report, claim, outcome, now)
                if outcome.unreachable and wait is not None:
                    unreachable[claim.endpoint_id] = wait
            return report
        finally:
            db.session.remove()
            if own:
                client.close()


def _postpone(wait: timedelta) -> Outcome:
    return Outcome(False, None, temporary=True, wait=wait, unreachable=True)


def _mine(claim: Claim) -> ColumnElement[bool]:
    """Only the sender whose attempt this is may record its outcome."""
    return and_(
        WebhookDelivery.id == claim.id,
        WebhookDelivery.status == "sending",
        WebhookDelivery.attempts == claim.attempt,
    )


def _record(
    app: Flask, report: Report, claim: Claim, outcome: Outcome, now: datetime
) -> timedelta | None:
    """Store the outcome if the claim is still ours; returns the wait before a retry, if any."""
    wait: timedelta | None = None
    values: dict[str, object]
    if outcome.delivered:
        values = {"status": "delivered", "delivered_at": utcnow(), "last_error": None}
        values["last_status"] = outcome.status
        report.delivered += 1
    elif outcome.error is None:
        # Postponed, never tried: give the attempt back.
        wait = outcome.wait or timedelta(0)
        values = {"status": "queued", "attempts": claim.attempt - 1, "next_attempt_at": now + wait}
        report.postponed += 1
    else:
        last = claim.attempt >= int(app.config["WEBHOOK_MAX_ATTEMPTS"])
        values = {"last_error": outcome.error, "last_status": outcome.status}
        report.errors.append(outcome.error)
        if outcome.temporary and not last:
            base = retry_delay(int(app.config["WEBHOOK_RETRY_SECONDS"]), claim.attempt)
            wait = min(outcome.wait, MAX_DELAY) if outcome.wait is not None else base
            values |= {"status": "queued", "next_attempt_at": now + wait}
            report.retried += 1
        else:
            values["status"] = "failed"
            report.failed += 1
    with database.write():
        if db.session.get_bind().dialect.name == "postgresql":
            # As in the outbox: no disk flush per outcome. A database crash before the flush
            # sends the event once more after the lease, which at-least-once delivery allows.
            db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
        db.session.execute(update(WebhookDelivery).where(_mine(claim)).values(**values))
    if outcome.error:
        log.warning(
            "webhook %s (%s) attempt %s %s: %s",
            claim.id,
            claim.message_id,
            claim.attempt,
            "failed" if values["status"] == "failed" else "will be retried",
            outcome.error,
        )
    return wait


def watch(
    app: Flask,
    interval: float,
    stop: threading.Event | None = None,
    on_round: Callable[[Report], None] | None = None,
) -> None:
    """Keep delivering until `stop` is set: a full batch goes again at once, else wait."""
    stop = stop or threading.Event()
    with Client(float(app.config["WEBHOOK_TIMEOUT_SECONDS"])) as client:
        while not stop.is_set():
            try:
                report = deliver_due(app, client=client)
            except Exception:
                # The database may be away for a moment; keep the sender alive and try again.
                log.exception("webhook delivery round failed")
                report = Report()
            if on_round is not None:
                on_round(report)
            if report.claimed < int(app.config["WEBHOOK_BATCH_SIZE"]):
                stop.wait(interval)
