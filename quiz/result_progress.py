"""A re-assessment's before and after, read from the stored results (issue 24).

One home for the result page, the summary email and the PDF: the earlier response a
re-assessment follows, and the comparison of the two (quiz.domain.progress), each with the
dimensions of its own content version.
"""

from __future__ import annotations

from flask import Flask

from quiz.app_state import get_content_version
from quiz.domain.progress import Progress, Snapshot, compare
from quiz.extensions import db
from quiz.models import Response


def earlier_of(response: Response) -> Response | None:
    """The finished response this re-assessment follows (None: it is none, or that is gone)."""
    earlier_id = response.previous_response_id
    if earlier_id is None:
        return None
    earlier = db.session.get(Response, earlier_id)
    return earlier if earlier is not None and earlier.status == "finished" else None


def snapshot(response: Response, app: Flask | None = None) -> Snapshot:
    """A stored result as the comparison reads it, with its own content version's dimensions."""
    content = get_content_version(response.content_version, app)
    return Snapshot(
        version=response.content_version,
        dimensions=tuple((d.id, d.name) for d in content.dimensions),
        scores=response.scores(),
        bottleneck=response.bottleneck,
    )


def progress_of(response: Response, app: Flask | None = None) -> Progress | None:
    """Before and after for a finished re-assessment (None for a first quiz)."""
    earlier = earlier_of(response)
    if earlier is None or response.status != "finished":
        return None
    return compare(snapshot(earlier, app), snapshot(response, app))
