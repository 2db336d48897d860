"""The taker's side of consent and data: confirm the opt-in, unsubscribe, export, delete.

Each function is one write (or read) transaction and commits here, in the service layer. The
callers (the account pages, later the coach view) have already checked the signed link.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, delete, func, or_, select

from quiz.coach import rollups
from quiz.database import begin_write
from quiz.domain.content import Content
from quiz.extensions import db
from quiz.mail.outbox import over_hourly_limit
from quiz.models import Answer, Consent, OutboxMessage, Response, utcnow
from quiz.taker.links import digest_matches

OptinOutcome = Literal["confirmed", "already", "withdrawn", "none"]
OptinState = Literal["pending", "confirmed", "withdrawn", "none"]
ResendOutcome = Literal["queued", "pending", "limited", "already", "withdrawn", "none"]


def response_for_link(response_id: int, digest: str) -> Response | None:
    """The finished response a signed link names, if it still exists and the digest matches."""
    response = db.session.get(Response, response_id)
    if response is None or response.status != "finished":
        return None
    if not digest_matches(response.result_token, digest):
        return None
    return response


def _marketing_consent(response_id: int, *, lock: bool = False) -> Consent | None:
    query = (
        select(Consent)
        .where(Consent.response_id == response_id, Consent.kind == "marketing")
        .order_by(Consent.granted_at.desc(), Consent.id.desc())
        .limit(1)
    )
    # A writer locks the consent, so a second confirmation waits and then sees the first.
    return db.session.execute(query.with_for_update() if lock else query).scalar_one_or_none()


def marketing_state(response_id: int) -> OptinState:
    """Whether this response's marketing consent is pending, confirmed, withdrawn or absent."""
    consent = _marketing_consent(response_id)
    if consent is None:
        return "none"
    if consent.withdrawn_at is not None:
        return "withdrawn"
    return "confirmed" if consent.confirmed_at is not None else "pending"


def confirm_optin(response_id: int, now: datetime | None = None) -> OptinOutcome:
    """Confirm the marketing consent (double opt-in); a second confirmation changes nothing."""
    begin_write()
    consent = _marketing_consent(response_id, lock=True)
    if consent is None or consent.withdrawn_at is not None or consent.confirmed_at is not None:
        db.session.rollback()
        if consent is None:
            return "none"
        return "withdrawn" if consent.withdrawn_at is not None else "already"
    with rollups.marketing_recount(Response.id == response_id):
        consent.confirmed_at = now or utcnow()
    db.session.commit()
    return "confirmed"


def resend_optin(response_id: int, now: datetime | None = None) -> ResendOutcome:
    """Queue a fresh confirmation email (after an expired link), within the hourly limit."""
    now = now or utcnow()
    begin_write()
    response = db.session.get(Response, response_id)
    consent = _marketing_consent(response_id)
    outcome: ResendOutcome | None = None
    if response is None or consent is None or not response.email:
        outcome = "none"
    elif consent.withdrawn_at is not None:
        outcome = "withdrawn"
    elif consent.confirmed_at is not None:
        outcome = "already"
    elif _optin_waiting(response_id):
        outcome = "pending"
    elif over_hourly_limit(response.email, "optin", now):
        outcome = "limited"
    if outcome is not None or response is None or not response.email:
        db.session.rollback()
        return outcome or "none"
    message = OutboxMessage(response_id=response.id, kind="optin", recipient=response.email)
    db.session.add(message)
    db.session.flush()
    rollups.shift_emails(OutboxMessage.id == message.id)
    db.session.commit()
    return "queued"


def _optin_waiting(response_id: int) -> bool:
    return bool(
        db.session.scalar(
            select(func.count(OutboxMessage.id)).where(
                OutboxMessage.response_id == response_id,
                OutboxMessage.kind == "optin",
                OutboxMessage.status.in_(("queued", "sending")),
            )
        )
    )


