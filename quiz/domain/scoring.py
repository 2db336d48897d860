"""Answers -> per-dimension scores -> bands -> the bottleneck. Pure functions, no I/O.

A dimension's score is the weighted mean of the points (0..4, reverse keys applied) of its
*applicable* answers, scaled to 0..100 and rounded half up to a whole number, so the same answers
always give the same integers on every machine and database. A not-applicable answer ("Kam bei
mir noch nicht vor") is left out. A dimension with fewer than half of its questions applicable
gets no score at all ("zu wenige Angaben"): it is listed in `insufficient`, has no band and cannot
be the bottleneck.

The bottleneck is the scored dimension with the lowest score. It is *acute* unless that score
already lies in the dimension's top band; then there is no acute bottleneck and the dimension
named is simply the area with the most room.

Tie rule: dimensions sharing the lowest score are disclosed in `tied_with`, and the tie is broken
by the answers, in this order:
1. more weak answers (applicable answers of at most 1 point) first;
2. then the higher-priority advice these answers triggered (the highest priority among the
   dimension's triggered tips, then their number; perspectives notes, which weigh two views
   rather than correct a habit, do not count);
3. only as a last resort, when the answers cannot tell the dimensions apart (for example every
   answer the same), the order of the dimensions in the content file, which lists them in the
   order a coach would work on them.
The same key orders the whole `ranking`, so the runner-up follows the same rule.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

from quiz.domain.content_model import MAX_POINTS, Content


class AnswerError(ValueError):
    """An answer set cannot be scored; `question_id` names the question at fault."""

    def __init__(self, question_id: str, message: str) -> None:
        self.question_id = question_id
        super().__init__(message)


@dataclass(frozen=True)
class ScoreResult:
    """The numbers of one finished quiz; `ranking` holds the scored dimensions, weakest first."""

    scores: Mapping[str, int]
    bands: Mapping[str, str]
    ranking: tuple[str, ...]
    # Dimensions with too few applicable answers: no score, no band, never the bottleneck.
    insufficient: frozenset[str] = field(default_factory=frozenset)
    # Other dimensions with the bottleneck's score (the tie the rule above broke).
    tied_with: tuple[str, ...] = ()
    # False when even the weakest dimension lies in its top band.
    bottleneck_acute: bool = True

    @property
    def bottleneck(self) -> str:
        """The weakest scored dimension: where the business is held back most."""
        return self.ranking[0]

    @property
    def runner_up(self) -> str:
        """The second-weakest scored dimension."""
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
    insufficient: set[str] = set()
    for dimension in content.dimensions:
        score = dimension_score(content, dimension.id, answers)
        if score is None:
            insufficient.add(dimension.id)
        else:
            scores[dimension.id] = score
    if not scores:
        # The loader guarantees dimensions that are always scored; this is a broken Content.
        raise AnswerError(content.questions[0].id, "no dimension has enough applicable answers")
    key = tie_key(content, answers)
    ranking = tuple(sorted(scores, key=lambda dim: (scores[dim], *key[dim])))
    bands = {dim: content.dimension_by_id[dim].band_for(score).id for dim, score in scores.items()}
    bottleneck = ranking[0]
    top_band = content.dimension_by_id[bottleneck].bands[-1].id
    return ScoreResult(
        scores=scores,
        bands=bands,
        ranking=ranking,
        insufficient=frozenset(insufficient),
        tied_with=tuple(d for d in ranking[1:] if scores[d] == scores[bottleneck]),
        bottleneck_acute=bands[bottleneck] != top_band,
    )


def dimension_score(content: Content, dimension_id: str, answers: Mapping[str, str]) -> int | None:
    """The 0..100 score of one dimension, or None when fewer than half its answers apply."""
    total = Fraction(0)
    weights = Fraction(0)
    questions = content.questions_of(dimension_id)
    applicable = 0
    for question in questions:
        choice = content.choice(question.id, answers[question.id])
        if not choice.applicable:
            continue
        applicable += 1
        weight = Fraction(question.weight)
        total += weight * Fraction(choice.points, MAX_POINTS)
        weights += weight
    if applicable == 0 or 2 * applicable < len(questions):
        return None
    return _round_half_up(total / weights * 100)


def weak_answers(
    content: Content, answers: Mapping[str, str], dimension_id: str
) -> tuple[str, ...]:
    """The questions of a dimension answered weakly (applicable, at most 1 point), in quiz order."""
    return tuple(
        question.id
        for question in content.questions_of(dimension_id)
        if content.choice(question.id, answers[question.id]).weak
    )


def tie_key(content: Content, answers: Mapping[str, str]) -> dict[str, tuple[int, int, int, int]]:
    """Per dimension, the documented tie-breaking key (smaller sorts first, i.e. weaker)."""
    triggered = [tip for tip in content.triggered_tips(answers) if tip.kind == "tip"]
    keys: dict[str, tuple[int, int, int, int]] = {}
    for position, dimension in enumerate(content.dimensions):
        priorities = [tip.priority for tip in triggered if tip.dimension == dimension.id]
        keys[dimension.id] = (
            -len(weak_answers(content, answers, dimension.id)),
            -max(priorities, default=0),
            -len(priorities),
            position,
        )
    return keys


def sample_answers(
    content: Content, profile: Literal["best", "worst", "random"], seed: int | None = None
) -> dict[str, str]:
    """Generate a complete answer set: the strongest, the weakest, or a random one (seedable).

    Samples only ever pick applicable answers: a not-applicable one says nothing about a level.
    """
    rng = random.Random(seed)  # noqa: S311 -- sample data, not security
    answers: dict[str, str] = {}
    for question in content.questions:
        choices = [choice for choice in content.choices(question.id) if choice.applicable]
        if profile == "best":
            answers[question.id] = max(choices, key=lambda choice: choice.points).id
        elif profile == "worst":
            answers[question.id] = min(choices, key=lambda choice: choice.points).id
        else:
            answers[question.id] = rng.choice(choices).id
    return answers


def _round_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))
