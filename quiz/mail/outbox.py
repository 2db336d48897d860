"""The outbox: the one writer of outbox rows; it moves the dashboard's email counters with them.

Finishing a quiz only queues rows here (in the finishing transaction); quiz.mail.sender sends them
through the claim and record functions below. A sender claims rows in a short write transaction
(`FOR UPDATE SKIP LOCKED` on PostgreSQL; `BEGIN IMMEDIATE` serialises claimers on SQLite), marking
them `sending` with a fresh attempt number, so two senders never hold the same row. Each outcome is
recorded only by the sender whose attempt it was. A sender that dies mid-send leaves its rows
`sending`; after MAIL_LEASE_SECONDS they are due again (delivery is at least once, never silently
lost). Every insert, update and delete of a response's emails moves the email counters in the
same function, through the counters' entry points (quiz.counters).

Longer than most modules on purpose: it is the `outbox` table's one writer (queueing, claiming,
recording, cancelling, retention, demo data); what only reads lives apart (the series' timing
in quiz.mail.series_round, the listing in quiz.mail.listing).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import (
    Connection,
    CursorResult,
    Select,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from quiz import counters, database
from quiz.counters.rollup_keys import Key
from quiz.extensions import db
from quiz.mail.compose import COACH_ALERT, FOLLOWUP, NEW_LEAD, REASSESS, new_message_id
from quiz.mail.series_round import SERIES_KINDS, Decision, SeriesRound
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
    with database.write():
        rows = (
            db.session.execute(
                select(OutboxMessage)
                .where(
                    or_(
                        and_(
                            OutboxMessage.status == "queued", OutboxMessage.next_attempt_at <= now
                        ),
                        and_(
                            OutboxMessage.status == "sending",
                            OutboxMessage.claimed_at <= lease_cutoff,
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
        if not rows:
            return []
        # The dashboard counts emails by status: the claimed rows (locked, so nothing else moves
        # them meanwhile) leave the counters of their old status and join those of the new one.
        with counters.emails_changing(OutboxMessage.id.in_([row.id for row in rows])):
            series = SeriesRound(str(config["QUIZ_TIMEZONE"]), now, rows)
            claims = [
                _claim(row, now, config, max_attempts)
                for row in rows
                if row.kind not in SERIES_KINDS or _apply_timing(row, series.decide(row))
            ]
    return [claim for claim in claims if claim is not None]


def _apply_timing(row: OutboxMessage, decision: Decision) -> bool:
    """Whether an email of the series goes in this round; if not, it is cancelled (an earlier
    email to the address failed for good) or put back with the time it may go. Either way it is
    not claimed and no attempt is counted."""
    if decision.cancel:
        row.status = "cancelled"
        row.last_error = "an earlier email to this address failed for good"
    elif decision.wait_until is not None and row.status == "queued":
        row.next_attempt_at = decision.wait_until
    return decision.send


def _claim(
    row: OutboxMessage, now: datetime, config: Mapping[str, Any], max_attempts: int
) -> Claim | None:
    """Mark one locked row as being sent by this sender; None when it has no attempt left."""
    if row.status == "sending" and row.attempts >= max_attempts:
        # Its sender vanished during the last allowed attempt.
        row.status = "failed"
        row.last_error = row.last_error or "sender stopped during the last attempt"
        log.warning("outbox %s failed: sender stopped during the last attempt", row.id)
        return None
    row.status = "sending"
    row.claimed_at = now
    row.attempts += 1
    # Stored before the first attempt, so every retry carries the same Message-ID.
    row.message_id = row.message_id or new_message_id(config)
    return Claim(
        row.id, row.kind, row.recipient, row.response_id, row.message_id, row.attempts, row.details
    )


def release(claims: list[Claim]) -> None:
    """Put claims back as they were before this round: queued, the attempt not counted."""
    with database.write():
        counters.move_emails(
            update(OutboxMessage)
            .where(or_(*(_mine(claim) for claim in claims)))
            .values(status="queued", attempts=OutboxMessage.attempts - 1, claimed_at=None),
            OutboxMessage.id.in_([claim.id for claim in claims]),
            moved_from="sending",
        )


def queue_coach_alert(coach_email: str, *, locked_minutes: int) -> None:
    """Queue the note that the coach login was locked, in a write transaction of its own.

    At most MAIL_MAX_PER_HOUR such notes an hour per address, so whoever trips the lock again
    and again cannot flood the coach's inbox. It has no response, so the dashboard's email
    counters (and their rebuild) never count it.
    """
    with database.write():
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


def _new_lead_notes(lead_id: int) -> ColumnElement[bool]:
    """The coach's notes about this lead (they name it in their details, not as response_id)."""
    return and_(
        OutboxMessage.kind == NEW_LEAD,
        OutboxMessage.response_id.is_(None),
        OutboxMessage.details["lead_id"].as_integer() == lead_id,
    )


