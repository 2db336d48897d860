"""Synthetic, plausible quiz takers for trying out the coach view (and for the benchmarks).

Every demo row has `is_demo = True`: real answers scored by the real scorer (drawn from a pool of
profiles, so a million takers do not mean a million scorer calls), varied sources, dates and
drop-offs, consents and email states. Rows go in with core `insert()` in batches, each batch in one
transaction together with its rollup counts, so the dashboard is consistent after every batch.
Demo emails use the reserved `.invalid` domain and are never queued for sending.
"""

from __future__ import annotations

import math
import random
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select

from quiz import rollups
from quiz.content import Content
from quiz.database import begin_write
from quiz.extensions import db
from quiz.models import SCORED_DIMENSIONS, Answer, Consent, OutboxMessage, Response
from quiz.scoring import score_answers

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
BATCH = 2000


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
    content: Content, count: int, rng: random.Random, now: datetime
) -> Iterator[tuple[dict[str, Any], Profile | None]]:
    profiles = _profiles(content, rng)
    weights = [source[3] for source in SOURCES]
    for _ in range(count):
        source, medium, campaign, _weight = rng.choices(SOURCES, weights)[0]
        # Dates spread over the last year, with more recent takers (growth).
        age_days = 365 * (1 - math.sqrt(rng.random()))
        started = now - timedelta(days=age_days, seconds=rng.randrange(86400))
        started = started.replace(microsecond=0)
        finished = rng.random() < 0.62
        profile = rng.choice(profiles)
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
        yield row, profile


def _ascii(name: str) -> str:
    table = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ë": "e", "Ä": "Ae"})
    return name.translate(table).lower().replace("Ö", "oe")


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
    batch: list[tuple[dict[str, Any], Profile | None]] = []
    added = 0
    for item in _rows(content, count, rng, now):
        batch.append(item)
        if len(batch) == BATCH:
            added += _write_batch(content, batch, rng)
            batch = []
            if progress:
                progress(added)
    if batch:
        added += _write_batch(content, batch, rng)
        if progress:
            progress(added)
    return added


def _write_batch(
    content: Content, batch: list[tuple[dict[str, Any], Profile | None]], rng: random.Random
) -> int:
    begin_write()
    ids = db.session.scalars(
        insert(Response.__table__).returning(Response.id, sort_by_parameter_order=True),
        [row for row, _ in batch],
    ).all()
    answers: list[dict[str, Any]] = []
    consents: list[dict[str, Any]] = []
    outbox: list[dict[str, Any]] = []
    deltas: dict[rollups.Key, list[int]] = defaultdict(lambda: [0, 0])
    for response_id, (row, profile) in zip(ids, batch, strict=True):
        finished = row["status"] == "finished"
        pages = content.pages if finished else content.pages[: row["steps_completed"]]
        moment = row["finished_at"] or row["started_at"]
        if profile is not None:
            for page in pages:
                for question in page.questions:
                    answers.append(
                        {
                            "response_id": response_id,
                            "question_id": question.id,
                            "option_id": profile.answers[question.id],
                            "dimension_id": question.dimension,
                            "points": profile.points[question.id],
                            "answered_at": moment,
                        }
                    )
        if finished:
            _lead_rows(response_id, row, rng, consents, outbox)
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
            scores={d: row[f"score_{d}"] for d in SCORED_DIMENSIONS if finished},
            bottleneck=row["bottleneck"],
        )
        for key, (count, total) in rollups.contributions(state).items():
            deltas[key][0] += count
            deltas[key][1] += total
    for table, rows in (
        (Answer.__table__, answers),
        (Consent.__table__, consents),
        (OutboxMessage.__table__, outbox),
    ):
        if rows:
            db.session.execute(insert(table), rows)
    rollups._upsert(
        db.session(), [rollups._row(key, count, total) for key, (count, total) in deltas.items()]
    )
    db.session.commit()
    return len(ids)


def _lead_rows(
    response_id: int,
    row: dict[str, Any],
    rng: random.Random,
    consents: list[dict[str, Any]],
    outbox: list[dict[str, Any]],
) -> None:
    moment = row["finished_at"]
    consent = {
        "response_id": response_id,
        "text_version": "demo",
        "text_hash": "0" * 64,
        "granted_at": moment,
        "confirmed_at": None,
        "withdrawn_at": None,
    }
    consents.append({**consent, "kind": "data"})
    # Demo mail is never queued: the sender must not try to deliver it.
    status = "failed" if rng.random() < 0.04 else "sent"
    mail = {
        "response_id": response_id,
        "recipient": row["email"],
        "attempts": 1,
        "next_attempt_at": moment,
        "claimed_at": None,
        "last_error": "demo: mailbox unavailable" if status == "failed" else None,
        "message_id": None,
        "created_at": moment,
        "sent_at": moment if status == "sent" else None,
    }
    outbox.append({**mail, "kind": "result", "status": status})
    if rng.random() < 0.35:
        confirmed = (
            moment + timedelta(minutes=rng.randrange(1, 600)) if rng.random() < 0.7 else None
        )
        withdrawn = confirmed + timedelta(days=3) if confirmed and rng.random() < 0.05 else None
        consents.append(
            {**consent, "kind": "marketing", "confirmed_at": confirmed, "withdrawn_at": withdrawn}
        )
        outbox.append({**mail, "kind": "optin", "status": "sent", "last_error": None})


def remove() -> int:
    """Delete every demo taker with their answers, consents, emails and rollup counts."""
    begin_write()
    demo_ids = select(Response.id).where(Response.is_demo.is_(True))
    for table in (Answer, Consent, OutboxMessage):
        db.session.execute(delete(table).where(table.response_id.in_(demo_ids)))
    removed = db.session.execute(
        delete(Response.__table__).where(Response.__table__.c.is_demo.is_(True))
    ).rowcount
    rollups.rebuild(demo=True)
    db.session.commit()
    return int(removed or 0)
