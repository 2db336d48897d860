"""The result chart: rendered once per response, stored, and reused by the page and the email.

The one home of the chart of a taker's result. The result page and the summary email both show it;
whichever needs it first renders it with quiz.charts and stores it through the responses' writer,
so every worker (and the other of the two) reuses the stored PNG.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from quiz.app_state import get_content
from quiz.charts import result_bars, score_chart_png
from quiz.extensions import db
from quiz.models import Response
from quiz.taker import responses


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
    responses.store_chart(response.id, png)
    return png