def queue_new_lead(coach_email: str, lead_id: int) -> bool:
    """Queue the note to the coach about a lead who confirmed the double opt-in, in the caller's
    transaction; never a second one for the same lead (False then).

    Like the coach alert it has no response of its own, so the dashboard's email counters (and
    their rebuild) never count it; the lead is named in its details and read when it is sent, and
    the note goes with the lead's data (`delete_new_lead_notes`).
    """
    if db.session.scalar(select(func.count(OutboxMessage.id)).where(_new_lead_notes(lead_id))):
        return False
    db.session.add(
        OutboxMessage(
            kind=NEW_LEAD, recipient=coach_email, response_id=None, details={"lead_id": lead_id}
        )
    )
    log.info("new-lead note queued for lead %d", lead_id)
    return True


def delete_new_lead_notes(lead_ids: Iterable[int]) -> int:
    """Delete the coach's notes about these leads (with the leads' data); how many went."""
    gone = 0
    for lead_id in lead_ids:
        result = db.session.execute(delete(OutboxMessage.__table__).where(_new_lead_notes(lead_id)))
        assert isinstance(result, CursorResult)  # a DELETE's result
        gone += int(result.rowcount or 0)
    return gone


def _kinds_at_finish(
    email: str | None, data_consent: bool, marketing: bool, now: datetime
) -> list[str]:
    """The kinds of email a finish queues: the summary and, for the newsletter, the opt-in.

    One address gets at most MAIL_MAX_PER_HOUR of each kind an hour.
    """
    if not (email and data_consent):
        return []
    kinds = ["result", "optin"] if marketing else ["result"]
    return [kind for kind in kinds if not over_hourly_limit(email, kind, now)]


def queue_at_finish(
    response: Response, *, data_consent: bool, marketing: bool, now: datetime
) -> None:
    """Queue the emails of a response being finished (its result and address are set): the
    summary and, for the newsletter, the opt-in; and count them."""
    kinds = _kinds_at_finish(response.email, data_consent, marketing, now)
    for kind in kinds:
        db.session.add(OutboxMessage(response_id=response.id, kind=kind, recipient=response.email))
    counters.on_emails_queued(response, len(kinds))


def queue_followups(
    response: Response, confirmed_at: datetime, series: Sequence[tuple[str, timedelta]]
) -> int:
    """Queue the follow-up series of a taker who just confirmed the newsletter (in the
    confirming transaction): (content email id, time after the confirmation) each; how many."""
    if not response.email:
        return 0
    for number, (email_id, after) in enumerate(series, start=1):
        db.session.add(
            OutboxMessage(
                response_id=response.id,
                kind=FOLLOWUP,
                recipient=response.email,
                next_attempt_at=confirmed_at + after,
                details={"number": number, "email_id": email_id},
            )
        )
    # Not in the dashboard's email counters (quiz.counters.rollup_keys.counted_email).
    return len(series)


def queue_reassess_invitation(response: Response, due_at: datetime) -> bool:
    """Queue the invitation to take the quiz again (issue 24) of a taker who just confirmed the
    newsletter, in the confirming transaction; False without an address."""
    if not response.email:
        return False
    db.session.add(
        OutboxMessage(
            response_id=response.id, kind=REASSESS, recipient=response.email, next_attempt_at=due_at
        )
    )
    # Not in the dashboard's email counters either (quiz.counters.rollup_keys.counted_email).
    return True


def cancel_followups(
    response_ids: Select[Any] | Sequence[int], *, with_invitation: bool = False
) -> int:
    """Cancel the follow-ups of these responses not sent yet (unsubscribed, a click on the call
    to action), and with `with_invitation` the invitation to take the quiz again (unsubscribed
    only); how many. One being sent right now still goes out."""
    kinds = (FOLLOWUP, REASSESS) if with_invitation else (FOLLOWUP,)
    waiting = list(
        db.session.scalars(
            select(OutboxMessage.id)
            .where(
                OutboxMessage.response_id.in_(response_ids),
                OutboxMessage.kind.in_(kinds),
                OutboxMessage.status == "queued",
            )
            .with_for_update()
        )
    )
    if not waiting:
        return 0
    return counters.move_emails(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(waiting))
        .values(status="cancelled", last_error="cancelled"),
        OutboxMessage.id.in_(waiting),
        moved_from="queued",
    )


def optin_waiting(response_id: int) -> bool:
    """Whether a confirmation email to this response is still queued or being sent."""
    return bool(
        db.session.scalar(
            select(func.count(OutboxMessage.id)).where(
                OutboxMessage.response_id == response_id,
                OutboxMessage.kind == "optin",
                OutboxMessage.status.in_(("queued", "sending")),
            )
        )
    )


