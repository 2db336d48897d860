"""The result page `/r/<token>` and its chart: the stored result rendered with the texts of its
content version, kept per worker and checked on every view (issue 16).

Its routes are the public blueprint's (`public.result`, `public.result_chart`): links to them
stay what they were when the page moved here from quiz.web.public, the quiz's views.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flask import Response, abort, current_app, make_response, render_template

from quiz import caches
from quiz.app_state import get_content, get_content_version
from quiz.charts import CHART_DPI, CHART_WIDTH_IN, chart_height_in
from quiz.counters import norms_read
from quiz.domain import result_layout
from quiz.domain.content import Content
from quiz.experiments import assign
from quiz.models import Response as QuizResponse
from quiz.result_chart import result_chart_png
from quiz.site import settings as site_settings
from quiz.taker import response_reads
from quiz.web import account, limits, progress_view
from quiz.web.public import bp


@dataclass(frozen=True)
class _ResultKey:
    """What a cached result page was rendered from, checked on every view.

    The norms move as other takers finish or delete their data, so the page is kept with the
    figures it shows and the scores they were read for: a view reads the norms afresh (from
    histograms at most NORMS_SECONDS old) and renders again only when a figure it shows has
    changed.
    """

    version: str  # the row's last change (response_reads.result_version)
    settings_version: int  # the site settings it shows (brand, call to action)
    content_sha: str
    content_version: str
    scores: tuple[tuple[str, int], ...]
    norms: tuple[tuple[str, int], ...]


@bp.get("/r/<token>")
@limits.token_misses
def result(token: str) -> str:
    """The stored result: diagnosis, next steps, chart, call to action; the rest collapsed."""
    version = response_reads.result_version(token) or abort(404)
    data_link = account.take_data_link_once(token)
    if data_link is not None:
        # The first view after the finish, for a taker without a result email: rendered for
        # this view alone, so no other view (and no cached page) shows the data link.
        response = response_reads.find_result(token) or abort(404)
        norms = _norms(response.content_version, response.scores())
        return _render_result(get_content(), response, token, norms, data_link=data_link)
    content_sha = get_content().sha256
    settings_version = site_settings.current().version
    # Each worker renders a result once; the version check above keeps a deletion or
    # anonymisation effective at once in every worker, the norms check keeps the norms current.
    cache = caches.current().result_pages
    cached = cache.get(token)
    # The cached page's content version, scores and the norms just read for them.
    known: tuple[str, dict[str, int], dict[str, int]] | None = None
    if cached is not None:
        key = cached[0]
        current = (version, settings_version, content_sha)
        if (
            isinstance(key, _ResultKey)
            and (key.version, key.settings_version, key.content_sha) == current
        ):
            norms = _norms(key.content_version, dict(key.scores))
            if tuple(sorted(norms.items())) == key.norms:
                return cached[1]
            known = (key.content_version, dict(key.scores), norms)
    response = response_reads.find_result(token) or abort(404)
    scores = response.scores()
    if known is not None and known[:2] == (response.content_version, scores):
        norms = known[2]  # read a moment ago for these very scores
    else:
        norms = _norms(response.content_version, scores)
    html = _render_result(get_content(), response, token, norms)
    key = _ResultKey(
        version=version,
        settings_version=settings_version,
        content_sha=content_sha,
        content_version=response.content_version,
        scores=tuple(sorted(scores.items())),
        norms=tuple(sorted(norms.items())),
    )
    cache.put(token, (key, html))
    return html


def _norms(content_version: str, scores: Mapping[str, int]) -> dict[str, int]:
    """The taker's X per dimension ("Sie liegen vor X %"), empty below QUIZ_NORMS_MIN.

    The histograms are the app's for a moment (caches.current().norms, NORMS_SECONDS): reading them
    takes longer than serving the cached page, so one read serves every view meanwhile.
    """
    config = current_app.config
    include_demo = bool(config["QUIZ_NORMS_INCLUDE_DEMO"])
    histograms = caches.current().norms.get_or_make(
        (content_version, include_demo),
        lambda: norms_read.comparison_histograms(content_version, include_demo),
    )
    return norms_read.norms_from(histograms, scores, int(config["QUIZ_NORMS_MIN"]))


def _render_result(
    content: Content,
    response: QuizResponse,
    token: str,
    norms: Mapping[str, int],
    data_link: str | None = None,
) -> str:
    """Render from what was stored, with the texts of the content version it was made with.

    Analyses stored before the ranked next steps (content 2026.1) keep their first layout.
    `norms` are the taker's percentiles per dimension (empty: the norms stay hidden).
    """
    version = get_content_version(response.content_version)
    scores = response.scores()
    rows = [
        {
            "dimension": dimension,
            "score": scores.get(dimension.id),
            "band": dimension.band((response.bands or {}).get(dimension.id, dimension.bands[0].id)),
            "norm": norms.get(dimension.id),
        }
        for dimension in version.dimensions
        if dimension.id in scores
    ]
    analysis = response.analysis or []
    chart_size = (
        round(CHART_WIDTH_IN * CHART_DPI),
        round(chart_height_in(len(rows)) * CHART_DPI),
    )
    if not result_layout.has_next_steps(analysis):
        # Article metadata is about the article, so the newest content may name its author.
        articles = {**version.source_by_file, **content.source_by_file}
        return render_template(
            "quiz/result_v1.html",
            response=response,
            rows=rows,
            bottleneck=analysis[0] if analysis else None,
            dimension_items=[item for item in analysis[1:] if item["kind"] == "dimension"],
            tips=[item for item in analysis if item["kind"] == "tip"],
            citations={file: article.citation for file, article in articles.items()},
            token=token,
            chart_size=chart_size,
            data_link=data_link,
        )
    answers = {answer.question_id: answer.option_id for answer in response.answers}
    return render_template(
        "quiz/result.html",
        **progress_view.progress_context(response),
        shown=assign.shown_for_response(response.id),
        response=response,
        rows=rows,
        has_norms=any(row["norm"] is not None for row in rows),
        report=result_layout.build_layout(version, analysis, answers),
        token=token,
        chart_size=chart_size,
        data_link=data_link,
    )


@bp.get("/r/<token>/chart.png")
@limits.token_misses
def result_chart(token: str) -> Response:
    """The score chart, rendered once per response and stored for every worker to reuse."""
    response = response_reads.find_result(token) or abort(404)
    chart = make_response(result_chart_png(response))
    chart.headers["Content-Type"] = "image/png"
    return chart
