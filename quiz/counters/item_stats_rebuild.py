"""Recompute the item-statistics counters from the raw rows, and compare them (issue 14).

`quiz.counters.item_stats` keeps the counters in step with every finish and delete; this is the
independent second opinion: every counter as INSERT ... SELECT ... GROUP BY straight from
`responses` and `answers`. `check()` lists what differs (for `rebuild-rollups --check`),
`rebuild()` replaces the counters with the recomputation. Both first judge the finished
responses that were never judged (quality_flags NULL: finished before the counters existed, or
written in bulk), against the median of all finishes of their content version and demo flag.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from quiz.app_state import extra_question_ids
from quiz.counters.item_stats import TABLES, statement_options, store_flags
from quiz.counters.models import (
    NOT_APPLICABLE_POINTS,
    SPEEDER,
    STRAIGHT_LINING,
)
from quiz.counters.rollup_keys import COARSE_STEP, COARSE_UNTIL, FINE_STEP, FINE_UNTIL
from quiz.domain import psychometrics as ps
from quiz.extensions import db
from quiz.models import SCORED_DIMENSIONS, Answer, Response

R = Response.__table__.c
Counters = dict[str, dict[tuple[Any, ...], int]]


def _epoch(column: ColumnElement[datetime], dialect: str) -> ColumnElement[int]:
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", column)), BigInteger)
    # As quiz.counters.rollup_rebuild: strftime("%s") alone rounds to the millisecond first.
    return cast(func.strftime("%s", func.substr(column, 1, 19)), Integer)


def _seconds(dialect: str) -> ColumnElement[int]:
    return _epoch(R.finished_at, dialect) - _epoch(R.started_at, dialect)


def _bucket(seconds: ColumnElement[int]) -> ColumnElement[int]:
    """quiz.counters.rollup_keys.duration_bucket in SQL."""
    return case(
        (seconds < 0, 0),
        (seconds < FINE_UNTIL, seconds // FINE_STEP * FINE_STEP),
        (seconds < COARSE_UNTIL, seconds // COARSE_STEP * COARSE_STEP),
        else_=COARSE_UNTIL,
    )


def _finished() -> list[ColumnElement[bool]]:
    return [R.status == "finished", R.finished_at.is_not(None)]


def _demo(demo: bool | None) -> list[ColumnElement[bool]]:
    return [] if demo is None else [R.is_demo.is_(demo)]


def queries(
    dialect: str, demo: bool | None = None, extra: Collection[str] = frozenset()
) -> dict[str, list[Select[Any]]]:
    """Per counter table, SELECTs giving its primary key columns and value from the raw rows.

    Answers to `extra` questions count in the option counts only (item_stats.contributions).
    """
    # Re-assessments are judged but never counted (item_stats.on_finish).
    counted = [
        *_finished(),
        R.quality_flags.is_not(None),
        R.previous_response_id.is_(None),
        *_demo(demo),
    ]
    base = [R.content_version, R.is_demo, R.quality_flags]
    answers = Answer.__table__
    a1, a2 = answers.alias("a1"), answers.alias("a2")
    # The (response, dimension) pairs with an N/A answer: few, so an anti-join against them is
    # far cheaper than asking NOT EXISTS for each of millions of answer pairs.
    na = answers.c
    bank = sorted(extra)
    incomplete = (
        select(na.response_id, na.dimension_id)
        .where(na.points.is_(None), *([na.question_id.not_in(bank)] if bank else []))
        .group_by(na.response_id, na.dimension_id)
        .subquery("incomplete")
    )
    # The sums are over the core questions alone.
    if bank:
        counted_core = [*counted, a1.c.question_id.not_in(bank)]
        pair_core = [*counted_core, a2.c.question_id.not_in(bank)]
    else:
        counted_core = pair_core = counted
    complete = incomplete.c.response_id.is_(None)
    first, second = a1.c.question_id, a2.c.question_id
    if dialect == "postgresql":  # code-point order, as ps.pair() sorts
        first, second = first.collate("C"), second.collate("C")
    skip_incomplete = and_(
        incomplete.c.response_id == a1.c.response_id,
        incomplete.c.dimension_id == a1.c.dimension_id,
    )
    with_response = a1.join(Response.__table__, R.id == a1.c.response_id)
    complete_only = with_response.outerjoin(incomplete, skip_incomplete)
    both = (
        a1.join(
            a2,
            and_(
                a2.c.response_id == a1.c.response_id,
                a2.c.dimension_id == a1.c.dimension_id,
                first <= second,
            ),
        )
        .join(Response.__table__, R.id == a1.c.response_id)
        .outerjoin(incomplete, skip_incomplete)
    )
    keys = [*base, a1.c.dimension_id]
    blank = literal("")
    sums = [
        select(*keys, blank, blank, func.count(func.distinct(a1.c.response_id)))
        .select_from(complete_only)
        .where(*counted_core, complete)
        .group_by(*keys),
        select(*keys, a1.c.question_id, blank, func.sum(a1.c.points))
        .select_from(complete_only)
        .where(*counted_core, complete)
        .group_by(*keys, a1.c.question_id),
        select(*keys, a1.c.question_id, a2.c.question_id, func.sum(a1.c.points * a2.c.points))
        .select_from(both)
        .where(*pair_core, complete)
        .group_by(*keys, a1.c.question_id, a2.c.question_id),
    ]
    points = func.coalesce(a1.c.points, NOT_APPLICABLE_POINTS)
    option_keys = [*keys, a1.c.question_id, a1.c.option_id, points]
    options = [
        select(*option_keys, func.count())
        .select_from(with_response)
        .where(*counted)
        .group_by(*option_keys)
    ]
    scores = []
    for dimension in SCORED_DIMENSIONS:
        score = R[f"score_{dimension}"]
        scores.append(
            select(*base, literal(dimension), score, func.count())
            .where(*counted, score.is_not(None))
            .group_by(*base, score)
        )
    bucket = _bucket(_seconds(dialect))
    durations = [select(*base, bucket, func.count()).where(*counted).group_by(*base, bucket)]
    return {
        "item_stat_sums": sums,
        "item_option_counts": options,
        "score_histogram": scores,
        "duration_histogram": durations,
    }


def judge_unjudged(
    session: Session | None = None,
    *,
    demo: bool | None = None,
    statements: Collection[str] | None = None,
) -> int:
    """Set quality_flags on finished responses that have none; returns how many were judged.

    The speeder median here is that of every finish of the group (at finish time it is that of
    the earlier ones, which is what the counters kept then).
    """
    session = session or db.session()
    dialect = session.get_bind().dialect.name
    seconds = _seconds(dialect)
    bucket = _bucket(seconds)
    histograms: dict[tuple[str, bool], dict[int, int]] = defaultdict(dict)
    for version, is_demo, value, count in session.execute(
        select(R.content_version, R.is_demo, bucket, func.count())
        # As the duration histogram the finish judged by: without the re-assessments.
        .where(*_finished(), R.previous_response_id.is_(None), *_demo(demo))
        .group_by(R.content_version, R.is_demo, bucket)
    ):
        histograms[(version, bool(is_demo))][int(value)] = int(count)
    straight = _straight_lining_ids(statements or statement_options())
    judged = 0
    for (version, is_demo), histogram in sorted(histograms.items()):
        median = ps.histogram_median(histogram)
        n = sum(histogram.values())
        speeder: ColumnElement[int] = literal(0)
        if median is not None and n >= ps.SPEEDER_MEDIAN_MIN_N:
            speeder = case((seconds * 3 < median, SPEEDER), else_=0)
        flags = case((R.id.in_(straight), STRAIGHT_LINING), else_=0) + speeder
        judged += store_flags(
            and_(
                *_finished(),
                R.quality_flags.is_(None),
                R.content_version == version,
                R.is_demo.is_(is_demo),
            ),
            flags,
            session,
        )
    return judged


def _straight_lining_ids(statements: Collection[str]) -> Select[Any]:
    a = Answer.__table__.c
    return (
        select(a.response_id)
        .where(a.option_id.in_(sorted(statements)))
        .group_by(a.response_id)
        .having(
            func.count() >= ps.STRAIGHT_LINING_MIN_ITEMS,
            func.count(func.distinct(a.option_id)) == 1,
        )
    )


def rebuild(
    session: Session | None = None,
    *,
    demo: bool | None = None,
    statements: Collection[str] | None = None,
) -> int:
    """Judge what is unjudged, then replace the counters (all, or the demo / real ones).

    Runs in the caller's write transaction; returns how many responses were judged.
    """
    session = session or db.session()
    judged = judge_unjudged(session, demo=demo, statements=statements)
    for name, selects in queries(
        session.get_bind().dialect.name, demo, extra_question_ids()
    ).items():
        table = TABLES[name]
        cleared = delete(table)
        if demo is not None:
            cleared = cleared.where(table.c.is_demo.is_(demo))
        session.execute(cleared)
        columns = [c.name for c in table.columns]
        for query in selects:
            session.execute(insert(table).from_select(columns, query))
    return judged


def snapshot(session: Session | None = None) -> Counters:
    """Every non-zero counter as maintained."""
    session = session or db.session()
    out: Counters = {}
    for name, table in TABLES.items():
        keys = list(table.primary_key.columns)
        value = next(c for c in table.columns if not c.primary_key)
        out[name] = {
            _key(row[:-1]): int(row[-1])
            for row in session.execute(select(*keys, value).where(value != 0))
        }
    return out


def recompute(session: Session | None = None) -> Counters:
    """Every non-zero counter as the raw rows give it (judged responses only; nothing written)."""
    session = session or db.session()
    out: Counters = {}
    for name, selects in queries(
        session.get_bind().dialect.name, extra=extra_question_ids()
    ).items():
        counters: dict[tuple[Any, ...], int] = {}
        for query in selects:
            for row in session.execute(query):
                if row[-1]:
                    counters[_key(row[:-1])] = int(row[-1])
        out[name] = counters
    return out


def _key(values: Any) -> tuple[Any, ...]:
    return tuple(bool(v) if isinstance(v, bool) else v for v in values)


def check(
    session: Session | None = None,
    *,
    statements: Collection[str] | None = None,
    limit: int = 20,
) -> list[str]:
    """The differences between the counters and the raw rows, one line each (empty: in step)."""
    session = session or db.session()
    problems: list[str] = []
    unjudged = session.execute(
        select(func.count()).where(*_finished(), R.quality_flags.is_(None))
    ).scalar_one()
    if unjudged:
        problems.append(f"responses: {unjudged} finished but not judged or counted")
    straight = _straight_lining_ids(statements or statement_options())
    flagged = R.quality_flags.op("&")(STRAIGHT_LINING) != 0
    wrong = session.execute(
        select(func.count()).where(
            *_finished(), R.quality_flags.is_not(None), flagged != R.id.in_(straight)
        )
    ).scalar_one()
    if wrong:
        problems.append(
            f"responses: {wrong} with a straight-lining flag their answers disagree with"
        )
    kept, raw = snapshot(session), recompute(session)
    for name in TABLES:
        differing = sorted(
            (
                key
                for key in kept[name].keys() | raw[name].keys()
                if kept[name].get(key, 0) != raw[name].get(key, 0)
            ),
            key=repr,
        )
        for key in differing[:limit]:
            problems.append(
                f"{name} {key}: kept {kept[name].get(key, 0)}, raw rows {raw[name].get(key, 0)}"
            )
        if len(differing) > limit:
            problems.append(f"{name}: {len(differing) - limit} more differences")
    return problems
