"""Reading the item-statistics counters: the figures of the coach's page, the CLI and the norms.

Every function reads a few thousand counter rows at most (quiz.counters.models), summed
in SQL over the demo and quality classes the filter lets in, and hands them to the pure
statistics in quiz.domain.psychometrics. The page, `item-stats` and the result page stay thin:
`read()` for the page and the CLI (`ItemStatistics.as_json()`).

The norms readers (quiz.counters.norms_read) share `score_histograms()` with `read()`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from quiz.app_state import extra_question_ids
from quiz.counters.models import (
    NOT_APPLICABLE_POINTS,
    SPEEDER,
    STRAIGHT_LINING,
    CoachRollup,
    DurationHistogram,
    ItemOptionCount,
    ItemStatSum,
    ScoreHistogram,
)
from quiz.counters.rollup_keys import QualityFilter, quality_condition
from quiz.domain import psychometrics as ps
from quiz.extensions import db

DemoFilter = Literal["include", "exclude", "only"]


def _filters(
    table: Table, version: str, demo: DemoFilter, quality: QualityFilter
) -> list[ColumnElement[bool]]:
    c = table.c
    where: list[ColumnElement[bool]] = [c.content_version == version]
    if demo == "exclude":
        where.append(c.is_demo.is_(False))
    elif demo == "only":
        where.append(c.is_demo.is_(True))
    condition = quality_condition(c.quality, quality)
    if condition is not None:
        where.append(condition)
    return where


@dataclass(frozen=True)
class QuestionFigures:
    """One question: its dimension, counts per option id (N/A included) and the statistics."""

    dimension: str
    counts: Mapping[str, int]
    not_applicable: int
    analysis: ps.ItemAnalysis
    # An extra question: answered only by those who got the extra page; its n is theirs.
    extra: bool = False


@dataclass(frozen=True)
class QualityFigures:
    """How many of the finished responses in the filter were flagged, and the median time."""

    finished: int
    straight_lining: int
    speeders: int
    flagged: int
    median_seconds: int | None


@dataclass(frozen=True)
class ItemStatistics:
    """Everything the "Fragebogen-Qualität" page and `item-stats` show for one filter."""

    version: str
    demo: DemoFilter
    quality: QualityFilter
    finished: int
    dimensions: Mapping[str, ps.DimensionAnalysis]
    questions: Mapping[str, QuestionFigures]
    score_histograms: Mapping[str, Mapping[int, int]]
    responses: QualityFigures
    # Drafts of this version by steps completed: those at k are on (or left at) step k + 1.
    drafts_by_steps: Mapping[int, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The CLI's JSON: dimensions.<id>.alpha/n, questions.<id>.item_total_r/... ."""
        return {
            "version": self.version,
            "demo": self.demo,
            "quality": self.quality,
            "finished": self.finished,
            "dimensions": {
                d: {
                    "n": a.n,
                    "alpha": a.alpha,
                    "enough": a.enough,
                    "flags": [f.code for f in a.flags],
                }
                for d, a in self.dimensions.items()
            },
            "questions": {
                q: {
                    "dimension": f.dimension,
                    "extra": f.extra,
                    "counts": dict(f.counts),
                    "not_applicable": f.not_applicable,
                    "n": f.analysis.distribution.n,
                    "mean": f.analysis.distribution.mean,
                    "floor_share": f.analysis.distribution.floor_share,
                    "ceiling_share": f.analysis.distribution.ceiling_share,
                    "item_total_r": f.analysis.item_total_r,
                    "alpha_if_deleted": f.analysis.alpha_if_deleted,
                    "flags": [flag.code for flag in f.analysis.flags],
                }
                for q, f in self.questions.items()
            },
            "responses": vars(self.responses).copy(),
            "drafts_by_steps": {str(k): v for k, v in sorted(self.drafts_by_steps.items())},
        }


