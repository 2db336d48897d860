"""The coach dashboard's rollup table: kept in step with every response, rebuildable from scratch.

The dashboard must answer in well under a second with a million responses, and GROUP BY over the
raw rows does not (issue 5). So each response contributes a handful of counters to
`coach_rollups`, keyed by UTC day x UTM campaign x content version x demo flag:

- `start` (1 per response, on the start day) and `reached` (bucket = steps completed), the funnel;
- on the finish day: `finish` (total = seconds to complete), `duration` (bucket = lower bound of
  the duration in seconds: 10 s steps up to an hour, 10 min steps up to a day, then one bucket),
  `score` (per dimension, bucket = score // 10 with 100 in bucket 9, total = the scores) and
  `bottleneck` (per dimension).

Every change goes through `_apply(old state, new state)`, in the caller's write transaction, as
an upsert (atomic on PostgreSQL under concurrency; SQLite writers are serialised by BEGIN
IMMEDIATE). `rebuild()` recomputes the table from the raw rows with INSERT ... SELECT, and
`snapshot()` lets a test (and `rebuild-rollups --check`) prove the two agree.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from quiz.content import Content
from quiz.extensions import db
from quiz.models import SCORED_DIMENSIONS, CoachRollup, Response
from quiz.scoring import ScoreResult

# Duration histogram: fine steps where takers actually are, coarse ones for the stragglers.
FINE_STEP, FINE_UNTIL = 10, 3600
COARSE_STEP, COARSE_UNTIL = 600, 86400
SCORE_BUCKETS = 10

Key = tuple[date, str, str, bool, str, str, int]


@dataclass(frozen=True)
class State:
    """What a response contributes to the rollups, in one place."""

    start_day: date
    campaign: str
    version: str
    is_demo: bool
    steps: int
    finish_day: date | None = None
    duration: int = 0
    scores: Mapping[str, int] = field(default_factory=dict)
    bottleneck: str | None = None


def duration_bucket(seconds: int) -> int:
    """The histogram bucket (its lower bound in seconds) of a time to complete."""
    if seconds < 0:
        return 0
    if seconds < FINE_UNTIL:
        return seconds // FINE_STEP * FINE_STEP
    if seconds < COARSE_UNTIL:
        return seconds // COARSE_STEP * COARSE_STEP
    return COARSE_UNTIL


def duration_bucket_width(bucket: int) -> int:
    """How many seconds the bucket starting at `bucket` spans (the last one: nominally a day)."""
    if bucket < FINE_UNTIL:
        return FINE_STEP
    if bucket < COARSE_UNTIL:
        return COARSE_STEP
    return COARSE_UNTIL


def score_bucket(score: int) -> int:
    """0 for 0-9, ..., 9 for 90-100."""
    return min(max(score, 0) // 10, SCORE_BUCKETS - 1)


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything we store is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def seconds_between(start: datetime, end: datetime) -> int:
    """Whole seconds from start to end, truncating each to the second as the SQL side does."""
    return math.floor(_utc(end).timestamp()) - math.floor(_utc(start).timestamp())


def state_of(response: Response) -> State:
    """The contribution of a response as it is now."""
    started = _utc(response.started_at)
    finished = (
        _utc(response.finished_at)
        if response.status == "finished" and response.finished_at
        else None
    )
    scores = response.scores() if finished else {}
    return State(
        start_day=started.date(),
        campaign=response.utm_campaign or "",
        version=response.content_version,
        is_demo=bool(response.is_demo),
        steps=response.steps_completed or 0,
        finish_day=finished.date() if finished else None,
        duration=seconds_between(started, finished) if finished else 0,
        scores=scores,
        bottleneck=response.bottleneck if finished else None,
    )


def contributions(state: State) -> dict[Key, tuple[int, int]]:
    """The rollup counters (count, total) that one response in this state adds."""
    base = (state.campaign, state.version, state.is_demo)
    out: dict[Key, tuple[int, int]] = {
        (state.start_day, *base, "start", "", 0): (1, 0),
        (state.start_day, *base, "reached", "", state.steps): (1, 0),
    }
    if state.finish_day is not None:
        day = state.finish_day
        out[(day, *base, "finish", "", 0)] = (1, state.duration)
        out[(day, *base, "duration", "", duration_bucket(state.duration))] = (1, state.duration)
        for dimension, score in state.scores.items():
            out[(day, *base, "score", dimension, score_bucket(score))] = (1, score)
        if state.bottleneck:
            out[(day, *base, "bottleneck", state.bottleneck, 0)] = (1, 0)
    return out


def _apply(old: State | None, new: State | None, session: Session | None = None) -> None:
    """Move a response's contribution from `old` to `new` (either may be None)."""
    deltas: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
    for state, sign in ((old, -1), (new, 1)):
        if state is None:
            continue
        for key, (count, total) in contributions(state).items():
            deltas[key][0] += sign * count
            deltas[key][1] += sign * total
    rows = [_row(key, count, total) for key, (count, total) in deltas.items() if count or total]
    if rows:
        _upsert(session or db.session(), rows)


def _row(key: Key, count: int, total: int) -> dict[str, object]:
    day, campaign, version, is_demo, metric, dimension, bucket = key
    return {
        "day": day,
        "campaign": campaign,
        "content_version": version,
        "is_demo": is_demo,
        "metric": metric,
        "dimension": dimension,
        "bucket": bucket,
        "count": count,
        "total": total,
    }


def _upsert(session: Session, rows: list[dict[str, object]]) -> None:
    dialect = session.get_bind().dialect.name
    table = CoachRollup.__table__
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[c.name for c in table.primary_key.columns],
        set_={
            "count": table.c.count + stmt.excluded.count,
            "total": table.c.total + stmt.excluded.total,
        },
    )
    session.execute(stmt, rows)


