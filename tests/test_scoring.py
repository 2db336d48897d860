"""The scoring engine: hand-computed examples and properties that hold for any answers."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quiz.content import Content, load_content, parse_content
from quiz.scoring import AnswerError, sample_answers, score_answers
from tests.conftest import FIXTURES, REAL_CONTENT

REAL = load_content(REAL_CONTENT)
MINI = load_content(FIXTURES / "mini.yaml")


def answer_sets(content: Content) -> st.SearchStrategy[dict[str, str]]:
    """Any complete, valid answer set for this content."""
    return st.fixed_dictionaries(
        {
            question.id: st.sampled_from([choice.id for choice in content.choices(question.id)])
            for question in content.questions
        }
    )


def test_hand_computed_example(mini_content: Content) -> None:
    answers = {
        # schmerzgrenze: g1 4 pts, g2 reverse "ja" 0 pts, g3 2 pts, g4 (weight 2) 0 pts
        # -> (1 + 0 + 0.5 + 0) / 5 = 30 %
        "g1": "ja",
        "g2": "ja",
        "g3": "teils",
        "g4": "ran",
        # preise: p1 (weight 2) 2 pts, p2 2 pts, p3 reverse "nein" 4 pts, p4 3 pts
        # -> (2 * 0.5 + 0.5 + 1 + 0.75) / 5 = 65 %
        "p1": "teils",
        "p2": "fragen",
        "p3": "nein",
        "p4": "eher_ja",
    }
    result = score_answers(mini_content, answers)
    assert dict(result.scores) == {"schmerzgrenze": 30, "preise": 65}
    assert dict(result.bands) == {"schmerzgrenze": "kritisch", "preise": "ausbaufaehig"}
    assert result.bottleneck == "schmerzgrenze"
    assert result.runner_up == "preise"


def test_scores_round_half_up() -> None:
    # With g4 weighing 3, schmerzgrenze has total weight 6: 3 quarter-points -> 12.5 % -> 13.
    text = (FIXTURES / "mini.yaml").read_text(encoding="utf-8")
    text = text.replace(
        'weight: 2.0\n        text: "Ein Kunde ruft', 'weight: 3.0\n        text: "Ein Kunde ruft'
    )
    content = parse_content(text.encode(), "mini.yaml")
    answers = sample_answers(content, "best") | {
        "g1": "eher_nein",
        "g2": "ja",
        "g3": "teils",
        "g4": "ran",
    }
    assert score_answers(content, answers).scores["schmerzgrenze"] == 13


def test_tie_goes_to_the_dimension_listed_first(mini_content: Content) -> None:
    answers = sample_answers(mini_content, "worst")
    result = score_answers(mini_content, answers)
    assert dict(result.scores) == {"schmerzgrenze": 0, "preise": 0}
    assert (result.bottleneck, result.runner_up) == ("schmerzgrenze", "preise")


def test_missing_answer_names_the_question(mini_content: Content) -> None:
    answers = sample_answers(mini_content, "best")
    del answers["p3"]
    with pytest.raises(AnswerError, match="missing answer for question 'p3'") as caught:
        score_answers(mini_content, answers)
    assert caught.value.question_id == "p3"


def test_invalid_option_names_the_question(mini_content: Content) -> None:
    answers = sample_answers(mini_content, "best") | {"p2": "vielleicht"}
    with pytest.raises(AnswerError, match="invalid answer 'vielleicht' for question 'p2'"):
        score_answers(mini_content, answers)


def test_unknown_question_is_refused(mini_content: Content) -> None:
    answers = sample_answers(mini_content, "best") | {"zz": "ja"}
    with pytest.raises(AnswerError, match="unknown question 'zz'"):
        score_answers(mini_content, answers)


def test_likert_id_is_not_valid_for_a_scenario(mini_content: Content) -> None:
    answers = sample_answers(mini_content, "best") | {"g4": "ja"}
    with pytest.raises(AnswerError, match="'g4'"):
        score_answers(mini_content, answers)


def test_random_samples_are_reproducible_with_a_seed(content: Content) -> None:
    assert sample_answers(content, "random", seed=7) == sample_answers(content, "random", seed=7)
    assert sample_answers(content, "random", seed=7) != sample_answers(content, "random", seed=8)


@settings(max_examples=60, deadline=None)
@given(answers=answer_sets(REAL))
def test_scores_stay_between_0_and_100(answers: dict[str, str]) -> None:
    result = score_answers(REAL, answers)
    assert set(result.scores) == {dimension.id for dimension in REAL.dimensions}
    assert all(0 <= score <= 100 for score in result.scores.values())
    assert result.bottleneck != result.runner_up
    assert result.scores[result.bottleneck] == min(result.scores.values())


@settings(max_examples=60, deadline=None)
@given(answers=answer_sets(REAL), data=st.data())
def test_agreeing_more_moves_a_reverse_keyed_score_down(
    answers: dict[str, str], data: st.DataObject
) -> None:
    question = data.draw(st.sampled_from([q for q in REAL.questions if q.type == "likert"]))
    low, high = sorted(
        data.draw(st.lists(st.sampled_from(REAL.scale), min_size=2, max_size=2, unique=True)),
        key=lambda p: p.value,
    )
    less = score_answers(REAL, answers | {question.id: low.id}).scores[question.dimension]
    more = score_answers(REAL, answers | {question.id: high.id}).scores[question.dimension]
    if question.reverse:
        assert more <= less
    else:
        assert more >= less


def test_a_reverse_keyed_item_moves_its_score_the_other_way() -> None:
    reverse = next(q for q in REAL.questions if q.type == "likert" and q.reverse)
    base = sample_answers(REAL, "random", seed=1)
    agree = score_answers(REAL, base | {reverse.id: REAL.scale[-1].id}).scores[reverse.dimension]
    disagree = score_answers(REAL, base | {reverse.id: REAL.scale[0].id}).scores[reverse.dimension]
    assert agree < disagree


@pytest.mark.parametrize("content", [REAL, MINI], ids=["real", "mini"])
def test_best_answers_give_no_weak_band(content: Content) -> None:
    result = score_answers(content, sample_answers(content, "best"))
    for dimension in content.dimensions:
        assert result.bands[dimension.id] != dimension.bands[0].id
        assert result.scores[dimension.id] == 100


@pytest.mark.parametrize("content", [REAL, MINI], ids=["real", "mini"])
def test_worst_answers_put_the_bottleneck_in_the_weakest_band(content: Content) -> None:
    result = score_answers(content, sample_answers(content, "worst"))
    weakest = content.dimension_by_id[result.bottleneck].bands[0].id
    assert result.bands[result.bottleneck] == weakest


@settings(max_examples=40, deadline=None)
@given(answers=answer_sets(REAL), seed=st.integers())
def test_answer_order_does_not_matter(answers: dict[str, str], seed: int) -> None:
    items = list(answers.items())
    random.Random(seed).shuffle(items)
    assert score_answers(REAL, dict(items)) == score_answers(REAL, answers)


def test_scoring_does_not_mutate_the_answers(mini_content: Content) -> None:
    answers = sample_answers(mini_content, "best")
    before = dict(answers)
    score_answers(mini_content, answers)
    assert answers == before
