"""The coach dashboard's rollup counters: the one module that changes `coach_rollups`.

The dashboard must answer in well under a second with a million responses, and GROUP BY over the
raw rows does not (issue 5). So each response contributes a handful of counters (defined in
quiz.counters.rollup_keys) to `coach_rollups`, per day and per calendar month.

Only the writers of the counted tables move them, inside their own functions and write
transactions, through the counters' entry points (quiz.counters: one function per event, the
only importer of this module, as an import-linter contract in pyproject.toml holds):
quiz.taker.responses (start, step, finish, delete), quiz.taker.consents (the marketing
consents) and quiz.mail.outbox (the emails); quiz.counters.rollup_rebuild recomputes the table
from the raw rows, compares it with what was maintained, and moves the counters of responses
judged in bulk (`requalify`).

Every change goes through `add_counts()`, as an upsert (atomic on PostgreSQL under concurrency;
SQLite writers are serialised by BEGIN IMMEDIATE): `_apply(old state, new state)` for what the
response row itself decides, and the email and marketing helpers counted in SQL around the
statement that changes them.

Just over 400 lines: the writer keeps every counter move in one place (the point of issue 11);
its keys and buckets live in quiz.counters.rollup_keys.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from sqlalchemy import and_, bindparam, cast, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Delete, ReturningDelete, ReturningUpdate, Update
from sqlalchemy.sql.elements import ColumnElement, TextClause

from quiz.counters.models import CoachRollup
from quiz.counters.rollup_keys import (
    UNCOUNTED_EMAIL_KINDS,
    Key,
    RowKey,
    State,
    as_date,
    confirmed_marketing,
    contributions,
    counted_email,
    finish_key,
    finished_condition,
    month_of,
    quality_sql,
    state_of,
)
from quiz.counters.upsert import compiled_once
from quiz.extensions import db
from quiz.models import OutboxMessage, Response

# Which counters each owner moves (the rest of a State's contributions belong to the others).
RESPONSE_METRICS = frozenset(
    {"start", "reached", "extra", "finish", "duration", "score", "bottleneck", "reassess", "change"}
)
MARKETING_METRICS = frozenset({"marketing"})
EMAIL_METRICS = frozenset({"email"})


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
    period, day, campaign, version, is_demo, metric, dimension, bucket, quality = key
    return {
        "period": period,
        "day": day,
        "campaign": campaign,
        "content_version": version,
        "is_demo": is_demo,
        "metric": metric,
        "dimension": dimension,
        "bucket": bucket,
        "quality": quality,
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

    Every step, finish and email outcome compiled it afresh before (see `compiled_once`).
    """
    statement = _upsert_statements.get(dialect)
    if statement is not None:
        return statement
    table = CoachRollup.__table__
    if dialect == "postgresql":
        # Untyped parameters: psycopg sends the lists as arrays and the CASTs give their types.
        arrays = [cast(bindparam(c.name), postgresql.ARRAY(c.type)) for c in _COLUMNS]
        rows_in = func.unnest(*arrays).table_valued(*(c.name for c in _COLUMNS)).render_derived()
        insert_rows: postgresql.Insert | sqlite.Insert = postgresql.insert(table).from_select(
            [c.name for c in _COLUMNS], select(rows_in)
        )
    else:
        insert_rows = sqlite.insert(table)
    upsert = insert_rows.on_conflict_do_update(
        index_elements=[c.name for c in table.primary_key.columns],
        set_={
            "count": table.c.count + insert_rows.excluded.count,
            "total": table.c.total + insert_rows.excluded.total,
        },
    )
    statement = compiled_once(upsert, dialect)
    _upsert_statements[dialect] = statement
    return statement


# --- the responses' own counters, moved inside quiz.taker.responses' transactions --------------


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


def on_extra(response: Response, state: int) -> None:
    """Before a draft's extra_page moves to `state`: move it in the extra page's funnel."""
    if response.status != "draft":
        return
    old = state_of(response)
    _apply(old, replace(old, extra=state))


def on_finish(was: State, response: Response) -> None:
    """After `finish()` stored the result and the item statistics judged it: move the response's
    counters from what the draft counted for (`was`) into its quality class, with its scores,
    time and bottleneck.

    The emails queued with it are counted by the outbox (`count_queued`), the consents when
    confirmed.
    """
    _apply(was, state_of(response))


def forget(responses: Iterable[Response]) -> None:
    """Before responses are deleted: take back what the rows themselves contributed.

    Their consents and emails are taken back by their own writers when those rows go.
    """
    for response in responses:
        _apply(state_of(response), None)


def count_queued(response: Response, count: int) -> None:
    """After `count` emails were queued for a response that was just finished: count them."""
    if count:
        state = state_of(response)
        if state.finish_day is not None:
            key = (state.finish_day, state.campaign, state.version, state.is_demo)
            add_counts({(*key, "email", "queued", 0, state.quality): (count, 0)})


