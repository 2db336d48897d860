"""Reads of the re-assessment chain (issue 24): one person's quizzes, each naming the one before.

The rows are written by quiz.taker.responses (a draft started from the invitation's link names
its earlier response); this module reads the chain for the before-and-after comparison
(quiz.domain.progress), the taker's export and deletion, and the coach's lead page.
"""

from __future__ import annotations

from sqlalchemy import select

from quiz.app_state import get_content_version
from quiz.domain.progress import Progress, Snapshot, compare
from quiz.extensions import db
from quiz.models import Response

# Far more than any person takes the quiz; it only bounds a walk over a broken chain.
MAX_CHAIN = 1000


def earlier_of(response: Response) -> Response | None:
    """The finished response this re-assessment follows (None: it is none, or that is gone)."""
    earlier_id = response.previous_response_id
    if earlier_id is None:
        return None
    earlier = db.session.get(Response, earlier_id)
    return earlier if earlier is not None and earlier.status == "finished" else None


def snapshot(response: Response) -> Snapshot:
    """A stored result as the comparison reads it, with its own content version's dimensions."""
    content = get_content_version(response.content_version)
    return Snapshot(
        version=response.content_version,
        dimensions=tuple((d.id, d.name) for d in content.dimensions),
        scores=response.scores(),
        bottleneck=response.bottleneck,
    )


def progress_of(response: Response) -> Progress | None:
    """Before and after for a finished re-assessment (None for a first quiz)."""
    earlier = earlier_of(response)
    if earlier is None or response.status != "finished":
        return None
    return compare(snapshot(earlier), snapshot(response))


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
