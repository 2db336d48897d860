"""The coach's "Fragebogen-Qualität" page under /coach/qualitaet (issue 14).

Reliability and item statistics of one content version, read from the item-statistics
counters (`quiz.counters.item_stats_read.read`): a few thousand counter rows whatever the number
of takers, so the page needs no cache. Login, caching headers and the layout are the coach view's (as for
quiz.web.coach.settings); the filters are checked by quiz.web.coach.params like the dashboard's.
This module only arranges the figures in content order; every text is in the template.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Flask, render_template

from quiz.app_state import get_content, get_content_version
from quiz.counters import item_stats_read
from quiz.counters.item_stats_read import ItemStatistics, QuestionFigures
from quiz.domain import psychometrics as ps
from quiz.domain.content import Content
from quiz.web.coach import params as coach_params
from quiz.web.coach.login import require_login

bp = Blueprint("coach_quality", __name__, url_prefix="/coach/qualitaet")
bp.before_request(require_login)

# The dashboard's demo choices (quiz.web.coach.params) in the counters' terms.
DEMO_FILTERS: dict[str, item_stats_read.DemoFilter] = {
    "all": "include",
    "real": "exclude",
    "demo": "only",
}
# Of the dashboard's filters only these apply to all-time counters.
APPLICABLE_PARAMS = ("version", "demo", "quality")


def init_app(app: Flask) -> None:
    """Register the page (after the coach view, whose login it uses)."""
    app.register_blueprint(bp)


@dataclass(frozen=True)
class OptionCount:
    """How often one option was chosen; label and points only where the content knows them."""

    id: str
    label: str | None
    points: int | None
    applicable: bool
    count: int


@dataclass(frozen=True)
class QuestionRow:
    """One question in content order, with its figures (None when nobody answered it yet)."""

    id: str
    number: int | None
    text: str | None
    page: int | None  # 1-based page in the content version
    left_on_page: int | None  # drafts that stopped on that page
    # An extra question (issue 23): asked on the extra page, of some takers only.
    extra: bool
    figures: QuestionFigures | None
    options: tuple[OptionCount, ...]


@dataclass(frozen=True)
class DimensionBlock:
    """One dimension: its analysis (None without responses) and its questions."""

    id: str
    name: str | None
    analysis: ps.DimensionAnalysis | None
    questions: tuple[QuestionRow, ...]


def _options(
    content: Content | None, question_id: str, figures: QuestionFigures | None
) -> tuple[OptionCount, ...]:
    counts = dict(figures.counts) if figures else {}
    out: list[OptionCount] = []
    if content is not None and question_id in content.question_by_id:
        for choice in content.choices(question_id):
            count = counts.pop(choice.id, 0)
            points = choice.points if choice.applicable else None
            out.append(OptionCount(choice.id, choice.label, points, choice.applicable, count))
    # Options the content (no longer) has: by id.
    out.extend(OptionCount(option, None, None, True, n) for option, n in sorted(counts.items()))
    return tuple(out)


def arrange(report: ItemStatistics, content: Content | None) -> list[DimensionBlock]:
    """The report's dimensions and questions in the order of `content` (the report's version).

    `content` is None for a version the app does not know: then ids in code-point order.
    """
    by_dimension: dict[str, list[str]] = {}
    for question_id, answered in report.questions.items():
        by_dimension.setdefault(answered.dimension, []).append(question_id)
    order: list[str] = list(report.dimensions)
    names: dict[str, str] = {}
    if content is not None:
        names = {d.id: d.name for d in content.dimensions}
        order = [d.id for d in content.dimensions]
        order += sorted(set(report.dimensions) - set(order))
    pages = (
        {q.id: number for number, page in enumerate(content.pages, 1) for q in page.questions}
        if content is not None
        else {}
    )
    numbers = content.question_number if content is not None else {}
    bank = {q.id for q in content.extra_questions} if content is not None else set()
    blocks = []
    for dimension in order:
        ids = sorted(by_dimension.get(dimension, []))
        if content is not None:
            known = [q.id for q in content.questions_of(dimension)]
            known += [q.id for q in content.extra_questions_of(dimension) if q.id in ids]
            ids = known + [q for q in ids if q not in known]
        rows = []
        for question_id in ids:
            figures = report.questions.get(question_id)
            page = pages.get(question_id)
            question = content.question_by_id.get(question_id) if content is not None else None
            rows.append(
                QuestionRow(
                    id=question_id,
                    number=numbers.get(question_id),
                    text=question.text if question is not None else None,
                    page=page,
                    left_on_page=None if page is None else report.drafts_by_steps.get(page - 1, 0),
                    extra=figures.extra if figures is not None else question_id in bank,
                    figures=figures,
                    options=_options(content, question_id, figures),
                )
            )
        blocks.append(
            DimensionBlock(
                id=dimension,
                name=names.get(dimension),
                analysis=report.dimensions.get(dimension),
                questions=tuple(rows),
            )
        )
    return blocks


@bp.get("")
def quality() -> str:
    """Reliability per dimension and item statistics per question, for the chosen filters."""
    parsed = coach_params.parse()
    problems = [name for name in parsed.problems if name in APPLICABLE_PARAMS]
    current = get_content()
    version = parsed.filters.version or current.version
    demo = DEMO_FILTERS[parsed.filters.demo]
    report = item_stats_read.read(version, demo, parsed.filters.quality)
    # Texts and pages from the content the responses were given with (an archived version's own);
    # a version this app does not know shows ids only.
    known = get_content_version(version)
    content = known if known.version == version else None
    return render_template(
        "coach/quality.html",
        report=report,
        blocks=arrange(report, content),
        content=content,
        versions=sorted(set(item_stats_read.versions()) | {current.version}),
        version=version,
        demo=parsed.filters.demo,
        quality=report.quality,
        param_problems=tuple(problems),
        min_n=ps.MIN_N,
        thresholds={
            "alpha": ps.ALPHA_MIN,
            "item_total_r": ps.ITEM_TOTAL_R_MIN,
            "floor_ceiling": float(ps.FLOOR_CEILING_MAX),
        },
    )
