"""The reads of drafts and results on the quiz's hot path (the writer is quiz.taker.responses)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select

from quiz import hot_reads
from quiz.extensions import db
from quiz.models import Answer, OutboxMessage, Response


@dataclass(frozen=True)
class DraftState:
    """What the quiz pages need to know about a draft; read without loading the whole row."""

    id: int
    status: str
    steps_completed: int
    result_token: str | None


# The hot-path reads are built once and run on the session's connection: building a select and
# going through the ORM's execute cost about 0.3 ms per request, more than the query itself
# (issue 3's quiz-page throughput target); on SQLite they go straight to the driver
# (quiz.hot_reads, issue 22).
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
    rows = hot_reads.read_rows(_DRAFT_BY_TOKEN, {"token": token})
    return DraftState(*rows[0]) if rows else None


def find_result(token: str) -> Response | None:
    """A finished response by its result token."""
    if len(token) > 64:
        return None
    return db.session.execute(
        select(Response).where(Response.result_token == token, Response.status == "finished")
    ).scalar_one_or_none()


def find_finished(response_id: int) -> Response | None:
    """A finished response by its id (the PDF renderer's claims name it so)."""
    return db.session.execute(
        select(Response).where(Response.id == response_id, Response.status == "finished")
    ).scalar_one_or_none()


def find_draft_with_answers(token: str | None) -> tuple[DraftState | None, dict[str, str]]:
    """A draft and its saved answers in one query (the quiz pages' hot path)."""
    if not token or len(token) > 64:
        return None, {}
    rows = hot_reads.read_rows(_DRAFT_WITH_ANSWERS, {"token": token})
    if not rows:
        return None, {}
    answers = {question: option for *_, question, option in rows if question is not None}
    return DraftState(*rows[0][:4]), answers


def result_version(token: str) -> str | None:
    """A finished result's last-change time as text (None if there is no such result).

    Cheap enough to run on every result page view, so cached pages never outlive their row.
    """
    if len(token) > 64:
        return None
    rows = hot_reads.read_rows(_RESULT_VERSION, {"token": token})
    return rows[0][0].isoformat() if rows else None


def stored_answers(response_id: int) -> dict[str, str]:
    """The answers saved so far, {question_id: option_id}."""
    rows = db.session.execute(
        select(Answer.question_id, Answer.option_id).where(Answer.response_id == response_id)
    )
    return {question_id: option_id for question_id, option_id in rows}


def carried_address(response_id: int) -> str | None:
    """The address a re-assessment draft carries from the invitation's link (None: the lead
    step asks for one as on a first quiz)."""
    return db.session.scalar(
        select(Response.email).where(
            Response.id == response_id,
            Response.status == "draft",
            Response.previous_response_id.is_not(None),
        )
    )


def summary_queued(response_id: int) -> bool:
    """Whether the result email (which carries the link to the taker's data) was queued."""
    return (
        db.session.scalar(
            select(OutboxMessage.id)
            .where(OutboxMessage.response_id == response_id, OutboxMessage.kind == "result")
            .limit(1)
        )
        is not None
    )
