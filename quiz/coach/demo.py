"""Synthetic, plausible quiz takers for trying out the coach view (and for the benchmarks).

Every demo row has `is_demo = True`: real answers scored by the real scorer (drawn from a pool of
profiles, so a million takers do not mean a million scorer calls), varied sources, dates and
drop-offs, consents and email states. Only the responses and one narrow "pick" row per taker
(profile, consent and mail outcome) go through Python; the ~20 answers, the consents and the
emails of each taker are derived from them in SQL (INSERT ... SELECT); the rollup counts come
from the same values in Python. The dashboard is consistent whenever a transaction ends: per batch
on SQLite, once for the whole seed on PostgreSQL. Demo emails use the reserved `.invalid` domain
and are never queued for sending.
"""

from __future__ import annotations

import json
import math
import random
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    case,
    delete,
    false,
    func,
    insert,
    literal,
    null,
    select,
)

from quiz.coach import rollup_rebuild, rollups
from quiz.database import begin_write
from quiz.domain.content import Content
from quiz.domain.scoring import score_answers
from quiz.extensions import db
from quiz.models import SCORED_DIMENSIONS, Answer, Consent, OutboxMessage, Response

FIRST_NAMES = (
    "Anna", "Jürgen", "Bärbel", "Sören", "Özlem", "Maximilian", "Lena", "Jörg", "Grete", "Mehmet",
    "Sophie", "Björn", "Käthe", "Lukas", "Ännchen", "Fatma", "Paul", "Müge", "Jonas", "Zoë",
)  # fmt: skip
LAST_NAMES = ("mueller", "schmidt", "schneider", "fischer", "weber", "meyer", "wagner", "becker")
# (utm_source, utm_medium, utm_campaign, weight)
SOURCES = (
    (None, None, None, 30),
    ("newsletter", "email", "newsletter-fruehjahr", 20),
    ("linkedin", "social", "linkedin-engpass", 25),
    ("podcast", "audio", "podcast-folge-42", 10),
    ("webinar", "event", "webinar-herbst", 15),
)
OLD_VERSION = "2025.4"  # a share of demo takers answered an earlier content version
PROFILE_POOL = 500
BATCH = 20_000


@dataclass(frozen=True)
class Profile:
    """One scored answer set, reused by many demo takers."""

    answers: dict[str, str]
    points: dict[str, int]
    scores: dict[str, int]
    bands: dict[str, str]
    bottleneck: str
    runner_up: str


def _profiles(content: Content, rng: random.Random) -> list[Profile]:
    profiles = []
    for _ in range(PROFILE_POOL):
        # A leaning per dimension, so bottlenecks vary; noise per question keeps it human.
        leaning = {d.id: rng.betavariate(2.2, 1.8) for d in content.dimensions}
        answers = {}
        for question in content.questions:
            target = leaning[question.dimension] * 4 + rng.gauss(0, 0.9)
            choices = content.choices(question.id)
            answers[question.id] = min(choices, key=lambda c: abs(c.points - target)).id
        result = score_answers(content, answers)
        points = {
            q.id: next(c.points for c in content.choices(q.id) if c.id == answers[q.id])
            for q in content.questions
        }
        profiles.append(
            Profile(
                answers=answers,
                points=points,
                scores=dict(result.scores),
                bands=dict(result.bands),
                bottleneck=result.bottleneck,
                runner_up=result.runner_up,
            )
        )
    return profiles


def _drop_off_step(rng: random.Random, pages: int) -> int:
    # Most who leave do so early; a few give up at the contact step.
    return min(int(rng.expovariate(0.45)), pages)


