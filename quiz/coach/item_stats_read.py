"""Reading the item-statistics counters: the figures of the coach's page, the CLI and the norms.

Every function reads a few thousand counter rows at most (quiz.coach.item_stats_models), summed
in SQL over the demo and quality classes the filter lets in, and hands them to the pure
statistics in quiz.domain.psychometrics. The page, `item-stats` and the result page stay thin:
`read()` for the page and the CLI (`Report.as_json()`), `norms()`/`norms_json()` for the CLI's
norms, `result_norms()` for one taker's scores on the result page, in the email and the PDF.

Over ~400 lines because the norms readers joined the figure readers late in the round; they share
the filter SQL and the histogram query with `read()`. They are the next to move, into a norms
module of their own, when this module changes again.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Boolean, Integer, String, Table, bindparam, func, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement, TextClause

from quiz.coach.item_stats_models import (
    NOT_APPLICABLE_POINTS,
    SPEEDER,
    STRAIGHT_LINING,
    DurationHistogram,
    ItemOptionCount,
    ItemStatSum,
    ScoreHistogram,
)
from quiz.domain import psychometrics as ps
from quiz.extensions import db
from quiz.models import CoachRollup

DemoFilter = Literal["include", "exclude", "only"]
QualityFilter = Literal["all", "clean", "flagged"]


def _filters(
    table: Table, version: str, demo: DemoFilter, quality: QualityFilter
) -> list[ColumnElement[bool]]:
    c = table.c
    where: list[ColumnElement[bool]] = [c.content_version == version]
    if demo == "exclude":
        where.append(c.is_demo.is_(False))
    elif demo == "only":
        where.append(c.is_demo.is_(True))
    if quality == "clean":
        where.append(c.quality == 0)
    elif quality == "flagged":
        where.append(c.quality != 0)
    return where


@dataclass(frozen=True)
class QuestionFigures:
    """One question: its dimension, counts per option id (N/A included) and the statistics."""

    dimension: str
    counts: Mapping[str, int]
    not_applicable: int
    analysis: ps.ItemAnalysis


@dataclass(frozen=True)
class QualityFigures:
    """How many of the finished responses in the filter were flagged, and the median time."""

    finished: int
    straight_lining: int
    speeders: int
    flagged: int
    median_seconds: int | None


@dataclass(frozen=True)
class Report:
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
) -> Report:
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
    for dimension in sorted(set(n_by_dim) | set(dimension_of.values())):
        own = sorted(q for q, d in dimension_of.items() if d == dimension)
        # The items come from the option counts: an item everyone answered with 0 points has
        # no non-zero sum row, yet it counts in alpha's k.
        sums = ps.DimensionSums(
            n=n_by_dim.get(dimension, 0),
            items=tuple(sorted(set(own) | set(item_sums[dimension]))),
            sums=item_sums[dimension],
            products=products[dimension],
        )
        analysis = ps.analyse_dimension(
            sums, {q: ps.PointsDistribution(dict(points[q])) for q in own}
        )
        dimensions[dimension] = analysis
        for question in own:
            questions[question] = QuestionFigures(
                dimension=dimension,
                counts=counts[question],
                not_applicable=na[question],
                analysis=analysis.items[question],
            )

    histograms = _score_histograms(session, version, demo, quality)
    responses = _quality_figures(session, version, demo, quality)
    return Report(
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


def _score_histograms(
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
    if quality != "all":
        where.append((c.quality == 0) if quality == "clean" else (c.quality != 0))
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


@dataclass(frozen=True)
class Norm:
    """The comparison group of one dimension: its size and X for every score, when shown."""

    n: int
    percentile_by_score: Mapping[int, int] | None


def norms(
    version: str,
    include_demo: bool,
    min_n: int,
    session: Session | None = None,
    *,
    quality: QualityFilter = "all",
) -> dict[str, Norm]:
    """The norms of every dimension: finished responses of the version (demo ones if asked).

    `percentile_by_score` is None below `min_n` comparable responses: the result page then shows
    nothing. `quality="clean"` would compare with unflagged responses only; the issue asks for
    all finished ones, so that is the default.
    """
    session = session or db.session()
    demo: DemoFilter = "include" if include_demo else "exclude"
    out: dict[str, Norm] = {}
    for dimension, histogram in _score_histograms(session, version, demo, quality).items():
        n = sum(histogram.values())
        table = ps.percentile_table(histogram) if n >= min_n else None
        out[dimension] = Norm(n=n, percentile_by_score=table)
    return out


def percentile(
    version: str,
    dimension: str,
    score: int,
    include_demo: bool,
    min_n: int,
    session: Session | None = None,
    *,
    quality: QualityFilter = "all",
) -> int | None:
    """ "Sie liegen vor X % der Teilnehmenden": X for one score, None below `min_n` responses."""
    session = session or db.session()
    demo: DemoFilter = "include" if include_demo else "exclude"
    histograms = _score_histograms(session, version, demo, quality, dimension)
    histogram = histograms.get(dimension, {})
    if sum(histogram.values()) < min_n:
        return None
    return ps.midrank_percentile(histogram, score)


def norms_json(result: Mapping[str, Norm]) -> dict[str, Any]:
    """norms.<dimension>.n and .percentile_by_score ("0".."100" -> X, null below the minimum)."""
    return {
        dimension: {
            "n": norm.n,
            "percentile_by_score": (
                None
                if norm.percentile_by_score is None
                else {str(s): x for s, x in norm.percentile_by_score.items()}
            ),
        }
        for dimension, norm in result.items()
    }


def taker_norms(
    version: str,
    scores: Mapping[str, int],
    include_demo: bool,
    min_n: int,
    session: Session | None = None,
) -> dict[str, int]:
    """X of "Sie liegen vor X %" for each of one taker's scores, in one query (the result page's).

    Only dimensions with at least `min_n` comparable responses appear, so below that the
    result page, the email and the PDF show nothing. The query sums, per dimension, the
    histogram rows of the version below and at the taker's own score: at most 101 counter rows
    per dimension and class of response, whatever the number of takers. A finished taker's own response is among the
    comparable ones (finishing counts it in the same transaction); the mid-rank counts it as
    half of its own tie group, so a taker alone at their score is never "ahead of" themselves.
    """
    if not scores:
        return {}
    session = session or db.session()
    dimensions = sorted(scores)
    params: dict[str, Any] = {"version": version}
    if not include_demo:
        params["demo"] = False
    for i, dimension in enumerate(dimensions):
        params[f"d{i}"], params[f"s{i}"] = dimension, int(scores[dimension])
    rows = session.connection().execute(_norms_statement(len(dimensions), include_demo), params)
    out: dict[str, int] = {}
    for dimension, total, below, same in rows:
        total, below, same = int(total or 0), int(below or 0), int(same or 0)
        if total < min_n or total <= 0:
            continue
        score = scores[dimension]
        # The three counts as a histogram, so the rounding is psychometrics' own.
        histogram = {score - 1: below, score: same, score + 1: total - below - same}
        x = ps.midrank_percentile(histogram, score)
        if x is not None:
            out[dimension] = x
    return out


@functools.cache
def _norms_statement(k: int, include_demo: bool) -> TextClause:
    """`taker_norms()`'s query for k dimensions, written once: it runs on every result view, so
    it skips building and compiling a statement (as `responses.result_version` does)."""
    own = " ".join(f"WHEN dimension = :d{i} THEN CAST(:s{i} AS INTEGER)" for i in range(k))
    wanted = ", ".join(f":d{i}" for i in range(k))
    demo = "" if include_demo else " AND is_demo = :demo"
    # Only placeholders and the table's own name go into the text; every value is bound.
    sql = (
        "SELECT dimension, SUM(count),"  # noqa: S608
        f" SUM(CASE WHEN score < CASE {own} END THEN count ELSE 0 END),"
        f" SUM(CASE WHEN score = CASE {own} END THEN count ELSE 0 END)"
        f" FROM {ScoreHistogram.__tablename__}"
        f" WHERE content_version = :version AND dimension IN ({wanted}){demo}"
        " GROUP BY dimension"
    )
    binds = [bindparam("version", type_=String())]
    binds += [bindparam(f"d{i}", type_=String()) for i in range(k)]
    binds += [bindparam(f"s{i}", type_=Integer()) for i in range(k)]
    if not include_demo:
        binds.append(bindparam("demo", type_=Boolean()))
    return text(sql).bindparams(*binds)


def comparison_histograms(
    version: str, include_demo: bool, session: Session | None = None
) -> dict[str, dict[int, int]]:
    """Every dimension's score histogram of the comparable responses ({score: count})."""
    session = session or db.session()
    demo: DemoFilter = "include" if include_demo else "exclude"
    return _score_histograms(session, version, demo, "all")


def norms_from(
    histograms: Mapping[str, Mapping[int, int]], scores: Mapping[str, int], min_n: int
) -> dict[str, int]:
    """X for each score from histograms already read (`comparison_histograms`), as taker_norms."""
    out: dict[str, int] = {}
    for dimension, score in scores.items():
        histogram = histograms.get(dimension, {})
        if sum(histogram.values()) < min_n:
            continue
        x = ps.midrank_percentile(histogram, score)
        if x is not None:
            out[dimension] = x
    return out


def result_norms(
    config: Mapping[str, Any],
    version: str,
    scores: Mapping[str, int],
    session: Session | None = None,
) -> dict[str, int]:
    """`taker_norms()` under the app's settings (QUIZ_NORMS_MIN, QUIZ_NORMS_INCLUDE_DEMO)."""
    return taker_norms(
        version,
        scores,
        include_demo=bool(config.get("QUIZ_NORMS_INCLUDE_DEMO", False)),
        min_n=int(config.get("QUIZ_NORMS_MIN", 100)),
        session=session,
    )
