"""The coach dashboard's rollup table: kept in step with every response, rebuildable from scratch.

The dashboard must answer in well under a second with a million responses, and GROUP BY over the
raw rows does not (issue 5). So each response contributes a handful of counters to
`coach_rollups`, keyed by UTC day x UTM campaign x content version x demo flag:

- `start` (1 per response, on the start day) and `reached` (bucket = steps completed), the funnel;
- on the finish day: `finish` (total = seconds to complete), `duration` (bucket = lower bound of
  the duration in seconds: 10 s steps up to an hour, 10 min steps up to a day, then one bucket),
  `score` (per dimension, bucket = score // 10 with 100 in bucket 9, total = the scores),
  `bottleneck` (per dimension), and the two figures that change after the finish: `marketing`
  (1 while a confirmed, not withdrawn marketing consent exists) and `email` (dimension = outbox
  status, count = emails of the response in that status).

Every counter is kept twice: per day (`period` "day") and per calendar month (`period` "month",
`day` = the first of the month), so a dashboard over a year reads a few thousand month rows and
only the partial months at the edges of a date range per day.

Every change goes through `add_counts()`, in the caller's write transaction, as an upsert (atomic
on PostgreSQL under concurrency; SQLite writers are serialised by BEGIN IMMEDIATE): `_apply(old
state, new state)` for what the response row itself decides, `shift_emails()`,
`delete_emails()` and `marketing_recount()` for the consents and emails, counted in SQL around
the statement that changes them. `quiz.coach.rollup_rebuild` recomputes the table from the raw rows
and compares it with what was maintained.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Date,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningDelete, ReturningUpdate, Update
from sqlalchemy.sql.elements import ColumnElement, TextClause

from quiz.domain.content import Content
from quiz.domain.scoring import ScoreResult
from quiz.extensions import db
from quiz.models import SCORED_DIMENSIONS, CoachRollup, Consent, OutboxMessage, Response

# Duration histogram: fine steps where takers actually are, coarse ones for the stragglers.
FINE_STEP, FINE_UNTIL = 10, 3600
COARSE_STEP, COARSE_UNTIL = 600, 86400
SCORE_BUCKETS = 10

# A day-level counter: day, campaign, content version, demo flag, metric, dimension, bucket.
Key = tuple[date, str, str, bool, str, str, int]
# A stored counter: "day" or "month", then the Key (day = the first of the month for months).
RowKey = tuple[str, date, str, str, bool, str, str, int]


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
    # What happens after the finish; state_of() leaves these out, the SQL helpers count them.
    marketing: bool = False
    emails: Mapping[str, int] = field(default_factory=dict)


def month_of(day: date) -> date:
    """The month-level row a day is counted in: the first of its month."""
    return day.replace(day=1)


def as_date(value: object) -> date:
    """A date from the database (SQLite hands back ISO text)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_second(moment: datetime) -> int:
    """The Unix second a time falls in: truncated, never rounded (x.9995 s is still second x).

    The one definition of a duration's ends; `quiz.coach.rollup_rebuild` computes the same in SQL.
    Integer arithmetic on the timedelta, so no float can round x.999999 up to the next second.
    """
    return (_utc(moment) - _EPOCH) // timedelta(seconds=1)


def seconds_between(start: datetime, end: datetime) -> int:
    """Whole seconds from start to end: the difference of the seconds each falls in."""
    return epoch_second(end) - epoch_second(start)


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
        if state.marketing:
            out[(day, *base, "marketing", "", 0)] = (1, 0)
        for status, count in state.emails.items():
            if count:
                out[(day, *base, "email", status, 0)] = (count, 0)
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
    add_counts(deltas, session)


def add_counts(deltas: Mapping[Key, Sequence[int]], session: Session | None = None) -> None:
    """Add day-level (count, total) deltas to the rollups, at the day and at the month level."""
    rows: dict[RowKey, list[int]] = defaultdict(lambda: [0, 0])
    for key, (count, total) in deltas.items():
        if not count and not total:
            continue
        for period, day in (("day", key[0]), ("month", month_of(key[0]))):
            row = rows[(period, day, *key[1:])]
            row[0] += count
            row[1] += total
    if rows:
        # A fixed order, so two concurrent writers never lock the same rows the other way round.
        _upsert(session or db.session(), [_row(key, *rows[key]) for key in sorted(rows)])