def _rows(
    content: Content, count: int, rng: random.Random, now: datetime, profiles: list[Profile]
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    weights = [source[3] for source in SOURCES]
    for _ in range(count):
        source, medium, campaign, _weight = rng.choices(SOURCES, weights)[0]
        # Dates spread over the last year, with more recent takers (growth).
        age_days = 365 * (1 - math.sqrt(rng.random()))
        started = now - timedelta(days=age_days, seconds=rng.randrange(86400))
        started = started.replace(microsecond=0)
        finished = rng.random() < 0.62
        number = rng.randrange(len(profiles))
        profile = profiles[number]
        version = content.version if rng.random() < 0.85 else OLD_VERSION
        row: dict[str, Any] = {
            "draft_token": secrets.token_urlsafe(32),
            "result_token": None,
            "status": "draft",
            "content_version": version,
            "content_hash": content.sha256 if version == content.version else "0" * 64,
            "started_at": started,
            "updated_at": started,
            "finished_at": None,
            "steps_completed": _drop_off_step(rng, len(content.pages)),
            "step_times": {},
            "utm_source": source,
            "utm_medium": medium,
            "utm_campaign": campaign,
            "utm_term": None,
            "utm_content": None,
            "referrer": None,
            "first_name": None,
            "email": None,
            "bands": None,
            "bottleneck": None,
            "runner_up": None,
            "analysis": None,
            "is_demo": True,
            "anonymised_at": None,
            **{f"score_{d}": None for d in SCORED_DIMENSIONS},
        }
        pick: dict[str, Any] = {"profile": number, "mail_failed": False, "marketing": False}
        pick |= {"confirmed_at": None, "withdrawn_at": None}
        if finished:
            seconds = int(min(rng.lognormvariate(math.log(330), 0.45), 6 * 3600))
            if rng.random() < 0.03:  # took a break and came back later
                seconds += rng.randrange(3600, 3 * 86400)
            end = min(started + timedelta(seconds=seconds), now)
            first = rng.choice(FIRST_NAMES)
            row |= {
                "status": "finished",
                "result_token": secrets.token_urlsafe(32),
                "finished_at": end,
                "updated_at": end,
                "steps_completed": len(content.pages) + 1,
                "first_name": first,
                "email": f"{_ascii(first)}.{rng.choice(LAST_NAMES)}{rng.randrange(10**6)}"
                "@example.invalid",
                "bands": profile.bands,
                "bottleneck": profile.bottleneck,
                "runner_up": profile.runner_up,
                **{f"score_{d}": s for d, s in profile.scores.items() if d in SCORED_DIMENSIONS},
            }
            pick |= _lead_outcome(rng, end)
        yield row, pick


def _ascii(name: str) -> str:
    table = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ë": "e", "Ä": "Ae"})
    return name.translate(table).lower().replace("Ö", "oe")


def _lead_outcome(rng: random.Random, finished: datetime) -> dict[str, Any]:
    """What became of a finished taker's emails and newsletter consent."""
    outcome: dict[str, Any] = {"mail_failed": rng.random() < 0.04}
    if rng.random() < 0.35:
        confirmed = (
            finished + timedelta(minutes=rng.randrange(1, 600)) if rng.random() < 0.7 else None
        )
        withdrawn = confirmed + timedelta(days=3) if confirmed and rng.random() < 0.05 else None
        outcome |= {"marketing": True, "confirmed_at": confirmed, "withdrawn_at": withdrawn}
    return outcome


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
    Column("points", Integer, nullable=False),
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
    profiles = _profiles(content, rng)
    profile_answers = [
        {
            "profile": number,
            "page": page_index,
            "question_id": question.id,
            "option_id": profile.answers[question.id],
            "dimension_id": question.dimension,
            "points": profile.points[question.id],
        }
        for number, profile in enumerate(profiles)
        for page_index, page in enumerate(content.pages)
        for question in page.questions
    ]
    # PostgreSQL: one transaction, so readers see all or nothing while inserts by real takers go
    # on, and the counters go in once at the end (upserting them per batch cost a third of the
    # time). SQLite: a transaction per batch, so the site's writers get the lock in between.
    whole = db.session.get_bind().dialect.name == "postgresql"
    pending: dict[rollups.Key, list[int]] = defaultdict(lambda: [0, 0])
    batch: list[tuple[dict[str, Any], dict[str, Any]]] = []
    added = 0
    begin_write()
    for item in _rows(content, count, rng, now, profiles):
        batch.append(item)
        if len(batch) == BATCH or added + len(batch) == count:
            counts = _write_batch(batch, profiles, profile_answers)
            added += len(batch)
            batch = []
            if whole:
                for key, (number, total) in counts.items():
                    pending[key][0] += number
                    pending[key][1] += total
            else:
                rollups.add_counts(counts)
                db.session.commit()
                begin_write()
            if progress:
                progress(added)
    rollups.add_counts(pending)
    db.session.commit()
    return added


def _write_batch(
    batch: list[tuple[dict[str, Any], dict[str, Any]]],
    profiles: list[Profile],
    profile_answers: list[dict[str, Any]],
) -> dict[rollups.Key, list[int]]:
    """Write the batch's takers in the open transaction; return their rollup counters."""
    connection = db.session.connection()
    # No RETURNING: the picks find their response by its unique draft token instead, which keeps
    # this a plain executemany (SQLite would insert row by row to return ids in order).
    _bulk_insert(connection, Response.__table__, [row for row, _ in batch])
    for helper in (PICKS, PROFILE_ANSWERS):
        helper.create(connection)
    _bulk_insert(connection, PROFILE_ANSWERS, profile_answers)
    _bulk_insert(
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


def _bulk_insert(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows: COPY on PostgreSQL (psycopg's executemany sends one INSERT per row)."""
    if connection.dialect.name != "postgresql":
        connection.execute(insert(table), rows)
        return
    names = list(rows[0])  # every row has the same keys
    json_columns = {column.name for column in table.columns if isinstance(column.type, JSON)}
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    statement = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
    with cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(
                [
                    json.dumps(row.get(name)) if name in json_columns else row.get(name)
                    for name in names
                ]
            )


def _counts(
    batch: list[tuple[dict[str, Any], dict[str, Any]]],
    profiles: list[Profile],
) -> dict[rollups.Key, list[int]]:
    """The batch's rollup counters, from the values just written (cheaper than reading back)."""
    deltas: dict[rollups.Key, list[int]] = defaultdict(lambda: [0, 0])
    for row, pick in batch:
        finished = row["status"] == "finished"
        emails: dict[str, int] = {}
        if finished:
            emails["failed" if pick["mail_failed"] else "sent"] = 1
            if pick["marketing"]:
                emails["sent"] = emails.get("sent", 0) + 1
        state = rollups.State(
            start_day=row["started_at"].date(),
            campaign=row["utm_campaign"] or "",
            version=row["content_version"],
            is_demo=True,
            steps=row["steps_completed"],
            finish_day=row["finished_at"].date() if finished else None,
            duration=rollups.seconds_between(row["started_at"], row["finished_at"])
            if finished
            else 0,
            scores=profiles[pick["profile"]].scores if finished else {},
            bottleneck=row["bottleneck"],
            marketing=bool(pick["confirmed_at"] and not pick["withdrawn_at"]),
            emails=emails,
        )
        for key, (count, total) in rollups.contributions(state).items():
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
    connection.execute(insert(Answer.__table__).from_select(ANSWER_COLUMNS, answers))

    def consents(kind: str, confirmed: Any, withdrawn: Any, *where: Any) -> None:
        query = select(
            r.id,
            literal(kind),
            literal("demo"),
            literal("0" * 64),
            r.finished_at,
            confirmed,
            withdrawn,
        )
        connection.execute(
            insert(Consent.__table__).from_select(
                CONSENT_COLUMNS,
                query.select_from(picked).where(finished, *where),
            )
        )

    none = null()
    consents("data", none, none)
    consents("marketing", p.confirmed_at, p.withdrawn_at, p.marketing.is_(True))

    # Demo mail is never queued: the sender must not try to deliver it.
    def emails(kind: str, failed: Any, *where: Any) -> None:
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
        connection.execute(
            insert(OutboxMessage.__table__).from_select(
                EMAIL_COLUMNS,
                query.select_from(picked).where(finished, *where),
            )
        )

    emails("result", p.mail_failed.is_(True))
    emails("optin", false(), p.marketing.is_(True))


def remove() -> int:
    """Delete every demo taker with their answers, consents, emails and rollup counts."""
    begin_write()
    demo_ids = select(Response.id).where(Response.is_demo.is_(True))
    for table in (Answer, Consent, OutboxMessage):
        db.session.execute(delete(table).where(table.response_id.in_(demo_ids)))
    removed = db.session.execute(
        delete(Response.__table__).where(Response.__table__.c.is_demo.is_(True))
    ).rowcount
    rollup_rebuild.rebuild(demo=True)
    db.session.commit()
    return int(removed or 0)
