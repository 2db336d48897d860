"""The one writer of responses and their answers.

Drafts are saved after every step, so a reload or a closed tab loses nothing. Finishing scores the
stored answers and stores the result, its counters, the consents (quiz.taker.consents), the queued
emails (quiz.mail.outbox) and its webhook event in one write transaction, and is idempotent: a
double submit returns the result of the first. Deleting, anonymising and the demo data's bulk
rows go through here too; every function moves the counters it changes itself, through the
counters' entry point for its event (quiz.counters). The stored result chart is
quiz.result_chart's.

Longer than most modules on purpose: it is the one writer of `responses` and `answers`, and
splitting the writes would give those tables two writers (the reads already live apart, in
quiz.taker.response_reads).
"""

from __future__ import annotations

import functools
import secrets
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy import delete as delete_rows
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import undefer

from quiz import counters, database
from quiz.counters.rollup_keys import Key
from quiz.domain import flow, traffic
from quiz.domain.analysis import build_analysis
from quiz.domain.analysis_items import AnalysisItem
from quiz.domain.consent_texts import ConsentTexts
from quiz.domain.content import Content, Page
from quiz.domain.scoring import ScoreResult
from quiz.extensions import db
from quiz.links import external_url
from quiz.mail import outbox
from quiz.models import (
    EXTRA_ANSWERED,
    EXTRA_DUE,
    EXTRA_NONE,
    SCORED_DIMENSIONS,
    Answer,
    Response,
    ResponseVariant,
    utcnow,
)
from quiz.taker import consents, pdf_store
from quiz.taker.bulk import bulk_insert
from quiz.webhooks import events

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


def start_draft(
    content: Content,
    tracking: Mapping[str, str | None],
    assignments: Mapping[int, int] | None = None,
    *,
    previous: Response | None = None,
    carry_contact: bool = True,
) -> Response:
    """Create and store a new draft, remembering where the taker came from and the A/B tests'
    variants they were shown ({experiment id: position}); returns it.

    With `previous` it is a re-assessment: from the invitation's link (proof of the mailbox)
    linked to the earlier response, with its name and address, whose consents the finish
    carries over (`finish`); from the earlier result page (`carry_contact` False, no proof)
    without them, so the lead step asks for the address and consents as on a first quiz.
    """
    carried = previous if previous is not None and carry_contact else None
    referrer = _clip(tracking.get("referrer"), 500)
    with database.write():
        response = Response(
            previous_response_id=previous.id if previous else None,
            first_name=carried.first_name if carried else None,
            email=carried.email if carried else None,
            draft_token=new_token(),
            status="draft",
            content_version=content.version,
            content_hash=content.sha256,
            step_times={},
            **{field: _clip(tracking.get(field), 100) for field in TRACKING_FIELDS},
            referrer=referrer,
            referrer_host=traffic.referrer_host(referrer, own_host()),
        )
        db.session.add(response)
        counters.on_start(response, assignments)
        for experiment_id, position in sorted((assignments or {}).items()):
            db.session.add(
                ResponseVariant(
                    response_id=response.id, experiment_id=experiment_id, position=position
                )
            )
    return response


def tracking_as_stored(tracking: Mapping[str, str | None]) -> dict[str, str | None]:
    """The tracking fields as a start would store them (the visit counters key by these)."""
    stored = {field: _clip(tracking.get(field), 100) for field in TRACKING_FIELDS}
    stored["referrer"] = _clip(tracking.get("referrer"), 500)
    return stored


def own_host() -> str:
    """This site's host (PUBLIC_URL): a referrer from it is no source."""
    return _host(current_app.config["PUBLIC_URL"])


@functools.lru_cache(maxsize=8)
def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