def unsubscribe(response_id: int, now: datetime | None = None) -> int:
    """Withdraw the marketing consent of this address (from every quiz it took); return how many.

    Confirmation emails not yet sent to it are dropped: they would ask for a consent that the
    taker has just refused.
    """
    now = now or utcnow()
    begin_write()
    response = db.session.get(Response, response_id)
    if response is None:
        db.session.rollback()
        return 0
    same_taker = select(Response.id).where(
        or_(
            Response.id == response.id,
            func.lower(Response.email) == (response.email or "").lower(),
        )
        if response.email
        else Response.id == response.id
    )
    consents = (
        db.session.execute(
            select(Consent)
            .where(
                Consent.response_id.in_(same_taker),
                Consent.kind == "marketing",
                Consent.withdrawn_at.is_(None),
            )
            .with_for_update()
        )
        .scalars()
        .all()
    )
    with rollups.marketing_recount(Response.id.in_(sorted({c.response_id for c in consents}))):
        for consent in consents:
            consent.withdrawn_at = now
    rollups.delete_emails(
        and_(
            OutboxMessage.response_id.in_(same_taker),
            OutboxMessage.kind == "optin",
            OutboxMessage.status == "queued",
        )
    )
    db.session.commit()
    return len(consents)


def export_data(content: Content, response: Response) -> dict[str, Any]:
    """Everything stored about one quiz taker, as JSON-ready data."""
    answers = db.session.execute(
        select(Answer).where(Answer.response_id == response.id).order_by(Answer.id)
    ).scalars()
    consents = db.session.execute(
        select(Consent).where(Consent.response_id == response.id).order_by(Consent.id)
    ).scalars()
    messages = db.session.execute(
        select(OutboxMessage)
        .where(OutboxMessage.response_id == response.id)
        .order_by(OutboxMessage.id)
    ).scalars()
    questions = content.question_by_id
    return {
        "quiz": {
            "started_at": _iso(response.started_at),
            "finished_at": _iso(response.finished_at),
            "content_version": response.content_version,
            "content_hash": response.content_hash,
            "utm_source": response.utm_source,
            "utm_medium": response.utm_medium,
            "utm_campaign": response.utm_campaign,
            "utm_term": response.utm_term,
            "utm_content": response.utm_content,
            "referrer": response.referrer,
        },
        "contact": {"first_name": response.first_name, "email": response.email},
        "answers": [
            {
                "question_id": answer.question_id,
                "question": questions[answer.question_id].text
                if answer.question_id in questions
                else None,
                "answer_id": answer.option_id,
                "answer": _choice_label(content, answer.question_id, answer.option_id),
                "points": answer.points,
                "answered_at": _iso(answer.answered_at),
            }
            for answer in answers
        ],
        "result": {
            "scores": response.scores(),
            "bands": response.bands,
            "bottleneck": response.bottleneck,
            "runner_up": response.runner_up,
            "analysis": response.analysis,
        },
        "consents": [
            {
                "kind": consent.kind,
                "text_version": consent.text_version,
                "text_hash": consent.text_hash,
                "granted_at": _iso(consent.granted_at),
                "confirmed_at": _iso(consent.confirmed_at),
                "withdrawn_at": _iso(consent.withdrawn_at),
            }
            for consent in consents
        ],
        "emails": [
            {
                "kind": message.kind,
                "status": message.status,
                "created_at": _iso(message.created_at),
                "sent_at": _iso(message.sent_at),
            }
            for message in messages
        ],
    }


def delete_data(response_id: int) -> bool:
    """Delete one taker's response with its answers, consents and emails; False if gone already."""
    begin_write()
    response = db.session.get(Response, response_id)
    if response is None:
        db.session.rollback()
        return False
    # Lock what the dashboard counts, so no sender or confirmation changes it in between.
    for model in (OutboxMessage, Consent):
        db.session.execute(
            select(model.id).where(model.response_id == response_id).with_for_update()
        ).all()
    rollups.on_delete([response])
    for model in (OutboxMessage, Consent, Answer):
        db.session.execute(
            delete(model)
            .where(model.response_id == response_id)
            .execution_options(synchronize_session=False)
        )
    db.session.execute(
        delete(Response)
        .where(Response.id == response_id)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return True


def _choice_label(content: Content, question_id: str, option_id: str) -> str | None:
    if question_id not in content.question_by_id:
        return None
    return next(
        (choice.label for choice in content.choices(question_id) if choice.id == option_id), None
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
