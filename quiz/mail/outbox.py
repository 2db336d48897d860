"""The outbox: claim what is due, deliver it, record the outcome; and the `send-mail` command.

Finishing a quiz only writes outbox rows (in the finishing transaction); this module is the only
one that sends. A sender claims rows in a short write transaction (`FOR UPDATE SKIP LOCKED` on
PostgreSQL; `BEGIN IMMEDIATE` serialises claimers on SQLite), marking them `sending` with a fresh
attempt number, so two senders never hold the same row. Each outcome is recorded only by the
sender whose attempt it was. A sender that dies mid-send leaves its rows `sending`; after
MAIL_LEASE_SECONDS they are due again (delivery is at least once, never silently lost).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.orm import undefer
from sqlalchemy.sql.elements import ColumnElement

from quiz.app_state import get_content
from quiz.charts import result_bars, score_chart_png
from quiz.coach import rollups
from quiz.database import begin_write
from quiz.extensions import db
from quiz.mail import pause as mail_pause
from quiz.mail.compose import COACH_ALERT, compose, compose_coach_alert, new_message_id
from quiz.mail.headers import OutgoingMessage
from quiz.mail.transport import (
    ConnectionFailure,
    DeliveryError,
    PermanentFailure,
    Transport,
    transport_for,
)
from quiz.models import OutboxMessage, Response, utcnow

log = logging.getLogger(__name__)

# Backoff never waits longer than this between two attempts.
MAX_DELAY = timedelta(hours=24)


@dataclass(frozen=True)
class Claim:
    """A row this sender holds: enough to send it and to prove the outcome is ours to record."""

    id: int
    kind: str
    recipient: str
    response_id: int | None
    message_id: str
    attempt: int
    details: dict[str, Any] | None = None


@dataclass
class Report:
    """What one delivery round did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    # The sender is paused (SMTP unusable) until then; `waiting` messages went back uncharged.
    paused_until: datetime | None = None
    waiting: int = 0

    @property
    def claimed(self) -> int:
        """How many messages this round handled."""
        return self.sent + self.retried + self.failed


def retry_delay(base_seconds: int, attempt: int) -> timedelta:
    """Exponential backoff: `base_seconds` after the first failure, doubling each time."""
    return min(timedelta(seconds=base_seconds * 2 ** min(max(attempt - 1, 0), 20)), MAX_DELAY)


def recent_count(recipient: str, kind: str, since: datetime) -> int:
    """How many messages of this kind were queued for this address since `since`."""
    return int(
        db.session.scalar(
            select(func.count(OutboxMessage.id)).where(
                func.lower(OutboxMessage.recipient) == recipient.lower(),
                OutboxMessage.kind == kind,
                OutboxMessage.created_at >= since,
            )
        )
        or 0
    )


def over_hourly_limit(recipient: str, kind: str, now: datetime | None = None) -> bool:
    """True when this address already got MAIL_MAX_PER_HOUR messages of this kind this hour."""
    now = now or utcnow()
    limit = int(current_app.config["MAIL_MAX_PER_HOUR"])
    return recent_count(recipient, kind, now - timedelta(hours=1)) >= limit


