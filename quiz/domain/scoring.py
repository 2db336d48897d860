"""Answers -> per-dimension scores -> bands -> the bottleneck, and how sure it is. No I/O.

A dimension's score is the weighted mean of the points (0..4, reverse keys applied) of its
*applicable* answers, scaled to 0..100 and rounded half up to a whole number, so the same answers
always give the same integers on every machine and database. The answers counted are the core
questions' and any extra questions the taker was asked (`quiz.domain.flow`). A not-applicable
answer ("Kam bei mir noch nicht vor") is left out. A dimension with fewer than half of its asked
questions applicable gets no score at all ("zu wenige Angaben"): it is listed in `insufficient`,
has no band and cannot be the bottleneck.

The bottleneck is the scored dimension with the lowest score. It is *acute* unless that score
already lies in the dimension's top band; then there is no acute bottleneck and the dimension
named is simply the area with the most room.

How sure that is (`quiz.domain.precision`): each dimension gets the uncertainty of its score and
the chance, given all its answers, that it is truly the weakest. Dimensions sharing the lowest
score are disclosed in `tied_with`; the others whose chance is at least CLOSE_CHANCE are
`close_to` the bottleneck, if any of their answers is below full points (a dimension answered
at its best everywhere gives no answer a taker could start from, however uncertain its level). `confidence` is "klar" when neither list names anything, else
"knapp".

A tie is broken by the answers: first more weak answers (applicable answers of at most 1 point),
then the greater chance of being the weakest, which weighs every answer of the dimension; only
when the answers cannot tell the dimensions apart (the same answers), the order of the dimensions
in the content file. `tie_reason` says which step decided. The same key orders the whole
`ranking`, so the runner-up follows the same rule. (Content up to 2026.2 broke ties by the
advice the answers triggered; `tie_key` keeps that rule for explaining results stored then.)
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

from quiz.domain.content_model import MAX_POINTS, Choice, Content, Question
from quiz.domain.precision import Precision, assess

# A dimension with at least this chance of being truly the weakest is close to the bottleneck.
CLOSE_CHANCE = 0.08

Confidence = Literal["klar", "knapp"]
TieReason = Literal["weak_answers", "answers", "content_order"]


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
    # Other dimensions, not tied, that may well be the weakest (chance >= CLOSE_CHANCE).
    close_to: tuple[str, ...] = ()
    # "klar" when nothing is tied with or close to the bottleneck, else "knapp".
    confidence: Confidence = "klar"
    # Which step of the tie rule chose the bottleneck (None without a tie).
    tie_reason: TieReason | None = None
    # Per scored dimension: the standard deviation of its score, and its chance to be weakest.
    uncertainty: Mapping[str, float] = field(default_factory=dict)
    chance: Mapping[str, float] = field(default_factory=dict)
    # Per scored dimension: the level the answers point to (quiz.domain.precision), which
    # chooses the extra questions that tell most.
    level: Mapping[str, float] = field(default_factory=dict)
    # Per dimension (every one, scored or not): the questions answered weakly, in quiz order.
    weak: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # The extra questions among the answers scored.
    extra_answered: tuple[str, ...] = ()

    @property
    def bottleneck(self) -> str:
        """The weakest scored dimension: where the business is held back most."""
        return self.ranking[0]

    @property
    def runner_up(self) -> str:
        """The second-weakest scored dimension."""
        return self.ranking[1] if len(self.ranking) > 1 else self.ranking[0]


def validate_answers(content: Content, answers: Mapping[str, str]) -> None:
    """Raise AnswerError for the first unknown, missing or invalid answer, in question order.

    Every core question needs an answer; an extra question may be left out, but an answer given
    to one must be one of its options.
    """
    check_known(content, answers)
    for question in content.questions:
        answer = answers.get(question.id)
        if answer is None or answer == "":
            raise AnswerError(question.id, f"missing answer for question {question.id!r}")


def check_known(content: Content, answers: Mapping[str, str]) -> None:
    """Raise AnswerError for an unknown question or an answer that is not one of its options."""
    valid = content.answer_ids
    if all(valid.get(qid, ()).__contains__(answer) for qid, answer in answers.items()):
        return  # the usual case, checked in one pass; otherwise find the first fault in order
    for question_id in answers:
        if question_id not in content.question_by_id:
            raise AnswerError(question_id, f"unknown question {question_id!r}")
    valid = content.answer_ids
    for question in content.all_questions:
        answer = answers.get(question.id)
        if answer is None or (answer == "" and question.id not in content.page_of_question):
            continue
        if not isinstance(answer, str) or answer not in valid[question.id]:
            raise AnswerError(
                question.id, f"invalid answer {answer!r} for question {question.id!r}"
            )


def score_answers(content: Content, answers: Mapping[str, str]) -> ScoreResult:
    """Score a complete answer set; raise AnswerError naming the question if it is not complete.

    Complete means every core question; extra questions answered are scored with them.
    """
    validate_answers(content, answers)
    return score_checked(content, answers)


def score_checked(content: Content, answers: Mapping[str, str]) -> ScoreResult:
    """score_answers for answers already checked by validate_answers (the flow checks once)."""
    scores: dict[str, int] = {}
    insufficient: set[str] = set()
    asked = {
        dimension.id: asked_questions(content, dimension.id, answers)
        for dimension in content.dimensions
    }
    # Every answer looked up once: the score, the weak answers and the gaps come from these.
    chosen = {
        d: [(q, content.choice(q.id, answers[q.id])) for q in questions]
        for d, questions in asked.items()
    }
    for dimension in content.dimensions:
        score = _score_choices(chosen[dimension.id])
        if score is None:
            insufficient.add(dimension.id)
        else:
            scores[dimension.id] = score
    if not scores:
        # The loader guarantees dimensions that are always scored; this is a broken Content.
        raise AnswerError(content.questions[0].id, "no dimension has enough applicable answers")
    precision = assess(content, answers, {d: [q.id for q in asked[d]] for d in scores})
    weak = {d: tuple(q.id for q, choice in pairs if choice.weak) for d, pairs in chosen.items()}
    position = {dimension.id: index for index, dimension in enumerate(content.dimensions)}
    gaps = {
        d: tuple(sorted(content.best_points(q.id) - c.points for q, c in pairs if c.applicable))
        for d, pairs in chosen.items()
    }
    chance = _comparable_chance(gaps, precision)
    ranking = tuple(
        sorted(scores, key=lambda d: (scores[d], -len(weak[d]), -chance[d], position[d]))
    )
    bands = {dim: content.dimension_by_id[dim].band_for(score).id for dim, score in scores.items()}
    bottleneck = ranking[0]
    tied = tuple(d for d in ranking[1:] if scores[d] == scores[bottleneck])
    room = {d for d, lacking in gaps.items() if any(lacking)}
    close = tuple(
        d
        for d in ranking[1:]
        if d not in tied and d in room and precision.chance[d] >= CLOSE_CHANCE
    )
    top_band = content.dimension_by_id[bottleneck].bands[-1].id
    return ScoreResult(
        scores=scores,
        bands=bands,
        ranking=ranking,
        insufficient=frozenset(insufficient),
        tied_with=tied,
        bottleneck_acute=bands[bottleneck] != top_band,
        close_to=close,
        confidence="klar" if not tied and not close else "knapp",
        tie_reason=_tie_reason(bottleneck, tied, weak, chance),
        uncertainty={d: round(precision.uncertainty[d], 1) for d in ranking},
        chance={d: precision.chance[d] for d in ranking},
        level={d: precision.level[d] for d in ranking},
        weak=weak,
        extra_answered=tuple(
            q.id for q in content.extra_questions if answers.get(q.id) not in (None, "")
        ),
    )


def _comparable_chance(
    lacking: Mapping[str, tuple[int, ...]], precision: Precision
) -> dict[str, float]:
    """The chance of being weakest, equal for dimensions whose answers are alike.

    Two dimensions answered alike (every answer the same distance from its best, e.g. all at
    full points) differ in chance only through how their questions are built; that is no
    reason a taker could be told, so they share the higher chance and the file order decides.
    """
    return {
        d: max(precision.chance[e] for e in precision.chance if lacking[e] == lacking[d])
        for d in precision.chance
    }


def _tie_reason(
    bottleneck: str,
    tied: tuple[str, ...],
    weak: Mapping[str, tuple[str, ...]],
    chance: Mapping[str, float],
) -> TieReason | None:
    """Which step of the tie rule put the bottleneck ahead of the dimensions tied with it."""
    if not tied:
        return None
    if all(len(weak[bottleneck]) > len(weak[d]) for d in tied):
        return "weak_answers"
    if all((len(weak[bottleneck]), chance[bottleneck]) > (len(weak[d]), chance[d]) for d in tied):
        return "answers"
    return "content_order"


def asked_questions(
    content: Content, dimension_id: str, answers: Mapping[str, str]
) -> tuple[Question, ...]:
    """The questions of a dimension a taker with these answers was asked: core, then extra."""
    extra = tuple(
        q for q in content.extra_questions_of(dimension_id) if answers.get(q.id) not in (None, "")
    )
    return content.questions_of(dimension_id) + extra


def dimension_score(content: Content, dimension_id: str, answers: Mapping[str, str]) -> int | None:
    """The 0..100 score of one dimension, or None when fewer than half its answers apply."""
    return _score(content, asked_questions(content, dimension_id, answers), answers)


def _score(
    content: Content, questions: tuple[Question, ...], answers: Mapping[str, str]
) -> int | None:
    return _score_choices([(q, content.choice(q.id, answers[q.id])) for q in questions])


def _score_choices(pairs: list[tuple[Question, Choice]]) -> int | None:
    # Exact arithmetic, so the same answers give the same integer everywhere: whole points
    # at weight 1 (the usual case) add up as integers, other weights as fractions.
    points = count = applicable = 0
    weighted = weights = Fraction(0)
    for question, choice in pairs:
        if not choice.applicable:
            continue
        applicable += 1
        if question.weight == 1.0:
            points += choice.points
            count += 1
        else:
            weight = Fraction(question.weight)
            weighted += weight * choice.points
            weights += weight
    if applicable == 0 or 2 * applicable < len(pairs):
        return None
    if not weights:  # every weight 1: half up of 100 * points / (MAX_POINTS * count), in integers
        return (200 * points + MAX_POINTS * count) // (2 * MAX_POINTS * count)
    return _round_half_up((weighted + points) * 100 / ((weights + count) * MAX_POINTS))


def weak_answers(
    content: Content, answers: Mapping[str, str], dimension_id: str
) -> tuple[str, ...]:
    """The questions of a dimension answered weakly (applicable, at most 1 point), in quiz order."""
    return tuple(
        question.id
        for question in asked_questions(content, dimension_id, answers)
        if content.choice(question.id, answers[question.id]).weak
    )


def tie_key(content: Content, answers: Mapping[str, str]) -> dict[str, tuple[int, int, int, int]]:
    """Per dimension, the tie key of content up to 2026.2 (smaller sorts first, i.e. weaker).

    Weak answers, then the priority and number of the tips they triggered, then the file order.
    Results stored under those versions were ranked by it; `quiz.domain.result_layout` replays it to
    say why, for results that do not carry their tie reason.
    """
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
