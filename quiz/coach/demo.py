"""Synthetic, plausible quiz takers for trying out the coach view (and for the benchmarks).

Every demo row has `is_demo = True`: real answers scored by the real scorer (drawn from a pool of
profiles, so a million takers do not mean a million scorer calls), varied sources, dates and
drop-offs, consents and email states. Only the responses and one narrow "pick" row per taker
(profile, consent and mail outcome) go through Python; the ~20 answers, the consents and the
emails of each taker are derived from them in SQL (INSERT ... SELECT); the rollup counts come
from the same values in Python. Every row and counter is written by its table's writer
(quiz.taker.responses, quiz.taker.consents, quiz.mail.outbox), each adding the counters it owns;
the takers themselves come from quiz.coach.demo_takers. The dashboard is consistent whenever a
transaction ends: per batch on SQLite, once for the whole seed on PostgreSQL; the item statistics
are recounted for the demo rows at the end. Demo emails use the reserved `.invalid` domain and
are never queued for sending.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    case,
    false,
    func,
    literal,
    null,
    select,
)

from quiz import database
from quiz.coach.demo_takers import Profile, profiles_for, takers
from quiz.counters import rollup_keys
from quiz.domain.content import Content
from quiz.extensions import db
from quiz.mail import outbox
from quiz.models import Response
from quiz.taker import consents, responses
from quiz.taker.bulk import bulk_insert

# Takers per batch (and per transaction on SQLite), each as (response row, pick).
BATCH = 20_000
Batch = list[tuple[dict[str, Any], dict[str, Any]]]

# Per-batch helper tables (created and dropped inside each batch's transaction).
_helpers = MetaData()
PICKS = Table(
    "demo_picks",
    _helpers,
    Column("draft_token", String(64), primary_key=True),
    Column("profile", Integer, nullable=False),
    Column("mail_failed", Boolean, nullable=False),
    Column("marketing", Boolean, nullable=False),
    Column("confirmed_at", DateTime(timezone=True)),
    Column("withdrawn_at", DateTime(timezone=True)),
    prefixes=["TEMPORARY"],
)
PROFILE_ANSWERS = Table(
    "demo_profile_answers",
    _helpers,
    Column("profile", Integer, primary_key=True),
    Column("page", Integer, primary_key=True),
    Column("question_id", String(40), primary_key=True),
    Column("option_id", String(40), nullable=False),
    Column("dimension_id", String(40), nullable=False),
    Column("points", Integer),
    prefixes=["TEMPORARY"],
)


def seed(
    content: Content,
    count: int,
    *,
    seed_value: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Add `count` demo takers; returns how many were added."""
    rng = random.Random(seed_value)  # noqa: S311 -- demo data, not security
    now = datetime.now(UTC).replace(microsecond=0)
    profiles = profiles_for(content, rng)
    # The extra page counts as the page after the core's: a finished taker answered it.
    page_of = {q.id: i for i, page in enumerate(content.pages) for q in page.questions}
    profile_answers = [
        {
            "profile": number,
            "page": page_of.get(question_id, len(content.pages)),
            "question_id": question_id,
            "option_id": option_id,
            "dimension_id": content.question_by_id[question_id].dimension,
            "points": profile.points[question_id],
        }
        for number, profile in enumerate(profiles)
        for question_id, option_id in profile.answers.items()
    ]
    # PostgreSQL: one transaction, so readers see all or nothing while inserts by real takers go
    # on, and the counters go in once at the end (upserting them per batch cost a third of the
    # time). SQLite: a transaction per batch, so the site's writers get the lock in between.
    batches = _batches(takers(content, count, rng, now, profiles), count)
    if db.session.get_bind().dialect.name == "postgresql":
        return _seed_at_once(batches, profiles, profile_answers, progress)
    return _seed_per_batch(batches, profiles, profile_answers, progress)


def _batches(items: Iterator[tuple[dict[str, Any], dict[str, Any]]], count: int) -> Iterator[Batch]:
    """The takers in batches of BATCH (the last one smaller), `count` in all."""
    batch: Batch = []
    for done, item in enumerate(items, start=1):
        batch.append(item)
        if len(batch) == BATCH or done == count:
            yield batch
            batch = []


def _seed_at_once(
    batches: Iterator[Batch],
    profiles: list[Profile],
    profile_answers: list[dict[str, Any]],
    progress: Callable[[int], None] | None,
) -> int:
    """PostgreSQL: every batch in one write transaction, the counters added once at the end."""
    pending: dict[rollup_keys.Key, list[int]] = defaultdict(lambda: [0, 0])
    added = 0
    with database.write():
        after_id = _last_id()
        for batch in batches:
            for key, (number, total) in _write_batch(batch, profiles, profile_answers).items():
                pending[key][0] += number
                pending[key][1] += total
            added += len(batch)
            if progress:
                progress(added)
        _count(pending)
        responses.judge_demo(after_id)
    return added


def _seed_per_batch(
    batches: Iterator[Batch],
    profiles: list[Profile],
    profile_answers: list[dict[str, Any]],
    progress: Callable[[int], None] | None,
) -> int:
    """SQLite: a write transaction per batch, then one to judge them all."""
    after_id: int | None = None
    added = 0
    for batch in batches:
        with database.write():
            after_id = _last_id() if after_id is None else after_id
            _count(_write_batch(batch, profiles, profile_answers))
        added += len(batch)
        if progress:
            progress(added)
    with database.write():
        responses.judge_demo(_last_id() if after_id is None else after_id)
    return added


def _last_id() -> int:
    """The highest response id so far (the seed's rows come after it)."""
    return db.session.scalar(select(func.max(Response.id))) or 0