def _row(key: RowKey, count: int, total: int) -> dict[str, object]:
    period, day, campaign, version, is_demo, metric, dimension, bucket = key
    return {
        "period": period,
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
    statement = _upsert_statement(dialect)
    if dialect != "postgresql":
        session.execute(statement, rows)  # SQLite's executemany is a C loop
        return
    # psycopg's executemany sends one statement per row; unnest() of one array per column is a
    # single statement however many counters change (seed-demo upserts tens of thousands).
    session.execute(statement, {c.name: [row[c.name] for row in rows] for c in _COLUMNS})


_COLUMNS = list(CoachRollup.__table__.columns)
_upsert_statements: dict[str, TextClause] = {}


def _upsert_statement(dialect: str) -> TextClause:
    """The counter upsert for this dialect, compiled once.

    SQLAlchemy 2.0 cannot cache statements with ON CONFLICT (`OnConflictDoUpdate` has no cache
    key), so every execution compiled it afresh: about 1 ms on every step, finish and email
    outcome. Compiled once into a `text()` with the same typed parameters, it is cached as usual.
    """
    statement = _upsert_statements.get(dialect)
    if statement is not None:
        return statement
    table = CoachRollup.__table__
    if dialect == "postgresql":
        # Untyped parameters: psycopg sends the lists as arrays and the CASTs give their types.
        arrays = [cast(bindparam(c.name), postgresql.ARRAY(c.type)) for c in _COLUMNS]
        rows_in = func.unnest(*arrays).table_valued(*(c.name for c in _COLUMNS)).render_derived()
        insert_rows = postgresql.insert(table).from_select(
            [c.name for c in _COLUMNS], select(rows_in)
        )
        compiler_dialect: Any = postgresql.dialect(paramstyle="named")
    else:
        insert_rows = sqlite.insert(table)
        compiler_dialect = sqlite.pysqlite.dialect(paramstyle="named")
    upsert = insert_rows.on_conflict_do_update(
        index_elements=[c.name for c in table.primary_key.columns],
        set_={
            "count": table.c.count + insert_rows.excluded.count,
            "total": table.c.total + insert_rows.excluded.total,
        },
    )
    compiled = upsert.compile(dialect=compiler_dialect)
    statement = text(compiled.string).bindparams(
        *(bindparam(bind.key, type_=bind.type) for bind in compiled.binds.values())
    )
    _upsert_statements[dialect] = statement
    return statement


# --- hooks, called inside the write transactions of quiz.taker.responses ---------------------------


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


def on_finish(
    content: Content, response: Response, result: ScoreResult, now: datetime, emails_queued: int
) -> None:
    """Before `finish()` stores the result: count the completion, its scores, time and emails."""
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
        emails={"queued": emails_queued},
    )
    _apply(old, new)


def on_insert(responses: Iterable[Response]) -> None:
    """After responses were written whole (with consents and emails): count them."""
    _count_whole(list(responses), 1)


def on_delete(responses: Iterable[Response]) -> None:
    """Before responses are deleted: take back what they, their consents and emails contributed.

    The caller holds the locks on their consents and emails, so nothing changes in between.
    """
    _count_whole(list(responses), -1)


def _count_whole(responses: list[Response], sign: int) -> None:
    for response in responses:
        state = state_of(response)
        _apply(None if sign > 0 else state, state if sign > 0 else None)
    ids = [response.id for response in responses]
    if ids:
        db.session.flush()
        shift_emails(OutboxMessage.response_id.in_(ids), sign=sign)
        shift_marketing(Response.id.in_(ids), sign)


# --- consents and emails, counted in SQL around the statements that change them ---------------


def _finish_key(dialect: str) -> list[ColumnElement[Any]]:
    r = Response.__table__.c
    return [day_sql(r.finished_at, dialect), func.coalesce(r.utm_campaign, ""), r.content_version]


def finished_condition() -> list[ColumnElement[bool]]:
    """Only finished responses count consents and emails (drafts have none)."""
    r = Response.__table__.c
    return [r.status == "finished", r.finished_at.is_not(None)]


def confirmed_marketing() -> ColumnElement[bool]:
    """The response has a confirmed marketing consent that was not withdrawn."""
    c = Consent.__table__.c
    return exists().where(
        c.response_id == Response.__table__.c.id,
        c.kind == "marketing",
        c.confirmed_at.is_not(None),
        c.withdrawn_at.is_(None),
    )


def _email_deltas(
    rows: Iterable[Any], sign: int, moved_from: str | None = None
) -> dict[Key, list[int]]:
    deltas: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
    for day, campaign, version, is_demo, status, count in rows:
        if day is None:  # an email of no finished response (the left join found none)
            continue
        base = (as_date(day), campaign, version, bool(is_demo), "email")
        deltas[(*base, status, 0)][0] += sign * int(count)
        if moved_from is not None:
            deltas[(*base, moved_from, 0)][0] -= sign * int(count)
    return deltas


