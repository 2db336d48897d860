"""Which questions the quiz asks next for a set of answers, and whether the answers are complete.

The quiz asks its core pages, then at most one extra page, then the result is final. The extra
page comes only when the core answers leave two or more dimensions with a real chance of being
the weakest (at least EXTRA_CHANCE each, `quiz.domain.precision`): it asks further questions of
just those dimensions, at most three of them, from the bank of extra questions (`content.extra`):
five and four for two contenders, four, four and three for three (the likeliest first; one more
question where the chance is highest measured best for the same length, bench/bottleneck_recovery.py). Of each dimension's bank it takes the
questions that tell most at the taker's level (the most information there). The choice depends
on the core answers alone, so it is the same whenever it is asked, and the whole quiz is at most
MAX_EXTRA questions longer than the core.

Everything here is a pure function of the content and the answers: the web quiz, the CLI's
`score` and the bench all drive the quiz through `evaluate` and its `next_questions`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from quiz.domain.content_model import MAX_POINTS, Content
from quiz.domain.precision import most_informative
from quiz.domain.scoring import (
    AnswerError,
    ScoreResult,
    check_known,
    sample_answers,
    score_answers,
    score_checked,
)

# A dimension with at least this chance of being the weakest after the core questions is a
# contender; two or more contenders get the extra page.
EXTRA_CHANCE = 0.18
# Extra questions per contender, likeliest first, by the number of contenders (at most three).
EXTRA_ITEMS: Mapping[int, tuple[int, ...]] = {2: (5, 4), 3: (4, 4, 3)}
MAX_EXTRA = max(sum(counts) for counts in EXTRA_ITEMS.values())


@dataclass(frozen=True)
class Evaluation:
    """Where a set of answers stands: complete and scored, or which questions come next."""

    complete: bool
    # The questions the quiz asks next: the missing core questions, then the extra page's;
    # empty once the result is final.
    next_questions: tuple[str, ...]
    # The scores, None while the answers are not complete.
    result: ScoreResult | None


def evaluate(content: Content, answers: Mapping[str, str]) -> Evaluation:
    """Check the answers, then say what comes next or score them.

    Raises AnswerError for an unknown question, an answer that is not one of its question's
    options, or an extra question the quiz does not ask for these answers.
    """
    check_known(content, answers)
    given = {qid for qid, answer in answers.items() if answer not in (None, "")}
    missing_core = tuple(q.id for q in content.questions if q.id not in given)
    if missing_core:
        early = next((q.id for q in content.extra_questions if q.id in given), None)
        if early is not None:
            raise AnswerError(early, f"question {early!r} is not asked before the core questions")
        return Evaluation(False, missing_core, None)
    # check_known above and the complete core make the answers valid: score without checking.
    core = score_checked(content, {q.id: answers[q.id] for q in content.questions})
    due = _due(content, answers, core)
    stray = next((q.id for q in content.extra_questions if q.id in given and q.id not in due), None)
    if stray is not None:
        raise AnswerError(stray, f"question {stray!r} is not asked for these answers")
    missing = tuple(qid for qid in due if qid not in given)
    if missing:
        return Evaluation(False, missing, None)
    # Without an extra page the core result is the final one.
    return Evaluation(True, (), score_checked(content, answers) if due else core)


def extra_page(content: Content, answers: Mapping[str, str]) -> tuple[str, ...]:
    """The extra questions due for these core answers, in the bank's order (empty: none due).

    Only the core answers count; the core must be complete (AnswerError otherwise).
    """
    if not content.extra_questions:
        return ()
    core = {q.id: answers.get(q.id, "") for q in content.questions}
    return _due(content, core, score_answers(content, core))


def _due(content: Content, core: Mapping[str, str], result: ScoreResult) -> tuple[str, ...]:
    """The extra page for the core answers and their result."""
    if not content.extra_questions:
        return ()
    # As for close_to: only a dimension with some answer below full points.
    contenders = sorted(
        (
            d
            for d in result.ranking
            if result.chance[d] >= EXTRA_CHANCE and _below_full(content, core, d)
        ),
        key=lambda d: -result.chance[d],
    )[: max(EXTRA_ITEMS)]
    if len(contenders) not in EXTRA_ITEMS:
        return ()
    chosen: set[str] = set()
    for dimension_id, count in zip(contenders, EXTRA_ITEMS[len(contenders)], strict=True):
        bank = [q.id for q in content.extra_questions_of(dimension_id)]
        chosen.update(most_informative(content, bank, result.level[dimension_id], count))
    return tuple(q.id for q in content.extra_questions if q.id in chosen)


def _below_full(content: Content, answers: Mapping[str, str], dimension_id: str) -> bool:
    return any(
        (choice := content.choice(q.id, answers[q.id])).applicable
        and choice.points < content.best_points(q.id)
        for q in content.questions_of(dimension_id)
    )


def relevant_answers(content: Content, answers: Mapping[str, str]) -> dict[str, str]:
    """The core answers and the answers to the extra questions due for them.

    Changing a core answer can change the extra page; answers to extra questions no longer
    due are dropped (the web quiz keeps the rest).
    """
    core = {q.id: answers[q.id] for q in content.questions if answers.get(q.id)}
    if len(core) < len(content.questions):
        return core
    due = set(extra_page(content, answers))
    return core | {qid: answer for qid, answer in answers.items() if qid in due and answer}


def sample_taker(
    content: Content,
    profile: Literal["best", "worst", "random"],
    seed: int | None = None,
    leaning: Mapping[str, float] | None = None,
) -> dict[str, str]:
    """Complete answers of a generated taker: the core sample, then the extra page it gets.

    With `leaning` (per dimension, 0 weakest to 1 strongest; `profile` is then ignored) each
    answer lies near that share of the points, with some noise per question, as a person with
    those levels would answer: the coach's demo takers (quiz.coach.demo_takers).
    """
    if leaning is not None:
        return _leaning_taker(content, leaning, random.Random(seed))  # noqa: S311 -- sample data
    answers = sample_answers(content, profile, seed)
    # Its own stream, so the extra answers do not repeat the core's first picks.
    rng = random.Random(None if seed is None else seed + 1)  # noqa: S311 -- sample data
    for question_id in extra_page(content, answers):
        choices = [c for c in content.choices(question_id) if c.applicable]
        if profile == "best":
            answers[question_id] = max(choices, key=lambda c: c.points).id
        elif profile == "worst":
            answers[question_id] = min(choices, key=lambda c: c.points).id
        else:
            answers[question_id] = rng.choice(choices).id
    return answers


def _leaning_taker(
    content: Content, leaning: Mapping[str, float], rng: random.Random
) -> dict[str, str]:
    def near(question_id: str) -> str:
        question = content.question_by_id[question_id]
        target = leaning[question.dimension] * MAX_POINTS + rng.gauss(0, 0.9)
        choices = [c for c in content.choices(question_id) if c.applicable]
        return min(choices, key=lambda c: abs(c.points - target)).id

    answers = {question.id: near(question.id) for question in content.questions}
    for question_id in extra_page(content, answers):
        answers[question_id] = near(question_id)
    return answers
