"""Reading the norms: "Sie liegen vor X % der Teilnehmenden" (issue 14, item 1).

From the score histograms the item-statistics counters keep (quiz.counters.models), a
hundred and one rows per dimension at most, whatever the number of takers: `norms()` and
`norms_json()` for the CLI, `percentile()` for one score, `result_norms()` for one taker's scores
on the result page, in the email and the PDF, `comparison_histograms()` and `norms_from()` for
the result page's short-lived cache.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Integer, String, bindparam, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter, TextClause

from quiz.counters.item_stats_read import DemoFilter, score_histograms
from quiz.counters.models import ScoreHistogram
from quiz.counters.rollup_keys import QualityFilter
from quiz.domain import psychometrics as ps
from quiz.extensions import db


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
    for dimension, histogram in score_histograms(session, version, demo, quality).items():
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
    histograms = score_histograms(session, version, demo, quality, dimension)
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
    it skips building and compiling a statement (as `response_reads.result_version` does)."""
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
    binds: list[BindParameter[Any]] = [bindparam("version", type_=String())]
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
    return score_histograms(session, version, demo, "all")


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
