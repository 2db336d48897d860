"""Answers -> per-dimension scores -> bands -> the bottleneck. Pure functions, no I/O.

A dimension's score is the weighted mean of its questions' points (0..4, reverse keys applied),
scaled to 0..100 and rounded half up to a whole number, so the same answers always give the same
integers on every machine and database.

Tie rule: the bottleneck is the dimension with the lowest score; among equal scores, the one that
comes first in the content file wins. The content lists the dimensions in the order a coach would
work on them, so a tie resolves toward the more fundamental one. The runner-up is the next in the
same ranking.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from quiz.content import MAX_POINTS, Content


class AnswerError(ValueError):
    """An answer set cannot be scored; `question_id` names the question at fault."""

    def __init__(self, question_id: str, message: str) -> None:
        self.question_id = question_id
        super().__init__(message)


@dataclass(frozen=True)
class ScoreResult:
    """The numbers of one finished quiz, in content order where order matters."""

    scores: Mapping[str, int]
    bands: Mapping[str, str]
    ranking: tuple[str, ...]

    @property
    def bottleneck(self) -> str:
        """The weakest dimension: where the business is held back most."""
        return self.ranking[0]

    @property
    def runner_up(self) -> str:
        """The second-weakest dimension."""
        return self.ranking[1] if len(self.ranking) > 1 else self.ranking[0]


def validate_answers(content: Content, answers: Mapping[str, str]) -> None:
    """Raise AnswerError for the first unknown, missing or invalid answer, in question order."""
    for question_id in answers:
        if question_id not in content.question_by_id:
            raise AnswerError(question_id, f"unknown question {question_id!r}")
    for question in content.questions:
        answer = answers.get(question.id)
        if answer is None or answer == "":
            raise AnswerError(question.id, f"missing answer for question {question.id!r}")
        if not isinstance(answer, str) or answer not in {
            choice.id for choice in content.choices(question.id)
        }:
            raise AnswerError(
                question.id, f"invalid answer {answer!r} for question {question.id!r}"
            )


def score_answers(content: Content, answers: Mapping[str, str]) -> ScoreResult:
    """Score a complete answer set; raise AnswerError naming the question if it is not complete."""
    validate_answers(content, answers)
    scores: dict[str, int] = {}
    for dimension in content.dimensions:
        total = Fraction(0)
        weights = Fraction(0)
        for question in content.questions_of(dimension.id):
            points = _points(content, question.id, answers[question.id])
            weight = Fraction(question.weight)
            total += weight * Fraction(points, MAX_POINTS)
            weights += weight
        scores[dimension.id] = _round_half_up(total / weights * 100)
    order = {dimension.id: index for index, dimension in enumerate(content.dimensions)}
    ranking = tuple(sorted(scores, key=lambda dim: (scores[dim], order[dim])))
    bands = {
        dimension.id: dimension.band_for(scores[dimension.id]).id
        for dimension in content.dimensions
    }
    return ScoreResult(scores=scores, bands=bands, ranking=ranking)


def sample_answers(
    content: Content, profile: Literal["best", "worst", "random"], seed: int | None = None
) -> dict[str, str]:
    """Generate a complete answer set: the strongest, the weakest, or a random one (seedable)."""
    rng = random.Random(seed)  # noqa: S311 -- sample data, not security
    answers: dict[str, str] = {}
    for question in content.questions:
        choices = content.choices(question.id)
        if profile == "best":
            answers[question.id] = max(choices, key=lambda choice: choice.points).id
        elif profile == "worst":
            answers[question.id] = min(choices, key=lambda choice: choice.points).id
        else:
            answers[question.id] = rng.choice(choices).id
    return answers


def _points(content: Content, question_id: str, answer: str) -> int:
    return next(c.points for c in content.choices(question_id) if c.id == answer)


def _round_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))