def add_owned(
    deltas: Mapping[Key, Sequence[int]], metrics: Collection[str], session: Session | None = None
) -> None:
    """Add the day-level deltas of these metrics only (each writer adds the metrics it owns)."""
    add_counts({key: value for key, value in deltas.items() if key[4] in metrics}, session)


def on_insert(responses: Iterable[Response]) -> None:
    """After responses were written whole (with consents and emails): count them (test data)."""
    _count_whole(list(responses), 1)


def on_delete(responses: Iterable[Response]) -> None:
    """Before responses are deleted whole: take back what they, their consents and emails added.

    For test data written whole; the app deletes through the writers (see `forget`). The caller
    holds the locks on their consents and emails, so nothing changes in between.
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


def _email_deltas(
    rows: Iterable[Any], sign: int, moved_from: str | None = None
) -> dict[Key, list[int]]:
    deltas: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
    for day, campaign, version, is_demo, quality, status, count in rows:
        if day is None:  # an email of no finished response (the left join found none)
            continue
        base = (as_date(day), campaign, version, bool(is_demo), "email")
        deltas[(*base, status, 0, int(quality))][0] += sign * int(count)
        if moved_from is not None:
            deltas[(*base, moved_from, 0, int(quality))][0] -= sign * int(count)
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
    keys = [*finish_key(session.get_bind().dialect.name), r.is_demo, quality_sql(), o.status]
    query = (
        select(*keys, func.count())
        .select_from(OutboxMessage.__table__.join(Response.__table__, r.id == o.response_id))
        .where(*finished_condition(), condition, counted_email())
        .group_by(*keys)
    )
    add_counts(_email_deltas(session.execute(query), sign, moved_from), session)


def delete_emails(
    gone: Delete, condition: ColumnElement[bool], session: Session | None = None
) -> int:
    """Run `gone` (the outbox's DELETE of the emails matching `condition`) and take back their
    counts; return how many went.

    On PostgreSQL one statement (DELETE ... RETURNING inside the counting query), so an email
    that a sender moves meanwhile is counted as what was actually deleted. SQLite writers are
    serialised, so counting first and deleting second sees the same rows.
    """
    session = session or db.session()
    outbox = OutboxMessage.__table__
    if session.get_bind().dialect.name != "postgresql":
        shift_emails(condition, sign=-1, session=session)
        deleted = session.execute(gone.execution_options(synchronize_session=False))
        assert isinstance(deleted, CursorResult)  # a DELETE's result
        return int(deleted.rowcount or 0)
    returning = gone.returning(outbox.c.response_id, outbox.c.status, outbox.c.kind)
    return _count_changed(returning, -1, None, session)


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
        result = session.execute(change.execution_options(synchronize_session=False))
        assert isinstance(result, CursorResult)  # an UPDATE's result
        changed = result.rowcount
        if changed:
            shift_emails(condition, moved_from=moved_from, session=session)
        return int(changed or 0)
    outbox = OutboxMessage.__table__
    returning = change.returning(outbox.c.response_id, outbox.c.status, outbox.c.kind)
    return _count_changed(returning, 1, moved_from, session)


def _count_changed(
    changed_rows: ReturningDelete[Any] | ReturningUpdate[Any],
    sign: int,
    moved_from: str | None,
    session: Session,
) -> int:
    """Count the emails a DELETE or UPDATE ... RETURNING (response_id, status, kind) touched;
    return how many rows it touched (the uncounted kinds included)."""
    rows_cte = changed_rows.cte("changed")
    r = Response.__table__.c
    keys = [
        *finish_key("postgresql"),
        r.is_demo,
        quality_sql(),
        rows_cte.c.status,
        rows_cte.c.kind.in_(UNCOUNTED_EMAIL_KINDS),
    ]
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
    counted = [(*row[:-2], row[-1]) for row in rows if not row[-2]]
    add_counts(_email_deltas(counted, sign, moved_from), session)
    return sum(int(row[-1]) for row in rows)


def shift_marketing(
    condition: ColumnElement[bool], sign: int, session: Session | None = None
) -> None:
    """Count (1) or take back (-1) the confirmed marketing consents of the matching responses."""
    session = session or db.session()
    r = Response.__table__.c
    keys = [*finish_key(session.get_bind().dialect.name), r.is_demo, quality_sql()]
    query = (
        select(*keys, func.count())
        .where(*finished_condition(), confirmed_marketing(), condition)
        .group_by(*keys)
    )
    deltas: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
    for day, campaign, version, is_demo, quality, count in session.execute(query):
        key = (as_date(day), campaign, version, bool(is_demo), "marketing", "", 0, int(quality))
        deltas[key][0] += sign * int(count)
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
