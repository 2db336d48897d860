"""Recompute the coach rollups from the raw rows, and read them back for comparison.

`quiz.counters.rollups` keeps the counters in step with every write; this module is the
independent second opinion: `rebuild()` derives every counter with INSERT ... SELECT ... GROUP BY straight from
`responses`, `consents` and `outbox`, and `snapshot()` lets `rebuild-rollups --check` and the
tests prove that the two agree, at the day and at the month level.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    FromClause,
    Integer,
    Table,
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

from quiz.counters.models import CoachRollup
from quiz.counters.rollup_keys import (
    COARSE_STEP,
    COARSE_UNTIL,
    FINE_STEP,
    FINE_UNTIL,
    SCORE_BUCKETS,
    RowKey,
    as_date,
    confirmed_marketing,
    counted_email,
    day_sql,
    finished_condition,
    quality_sql,
)
from quiz.extensions import db
from quiz.models import SCORED_DIMENSIONS, OutboxMessage, Response

COLUMNS = ["period", "day", "campaign", "content_version", "is_demo"]
COLUMNS += ["metric", "dimension", "bucket", "quality", "count", "total"]


def _epoch(column: ColumnElement[datetime], dialect: str) -> ColumnElement[int]:
    """The Unix second a stored time falls in, truncated as `rollup_keys.epoch_second()` does."""
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", column)), BigInteger)
    # SQLite's strftime('%s') first rounds the time to the millisecond, so 10:00:09.9995 would
    # count as 10:00:10. The stored text is 'YYYY-MM-DD HH:MM:SS.ffffff'; its first 19
    # characters are the time truncated to the second.
    return cast(func.strftime("%s", func.substr(column, 1, 19)), Integer)


def month_sql(column: ColumnElement[date], dialect: str) -> ColumnElement[date]:
    """The first of the month of a stored day, in SQL."""
    if dialect == "postgresql":
        return cast(func.date_trunc("month", column), Date)
    return func.date(column, "start of month")


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
    target = CoachRollup.__table__
    cleared = delete(target)
    if demo is not None:
        cleared = cleared.where(target.c.is_demo.is_(demo))
    session.execute(cleared)
    r = Response.__table__.c
    count_raw([] if demo is None else [r.is_demo.is_(demo)], session, periods=("day",))
    _months(session, session.get_bind().dialect.name, demo)


def count_raw(
    where: list[ColumnElement[bool]],
    session: Session | None = None,
    *,
    periods: tuple[str, ...] = ("day", "month"),
    add: bool = False,
    sign: int = 1,
    quality: int | None = None,
) -> None:
    """Count the responses matching `where` (with their consents and emails) into the rollups.

    `add=False` inserts into a table the caller has just cleared of them (a rebuild); `add=True`
    adds `sign` times their counts to whatever is there, in their quality class or in `quality`
    (`requalify` takes them out of class 0 and into their own after a bulk judgement).
    Long on purpose: one SELECT per metric, side by side, so they read as the SQL twin of
    rollup_keys.contributions().
    """
    session = session or db.session()
    dialect = session.get_bind().dialect.name
    r = Response.__table__.c
    target = CoachRollup.__table__
    campaign = func.coalesce(r.utm_campaign, "")
    quality_class = quality_sql() if quality is None else literal(quality)
    seconds = _epoch(r.finished_at, dialect) - _epoch(r.started_at, dialect)
    finished = [*where, *finished_condition()]

    for period in periods:
        start_day = day_sql(r.started_at, dialect)
        finish_day = day_sql(r.finished_at, dialect)
        if period == "month":
            start_day, finish_day = month_sql(start_day, dialect), month_sql(finish_day, dialect)

        def grouped(
            day: ColumnElement[date],
            metric: str,
            dimension: ColumnElement[str],
            bucket: ColumnElement[int],
            total: ColumnElement[int],
            conditions: list[ColumnElement[bool]],
            source: FromClause | None = None,
            period: str = period,
        ) -> None:
            keys = [day, campaign, r.content_version, r.is_demo, dimension, bucket, quality_class]
            query = (
                select(
                    literal(period),
                    day,
                    campaign,
                    r.content_version,
                    r.is_demo,
                    literal(metric),
                    dimension,
                    bucket,
                    quality_class,
                    func.count() * sign,
                    func.coalesce(func.sum(total), 0) * sign,
                )
                .select_from(source if source is not None else Response.__table__)
                .where(*conditions)
                .group_by(*keys)
            )
            session.execute(_insert(target, dialect, add).from_select(COLUMNS, query))

        zero = literal(0)
        blank = literal("")
        grouped(start_day, "start", blank, zero, zero, where)
        grouped(start_day, "reached", blank, r.steps_completed, zero, where)
        grouped(start_day, "extra", blank, r.extra_page, zero, [*where, r.extra_page > 0])
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
            finish_day,
            "bottleneck",
            r.bottleneck,
            zero,
            zero,
            [*finished, r.bottleneck.is_not(None)],
        )
        reassessed = [*finished, r.previous_response_id.is_not(None)]
        grouped(finish_day, "reassess", blank, zero, zero, reassessed)
        earlier = Response.__table__.alias("earlier")
        chain = Response.__table__.join(earlier, r.previous_response_id == earlier.c.id)
        for dimension in SCORED_DIMENSIONS:
            now, then = r[f"score_{dimension}"], earlier.c[f"score_{dimension}"]
            both = [*reassessed, now.is_not(None), then.is_not(None)]
            grouped(finish_day, "change", literal(dimension), zero, now - then, both, chain)
        grouped(finish_day, "marketing", blank, zero, zero, [*finished, confirmed_marketing()])
        o = OutboxMessage.__table__
        emails = o.join(Response.__table__, r.id == o.c.response_id)
        grouped(finish_day, "email", o.c.status, zero, zero, [*finished, counted_email()], emails)


def requalify(condition: ColumnElement[bool], session: Session | None = None) -> None:
    """After the responses matching `condition` were judged in bulk (quality_flags set where it
    was NULL, as `seed-demo` does): move the flagged ones' counters out of class 0 into theirs.

    Counted in SQL from the raw rows (their consents and emails too), so nothing of them needs
    reading into Python.
    """
    session = session or db.session()
    r = Response.__table__.c
    flagged = [condition, r.quality_flags.is_not(None), r.quality_flags != 0]
    count_raw(flagged, session, add=True, sign=-1, quality=0)
    count_raw(flagged, session, add=True)


def _insert(target: Table, dialect: str, add: bool) -> Any:
    """A plain INSERT, or one that adds to the counters already there."""
    if not add:
        return insert(target)
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(target)
    return stmt.on_conflict_do_update(
        index_elements=[c.name for c in target.primary_key.columns],
        set_={
            "count": target.c.count + stmt.excluded.count,
            "total": target.c.total + stmt.excluded.total,
        },
    )


def _months(session: Session, dialect: str, demo: bool | None) -> None:
    """The month level, summed from the day level just rebuilt."""
    t = CoachRollup.__table__.c
    month = month_sql(t.day, dialect)
    keys = [month, t.campaign, t.content_version, t.is_demo, t.metric, t.dimension, t.bucket]
    keys.append(t.quality)
    conditions = [t.period == "day"]
    if demo is not None:
        conditions.append(t.is_demo.is_(demo))
    query = (
        select(literal("month"), *keys, func.sum(t.count), func.sum(t.total))
        .where(*conditions)
        .group_by(*keys)
    )
    session.execute(insert(CoachRollup.__table__).from_select(COLUMNS, query))


def snapshot(session: Session | None = None) -> dict[RowKey, tuple[int, int]]:
    """Every non-zero rollup counter, for comparing the maintained table with a rebuild."""
    session = session or db.session()
    t = CoachRollup.__table__.c
    rows = session.execute(
        select(
            t.period,
            t.day,
            t.campaign,
            t.content_version,
            t.is_demo,
            t.metric,
            t.dimension,
            t.bucket,
            t.quality,
            t.count,
            t.total,
        ).where((t.count != 0) | (t.total != 0))
    )
    out: dict[RowKey, tuple[int, int]] = {}
    for row in rows:
        key: RowKey = (
            row.period,
            as_date(row.day),
            row.campaign,
            row.content_version,
            bool(row.is_demo),
            row.metric,
            row.dimension,
            int(row.bucket),
            int(row.quality),
        )
        # By name: to a type checker `row.count` is the tuple's method.
        out[key] = (int(row._mapping["count"]), int(row.total))
    return out