def shift_emails(
    condition: ColumnElement[bool],
    *,
    sign: int = 1,
    moved_from: str | None = None,
    session: Session | None = None,
) -> None:
    """Count (sign 1) or take back (-1) the emails matching `condition`, by their status now.

    With `moved_from`: they were just moved from that status to the one they have now (the
    caller's UPDATE holds their locks), so that status loses what the new one gains.
    """
    session = session or db.session()
    r, o = Response.__table__.c, OutboxMessage.__table__.c
    keys = [*_finish_key(session.get_bind().dialect.name), r.is_demo, o.status]
    query = (
        select(*keys, func.count())
        .select_from(OutboxMessage.__table__.join(Response.__table__, r.id == o.response_id))
        .where(*finished_condition(), condition)
        .group_by(*keys)
    )
    add_counts(_email_deltas(session.execute(query), sign, moved_from), session)


def delete_emails(condition: ColumnElement[bool], session: Session | None = None) -> int:
    """Delete the emails matching `condition`, taking back their counts; return how many went.

    On PostgreSQL one statement (DELETE ... RETURNING inside the counting query), so an email
    that a sender moves meanwhile is counted as what was actually deleted. SQLite writers are
    serialised, so counting first and deleting second sees the same rows.
    """
    session = session or db.session()
    outbox = OutboxMessage.__table__
    if session.get_bind().dialect.name != "postgresql":
        shift_emails(condition, sign=-1, session=session)
        deleted = session.execute(
            delete(outbox).where(condition).execution_options(synchronize_session=False)
        ).rowcount
        return int(deleted or 0)
    gone = delete(outbox).where(condition).returning(outbox.c.response_id, outbox.c.status)
    return _count_changed(gone, -1, None, session)


def move_emails(
    change: Update, condition: ColumnElement[bool], moved_from: str, session: Session | None = None
) -> int:
    """Run `change` (an UPDATE of emails now in status `moved_from`) and move their counts.

    On PostgreSQL one statement (UPDATE ... RETURNING inside the counting query): the sender
    records every outcome this way, and a round trip less per email is a tenth of its time. On
    SQLite the update, then the count of `condition`. Returns how many emails were counted.
    """
    session = session or db.session()
    if session.get_bind().dialect.name != "postgresql":
        changed = session.execute(change.execution_options(synchronize_session=False)).rowcount
        if changed:
            shift_emails(condition, moved_from=moved_from, session=session)
        return int(changed or 0)
    outbox = OutboxMessage.__table__
    returning = change.returning(outbox.c.response_id, outbox.c.status)
    return _count_changed(returning, 1, moved_from, session)


def _count_changed(
    changed_rows: ReturningDelete[Any] | ReturningUpdate[Any],
    sign: int,
    moved_from: str | None,
    session: Session,
) -> int:
    """Count the emails a DELETE or UPDATE ... RETURNING (response_id, status) touched."""
    rows_cte = changed_rows.cte("changed")
    r = Response.__table__.c
    keys = [*_finish_key("postgresql"), r.is_demo, rows_cte.c.status]
    query = (
        select(*keys, func.count())
        .select_from(
            rows_cte.outerjoin(
                Response.__table__, and_(r.id == rows_cte.c.response_id, *finished_condition())
            )
        )
        .group_by(*keys)
    )
    rows = session.execute(query).all()
    add_counts(_email_deltas(rows, sign, moved_from), session)
    return sum(int(row[-1]) for row in rows)


def shift_marketing(
    condition: ColumnElement[bool], sign: int, session: Session | None = None
) -> None:
    """Count (1) or take back (-1) the confirmed marketing consents of the matching responses."""
    session = session or db.session()
    r = Response.__table__.c
    keys = [*_finish_key(session.get_bind().dialect.name), r.is_demo]
    query = (
        select(*keys, func.count())
        .where(*finished_condition(), confirmed_marketing(), condition)
        .group_by(*keys)
    )
    deltas: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
    for day, campaign, version, is_demo, count in session.execute(query):
        deltas[(as_date(day), campaign, version, bool(is_demo), "marketing", "", 0)][0] += (
            sign * int(count)
        )
    add_counts(deltas, session)


@contextmanager
def marketing_recount(
    condition: ColumnElement[bool], session: Session | None = None
) -> Iterator[None]:
    """Around a change of the marketing consents of the responses matching `condition`.

    The caller has locked those consents first, so the count before is the one it changes.
    """
    session = session or db.session()
    shift_marketing(condition, -1, session)
    yield
    session.flush()
    shift_marketing(condition, 1, session)


# --- SQL expressions shared with quiz.coach.rollup_rebuild -------------------------------------


def day_sql(column: ColumnElement[datetime], dialect: str) -> ColumnElement[date]:
    """The UTC day of a stored time, in SQL."""
    if dialect == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)  # type: ignore[no-any-return]
