"""Reads of the re-assessment chain (issue 24): one person's quizzes, each naming the one before.

The rows are written by quiz.taker.responses (a draft started from the invitation's link names
its earlier response); this module reads the chain for the taker's export and deletion and the
coach's lead page. The before-and-after comparison is quiz.result_progress (the email and the
PDF need it too).
"""

from __future__ import annotations

from sqlalchemy import select

from quiz.extensions import db
from quiz.models import Response

# Far more than any person takes the quiz; it only bounds a walk over a broken chain.
MAX_CHAIN = 1000


def chain_ids(response_id: int) -> list[int]:
    """Every response of the chain this one belongs to, earliest first (itself included)."""
    root = response_id
    for _ in range(MAX_CHAIN):
        earlier = db.session.scalar(
            select(Response.previous_response_id).where(Response.id == root)
        )
        if earlier is None:
            break
        root = earlier
    chain, frontier = [root], [root]
    while frontier and len(chain) < MAX_CHAIN:
        frontier = list(
            db.session.scalars(
                select(Response.id)
                .where(Response.previous_response_id.in_(frontier))
                .order_by(Response.id)
            )
        )
        chain.extend(frontier)
    return chain


def later_of(response_id: int) -> list[Response]:
    """The finished re-assessments that follow this response directly, oldest first."""
    return list(
        db.session.scalars(
            select(Response)
            .where(Response.previous_response_id == response_id, Response.status == "finished")
            .order_by(Response.finished_at, Response.id)
        )
    )
