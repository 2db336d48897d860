"""One webhook delivery, from claim to recorded outcome: the one writer of delivery rows' states.

A sender claims rows in a short write transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL;
`BEGIN IMMEDIATE` serialises claimers on SQLite), marks them `sending` with a fresh attempt
number, and only the holder of that attempt records the outcome (or renews the lease, or gives
the claim back), so two senders never deliver one event twice. A sender that dies mid-send
leaves its rows `sending`; after WEBHOOK_LEASE_SECONDS they are due again (at least once).
quiz.webhooks.sender runs the rounds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import and_, func, or_, select, text, update
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


def retry_delay(base_seconds: int, attempt: int) -> timedelta:
    """Exponential backoff: `base_seconds` after the first failure, doubling, at most 12 h."""
    return min(timedelta(seconds=base_seconds * 2 ** min(max(attempt - 1, 0), 20)), MAX_DELAY)


def claim_due(
    app: Flask, now: datetime, limit: int, per_endpoint: int | None = None
) -> list[Claim]:
    """Mark up to `limit` due deliveries of enabled endpoints `sending` and return them.

    At most `per_endpoint` (WEBHOOK_ENDPOINT_BATCH) of one endpoint, the oldest first, so one
    endpoint's backlog never fills a round while another endpoint's events wait.
    """
    config = app.config
    lease_cutoff = now - timedelta(seconds=int(config["WEBHOOK_LEASE_SECONDS"]))
    max_attempts = int(config["WEBHOOK_MAX_ATTEMPTS"])
    per_endpoint = per_endpoint or int(config["WEBHOOK_ENDPOINT_BATCH"])
    due = and_(
        WebhookEndpoint.enabled.is_(True),
        or_(
            and_(WebhookDelivery.status == "queued", WebhookDelivery.next_attempt_at <= now),
            and_(WebhookDelivery.status == "sending", WebhookDelivery.claimed_at <= lease_cutoff),
        ),
    )
    ranked = (
        select(
            WebhookDelivery.id.label("id"),
            func.row_number()
            .over(
                partition_by=WebhookDelivery.endpoint_id,
                order_by=(WebhookDelivery.next_attempt_at, WebhookDelivery.id),
            )
            .label("rank"),
        )
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(due)
        .subquery()
    )
    first = select(ranked.c.id).where(ranked.c.rank <= per_endpoint)
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
            # `due` again on the locked row itself: PostgreSQL re-checks it on a row another
            # sender claimed meanwhile, so that row is skipped (the ranking alone is not re-read).
            .where(due, WebhookDelivery.id.in_(first))
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


def postpone(wait: timedelta) -> Outcome:
    """The outcome of a claim not tried because its endpoint just failed to answer."""
    return Outcome(False, None, temporary=True, wait=wait, unreachable=True)


def _mine(claim: Claim) -> ColumnElement[bool]:
    """Only the sender whose attempt this is may record its outcome."""
    return and_(
        WebhookDelivery.id == claim.id,
        WebhookDelivery.status == "sending",
        WebhookDelivery.attempts == claim.attempt,
    )


def record(
    app: Flask, claim: Claim, outcome: Outcome, now: datetime
) -> tuple[str, timedelta | None]:
    """Store the outcome if the claim is still ours (its own write transaction).

    Returns what became of it (`delivered`, `retried`, `failed` or `postponed`) and the wait
    before the next attempt, if any.
    """
    wait: timedelta | None = None
    values: dict[str, object]
    if outcome.delivered:
        kind = "delivered"
        values = {"status": "delivered", "delivered_at": utcnow(), "last_error": None}
        values["last_status"] = outcome.status
    elif outcome.error is None:
        # Postponed, never tried: give the attempt back.
        kind = "postponed"
        wait = outcome.wait or timedelta(0)
        values = {"status": "queued", "attempts": claim.attempt - 1, "next_attempt_at": now + wait}
    else:
        last = claim.attempt >= int(app.config["WEBHOOK_MAX_ATTEMPTS"])
        values = {"last_error": outcome.error, "last_status": outcome.status}
        if outcome.temporary and not last:
            kind = "retried"
            base = retry_delay(int(app.config["WEBHOOK_RETRY_SECONDS"]), claim.attempt)
            wait = min(outcome.wait, MAX_DELAY) if outcome.wait is not None else base
            values |= {"status": "queued", "next_attempt_at": now + wait}
        else:
            kind = "failed"
            values["status"] = "failed"
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
            "failed" if kind == "failed" else "will be retried",
            outcome.error,
        )
    return kind, wait


def renew(claims: list[Claim], claimed_at: datetime) -> None:
    """Renew the lease of claims still ours (a round still running), in one write."""
    _update_mine(claims, claimed_at=claimed_at)


def release(claims: list[Claim]) -> None:
    """Give claims never tried back at once: queued as before, the attempt not counted."""
    _update_mine(claims, status="queued", attempts=WebhookDelivery.attempts - 1, claimed_at=None)


def _update_mine(claims: list[Claim], **values: object) -> None:
    if claims:
        with database.write():
            db.session.execute(
                update(WebhookDelivery)
                .where(or_(*(_mine(claim) for claim in claims)))
                .values(**values)
            )