def claim_due(app: Flask, now: datetime, limit: int) -> list[Claim]:
    """Mark up to `limit` due rows as `sending` by this sender and return them."""
    config = app.config
    lease_cutoff = now - timedelta(seconds=int(config["MAIL_LEASE_SECONDS"]))
    max_attempts = int(config["MAIL_MAX_ATTEMPTS"])
    begin_write()
    rows = (
        db.session.execute(
            select(OutboxMessage)
            .where(
                or_(
                    and_(OutboxMessage.status == "queued", OutboxMessage.next_attempt_at <= now),
                    and_(
                        OutboxMessage.status == "sending", OutboxMessage.claimed_at <= lease_cutoff
                    ),
                )
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )
    claims = []
    # The dashboard counts emails by status: take the claimed rows out of their old one here and
    # count them in their new one below (they are locked, so nothing else moves them meanwhile).
    claimed = OutboxMessage.id.in_([row.id for row in rows])
    if rows:
        rollups.shift_emails(claimed, sign=-1)
    for row in rows:
        if row.status == "sending" and row.attempts >= max_attempts:
            # Its sender vanished during the last allowed attempt.
            row.status = "failed"
            row.last_error = row.last_error or "sender stopped during the last attempt"
            log.warning("outbox %s failed: sender stopped during the last attempt", row.id)
            continue
        row.status = "sending"
        row.claimed_at = now
        row.attempts += 1
        # Stored before the first attempt, so every retry carries the same Message-ID.
        row.message_id = row.message_id or new_message_id(config)
        claims.append(
            Claim(
                row.id,
                row.kind,
                row.recipient,
                row.response_id,
                row.message_id,
                row.attempts,
                row.details,
            )
        )
    if rows:
        db.session.flush()
        rollups.shift_emails(claimed)
    db.session.commit()
    return claims


def deliver_due(
    app: Flask,
    *,
    now: datetime | None = None,
    limit: int | None = None,
    transport: Transport | None = None,
) -> Report:
    """One delivery round: claim what is due, send it, record each outcome."""
    with app.app_context():
        try:
            return _deliver_due(app, now or utcnow(), limit, transport)
        finally:
            db.session.remove()


def _deliver_due(
    app: Flask, now: datetime, limit: int | None, transport: Transport | None
) -> Report:
    report = Report()
    pause = mail_pause.current_pause()
    db.session.rollback()
    if pause is not None and pause.next_attempt_at > now:
        report.paused_until = pause.next_attempt_at
        return report
    claims = claim_due(app, now, limit or int(app.config["MAIL_BATCH_SIZE"]))
    if not claims:
        return report
    loaded = _responses(claims)
    answered = False  # the server answered about at least one message: it is usable again
    with transport or transport_for(app.config) as sender:
        try:
            # Connect before composing anything: during an outage no chart is rendered in vain.
            opener = getattr(sender, "open", None)
            if opener is not None:
                opener()
        except ConnectionFailure as exc:
            _pause_sender(app, report, claims, exc, now)
            return report
        for index, claim in enumerate(claims):
            try:
                message, new_chart = _compose(app, claim, loaded, now)
            except DeliveryError as exc:
                _record_failure(app, report, claim, str(exc), _final(exc), now)
                continue
            except Exception as exc:
                # A bug or bad data must not stop the others; it is retried like a 4xx.
                log.exception("outbox %s: could not build", claim.id)
                _record_failure(app, report, claim, _error(exc), False, now)
                continue
            try:
                sender.send(message)
            except ConnectionFailure as exc:
                _pause_sender(app, report, claims[index:], exc, now)
                break
            except DeliveryError as exc:
                answered = True
                _record_failure(app, report, claim, str(exc), _final(exc), now)
            except Exception as exc:
                log.exception("outbox %s: could not send", claim.id)
                _record_failure(app, report, claim, _error(exc), False, now)
            else:
                answered = True
                _record_sent(report, claim, new_chart)
    if answered and pause is not None and report.paused_until is None:
        mail_pause.record_recovery(now)
    return report


def _pause_sender(
    app: Flask, report: Report, waiting: list[Claim], exc: ConnectionFailure, now: datetime
) -> None:
    """Not these messages' fault: they go back uncharged, and the sender as a whole waits."""
    _release(waiting)
    paused = mail_pause.record_failure(app, str(exc), exc.reason, now, len(waiting))
    report.paused_until, report.waiting = paused.next_attempt_at, len(waiting)
    report.errors.append(str(exc))


def _final(exc: DeliveryError) -> bool:
    return isinstance(exc, PermanentFailure)


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def _compose(
    app: Flask, claim: Claim, loaded: dict[int, Response], now: datetime
) -> tuple[OutgoingMessage, bytes | None]:
    """The message of a claim, and the chart if it had to be rendered for it."""
    if claim.kind == COACH_ALERT:
        minutes = int((claim.details or {}).get("locked_minutes") or 0)
        message = compose_coach_alert(
            app,
            recipient=claim.recipient,
            message_id=claim.message_id,
            locked_minutes=minutes,
            now=now,
        )
        return message, None
    response = loaded.get(claim.response_id or 0)
    if response is None:
        raise PermanentFailure("the response no longer exists")
    chart, new_chart = response.chart_png, None
    if claim.kind == "result" and chart is None:
        chart = new_chart = _render_chart(app, response)
    message = compose(
        app,
        kind=claim.kind,
        recipient=claim.recipient,
        message_id=claim.message_id,
        response=response,
        chart_png=chart,
        now=now,
    )
    return message, new_chart


def _release(claims: list[Claim]) -> None:
    """Put claims back as they were before this round: queued, the attempt not counted."""
    begin_write()
    rollups.move_emails(
        update(OutboxMessage)
        .where(or_(*(_mine(claim) for claim in claims)))
        .values(status="queued", attempts=OutboxMessage.attempts - 1, claimed_at=None),
        OutboxMessage.id.in_([claim.id for claim in claims]),
        moved_from="sending",
    )
    db.session.commit()


def queue_coach_alert(coach_email: str, *, locked_minutes: int) -> None:
    """Queue the note that the coach login was locked (in the caller's transaction).

    At most MAIL_MAX_PER_HOUR such notes an hour per address, so whoever trips the lock again
    and again cannot flood the coach's inbox. It has no response, so the dashboard's email
    counters (and their rebuild) never count it.
    """
    if over_hourly_limit(coach_email, COACH_ALERT):
        log.info("coach alert not queued: the hourly limit for the address is reached")
        return
    db.session.add(
        OutboxMessage(
            kind=COACH_ALERT,
            recipient=coach_email,
            response_id=None,
            details={"locked_minutes": int(locked_minutes)},
        )
    )
    log.info("coach alert queued (login locked for %d min)", locked_minutes)


def _responses(claims: list[Claim]) -> dict[int, Response]:
    """The batch's responses in one query, detached, so no read stays open while sending."""
    ids = {claim.response_id for claim in claims if claim.response_id is not None}
    rows = (
        db.session.execute(
            select(Response).where(Response.id.in_(ids)).options(undefer(Response.chart_png))
        )
        .scalars()
        .all()
    )
    db.session.expunge_all()
    db.session.rollback()
    return {row.id: row for row in rows}


def _mine(claim: Claim) -> ColumnElement[bool]:
    """Only the sender whose attempt this is may record its outcome."""
    return and_(
        OutboxMessage.id == claim.id,
        OutboxMessage.status == "sending",
        OutboxMessage.attempts == claim.attempt,
    )


def _render_chart(app: Flask, response: Response) -> bytes:
    """The result page's chart, rendered here when nobody has opened the page yet."""
    bars = result_bars(
        get_content(app).dimensions, response.scores(), response.bands or {}, response.bottleneck
    )
    return score_chart_png(bars)


def _record_sent(report: Report, claim: Claim, new_chart: bytes | None = None) -> None:
    begin_write()
    if db.session.get_bind().dialect.name == "postgresql":
        # Not worth a disk flush per message: if the database server itself crashed before the
        # flush, the row would still be `sending` and go out once more after the lease, which
        # the at-least-once promise allows. The claim before sending stays fully durable.
        db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    rollups.move_emails(
        update(OutboxMessage)
        .where(_mine(claim))
        .values(status="sent", sent_at=utcnow(), last_error=None),
        OutboxMessage.id == claim.id,
        moved_from="sending",
    )
    if new_chart is not None and claim.response_id is not None:
        # Keep the chart for the result page too, unless it was stored meanwhile.
        db.session.execute(
            update(Response)
            .where(Response.id == claim.response_id, Response.chart_png.is_(None))
            .values(chart_png=new_chart)
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    report.sent += 1
    log.info("outbox %s sent (%s, %s)", claim.id, claim.kind, claim.message_id)


def _record_failure(
    app: Flask, report: Report, claim: Claim, error: str, permanent: bool, now: datetime
) -> None:
    last = claim.attempt >= int(app.config["MAIL_MAX_ATTEMPTS"])
    if permanent or last:
        values: dict[str, object] = {"status": "failed", "last_error": error}
        report.failed += 1
    else:
        delay = retry_delay(int(app.config["MAIL_RETRY_SECONDS"]), claim.attempt)
        values = {"status": "queued", "last_error": error, "next_attempt_at": now + delay}
        report.retried += 1
    report.errors.append(error)
    begin_write()
    rollups.move_emails(
        update(OutboxMessage).where(_mine(claim)).values(**values),
        OutboxMessage.id == claim.id,
        moved_from="sending",
    )
    db.session.commit()
    log.warning(
        "outbox %s attempt %s %s: %s",
        claim.id,
        claim.attempt,
        "failed" if values["status"] == "failed" else "will be retried",
        error,
    )


def watch(app: Flask, interval: float, stop: threading.Event | None = None) -> None:
    """Keep delivering until `stop` is set: a full batch goes again at once, else wait."""
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            report = deliver_due(app)
        except Exception:
            # The database may be away for a moment; keep the sender alive and try again.
            log.exception("delivery round failed")
            report = Report()
        if report.claimed < int(app.config["MAIL_BATCH_SIZE"]):
            stop.wait(interval)
