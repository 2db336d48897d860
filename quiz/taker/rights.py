"""The taker's side of consent and data: confirm the opt-in, unsubscribe, export, delete.

Orchestration only: each function is one write transaction (`database.write()`) or one read,
here in the service layer, while the rows (and the counters that follow them) are changed by
their writers: quiz.taker.responses, quiz.taker.consents and quiz.mail.outbox. The callers (the
account pages, the coach view) have already checked the signed link.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, or_, select

from quiz import database, deletion_log
from quiz.app_state import get_content
from quiz.domain.content import Content
from quiz.extensions import db
from quiz.links import digest_matches
from quiz.mail import outbox
from quiz.models import (
    Answer,
    Consent,
    Experiment,
    ExperimentVariant,
    LeadRecord,
    LeadStatusChange,
    LeadTag,
    OutboxMessage,
    Response,
    ResponseVariant,
    utcnow,
)
from quiz.site import settings as site_settings
from quiz.site.durations import parse_duration, parse_durations
from quiz.taker import clicks, consents, reassessments, responses
from quiz.taker.consents import OptinOutcome, OptinState
from quiz.webhooks.queue import sent_about

ResendOutcome = Literal["queued", "pending", "limited", "already", "withdrawn", "none"]


def response_for_link(response_id: int, digest: str) -> Response | None:
    """The finished response a signed link names, if it still exists and the digest matches."""
    response = db.session.get(Response, response_id)
    if response is None or response.status != "finished":
        return None
    if not digest_matches(response.result_token, digest):
        return None
    return response


def marketing_state(response_id: int) -> OptinState:
    """Whether this response's marketing consent is pending, confirmed, withdrawn or absent."""
    return consents.marketing_state(response_id)


def confirm_optin(response_id: int, now: datetime | None = None) -> OptinOutcome:
    """Confirm the marketing consent (double opt-in); a second confirmation changes nothing.

    With `notify.new_lead` on, the coach gets one note about the new lead (at contact.email),
    and the follow-up series is queued (when switched on), both in the same transaction: only the
    confirmation that changed it queues them.
    """
    now = now or utcnow()
    with database.write():
        outcome = consents.confirm(response_id, now)
        if outcome == "confirmed":
            _notify_coach(response_id)
            _queue_followups(response_id, now)
            _queue_reassess_invitation(response_id, now)
        return outcome


def _notify_coach(response_id: int) -> None:
    """One note to the coach about this new lead, when they asked for it."""
    site = site_settings.current()
    coach_email = site.text("contact.email")
    if site.flag("notify.new_lead") and coach_email:
        outbox.queue_new_lead(coach_email, response_id)


def _queue_followups(response_id: int, confirmed_at: datetime) -> None:
    """The follow-up series for this taker's bottleneck, at the configured times."""
    site = site_settings.current()
    if not site.flag("followup.enabled"):
        return
    response = db.session.get(Response, response_id)
    if response is None or not response.bottleneck:
        return
    series = get_content().followups.get(response.bottleneck, ())
    times = parse_durations(site.text("followup.schedule"))
    outbox.queue_followups(
        response,
        confirmed_at,
        [(email.id, after) for email, after in zip(series, times, strict=False)],
    )


def _queue_reassess_invitation(response_id: int, confirmed_at: datetime) -> None:
    """The invitation to take the quiz again, `followup.reassess_after` after the confirmation
    (none while that setting is empty)."""
    after = site_settings.current().text("followup.reassess_after")
    response = db.session.get(Response, response_id)
    if after and response is not None:
        outbox.queue_reassess_invitation(response, confirmed_at + parse_duration(after))


def resend_optin(response_id: int, now: datetime | None = None) -> ResendOutcome:
    """Queue a fresh confirmation email (after an expired link), within the hourly limit."""
    now = now or utcnow()
    with database.write():
        response = db.session.get(Response, response_id)
        consent = consents.marketing_consent(response_id)
        if response is None or consent is None or not response.email:
            return "none"
        if consent.withdrawn_at is not None:
            return "withdrawn"
        if consent.confirmed_at is not None:
            return "already"
        if outbox.optin_waiting(response_id):
            return "pending"
        if outbox.over_hourly_limit(response.email, "optin", now):
            return "limited"
        outbox.queue_resend(response)
        return "queued"