def read(
    version: str,
    demo: DemoFilter = "include",
    quality: QualityFilter = "all",
    session: Session | None = None,
) -> ItemStatistics:
    """Every figure of one content version under the dashboard's demo filter and a quality filter."""
    session = session or db.session()
    sums_t = ItemStatSum.__table__
    s = sums_t.c
    n_by_dim: dict[str, int] = {}
    item_sums: dict[str, dict[str, int]] = defaultdict(dict)
    products: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
    for dimension, a, b, total in session.execute(
        select(s.dimension, s.item_a, s.item_b, func.sum(s.total))
        .where(*_filters(sums_t, version, demo, quality))
        .group_by(s.dimension, s.item_a, s.item_b)
    ):
        if a == "":
            n_by_dim[dimension] = int(total)
        elif b == "":
            item_sums[dimension][a] = int(total)
        else:
            products[dimension][(a, b)] = int(total)

    options_t = ItemOptionCount.__table__
    o = options_t.c
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    points: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    na: dict[str, int] = defaultdict(int)
    dimension_of: dict[str, str] = {}
    for dimension, question, option, value, count in session.execute(
        select(o.dimension, o.question_id, o.option_id, o.points, func.sum(o.count))
        .where(*_filters(options_t, version, demo, quality))
        .group_by(o.dimension, o.question_id, o.option_id, o.points)
    ):
        dimension_of[question] = dimension
        counts[question][option] = counts[question].get(option, 0) + int(count)
        if value == NOT_APPLICABLE_POINTS:
            na[question] += int(count)
        else:
            points[question][int(value)] += int(count)

    dimensions: dict[str, ps.DimensionAnalysis] = {}
    questions: dict[str, QuestionFigures] = {}
    # Extra questions were asked of some takers only: counted per exposure, outside α.
    extra = extra_question_ids()
    for dimension in sorted(set(n_by_dim) | set(dimension_of.values())):
        own = sorted(q for q, d in dimension_of.items() if d == dimension)
        # The items come from the option counts: an item everyone answered with 0 points has
        # no non-zero sum row, yet it counts in alpha's k.
        sums = ps.DimensionSums(
            n=n_by_dim.get(dimension, 0),
            items=tuple(sorted({q for q in own if q not in extra} | set(item_sums[dimension]))),
            sums=item_sums[dimension],
            products=products[dimension],
        )
        analysis = ps.analyse_dimension(
            sums, {q: ps.PointsDistribution(dict(points[q])) for q in own}, extra
        )
        dimensions[dimension] = analysis
        for question in own:
            questions[question] = QuestionFigures(
                dimension=dimension,
                counts=counts[question],
                not_applicable=na[question],
                analysis=analysis.items[question],
                extra=question in extra,
            )

    histograms = score_histograms(session, version, demo, quality)
    responses = _quality_figures(session, version, demo, quality)
    return ItemStatistics(
        version=version,
        demo=demo,
        quality=quality,
        finished=responses.finished,
        dimensions=dimensions,
        questions=questions,
        score_histograms=histograms,
        responses=responses,
        drafts_by_steps=_drafts_by_steps(session, version, demo, quality),
    )


def score_histograms(
    session: Session,
    version: str,
    demo: DemoFilter,
    quality: QualityFilter,
    dimension: str | None = None,
) -> dict[str, dict[int, int]]:
    table = ScoreHistogram.__table__
    h = table.c
    where = _filters(table, version, demo, quality)
    if dimension is not None:
        where.append(h.dimension == dimension)
    out: dict[str, dict[int, int]] = defaultdict(dict)
    for dim, score, count in session.execute(
        select(h.dimension, h.score, func.sum(h.count)).where(*where).group_by(h.dimension, h.score)
    ):
        if count:
            out[dim][int(score)] = int(count)
    return dict(out)


def _quality_figures(
    session: Session, version: str, demo: DemoFilter, quality: QualityFilter
) -> QualityFigures:
    table = DurationHistogram.__table__
    d = table.c
    by_quality: dict[int, int] = defaultdict(int)
    histogram: dict[int, int] = defaultdict(int)
    for flags, bucket, count in session.execute(
        select(d.quality, d.bucket, func.sum(d.count))
        .where(*_filters(table, version, demo, quality))
        .group_by(d.quality, d.bucket)
    ):
        by_quality[int(flags)] += int(count)
        histogram[int(bucket)] += int(count)
    return QualityFigures(
        finished=sum(by_quality.values()),
        straight_lining=sum(c for f, c in by_quality.items() if f & STRAIGHT_LINING),
        speeders=sum(c for f, c in by_quality.items() if f & SPEEDER),
        flagged=sum(c for f, c in by_quality.items() if f),
        median_seconds=ps.histogram_median(histogram),
    )


def _drafts_by_steps(
    session: Session, version: str, demo: DemoFilter, quality: QualityFilter
) -> dict[int, int]:
    """Unfinished responses by steps completed, from the dashboard's month-level funnel rows.

    Finished responses sit in the highest `reached` bucket (steps = pages + 1, which no draft
    reaches), so the `finish` count is taken off that bucket. Drafts are never judged: they are
    in quality class 0, so "only flagged" has none.
    """
    c = CoachRollup.__table__.c
    where = [c.metric.in_(("reached", "finish")), c.period == "month"]
    where.append(c.content_version == version)
    if demo != "include":
        where.append(c.is_demo.is_(demo == "only"))
    condition = quality_condition(c.quality, quality)
    if condition is not None:
        where.append(condition)
    reached: dict[int, int] = {}
    finished = 0
    for metric, bucket, count in session.execute(
        select(c.metric, c.bucket, func.sum(c.count)).where(*where).group_by(c.metric, c.bucket)
    ):
        if metric == "finish":
            finished += int(count)
        else:
            reached[int(bucket)] = int(count)
    if reached and finished:
        reached[max(reached)] -= finished
    return {steps: count for steps, count in sorted(reached.items()) if count}


def versions(session: Session | None = None) -> list[str]:
    """The content versions that have finished responses counted, newest name last."""
    session = session or db.session()
    c = DurationHistogram.__table__.c
    return sorted(session.execute(select(c.content_version).distinct()).scalars())
