"""Generated takers of the real content for the questionnaire-quality page and `item-stats`.

Each taker is written as a finished response with its answers and counted by
`item_stats.on_finish`, as the finishing writer does; the tests then compare what the page and
the CLI show with numpy's figures from the same generated points.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from quiz.counters import item_stats
from quiz.database import begin_write
from quiz.domain.content import Content
from quiz.extensions import db
from quiz.models import SCORED_DIMENSIONS, Answer, Response

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Given:
    """An answer as the counters see it."""

    question_id: str
    option_id: str
    dimension_id: str
    points: int | None


def generated(content: Content, seed: int, n: int) -> list[dict[str, str]]:
    """n takers' chosen option per question: a latent trait per dimension plus noise.

    No taker gives the same option to every statement (that would flag them as straight-lining;
    the tests flag takers on purpose).
    """
    rng = np.random.default_rng(seed)
    takers: list[dict[str, str]] = []
    statements = [q.id for q in content.questions if q.type == "likert"]
    for _ in range(n):
        trait = {d.id: rng.normal() for d in content.dimensions}
        chosen: dict[str, str] = {}
        for question in content.questions:
            target = 2 + trait[question.dimension] * rng.uniform(0.5, 1.5) + rng.normal()
            options = [c for c in content.choices(question.id) if c.applicable]
            best = min(options, key=lambda c: (abs(c.points - target), c.id))
            chosen[question.id] = best.id
        if len({chosen[q] for q in statements}) == 1:
            first = content.choices(statements[0])
            chosen[statements[0]] = next(c.id for c in first if c.id != chosen[statements[0]])
        takers.append(chosen)
    return takers


def answers_of(content: Content, chosen: dict[str, str]) -> list[Given]:
    """The answers of one taker with the points the content gives them."""
    out = []
    for question in content.questions:
        choice = content.choice(question.id, chosen[question.id])
        points = choice.points if choice.applicable else None
        out.append(Given(question.id, choice.id, question.dimension, points))
    return out


def points_matrix(content: Content, takers: list[dict[str, str]], dimension: str) -> np.ndarray:
    """The points of every taker (rows) on every question of one dimension (content order)."""
    questions = [q.id for q in content.questions_of(dimension)]
    return np.array(
        [[content.choice(q, taker[q]).points for q in questions] for taker in takers], dtype=float
    )


def finish(
    content: Content,
    chosen: dict[str, str],
    *,
    demo: bool = False,
    seconds: int = 600,
    version: str | None = None,
    scores: dict[str, int] | None = None,
) -> int:
    """Write one finished response with its answers and count it."""
    begin_write()
    scores = scores or {}
    response = Response(
        draft_token=secrets.token_urlsafe(24),
        result_token=secrets.token_urlsafe(24),
        status="finished",
        content_version=version or content.version,
        content_hash="0" * 64,
        started_at=START,
        finished_at=START + timedelta(seconds=seconds),
        steps_completed=len(content.pages) + 1,
        step_times={},
        is_demo=demo,
        **{f"score_{d}": scores.get(d, 50) for d in SCORED_DIMENSIONS},
    )
    db.session.add(response)
    db.session.flush()
    given = answers_of(content, chosen)
    for answer in given:
        db.session.add(Answer(response_id=response.id, **vars(answer)))
    item_stats.on_finish(response, given)
    db.session.commit()
    return int(response.id)


def numpy_alpha(x: np.ndarray) -> float:
    """Cronbach's alpha of the columns of x, straight from its definition."""
    k = x.shape[1]
    return float(k / (k - 1) * (1 - x.var(axis=0, ddof=1).sum() / x.sum(axis=1).var(ddof=1)))


def numpy_item_total_r(x: np.ndarray, i: int) -> float:
    """Pearson r of column i with the sum of the other columns."""
    return float(np.corrcoef(x[:, i], np.delete(x, i, axis=1).sum(axis=1))[0, 1])
