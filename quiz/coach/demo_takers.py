"""The demo takers themselves: plausible answers, sources, dates, drop-offs and lead outcomes.

Pure generation (no database): quiz.coach.demo writes what this yields through the tables' writers.
"""

from __future__ import annotations

import math
import random
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from quiz.domain import flow
from quiz.domain.content import Content
from quiz.domain.scoring import score_answers
from quiz.models import EXTRA_ANSWERED, EXTRA_DUE, SCORED_DIMENSIONS

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


@dataclass(frozen=True)
class Profile:
    """One scored answer set, reused by many demo takers."""

    answers: dict[str, str]
    # None for a not-applicable answer, stored without points.
    points: dict[str, int | None]
    scores: dict[str, int]
    bands: dict[str, str]
    bottleneck: str
    runner_up: str
    # Whether it answered an extra page (quiz.domain.flow).
    extra: bool = False


def profiles_for(content: Content, rng: random.Random) -> list[Profile]:
    """PROFILE_POOL scored answer sets with varied leanings, shared by all demo takers.

    Each is a taker of `flow.sample_taker`, so a profile whose weakest dimensions are close
    after the core answers the extra page too, as a real taker does, and is scored with it.
    """
    profiles = []
    for _ in range(PROFILE_POOL):
        # A leaning per dimension, so bottlenecks vary; noise per question keeps it human.
        leaning = {d.id: rng.betavariate(2.2, 1.8) for d in content.dimensions}
        answers = flow.sample_taker(content, "random", rng.randrange(2**32), leaning=leaning)
        result = score_answers(content, answers)
        points = {
            question_id: content.choice(question_id, option_id).points
            if content.choice(question_id, option_id).applicable
            else None
            for question_id, option_id in answers.items()
        }
        profiles.append(
            Profile(
                answers=answers,
                points=points,
                scores=dict(result.scores),
                bands=dict(result.bands),
                bottleneck=result.bottleneck,
                runner_up=result.runner_up,
                extra=len(answers) > len(content.questions),
            )
        )
    return profiles


def _drop_off_step(rng: random.Random, pages: int) -> int:
    # Most who leave do so early; a few give up at the contact step.
    return min(int(rng.expovariate(0.45)), pages)


def takers(
    content: Content, count: int, rng: random.Random, now: datetime, profiles: list[Profile]
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Yield `count` demo takers: a response row and its pick (profile, consent, mail outcome).

    Long because the response row is spelled out column by column, as the bulk insert needs it.
    """
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
            "steps_completed": (steps := _drop_off_step(rng, len(content.pages))),
            # Past the core pages, one whose answers get the extra page was shown it.
            "extra_page": EXTRA_DUE if profile.extra and steps == len(content.pages) else 0,
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
                "extra_page": EXTRA_ANSWERED if profile.extra else 0,
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
