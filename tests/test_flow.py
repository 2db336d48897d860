"""The quiz's course: core pages, then at most one extra page where it is close, then final."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quiz.domain.content import load_content
from quiz.domain.flow import (
    EXTRA_CHANCE,
    EXTRA_ITEMS,
    MAX_EXTRA,
    evaluate,
    extra_page,
    relevant_answers,
    sample_taker,
)
from quiz.domain.precision import most_informative
from quiz.domain.scoring import AnswerError, sample_answers, score_answers
from tests.conftest import REAL_CONTENT

REAL = load_content(REAL_CONTENT)
CORE = [q.id for q in REAL.questions]


def core_answers() -> st.SearchStrategy[dict[str, str]]:
    """Any complete core answers, not-applicable ones included."""
    return st.fixed_dictionaries(
        {q.id: st.sampled_from([c.id for c in REAL.choices(q.id)]) for q in REAL.questions}
    )


def close_taker() -> dict[str, str]:
    """The first random core sample that gets an extra page."""
    return next(
        answers
        for seed in range(200)
        if extra_page(REAL, answers := sample_answers(REAL, "random", seed))
    )


def test_no_answers_ask_the_core_questions_in_order() -> None:
    evaluation = evaluate(REAL, {})
    assert (evaluation.complete, evaluation.result) == (False, None)
    assert list(evaluation.next_questions) == CORE


def test_partly_answered_core_asks_what_is_missing() -> None:
    answers = {
        qid: a for qid, a in sample_answers(REAL, "random", 4).items() if qid not in CORE[3:6]
    }
    assert evaluate(REAL, answers).next_questions == tuple(CORE[3:6])


@settings(max_examples=60, deadline=None)
@given(answers=core_answers())
def test_the_extra_page_asks_only_the_contenders_and_comes_once(answers: dict[str, str]) -> None:
    result = score_answers(REAL, answers)
    due = extra_page(REAL, answers)
    below_full = {
        q.dimension
        for q in REAL.questions
        if REAL.choice(q.id, answers[q.id]).applicable
        and REAL.choice(q.id, answers[q.id]).points < REAL.best_points(q.id)
    }
    contenders = sorted(
        (d for d in result.ranking if result.chance[d] >= EXTRA_CHANCE and d in below_full),
        key=lambda d: -result.chance[d],
    )
    if not due:
        evaluation = evaluate(REAL, answers)
        assert evaluation.complete and evaluation.result == result
        return
    per_dimension = {}
    for qid in due:
        question = REAL.question_by_id[qid]
        assert qid not in CORE
        per_dimension[question.dimension] = per_dimension.get(question.dimension, 0) + 1
    assert set(per_dimension) <= set(contenders)
    counts = EXTRA_ITEMS[len(per_dimension)]
    assert [per_dimension[d] for d in contenders[: len(counts)]] == list(counts)
    assert len(due) <= MAX_EXTRA
    evaluation = evaluate(REAL, answers)
    assert (evaluation.complete, evaluation.next_questions) == (False, due)
    # Answering the page makes it final: one extra page at most, whatever the answers.
    done = answers | {qid: REAL.choices(qid)[0].id for qid in due}
    final = evaluate(REAL, done)
    assert final.complete and final.next_questions == ()
    assert final.result is not None and set(final.result.extra_answered) == set(due)


def test_the_extra_page_depends_on_the_core_answers_alone() -> None:
    taker = close_taker()
    due = extra_page(REAL, taker)
    half = taker | {due[0]: REAL.choices(due[0])[0].id}
    assert extra_page(REAL, half) == due
    assert evaluate(REAL, half).next_questions == due[1:]


def test_extra_questions_are_the_most_informative_at_the_takers_level() -> None:
    taker = close_taker()
    result = score_answers(REAL, taker)
    due = set(extra_page(REAL, taker))
    for dimension in {REAL.question_by_id[q].dimension for q in due}:
        bank = [q.id for q in REAL.extra_questions_of(dimension)]
        chosen = {q for q in due if q in bank}
        assert chosen == set(most_informative(REAL, bank, result.level[dimension], len(chosen)))


def test_an_extra_answer_before_the_core_or_off_the_page_is_refused() -> None:
    stray = REAL.extra_questions[0].id
    with pytest.raises(AnswerError, match="not asked before the core questions"):
        evaluate(REAL, {stray: "teils"})
    clear = sample_answers(REAL, "best") | {"le_onboarding": "trifft_nicht_zu"}
    assert extra_page(REAL, clear) == ()
    with pytest.raises(AnswerError, match=f"question '{stray}' is not asked for these answers"):
        evaluate(REAL, clear | {stray: "teils"})


def test_relevant_answers_drop_extra_answers_a_changed_core_no_longer_asks() -> None:
    taker = sample_taker(REAL, "random", 3)
    due = extra_page(REAL, taker)
    assert relevant_answers(REAL, taker) == taker
    clear = taker | dict.fromkeys(CORE, None) | sample_answers(REAL, "best")
    clear = {k: v for k, v in clear.items() if v is not None}
    assert not set(relevant_answers(REAL, clear)) & (set(due) - set(extra_page(REAL, clear)))
    assert evaluate(REAL, relevant_answers(REAL, clear)).complete


@pytest.mark.parametrize("profile", ["best", "worst", "random"])
def test_sample_takers_are_complete(profile: str) -> None:
    for seed in range(5):
        evaluation = evaluate(REAL, sample_taker(REAL, profile, seed))  # type: ignore[arg-type]
        assert evaluation.complete