def save_step(
    content: Content,
    response_id: int,
    page: Page,
    step: int | None,
    answers: Mapping[str, str],
    *,
    completed: bool,
) -> tuple[str, ...]:
    """Store this page's answers (only valid ones); mark the step done when `completed`.

    `step` None is the extra page (`extra_page_of`), which moves no step: the funnel counts it
    apart, by `responses.extra_page`, which this keeps in step with the answers. Returns the
    extra questions due for the answers now stored (empty: none, or the core is not complete).
    """
    with database.write():
        response = db.session.get(Response, response_id, options=[undefer(Response.extra_page)])
        if response is None or response.status != "draft":
            return ()  # finished (or deleted) in another tab meanwhile: nothing to store
        rows = {
            answer.question_id: answer
            for answer in db.session.execute(
                select(Answer).where(Answer.response_id == response.id)
            ).scalars()
        }
        now = utcnow()
        for question in page.questions:
            option_id = answers.get(question.id)
            choice = next((c for c in content.choices(question.id) if c.id == option_id), None)
            if option_id is None or choice is None:
                continue
            # A not-applicable answer is stored without points, so no sum over points counts it.
            points = choice.points if choice.applicable else None
            answer = rows.get(question.id)
            if answer is None:
                rows[question.id] = Answer(
                    response_id=response.id,
                    question_id=question.id,
                    option_id=option_id,
                    dimension_id=question.dimension,
                    points=points,
                    answered_at=now,
                )
                db.session.add(rows[question.id])
            elif answer.option_id != option_id:
                answer.option_id = option_id
                answer.points = points
                answer.answered_at = now
        stored = {question_id: row.option_id for question_id, row in rows.items()}
        due = _extra_due(content, stored)
        state = EXTRA_NONE
        if due:
            state = EXTRA_ANSWERED if all(q in stored for q in due) else EXTRA_DUE
        if state != response.extra_page:
            counters.on_extra(response, state)
            response.extra_page = state
        if completed:
            response.step_times = {**(response.step_times or {}), page.id: now.isoformat()}
            if step is not None:
                counters.on_step(response, step)
                response.steps_completed = max(response.steps_completed, step)
        return due


def _extra_due(content: Content, answers: Mapping[str, str]) -> tuple[str, ...]:
    """The extra page due for these answers; empty while the core is not complete."""
    if any(question.id not in answers for question in content.questions):
        return ()
    return flow.extra_page(content, answers)


def extra_page_of(content: Content, question_ids: Sequence[str]) -> Page:
    """The extra page asking these questions of the bank (`flow.extra_page`)."""
    bank = content.extra
    assert bank is not None, "no extra questions in this content"
    return Page(
        id=bank.id,
        title=bank.title,
        intro=bank.intro,
        questions=tuple(content.question_by_id[question_id] for question_id in question_ids),
    )


class IncompleteAnswers(Exception):
    """Finishing needs every question answered; `question_id` is the first one missing."""

    def __init__(self, question_id: str) -> None:
        self.question_id = question_id
        super().__init__(question_id)


def finish(content: Content, response_id: int, lead: Lead, consent_texts: ConsentTexts) -> str:
    """Score and store the result, consents, emails and the PDF's queue entry in one transaction;
    return the token.

    Idempotent: when the response is already finished (double click, back button, second tab),
    nothing is written and the existing result token is returned.
    """
    with database.write():
        # Load and lock (a second tab waits here, then finds the result of the first).
        response = db.session.execute(
            select(Response)
            .where(Response.id == response_id)
            .options(undefer(Response.extra_page), undefer(Response.previous_response_id))
            .with_for_update()
        ).scalar_one()
        if response.status == "finished" and response.result_token:
            return response.result_token  # nothing written
        rows = list(
            db.session.execute(select(Answer).where(Answer.response_id == response.id)).scalars()
        )
        # The core and the extra page due for it: answers to extra questions no longer due (a
        # core answer changed after them) are dropped, so nothing counts or keeps them.
        answers = flow.relevant_answers(content, {r.question_id: r.option_id for r in rows})
        evaluation = flow.evaluate(content, answers)
        if evaluation.result is None:
            raise IncompleteAnswers(evaluation.next_questions[0])
        bank = {question.id for question in content.extra_questions}
        for row in rows:
            if row.question_id in bank and row.question_id not in answers:
                db.session.delete(row)
        rows = [row for row in rows if row.question_id not in bank or row.question_id in answers]
        # Score and analyse (pure).
        result = evaluation.result
        analysis = build_analysis(content, answers, result)
        # Store; then what follows it, all in this transaction: counters, consents, emails, event.
        draft = counters.counted_as(response)
        now = utcnow()
        # A re-assessment from the invitation's link carries its address (and the consents).
        carried = response.previous_response_id is not None and response.email is not None
        if response.previous_response_id is not None and not carried:
            _keep_link_for_same_address(response, lead.email)
        if carried:
            lead = replace(
                lead,
                first_name=response.first_name,
                email=response.email,
                consent_marketing=False,
            )
        token = _store_result(content, response, result, analysis, lead, now)
        counters.on_finish(content, response, rows, draft)
        if carried:
            assert response.previous_response_id is not None
            data = consents.carry_over(response.previous_response_id, response)
            lead = replace(lead, consent_data=data)
        else:
            consents.record_at_finish(
                response,
                data=lead.consent_data,
                marketing=bool(lead.email and lead.consent_data and lead.consent_marketing),
                texts=consent_texts,
                now=now,
            )
        outbox.queue_at_finish(
            response, data_consent=lead.consent_data, marketing=lead.consent_marketing, now=now
        )
        result_url = external_url(current_app, "public.result", token=token)
        events.quiz_completed(response, response.analysis or [], result_url)
        # Last, so the PDF is queued for the response as it is committed.
        pdf_store.queue(response, now)
        return token


