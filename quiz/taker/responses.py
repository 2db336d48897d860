"""The one place that stores quiz answers and finishes a response.

Drafts are saved after every step, so a reload or a closed tab loses nothing. Finishing scores the
stored answers, stores the result, the consents and the queued emails in one write transaction,
and is idempotent: a double submit returns the result of the first.
"""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select

from quiz.coach import rollups
from quiz.database import begin_write
from quiz.domain.analysis import build_analysis
from quiz.domain.consent_texts import ConsentTexts
from quiz.domain.content import Content, Page
from quiz.domain.scoring import score_answers
from quiz.extensions import db
from quiz.mail.outbox import over_hourly_limit
from quiz.models import SCORED_DIMENSIONS, Answer, Consent, OutboxMessage, Response, utcnow

TRACKING_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


def new_token() -> str:
    """A random URL-safe token of 256 bits."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Lead:
    """What the taker entered on the last step."""

    first_name: str | None
    email: str | None
    consent_data: bool
    consent_marketing: bool


def start_draft(content: Content, tracking: Mapping[str, str | None]) -> Response:
    """Create and store a new draft, remembering where the taker came from; returns it."""
    begin_write()
    response = Response(
        draft_token=new_token(),
        status="draft",
        content_version=content.version,
        content_hash=content.sha256,
        step_times={},
        **{field: _clip(tracking.get(field), 100) for field in TRACKING_FIELDS},
        referrer=_clip(tracking.get("referrer"), 500),
    )
    db.session.add(response)
    rollups.on_start(response)
    db.session.commit()
    return response


@dataclass(frozen=True)
class DraftState:
    """What the quiz pages need to know about a draft; read without loading the whole row."""

    id: int
    status: str
    steps_completed: int
    result_token: str | None


# The hot-path reads are built once and run as Core statements on the session's connection:
# building a select and going through the ORM's execute cost about 0.3 ms per request, more than
# the query itself (issue 3's quiz-page throughput target).
_DRAFT_BY_TOKEN = select(
    Response.id, Response.status, Response.steps_completed, Response.result_token
).where(Response.draft_token == bindparam("token"))

_DRAFT_WITH_ANSWERS = (
    select(
        Response.id,
        Response.status,
        Response.steps_completed,
        Response.result_token,
        Answer.question_id,
        Answer.option_id,
    )
    .outerjoin(Answer, Answer.response_id == Response.id)
    .where(Response.draft_token == bindparam("token"))
)

_RESULT_VERSION = select(Response.updated_at).where(
    Response.result_token == bindparam("token"), Response.status == "finished"
)


def find_by_draft_token(token: str | None) -> DraftState | None:
    """The response a draft cookie points at, if any (the landing page's check for a draft)."""
    if not token or len(token) > 64:
        return None
    row = db.session.connection().execute(_DRAFT_BY_TOKEN, {"token": token}).one_or_none()
    return DraftState(*row) if row is not None else None


def find_result(token: str) -> Response | None:
    """A finished response by its result token."""
    if len(token) > 64:
        return None
    return db.session.execute(
        select(Response).where(Response.result_token == token, Response.status == "finished")
    ).scalar_one_or_none()


def find_draft_with_answers(token: str | None) -> tuple[DraftState | None, dict[str, str]]:
    """A draft and its saved answers in one query (the quiz pages' hot path)."""
    if not token or len(token) > 64:
        return None, {}
    rows = db.session.connection().execute(_DRAFT_WITH_ANSWERS, {"token": token}).all()
    if not rows:
        return None, {}
    first = rows[0]
    answers = {row.question_id: row.option_id for row in rows if row.question_id is not None}
    return DraftState(first.id, first.status, first.steps_completed, first.result_token), answers


def result_version(token: str) -> str | None:
    """A finished result's last-change time as text (None if there is no such result).

    Cheap enough to run on every result page view, so cached pages never outlive their row.
    """
    if len(token) > 64:
        return None
    updated = db.session.connection().execute(_RESULT_VERSION, {"token": token}).scalar()
    return updated.isoformat() if updated is not None else None


def stored_answers(response_id: int) -> dict[str, str]:
    """The answers saved so far, {question_id: option_id}."""
    rows = db.session.execute(
        select(Answer.question_id, Answer.option_id).where(Answer.response_id == response_id)
    )
    return {question_id: option_id for question_id, option_id in rows}


def save_step(
    content: Content,
    response_id: int,
    page: Page,
    step: int,
    answers: Mapping[str, str],
    *,
    completed: bool,
) -> None:
    """Store this page's answers (only valid ones); mark the step done when `completed`."""
    begin_write()
    response = db.session.get(Response, response_id)
    if response is None or response.status != "draft":
        db.session.rollback()
        return
    existing = {
        answer.question_id: answer
        for answer in db.session.execute(
            select(Answer).where(
                Answer.response_id == response.id,
                Answer.question_id.in_([q.id for q in page.questions]),
            )
        ).scalars()
    }
    now = utcnow()
    for question in page.questions:
        option_id = answers.get(question.id)
        points = {c.id: c.points for c in content.choices(question.id)}.get(option_id or "")
        if option_id is None or points is None:
            continue
        answer = existing.get(question.id)
        if answer is None:
            db.session.add(
                Answer(
                    response_id=response.id,
                    question_id=question.id,
                    option_id=option_id,
                    dimension_id=question.dimension,
                    points=points,
                    answered_at=now,
                )
            )
        elif answer.option_id != option_id:
            answer.option_id = option_id
            answer.points = points
            answer.answered_at = now
    if completed:
        response.step_times = {**(response.step_times or {}), page.id: now.isoformat()}
        rollups.on_step(response, step)
        response.steps_completed = max(response.steps_completed, step)
    db.session.commit()


class IncompleteAnswers(Exception):
    """Finishing needs every question answered; `question_id` is the first one missing."""

    def __init__(self, question_id: str) -> None:
        self.question_id = question_id
        super().__init__(question_id)


def finish(content: Content, response_id: int, lead: Lead, consent_texts: ConsentTexts) -> str:
    """Score and store the result, consents and emails in one transaction; return the token.

    Idempotent: when the response is already finished (double click, back button, second tab),
    nothing is written and the existing result token is returned.
    """
    begin_write()
    response = db.session.execute(
        select(Response).where(Response.id == response_id).with_for_update()
    ).scalar_one()
    if response.status == "finished" and response.result_token:
        db.session.rollback()
        return response.result_token
    answers = stored_answers(response.id)
    missing = next((q.id for q in content.questions if q.id not in answers), None)
    if missing is not None:
        db.session.rollback()
        raise IncompleteAnswers(missing)

    result = score_answers(content, answers)
    now = utcnow()
    messages = _messages_to_queue(lead, now)
    rollups.on_finish(content, response, result, now, emails_queued=len(messages))
    response.status = "finished"
    response.finished_at = now
    response.result_token = new_token()
    response.content_version = content.version
    response.content_hash = content.sha256
    response.steps_completed = len(content.pages) + 1
    response.step_times = {**(response.step_times or {}), "kontakt": now.isoformat()}
    for dimension_id, score in result.scores.items():
        if dimension_id in SCORED_DIMENSIONS:
            setattr(response, f"score_{dimension_id}", score)
    response.bands = dict(result.bands)
    response.bottleneck = result.bottleneck
    response.runner_up = result.runner_up
    response.analysis = [item.to_dict() for item in build_analysis(content, answers, result)]
    response.first_name = lead.first_name or None
    response.email = lead.email or None

    if lead.consent_data:
        db.session.add(_consent(response, "data", consent_texts, now))
    if lead.email and lead.consent_data and lead.consent_marketing:
        # Unconfirmed until the double opt-in, so it changes no dashboard counter yet.
        db.session.add(_consent(response, "marketing", consent_texts, now))
    for kind in messages:
        db.session.add(OutboxMessage(response_id=response.id, kind=kind, recipient=lead.email))
    db.session.commit()
    return response.result_token


def _messages_to_queue(lead: Lead, now: datetime) -> list[str]:
    """The kinds of email this finish queues: the summary and, for the newsletter, the opt-in.

    One address gets at most MAIL_MAX_PER_HOUR of each kind an hour.
    """
    if not (lead.email and lead.consent_data):
        return []
    kinds = ["result", "optin"] if lead.consent_marketing else ["result"]
    return [kind for kind in kinds if not over_hourly_limit(lead.email, kind, now)]


def _consent(response: Response, kind: str, texts: ConsentTexts, now: datetime) -> Consent:
    return Consent(
        response_id=response.id,
        kind=kind,
        text_version=texts.version,
        text_hash=texts.hash_of(kind),
        granted_at=now,
    )


# Unicode's control, format, surrogate and private-use characters: line breaks, tabs, escape
# sequences, bidi overrides, zero-width characters. None belongs in a campaign name.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co"})


def _clip(value: str | None, length: int) -> str | None:
    """A tracking value as stored: invisible characters become spaces, runs of white space one
    space, and the result is cut to `length` (None when nothing visible is left).

    Stripped rather than refused: the taker did not write the link they followed, and turning
    them away for it would cost a start. Stored as sent, a line break or an escape sequence would
    split the coach's CSV rows and terminal output, and a bidi override would reorder the text
    on the dashboard.
    """
    if not value:
        return None
    visible = "".join(
        " " if unicodedata.category(char) in _INVISIBLE_CATEGORIES else char for char in value
    )
    return " ".join(visible.split())[:length] or None
