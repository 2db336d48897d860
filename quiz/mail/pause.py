"""The mail sender's pause: while the SMTP server cannot be used, the sender waits as a whole.

A connection-level failure (refused, timeout, TLS, login, our sender address refused) says
nothing about any message, so it costs no message an attempt (issue 10). Instead the sender
pauses, MAIL_RETRY_SECONDS after the first such failure and twice as long after each further one,
up to MAIL_PAUSE_MAX_SECONDS (15 minutes), so an outage of any length loses nothing and mail
flows again within a quarter of an hour of the server coming back. The state is one row of
`mail_sender`, so every sender process and machine waits alike; the coach dashboard shows it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from quiz import database
from quiz.extensions import db
from quiz.models import MailSenderState

log = logging.getLogger(__name__)

ROW_ID = 1
PAUSE_MAX_SECONDS = 900


@dataclass(frozen=True)
class SenderPause:
    """The sender is paused: since when, until when, why."""

    paused_since: datetime
    next_attempt_at: datetime
    failures: int
    reason: str
    last_error: str


def pause_delay(
    base_seconds: int, failures: int, max_seconds: int = PAUSE_MAX_SECONDS
) -> timedelta:
    """How long the sender waits after `failures` connection failures in a row."""
    seconds = base_seconds * 2 ** min(max(failures - 1, 0), 20)
    return timedelta(seconds=max(min(seconds, max_seconds), 1))


def current_pause() -> SenderPause | None:
    """The pause in force or last in force (its next attempt may be due), or None."""
    row = db.session.execute(
        select(MailSenderState).where(MailSenderState.id == ROW_ID)
    ).scalar_one_or_none()
    if row is None or row.paused_since is None or row.next_attempt_at is None:
        return None
    return SenderPause(
        paused_since=row.paused_since,
        next_attempt_at=row.next_attempt_at,
        failures=row.failures,
        reason=row.reason or "unreachable",
        last_error=row.last_error or "",
    )


def _locked_row(now: datetime) -> MailSenderState:
    """The sender's row, locked for this write transaction (created when there is none)."""
    row = db.session.execute(
        select(MailSenderState).where(MailSenderState.id == ROW_ID).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        row = MailSenderState(id=ROW_ID, failures=0, updated_at=now)
        db.session.add(row)
        db.session.flush()
    return row


def record_failure(app: Flask, error: str, reason: str, now: datetime, waiting: int) -> SenderPause:
    """Count one more connection failure and pause the sender for longer; log it."""
    try:
        pause = _pause(app, error, reason, now)
    except IntegrityError:
        # Two senders creating the row at once on PostgreSQL: the other one won; use its row.
        pause = _pause(app, error, reason, now)
    log.warning(
        "mail sender paused since %s (%s: %s); %d message(s) wait, no attempt charged; "
        "next try at %s (connection failure %d in a row)",
        pause.paused_since.isoformat(timespec="seconds"),
        reason,
        error,
        waiting,
        pause.next_attempt_at.isoformat(timespec="seconds"),
        pause.failures,
    )
    return pause


def _pause(app: Flask, error: str, reason: str, now: datetime) -> SenderPause:
    """One more connection failure, in a write transaction of its own: the pause it makes."""
    with database.write():
        row = _locked_row(now)
        row.failures += 1
        row.paused_since = row.paused_since or now
        delay = pause_delay(
            int(app.config["MAIL_RETRY_SECONDS"]),
            row.failures,
            int(app.config.get("MAIL_PAUSE_MAX_SECONDS", PAUSE_MAX_SECONDS)),
        )
        row.next_attempt_at = now + delay
        row.reason, row.last_error, row.updated_at = reason, error[:500], now
        return SenderPause(row.paused_since, now + delay, row.failures, reason, error[:500])


def record_recovery(now: datetime) -> None:
    """The server answered again: end the pause (if one was recorded) and log how long it was."""
    with database.write():
        row = db.session.execute(
            select(MailSenderState).where(MailSenderState.id == ROW_ID).with_for_update()
        ).scalar_one_or_none()
        if row is None or row.paused_since is None:
            return
        since, failures = row.paused_since, row.failures
        row.failures, row.paused_since, row.next_attempt_at = 0, None, None
        row.reason, row.last_error, row.updated_at = None, None, now
    log.warning(
        "mail sender resumed after a pause of %s since %s (%d connection failure(s))",
        now - since,
        since.isoformat(timespec="seconds"),
        failures,
    )
