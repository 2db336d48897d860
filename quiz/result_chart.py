"""The result chart: rendered once per response, stored, and reused by the page and the email.

The one home of the chart of a taker's result. The result page and the summary email both show
it; whichever needs it first renders it with quiz.charts and stores it in the response's
`chart_png`, so every worker (and the other of the two) reuses the stored PNG. This module is
the one writer of that column (the responses' writer leaves it alone): the mail sender, which
the taker's side calls to queue its email, stores a chart it rendered here as well.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select, update

from quiz import database
from quiz.app_state import get_content
from quiz.charts import result_bars, score_chart_png
from quiz.extensions import db
from quiz.models import Response


def render(response: Response) -> bytes:
    """The chart of a stored result, freshly rendered (nothing is stored)."""
    content = get_content(current_app)
    bars = result_bars(
        content.dimensions, response.scores(), response.bands or {}, response.bottleneck
    )
    return score_chart_png(bars)


def stored_or_rendered(response: Response) -> tuple[bytes, bool]:
    """The chart and whether it was rendered just now (so the caller still has to store it).

    For callers that store it in a write transaction of their own (the mail sender records the
    chart with the message's outcome); `response` must have its `chart_png` loaded.
    """
    if response.chart_png is not None:
        return response.chart_png, False
    return render(response), True


def result_chart_png(response: Response) -> bytes:
    """The stored PNG of this finished response, or render it now and store it for next time."""
    png = db.session.scalar(select(Response.chart_png).where(Response.id == response.id))
    if png is not None:
        return png
    png = render(response)
    db.session.rollback()  # the read above ends; the chart is stored in a write of its own
    with database.write():
        record(response.id, png)
    return png


def record(response_id: int, png: bytes) -> None:
    """Store a rendered chart in the caller's write transaction, unless one is there already.

    The chart is drawn from the response, not a change to it: `updated_at` (the version the
    PDF and the kept pages are made for) stays as it is. Moved on, it made a PDF rendered
    between the finish and the first load of the chart out of date, and the taker's download
    rendered it again.
    """
    db.session.execute(
        update(Response)
        .where(Response.id == response_id, Response.chart_png.is_(None))
        .values(chart_png=png, updated_at=Response.updated_at)
        .execution_options(synchronize_session=False)
    )
