"""The one writer of the item-statistics counters (issue 14).

A finished response adds to four counter tables (quiz.counters.models): the sums of points and
of products per item pair of every dimension it answered completely, its option per question, its
score per dimension and its time to complete. `on_finish()` and `on_delete()` move them inside
the writer's transaction, as upserts compiled once per dialect (like quiz.counters.rollups).
quiz.counters.item_stats_read and quiz.counters.norms_read read them for the coach's page, the
CLI and the result page; quiz.counters.item_stats_rebuild recomputes everything from the raw
rows for `rebuild-rollups [--check]`.

Response quality is judged once, at finish, and stored in `responses.quality_flags` (bit 1: the
same option on every statement item; bit 2: finished in under a third of the median time of the
earlier finishes of its content version and demo flag, from the duration histogram). It is
stored because the median moves: judged again later, a response could change class, and the
counters would no longer add up. Every counter is keyed by it, so each figure can leave flagged
responses out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Protocol

from sqlalchemy import Table, bindparam, cast, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.elements import ColumnElement, TextClause

from quiz.app_state import extra_question_ids, get_content
from quiz.counters.models import (
    NOT_APPLICABLE_POINTS,
    SPEEDER,
    STRAIGHT_LINING,
    DurationHistogram,
    ItemOptionCount,
    ItemStatSum,
    ScoreHistogram,
)
from quiz.counters.rollup_keys import duration_bucket, seconds_between
from quiz.domain import psychometrics as ps
from quiz.extensions import db
from quiz.models import Response

# The option id a likert statement's "not applicable" answer is stored under (content 2026.2).
LIKERT_NOT_APPLICABLE = "nicht_zutreffend"

# table name -> primary key (in column order) -> change of the counter.
Deltas = dict[str, dict[tuple[Any, ...], int]]
TABLES: dict[str, Table] = {
    model.__tablename__: model.__table__
    for model in (ItemStatSum, ItemOptionCount, ScoreHistogram, DurationHistogram)
}


class AnswerLike(Protocol):
    """What the counters need of an answer (quiz.models.Answer has it)."""

    question_id: str
    option_id: str
    dimension_id: str
    points: int | None


def statement_options(content: Any | None = None) -> frozenset[str]:
    """The option ids of likert statements: the shared scale and its N/A option."""
    if content is None:
        content = get_content()
    return frozenset({point.id for point in content.scale} | {LIKERT_NOT_APPLICABLE})


def judge(
    answers: Iterable[AnswerLike],
    seconds: int,
    median: int | None,
    median_n: int,
    statements: Collection[str],
) -> int:
    """The quality flags of one finished response."""
    chosen = [a.option_id for a in answers if a.option_id in statements]
    flags = STRAIGHT_LINING if ps.is_straight_lining(chosen) else 0
    return flags | (SPEEDER if ps.is_speeder(seconds, median, median_n) else 0)


def contributions(
    version: str,
    is_demo: bool,
    quality: int,
    answers: Iterable[AnswerLike],
    scores: Mapping[str, int],
    seconds: int,
    extra: Collection[str] = frozenset(),
) -> Deltas:
    """What one finished response adds to each counter table.

    Answers to `extra` questions (the extra page, which only some takers get) count in the
    option counts alone, so each of them is counted per exposure; the sums behind α and the
    item-total correlations are over the core questions, which every complete response has.
    """
    base = (version, bool(is_demo), quality)
    out: Deltas = {name: defaultdict(int) for name in TABLES}
    sums, options = out["item_stat_sums"], out["item_option_counts"]
    by_dimension: dict[str, list[AnswerLike]] = defaultdict(list)
    for answer in answers:
        if answer.question_id not in extra:
            by_dimension[answer.dimension_id].append(answer)
        points = NOT_APPLICABLE_POINTS if answer.points is None else answer.points
        options[(*base, answer.dimension_id, answer.question_id, answer.option_id, points)] += 1
    for dimension, given in by_dimension.items():
        if any(answer.points is None for answer in given):
            continue  # an N/A answer leaves the response out of this dimension's sums
        sums[(*base, dimension, "", "")] += 1
        for i, a in enumerate(given):
            assert a.points is not None
            sums[(*base, dimension, a.question_id, "")] += a.points
            for b in given[i:]:
                assert b.points is not None
                sums[(*base, dimension, *ps.pair(a.question_id, b.question_id))] += (
                    a.points * b.points
                )
    for dimension, score in scores.items():
        out["score_histogram"][(*base, dimension, score)] += 1
    out["duration_histogram"][(*base, duration_bucket(seconds))] += 1
    return out


# --- the writer's hooks ----------------------------------------------------------------------


def on_finish(
    response: Response,
    answers: Iterable[AnswerLike],
    *,
    statements: Collection[str] | None = None,
    session: Session | None = None,
) -> int:
    """Judge and count a response being finished; return its quality flags.

    Call it in the finishing transaction after the result (content version, finished_at,
    scores) is set on `response` and before the commit. It judges against the earlier finishes
    of the response's version and demo flag (this one is not counted yet), stores
    `quality_flags` itself and sets them on `response` as loaded, so the rollups, moved next,
    read them without a query. `on_delete()` and the rebuild derive the duration from the
    stored times, so finished_at must be the one that is stored.
    """
    if response.finished_at is None:
        raise ValueError("on_finish() needs the response's finished_at set first")
    session = session or db.session()
    answers = list(answers)
    seconds = seconds_between(response.started_at, response.finished_at)
    median, median_n = duration_median(response.content_version, response.is_demo, session)
    flags = judge(answers, seconds, median, median_n, statements or statement_options())
    session.flush()
    store_flags(Response.__table__.c.id == response.id, flags, session)
    set_committed_value(response, "quality_flags", flags)
    if response.previous_response_id is None:
        # A re-assessment stays out of the item statistics and norms: its taker counts once.
        add_counts(_of_response(response, flags, answers, seconds), 1, session)
    return flags


def _of_response(
    response: Response, flags: int, answers: Iterable[AnswerLike], seconds: int
) -> Deltas:
    """What a finished response with these flags, answers and time counts."""
    return contributions(
        response.content_version,
        response.is_demo,
        flags,
        answers,
        response.scores(),
        seconds,
        extra_question_ids(),
    )


def on_delete(
    response: Response, answers: Iterable[AnswerLike], *, session: Session | None = None
) -> None:
    """Take back what a response contributed; call it before deleting the response.

    Drafts and responses never judged (quality_flags NULL) were never counted.
    """
    session = session or db.session()
    r = Response.__table__.c
    flags = session.execute(select(r.quality_flags).where(r.id == response.id)).scalar()
    if flags is None or response.status != "finished" or response.finished_at is None:
        return
    if response.previous_response_id is not None:
        return  # a re-assessment was never counted (on_finish)
    seconds = seconds_between(response.started_at, response.finished_at)
    add_counts(_of_response(response, flags, answers, seconds), -1, session)


def store_flags(
    condition: ColumnElement[bool], flags: int | ColumnElement[int], session: Session
) -> int:
    """Set the quality flags of the responses matching `condition`; how many.

    Their `updated_at` stays: being judged changes nothing the taker sees, so neither the cached
    result page nor the stored PDF (both keyed by it) is made again for it.
    """
    r = Response.__table__.c
    changed = session.execute(
        update(Response.__table__)
        .where(condition)
        .values(quality_flags=flags, updated_at=r.updated_at)
    )
    assert isinstance(changed, CursorResult)  # an UPDATE's result
    return int(changed.rowcount or 0)


def duration_median(
    version: str, is_demo: bool, session: Session | None = None
) -> tuple[int | None, int]:
    """The median time to complete (bucket lower bound) of finished responses, and their n."""
    session = session or db.session()
    t = DurationHistogram.__table__.c
    rows = session.execute(
        select(t.bucket, func.sum(t.count))
        .where(t.content_version == version, t.is_demo == bool(is_demo))
        .group_by(t.bucket)
    ).all()
    histogram = {int(bucket): int(count) for bucket, count in rows}
    return ps.histogram_median(histogram), sum(histogram.values())


def add_counts(deltas: Deltas, sign: int = 1, session: Session | None = None) -> None:
    """Add (sign 1) or take back (-1) counter deltas, one upsert per table, keys in order.

    The bulk path too: a writer of many responses at once sums their `contributions()` first.
    """
    session = session or db.session()
    dialect = session.get_bind().dialect.name
    for name, changes in deltas.items():
        rows = [(key, sign * value) for key, value in sorted(changes.items()) if value]
        if not rows:
            continue
        table = TABLES[name]
        keys = [c.name for c in table.primary_key.columns]
        value = _value_column(table)
        records = [{**dict(zip(keys, key, strict=True)), value: delta} for key, delta in rows]
        statement = _upsert_statement(dialect, name)
        if dialect == "postgresql":
            # One statement per table: unnest() of one array per column (see quiz.counters.rollups).
            columns = [*keys, value]
            session.execute(statement, {c: [r[c] for r in records] for c in columns})
        else:
            session.execute(statement, records)


def _value_column(table: Table) -> str:
    return next(c.name for c in table.columns if not c.primary_key)


_upsert_statements: dict[tuple[str, str], TextClause] = {}


def _upsert_statement(dialect: str, name: str) -> TextClause:
    """The counter upsert of one table for this dialect, compiled once (see quiz.counters.rollups)."""
    statement = _upsert_statements.get((dialect, name))
    if statement is not None:
        return statement
    table = TABLES[name]
    columns = list(table.columns)
    value = _value_column(table)
    if dialect == "postgresql":
        arrays = [cast(bindparam(c.name), postgresql.ARRAY(c.type)) for c in columns]
        rows_in = func.unnest(*arrays).table_valued(*(c.name for c in columns)).render_derived()
        insert_rows: Any = postgresql.insert(table).from_select(
            [c.name for c in columns], select(rows_in)
        )
        # SQLAlchemy leaves the psycopg2 dialect's __init__ unannotated.
        compiler_dialect: Any = postgresql.dialect(paramstyle="named")  # type: ignore[no-untyped-call]
    else:
        insert_rows = sqlite.insert(table)
        compiler_dialect = sqlite.pysqlite.dialect(paramstyle="named")
    upsert = insert_rows.on_conflict_do_update(
        index_elements=[c.name for c in table.primary_key.columns],
        set_={value: table.c[value] + insert_rows.excluded[value]},
    )
    compiled = upsert.compile(dialect=compiler_dialect)
    statement = text(compiled.string).bindparams(
        *(bindparam(bind.key, type_=bind.type) for bind in compiled.binds.values())
    )
    _upsert_statements[(dialect, name)] = statement
    return statement
