"""The result page's before and after of a re-assessment (issue 24): what its template needs.

The comparison itself is quiz.domain.progress, read through quiz.taker.reassessments; the
chart is served by quiz.web.reassess.
"""

from __future__ import annotations

from typing import Any

from flask import url_for

from quiz import result_progress
from quiz.charts import CHART_DPI, CHART_WIDTH_IN
from quiz.models import Response as QuizResponse
from quiz.progress_chart import progress_chart_height_in


def progress_context(response: QuizResponse) -> dict[str, Any]:
    """What the result page needs for its before and after (nothing for a first quiz)."""
    progress = result_progress.progress_of(response)
    earlier = result_progress.earlier_of(response)
    if progress is None or earlier is None:
        return {"progress": None}
    size = (CHART_WIDTH_IN * CHART_DPI, progress_chart_height_in(len(progress.rows)) * CHART_DPI)
    return {
        "progress": progress,
        "earlier_finished": earlier.finished_at,
        "progress_size": tuple(round(side) for side in size),
        "progress_chart_src": url_for("reassess.progress_chart", token=response.result_token),
    }