def unsubscribe(response_id: int, now: datetime | None = None) -> int:
    """Withdraw the marketing consent of this address (from every quiz it took); return how many.

    Confirmation emails not yet sent to it are dropped: they would ask for a consent that the
    taker has just refused.
    """
    now = now or utcnow()
    with database.write():
        response = db.session.get(Response, response_id)
        if response is None:
            return 0
        same_taker = select(Response.id).where(
            or_(
                Response.id == response.id,
                func.lower(Response.email) == (response.email or "").lower(),
            )
            if response.email
            else Response.id == response.id
        )
        withdrawn = consents.withdraw_marketing(response, same_taker, now)
        outbox.drop_waiting_optins(same_taker)
        outbox.cancel_followups(same_taker, with_invitation=True)
        deletion_log.record("unsubscribed", response)  # a restore re-applies it
        return withdrawn


def export_data(content: Content, response: Response) -> dict[str, Any]:
    """Everything stored about one quiz taker, as JSON-ready data.

    Long because the export is one literal, every field spelled out, as the taker will read it.
    """
    answers = db.session.execute(
        select(Answer).where(Answer.response_id == response.id).order_by(Answer.id)
    ).scalars()
    consent_rows = db.session.execute(
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
            "referrer_host": response.referrer_host,
        },
        # The A/B tests' texts this taker was shown (issue 25).
        "experiments": _variants_shown(response.id),
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
            for consent in consent_rows
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
        # What the coach's CRM was sent about this taker, and where.
        "webhooks": sent_about(response.id),
        # When they followed the call to action, and from where (result, email, pdf, ...).
        "cta_clicks": clicks.for_response(response.id),
        # What the coach noted about them as a lead (their status, its history, notes, tags).
        "coach": _lead_work(response.id),
        # Their quizzes before and after this one (re-assessments), this one marked.
        "reassessment_chain": _chain(response.id),
    }


def _chain(response_id: int) -> list[dict[str, Any]]:
    chain = reassessments.chain_ids(response_id)
    if len(chain) == 1:
        return []
    rows = db.session.scalars(select(Response).where(Response.id.in_(chain)).order_by(Response.id))
    return [
        {
            "this_quiz": row.id == response_id,
            "re_assessment": row.previous_response_id is not None,
            "status": row.status,
            "started_at": _iso(row.started_at),
            "finished_at": _iso(row.finished_at),
            "content_version": row.content_version,
            "scores": row.scores(),
            "bottleneck": row.bottleneck,
        }
        for row in rows
    ]


def _lead_work(response_id: int) -> dict[str, Any]:
    record = db.session.get(LeadRecord, response_id)
    changes = db.session.scalars(
        select(LeadStatusChange)
        .where(LeadStatusChange.response_id == response_id)
        .order_by(LeadStatusChange.id)
    )
    return {
        "status": record.status if record else "new",
        "notes": record.notes if record else "",
        "tags": list(
            db.session.scalars(
                select(LeadTag.tag).where(LeadTag.response_id == response_id).order_by(LeadTag.tag)
            )
        ),
        "status_history": [
            {"from": c.old_status, "to": c.new_status, "at": _iso(c.changed_at)} for c in changes
        ],
    }


def delete_data(response_id: int) -> bool:
    """Delete one taker's response with its answers, consents, emails and clicks, and the rest
    of its re-assessment chain (every quiz before and after it); False if gone already."""
    with database.write():
        if db.session.get(Response, response_id) is None:
            return False
        # The latest first, so no foreign key's cascade ever deletes past the counters.
        for link_id in reversed(reassessments.chain_ids(response_id)):
            response = db.session.get(Response, link_id)
            assert response is not None
            # Emails and consents first: their counters are found through the response.
            outbox.delete_for_responses([link_id])
            consents.delete_for_responses([link_id])
            clicks.delete_for_responses([link_id])
            outbox.delete_new_lead_notes([link_id])
            deletion_log.record("deleted", response)  # a restore re-applies it
            responses.delete(response)
        return True


def _variants_shown(response_id: int) -> list[dict[str, Any]]:
    rv, e, v = ResponseVariant, Experiment, ExperimentVariant
    rows = db.session.execute(
        select(e.name, e.element, v.name, v.text, v.label)
        .select_from(rv)
        .join(e, e.id == rv.experiment_id)
        .join(v, (v.experiment_id == rv.experiment_id) & (v.position == rv.position))
        .where(rv.response_id == response_id)
        .order_by(rv.experiment_id)
    )
    return [
        {"experiment": name, "element": element, "variant": variant, "text": text, "label": label}
        for name, element, variant, text, label in rows
    ]


def _choice_label(content: Content, question_id: str, option_id: str) -> str | None:
    if question_id not in content.question_by_id:
        return None
    return next(
        (choice.label for choice in content.choices(question_id) if choice.id == option_id), None
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