# --- hooks, called inside the write transactions of quiz.responses ---------------------------


def on_start(response: Response) -> None:
    """Count a new draft (flushes it first so its start time exists)."""
    db.session.flush()
    _apply(None, state_of(response))


def on_step(response: Response, step: int) -> None:
    """Before a draft's steps_completed moves up to `step`: move it in the funnel."""
    if response.status != "draft" or step <= (response.steps_completed or 0):
        return
    old = state_of(response)
    _apply(old, replace(old, steps=step))


def on_finish(content: Content, response: Response, result: ScoreResult, now: datetime) -> None:
    """Before `finish()` stores the result: count the completion with its scores and time."""
    old = state_of(response)
    started = _utc(response.started_at)
    new = replace(
        old,
        version=content.version,
        steps=len(content.pages) + 1,
        finish_day=_utc(now).date(),
        duration=seconds_between(started, now),
        scores={d: s for d, s in result.scores.items() if d in SCORED_DIMENSIONS},
        bottleneck=result.bottleneck,
    )
    _apply(old, new)


def on_delete(responses: Iterable[Response]) -> None:
    """Before responses are deleted: take back what they contributed."""
    for response in responses:
        _apply(state_of(response), None)


# --- rebuild from the raw rows ---------------------------------------------------------------


def _day(column: ColumnElement[datetime], dialect: str) -> ColumnElement[date]:
    if dialect == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)  # type: ignore[no-any-return]


def _epoch(column: ColumnElement[datetime], dialect: str) -> ColumnElement[int]:
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", column)), BigInteger)
    return cast(func.strftime("%s", column), Integer)


def _duration_bucket_sql(seconds: ColumnElement[int]) -> ColumnElement[int]:
    return case(
        (seconds < 0, 0),
        (seconds < FINE_UNTIL, seconds // FINE_STEP * FINE_STEP),
        (seconds < COARSE_UNTIL, seconds // COARSE_STEP * COARSE_STEP),
        else_=COARSE_UNTIL,
    )


def rebuild(session: Session | None = None, *, demo: bool | None = None) -> None:
    """Recompute the rollups from the raw rows (all, or only demo / only real ones).

    Runs in the caller's transaction; the caller has begun a write and commits.
    """
    session = session or db.session()
    dialect = session.get_bind().dialect.name
    r = Response.__table__.c
    target = CoachRollup.__table__
    where = [] if demo is None else [r.is_demo.is_(demo)]
    cleared = delete(target)
    if demo is not None:
        cleared = cleared.where(target.c.is_demo.is_(demo))
    session.execute(cleared)

    campaign = func.coalesce(r.utm_campaign, "")
    columns = ["day", "campaign", "content_version", "is_demo"]
    columns += ["metric", "dimension", "bucket", "count", "total"]
    start_day = _day(r.started_at, dialect)
    finish_day = _day(r.finished_at, dialect)
    seconds = _epoch(r.finished_at, dialect) - _epoch(r.started_at, dialect)
    finished = [*where, r.status == "finished", r.finished_at.is_not(None)]

    def grouped(
        day: ColumnElement[date],
        metric: str,
        dimension: ColumnElement[str],
        bucket: ColumnElement[int],
        total: ColumnElement[int],
        conditions: list[ColumnElement[bool]],
    ) -> None:
        keys = [day, campaign, r.content_version, r.is_demo, dimension, bucket]
        query = (
            select(
                day,
                campaign,
                r.content_version,
                r.is_demo,
                literal(metric),
                dimension,
                bucket,
                func.count(),
                func.coalesce(func.sum(total), 0),
            )
            .where(*conditions)
            .group_by(*keys)
        )
        session.execute(insert(target).from_select(columns, query))

    zero = literal(0)
    blank = literal("")
    grouped(start_day, "start", blank, zero, zero, where)
    grouped(start_day, "reached", blank, r.steps_completed, zero, where)
    grouped(finish_day, "finish", blank, zero, seconds, finished)
    grouped(finish_day, "duration", blank, _duration_bucket_sql(seconds), seconds, finished)
    for dimension in SCORED_DIMENSIONS:
        score = r[f"score_{dimension}"]
        bucket = case((score >= (SCORE_BUCKETS - 1) * 10, SCORE_BUCKETS - 1), else_=score // 10)
        grouped(
            finish_day,
            "score",
            literal(dimension),
            bucket,
            score,
            [*finished, score.is_not(None)],
        )
    grouped(
        finish_day, "bottleneck", r.bottleneck, zero, zero, [*finished, r.bottleneck.is_not(None)]
    )


def snapshot(session: Session | None = None) -> dict[Key, tuple[int, int]]:
    """Every non-zero rollup counter, for comparing the maintained table with a rebuild."""
    session = session or db.session()
    t = CoachRollup.__table__.c
    rows = session.execute(
        select(
            t.day,
            t.campaign,
            t.content_version,
            t.is_demo,
            t.metric,
            t.dimension,
            t.bucket,
            t.count,
            t.total,
        ).where((t.count != 0) | (t.total != 0))
    )
    out: dict[Key, tuple[int, int]] = {}
    for row in rows:
        day = row.day if isinstance(row.day, date) else date.fromisoformat(str(row.day))
        key: Key = (
            day,
            row.campaign,
            row.content_version,
            bool(row.is_demo),
            row.metric,
            row.dimension,
            int(row.bucket),
        )
        out[key] = (int(row.count), int(row.total))
    return out