def queue_resend(response: Response) -> None:
    """Queue a fresh confirmation email to a finished response (in the caller's transaction)."""
    db.session.add(OutboxMessage(response_id=response.id, kind="optin", recipient=response.email))
    counters.on_emails_queued(response, 1)


def drop_waiting_optins(response_ids: Select[Any]) -> int:
    """Delete the unsent confirmation emails of these responses (the taker said no); how many."""
    return _delete(
        and_(
            OutboxMessage.response_id.in_(response_ids),
            OutboxMessage.kind == "optin",
            OutboxMessage.status == "queued",
        )
    )


def delete_for_responses(response_ids: Iterable[int]) -> int:
    """Delete every email of these responses (before the responses go), taking back their counts."""
    return _delete(OutboxMessage.response_id.in_(list(response_ids)))


def _delete(condition: ColumnElement[bool]) -> int:
    """Delete the emails matching `condition` and take back their counts; how many went."""
    return counters.delete_emails(delete(OutboxMessage.__table__).where(condition), condition)


def _retention_condition(
    stale_optin_responses: Select[Any], due_responses: Select[Any]
) -> ColumnElement[bool]:
    optin_mail = and_(
        OutboxMessage.kind == "optin", OutboxMessage.response_id.in_(stale_optin_responses)
    )
    return or_(optin_mail, OutboxMessage.response_id.in_(due_responses))


def count_for_retention(stale_optin_responses: Select[Any], due_responses: Select[Any]) -> int:
    """How many emails `purge_for_retention` would delete (for a dry run)."""
    condition = _retention_condition(stale_optin_responses, due_responses)
    return int(db.session.scalar(select(func.count(OutboxMessage.id)).where(condition)) or 0)


def purge_for_retention(stale_optin_responses: Select[Any], due_responses: Select[Any]) -> int:
    """Delete the opt-in emails of expiring opt-ins and every email of responses to anonymise."""
    return _delete(_retention_condition(stale_optin_responses, due_responses))


def insert_demo(connection: Connection, columns: list[str], rows: Select[Any]) -> None:
    """Insert demo emails (never queued for sending) from a query over the demo batch."""
    connection.execute(insert(OutboxMessage.__table__).from_select(columns, rows))


def count_demo(deltas: Mapping[Key, Sequence[int]]) -> None:
    """Count the demo emails just inserted: the email metrics of the demo batch's counters."""
    counters.on_demo_emails(deltas)


def delete_demo() -> None:
    """Delete the emails of every demo response (their counters go with the demo rebuild)."""
    demo_ids = select(Response.id).where(Response.is_demo.is_(True))
    db.session.execute(delete(OutboxMessage).where(OutboxMessage.response_id.in_(demo_ids)))


def _mine(claim: Claim) -> ColumnElement[bool]:
    """Only the sender whose attempt this is may record its outcome."""
    return and_(
        OutboxMessage.id == claim.id,
        OutboxMessage.status == "sending",
        OutboxMessage.attempts == claim.attempt,
    )


def record_sent(claim: Claim) -> bool:
    """Mark a claim sent, in the caller's write transaction; False if it was no longer ours."""
    sent_at = utcnow()
    moved = counters.move_emails(
        update(OutboxMessage)
        .where(_mine(claim))
        .values(status="sent", sent_at=sent_at, last_error=None),
        OutboxMessage.id == claim.id,
        moved_from="sending",
    )
    if moved and claim.kind == FOLLOWUP and claim.response_id is not None:
        # The series has figures of its own per email (quiz.counters.followups).
        number = (claim.details or {}).get("number")
        counters.on_followup_sent(claim.response_id, claim.id, number, sent_at)
    log.info("outbox %s sent (%s, %s)", claim.id, claim.kind, claim.message_id)
    return bool(moved)


def record_failure(app: Flask, claim: Claim, error: str, permanent: bool, now: datetime) -> str:
    """Record a failed attempt (its own transaction): "failed" for good, or "queued" again."""
    last = claim.attempt >= int(app.config["MAIL_MAX_ATTEMPTS"])
    if permanent or last:
        values: dict[str, object] = {"status": "failed", "last_error": error}
        if permanent:
            # Follow-ups to this address are cancelled from now on (_failed_for_good).
            values["details"] = {**(claim.details or {}), "permanent": True}
    else:
        delay = retry_delay(int(app.config["MAIL_RETRY_SECONDS"]), claim.attempt)
        values = {"status": "queued", "last_error": error, "next_attempt_at": now + delay}
    with database.write():
        counters.move_emails(
            update(OutboxMessage).where(_mine(claim)).values(**values),
            OutboxMessage.id == claim.id,
            moved_from="sending",
        )
    log.warning(
        "outbox %s attempt %s %s: %s",
        claim.id,
        claim.attempt,
        "failed" if values["status"] == "failed" else "will be retried",
        error,
    )
    return str(values["status"])
