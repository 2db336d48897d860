"""The mail sender: deliver what the outbox holds, one round at a time, or keep watching.

The outbox (quiz.mail.outbox) owns the rows: this loop claims due messages through it, composes
them (the result chart comes from quiz.result_chart), hands them to the transport and records
each outcome through the outbox again. A chart rendered for an email is stored (through
quiz.result_chart) in the same transaction that records the message as sent.

Each outcome is recorded as soon as the server answered, in a write of its own that is tried
again while the database is away (`database.retry_write`), so a message whose acceptance was
recorded is never sent again. Once the database failed, the round sends nothing more and gives
its other claims back as soon as the database is back, so a database drop costs seconds, not
MAIL_LEASE_SECONDS. The one window for a duplicate is between the server's "250" and that record
(the sender crashing there, or the database away for longer than half the lease).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import undefer

from quiz import database, result_chart
from quiz.extensions import db
from quiz.mail import pause as mail_pause
from quiz.mail.compose import (
    COACH_ALERT,
    FOLLOWUP,
    NEW_LEAD,
    REASSESS,
    compose,
    compose_coach_alert,
    compose_followup,
    compose_new_lead,
    compose_reassess,
)
from quiz.mail.headers import OutgoingMessage
from quiz.mail.outbox import Claim, claim_due, record_failure, record_sent, release
from quiz.mail.transport import (
    ConnectionFailure,
    DeliveryError,
    PermanentFailure,
    Transport,
    transport_for,
)
from quiz.models import Answer, Response, utcnow
from quiz.site import settings as site_settings

log = logging.getLogger(__name__)


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
    # Claimed, but given back untried after a database failure.
    released: int = 0

    @property
    def claimed(self) -> int:
        """How many messages this round handled."""
        return self.sent + self.retried + self.failed


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
    try:
        # The round's emails are composed from one copy of the site settings.
        site_settings.hold(app)
        loaded, answers = _responses(claims)
    except SQLAlchemyError:
        # The database went away right after the claim: give the claims back once it is back.
        log.warning("outbox: the claimed messages' responses could not be read")
        database.discard_session()
        _give_back(app, report, claims)
        return report
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
        trouble = threading.Event()  # the database failed: send nothing more this round
        for index, claim in enumerate(claims):
            if trouble.is_set():
                _give_back(app, report, claims[index:])
                break
            try:
                record = _deliver_one(app, report, sender, claim, loaded, answers, now)
            except ConnectionFailure as exc:
                _pause_sender(app, report, claims[index:], exc, now)
                break
            except SQLAlchemyError as exc:
                # The database went away while the message was built: not its fault.
                log.warning("outbox %s: database unavailable (%s)", claim.id, type(exc).__name__)
                database.discard_session()
                _give_back(app, report, claims[index:])
                break
            answered = answered or record.answered
            _write(app, record.write, f"recording outbox {claim.id}", trouble)
    if answered and pause is not None and report.paused_until is None:
        mail_pause.record_recovery(now)
    return report


@dataclass(frozen=True)
class _Record:
    """What to write about one message, and whether the server said anything about it."""

    write: Callable[[], None]
    answered: bool


def _deliver_one(
    app: Flask,
    report: Report,
    sender: Transport,
    claim: Claim,
    loaded: dict[int, Response],
    answers: dict[int, dict[str, str]],
    now: datetime,
) -> _Record:
    """Compose and send one message: what to record. ConnectionFailure: the server is unusable
    (the sender pauses, nothing is recorded about the message)."""
    try:
        message, new_chart = _compose(app, claim, loaded, answers, now)
    except SQLAlchemyError as exc:
        if database.unavailable(exc):
            raise
        log.exception("outbox %s: could not build", claim.id)
        return _failure(app, report, claim, _error(exc), False, now, answered=False)
    except DeliveryError as exc:
        return _failure(app, report, claim, str(exc), _final(exc), now, answered=False)
    except Exception as exc:
        # A bug or bad data must not stop the others; it is retried like a 4xx.
        log.exception("outbox %s: could not build", claim.id)
        return _failure(app, report, claim, _error(exc), False, now, answered=False)
    try:
        sender.send(message)
    except ConnectionFailure:
        raise
    except DeliveryError as exc:
        return _failure(app, report, claim, str(exc), _final(exc), now, answered=True)
    except Exception as exc:
        log.exception("outbox %s: could not send", claim.id)
        return _failure(app, report, claim, _error(exc), False, now, answered=False)
    return _Record(lambda: _sent(report, claim, new_chart), True)


def _failure(
    app: Flask,
    report: Report,
    claim: Claim,
    error: str,
    permanent: bool,
    now: datetime,
    *,
    answered: bool,
) -> _Record:
    return _Record(lambda: _failed(app, report, claim, error, permanent, now), answered)


def _write(app: Flask, block: Callable[[], None], what: str, trouble: threading.Event) -> None:
    """Record an outcome now, waiting for the database while it is away (half the lease)."""
    try:
        database.retry_write(
            block,
            what=what,
            give_up_after=int(app.config["MAIL_LEASE_SECONDS"]) / 2,
            trouble=trouble,
        )
    except SQLAlchemyError:
        # Unrecorded: due again after the lease (the at-least-once window).
        log.exception("%s failed", what)
        trouble.set()


def _give_back(app: Flask, report: Report, untried: list[Claim]) -> None:
    """After a database failure: the claims not tried go back at once, not after the lease."""
    _write(app, lambda: release(untried), f"giving back {len(untried)} claim(s)", threading.Event())
    report.released += len(untried)


def _pause_sender(
    app: Flask, report: Report, waiting: list[Claim], exc: ConnectionFailure, now: datetime
) -> None:
    """Not these messages' fault: they go back uncharged, and the sender as a whole waits."""
    _write(app, lambda: release(waiting), f"giving back {len(waiting)} claim(s)", threading.Event())
    paused = mail_pause.record_failure(app, str(exc), exc.reason, now, len(waiting))
    report.paused_until, report.waiting = paused.next_attempt_at, len(waiting)
    report.errors.append(str(exc))