def _keep_link_for_same_address(response: Response, email: str | None) -> None:
    """A re-assessment started from the earlier result page (no proof of the mailbox) stays
    linked only when the taker gave the earlier address again; else it is a first quiz."""
    earlier = db.session.get(Response, response.previous_response_id)
    same = bool(email and earlier and earlier.email and earlier.email.lower() == email.lower())
    if not same:
        response.previous_response_id = None


def _store_result(
    content: Content,
    response: Response,
    result: ScoreResult,
    analysis: Sequence[AnalysisItem],
    lead: Lead,
    now: datetime,
) -> str:
    """Set the result, the contact and the finish on the locked response; its result token."""
    response.status = "finished"
    response.finished_at = now
    response.result_token = token = new_token()
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
    response.analysis = [item.to_dict() for item in analysis]
    response.first_name = lead.first_name or None
    response.email = lead.email or None
    return token


def delete(response: Response) -> None:
    """Delete a response and its answers (caller's transaction), taking back its counters.

    Its consents and emails must be gone first, through their writers (they count by it). The
    item statistics take it back, and the webhooks drop its events and announce the deletion.
    """
    answers = db.session.execute(select(Answer).where(Answer.response_id == response.id)).scalars()
    counters.on_delete(response, list(answers))
    # Their queued and logged webhook events go, and the CRM is told to delete them too.
    events.lead_deleted(response.id)
    db.session.execute(
        delete_rows(Answer)
        .where(Answer.response_id == response.id)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        delete_rows(Response)
        .where(Response.id == response.id)
        .execution_options(synchronize_session=False)
    )


def due_for_anonymising(cutoff: datetime) -> ColumnElement[bool]:
    """Not yet anonymised, and finished (or, as a draft, started) before `cutoff`."""
    return and_(
        Response.anonymised_at.is_(None),
        or_(
            Response.finished_at < cutoff,
            and_(Response.finished_at.is_(None), Response.started_at < cutoff),
        ),
    )


def anonymise(cutoff: datetime, now: datetime, columns: Sequence[str]) -> int:
    """Clear these personal columns of the responses due (caller's transaction); how many.

    Every rollup key (days, campaign, version, scores) stays, so no counter moves.
    """
    changed = db.session.execute(
        update(Response)
        .where(due_for_anonymising(cutoff))
        .values({**dict.fromkeys(columns), "anonymised_at": now})
        .execution_options(synchronize_session=False)
    )
    assert isinstance(changed, CursorResult)  # an UPDATE's result
    return int(changed.rowcount or 0)


def insert_demo_batch(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert demo responses fast: COPY on PostgreSQL, executemany on SQLite."""
    bulk_insert(connection, Response.__table__, rows)


def insert_demo_answers(connection: Connection, columns: list[str], rows: Select[Any]) -> None:
    """Insert demo answers from a query over the demo batch."""
    connection.execute(insert(Answer.__table__).from_select(columns, rows))


def count_demo(deltas: Mapping[Key, Sequence[int]]) -> None:
    """Count the demo responses just inserted: the response metrics of the batch's counters."""
    counters.on_demo_responses(deltas)


def judge_demo(after_id: int) -> None:
    """Judge the demo responses just inserted (ids above `after_id`) and count them in their
    quality classes (the bulk path skips `finish`)."""
    counters.on_demo_judged(after_id)


def delete_demo() -> int:
    """Delete every demo response and its answers, and recount the demo counters from scratch.

    Their consents and emails must be gone first (consents.delete_demo, outbox.delete_demo);
    recounting the demo rows (all gone) is cheaper than taking back a million responses one by
    one, and also clears what their consents and emails had counted.
    """
    demo_ids = select(Response.id).where(Response.is_demo.is_(True))
    db.session.execute(delete_rows(Answer).where(Answer.response_id.in_(demo_ids)))
    result = db.session.execute(
        delete_rows(Response.__table__).where(Response.__table__.c.is_demo.is_(True))
    )
    assert isinstance(result, CursorResult)  # a DELETE's result
    removed = result.rowcount
    counters.on_demo_deleted()
    return int(removed or 0)


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
    # Every invisible character is one that is not printable: a printable value (nearly every
    # one, and the landing page clips each visit's, issue 22) has none to replace.
    visible = value
    if not value.isprintable():
        visible = "".join(
            " " if unicodedata.category(char) in _INVISIBLE_CATEGORIES else char for char in value
        )
    return " ".join(visible.split())[:length] or None