def _count(deltas: dict[rollup_keys.Key, list[int]]) -> None:
    """Each table's writer adds the counters of its own rows."""
    responses.count_demo(deltas)
    consents.count_demo(deltas)
    outbox.count_demo(deltas)


def _write_batch(
    batch: Batch,
    profiles: list[Profile],
    profile_answers: list[dict[str, Any]],
) -> dict[rollup_keys.Key, list[int]]:
    """Write the batch's takers in the open transaction; return their rollup counters."""
    connection = db.session.connection()
    # No RETURNING: the picks find their response by its unique draft token instead, which keeps
    # this a plain executemany (SQLite would insert row by row to return ids in order).
    responses.insert_demo_batch(connection, [row for row, _ in batch])
    for helper in (PICKS, PROFILE_ANSWERS):
        helper.create(connection)
    bulk_insert(connection, PROFILE_ANSWERS, profile_answers)
    bulk_insert(
        connection, PICKS, [{"draft_token": row["draft_token"], **pick} for row, pick in batch]
    )
    if connection.dialect.name == "postgresql":
        # Fresh tables have no statistics; without them the joins below may scan all responses.
        for helper in (PICKS, PROFILE_ANSWERS):
            connection.exec_driver_sql(f"ANALYZE {helper.name}")
    _derive_children(connection)
    for helper in (PICKS, PROFILE_ANSWERS):
        helper.drop(connection)
    return _counts(batch, profiles)


def _counts(
    batch: Batch,
    profiles: list[Profile],
) -> dict[rollup_keys.Key, list[int]]:
    """The batch's rollup counters, from the values just written (cheaper than reading back)."""
    deltas: dict[rollup_keys.Key, list[int]] = defaultdict(lambda: [0, 0])
    for row, pick in batch:
        finished = row["status"] == "finished"
        emails: dict[str, int] = {}
        if finished:
            emails["failed" if pick["mail_failed"] else "sent"] = 1
            if pick["marketing"]:
                emails["sent"] = emails.get("sent", 0) + 1
        state = rollup_keys.State(
            start_day=row["started_at"].date(),
            campaign=row["utm_campaign"] or "",
            version=row["content_version"],
            is_demo=True,
            steps=row["steps_completed"],
            extra=row["extra_page"],
            finish_day=row["finished_at"].date() if finished else None,
            duration=rollup_keys.seconds_between(row["started_at"], row["finished_at"])
            if finished
            else 0,
            scores=profiles[pick["profile"]].scores if finished else {},
            bottleneck=row["bottleneck"],
            marketing=bool(pick["confirmed_at"] and not pick["withdrawn_at"]),
            emails=emails,
        )
        for key, (count, total) in rollup_keys.contributions(state).items():
            deltas[key][0] += count
            deltas[key][1] += total
    return deltas


ANSWER_COLUMNS = [
    "response_id",
    "question_id",
    "option_id",
    "dimension_id",
    "points",
    "answered_at",
]
CONSENT_COLUMNS = ["response_id", "kind", "text_version", "text_hash", "granted_at"]
CONSENT_COLUMNS += ["confirmed_at", "withdrawn_at"]
EMAIL_COLUMNS = ["response_id", "kind", "recipient", "status", "attempts", "next_attempt_at"]
EMAIL_COLUMNS += ["last_error", "created_at", "sent_at"]


def _derive_children(connection: Connection) -> None:
    """Answers, consents and emails of the batch's takers, from their picks, in SQL."""
    r, p, a = Response.__table__.c, PICKS.c, PROFILE_ANSWERS.c
    picked = Response.__table__.join(PICKS, p.draft_token == r.draft_token)
    finished = r.status == "finished"
    answers = (
        select(
            r.id,
            a.question_id,
            a.option_id,
            a.dimension_id,
            a.points,
            func.coalesce(r.finished_at, r.started_at),
        )
        .select_from(picked.join(PROFILE_ANSWERS, a.profile == p.profile))
        # A finished taker answered every page; one who left, the pages before leaving.
        .where(a.page < r.steps_completed)
    )
    responses.insert_demo_answers(connection, ANSWER_COLUMNS, answers)

    def add_consents(kind: str, confirmed: Any, withdrawn: Any, *where: Any) -> None:
        query = select(
            r.id,
            literal(kind),
            literal("demo"),
            literal("0" * 64),
            r.finished_at,
            confirmed,
            withdrawn,
        )
        consents.insert_demo(
            connection, CONSENT_COLUMNS, query.select_from(picked).where(finished, *where)
        )

    none = null()
    add_consents("data", none, none)
    add_consents("marketing", p.confirmed_at, p.withdrawn_at, p.marketing.is_(True))

    # Demo mail is never queued: the sender must not try to deliver it.
    def add_emails(kind: str, failed: Any, *where: Any) -> None:
        query = select(
            r.id,
            literal(kind),
            r.email,
            case((failed, "failed"), else_="sent"),
            literal(1),
            r.finished_at,
            case((failed, "demo: mailbox unavailable"), else_=none),
            r.finished_at,
            case((failed, none), else_=r.finished_at),
        )
        outbox.insert_demo(
            connection, EMAIL_COLUMNS, query.select_from(picked).where(finished, *where)
        )

    add_emails("result", p.mail_failed.is_(True))
    add_emails("optin", false(), p.marketing.is_(True))


def remove() -> int:
    """Delete every demo taker with their answers, consents, emails and rollup counts."""
    with database.write():
        outbox.delete_demo()
        consents.delete_demo()
        return responses.delete_demo()