def _final(exc: DeliveryError) -> bool:
    return isinstance(exc, PermanentFailure)


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def _compose(
    app: Flask,
    claim: Claim,
    loaded: dict[int, Response],
    answers: dict[int, dict[str, str]],
    now: datetime,
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
    if claim.kind == NEW_LEAD:
        lead = loaded.get(_lead_id(claim))
        if lead is None:
            raise PermanentFailure("the lead no longer exists")
        message = compose_new_lead(
            app, recipient=claim.recipient, message_id=claim.message_id, lead=lead, now=now
        )
        return message, None
    response = loaded.get(claim.response_id or 0)
    if response is None:
        raise PermanentFailure("the response no longer exists")
    if claim.kind == REASSESS:
        message = compose_reassess(
            app, recipient=claim.recipient, message_id=claim.message_id, response=response, now=now
        )
        return message, None
    if claim.kind == FOLLOWUP:
        message = compose_followup(
            app,
            recipient=claim.recipient,
            message_id=claim.message_id,
            response=response,
            details=claim.details or {},
            now=now,
            answers=answers.get(response.id, {}),
        )
        return message, None
    chart, new_chart = response.chart_png, None
    if claim.kind == "result":
        chart, rendered = result_chart.stored_or_rendered(response)
        new_chart = chart if rendered else None
    message = compose(
        app,
        kind=claim.kind,
        recipient=claim.recipient,
        message_id=claim.message_id,
        response=response,
        chart_png=chart,
        now=now,
        answers=answers.get(response.id, {}),
    )
    return message, new_chart


def _responses(claims: list[Claim]) -> tuple[dict[int, Response], dict[int, dict[str, str]]]:
    """The batch's responses and their stored answers ({question: option} per response), in
    two queries, detached, so no read stays open while sending."""
    ids = {claim.response_id for claim in claims if claim.response_id is not None}
    ids |= {_lead_id(claim) for claim in claims if claim.kind == NEW_LEAD}
    rows = (
        db.session.execute(
            select(Response)
            .where(Response.id.in_(ids))
            # The summary of a re-assessment compares it with the earlier one (issue 24).
            .options(undefer(Response.chart_png), undefer(Response.previous_response_id))
        )
        .scalars()
        .all()
    )
    answers: dict[int, dict[str, str]] = {}
    for response_id, question, option in db.session.execute(
        select(Answer.response_id, Answer.question_id, Answer.option_id).where(
            Answer.response_id.in_(ids)
        )
    ):
        answers.setdefault(response_id, {})[question] = option
    db.session.expunge_all()
    db.session.rollback()
    return {row.id: row for row in rows}, answers


def _lead_id(claim: Claim) -> int:
    """The lead a note to the coach is about (0: none)."""
    value = (claim.details or {}).get("lead_id")
    return value if isinstance(value, int) else 0


def _sent(report: Report, claim: Claim, new_chart: bytes | None) -> None:
    """Record a delivered message, and keep a chart rendered for it for the result page too."""
    with database.write():
        if db.session.get_bind().dialect.name == "postgresql":
            # Not worth a disk flush per message: if the database server itself crashed before
            # the flush, the row would still be `sending` and go out once more after the lease,
            # which the at-least-once promise allows. The claim before sending stays durable.
            db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
        record_sent(claim)
        if new_chart is not None and claim.response_id is not None:
            result_chart.record(claim.response_id, new_chart)
    report.sent += 1


def _failed(
    app: Flask, report: Report, claim: Claim, error: str, permanent: bool, now: datetime
) -> None:
    status = record_failure(app, claim, error, permanent, now)
    if status == "failed":
        report.failed += 1
    else:
        report.retried += 1
    report.errors.append(error)


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
