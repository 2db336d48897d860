"""How sure the scoring is: the graded-response posterior, the chance of being the weakest.

The module computes on a coarse grid with the standard library; these tests recompute the same
model independently with numpy on a fine grid and compare.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from quiz.domain.content import Content, load_content
from quiz.domain.precision import DEFAULT_DISCRIMINATION, assess, most_informative
from quiz.domain.scoring import asked_questions, sample_answers, score_answers
from tests.conftest import FIXTURES, REAL_CONTENT

REAL = load_content(REAL_CONTENT)
MINI = load_content(FIXTURES / "mini.yaml")
FINE = np.linspace(-8, 8, 3201)


def fine_posterior(content: Content, answers: dict[str, str], dimension: str) -> np.ndarray:
    """The posterior over FINE from the model's definition: N(0, 1) prior, one graded response
    per applicable answer with thresholds halfway between the question's point levels."""
    log_post = -(FINE**2) / 2
    for question in asked_questions(content, dimension, answers):
        choice = content.choice(question.id, answers[question.id])
        if not choice.applicable:
            continue
        levels = sorted({c.points for c in content.choices(question.id) if c.applicable})
        cuts = [(a + b) / 2 - 2 for a, b in itertools.pairwise(levels)]
        slope = question.discrimination or DEFAULT_DISCRIMINATION
        above = [np.ones_like(FINE)] + [1 / (1 + np.exp(-slope * (FINE - c))) for c in cuts]
        above.append(np.zeros_like(FINE))
        index = levels.index(choice.points)
        log_post += question.weight * np.log(np.maximum(above[index] - above[index + 1], 1e-300))
    post = np.exp(log_post - log_post.max())
    return post / post.sum()


def fine_chance(posteriors: dict[str, np.ndarray]) -> dict[str, float]:
    """P(each is the lowest) by integrating over the fine grid."""
    above = {d: 1 - np.cumsum(p) + p / 2 for d, p in posteriors.items()}
    chance = {}
    for d, p in posteriors.items():
        others = np.prod([above[e] for e in posteriors if e != d], axis=0)
        chance[d] = float((p * others).sum())
    total = sum(chance.values())
    return {d: c / total for d, c in chance.items()}


@pytest.mark.parametrize("seed", range(8))
def test_chance_agrees_with_a_fine_independent_computation(seed: int) -> None:
    answers = sample_answers(REAL, "random", seed)
    result = score_answers(REAL, answers)
    posteriors = {d: fine_posterior(REAL, answers, d) for d in result.scores}
    expected = fine_chance(posteriors)
    for dimension, chance in result.chance.items():
        assert chance == pytest.approx(expected[dimension], abs=0.015), dimension
    assert sum(result.chance.values()) == pytest.approx(1.0, abs=1e-6)
    for dimension, level in result.level.items():
        mean = float((posteriors[dimension] * FINE).sum())
        assert level == pytest.approx(mean, abs=0.03), dimension


def test_alike_questions_answered_alike_have_the_same_chance() -> None:
    # werte and leadership in the fixture ask the same kinds of question; the same answers give
    # them the same posterior, so neither is likelier the weakest.
    same = {"w1": "teils", "w2": "eher_ja", "w3": "eher_schwach", "w4": "eher_nein"}
    answers = sample_answers(MINI, "best") | same | {"l" + q[1:]: a for q, a in same.items()}
    result = score_answers(MINI, answers)
    assert result.chance["werte"] == pytest.approx(result.chance["leadership"], abs=1e-9)
    assert result.uncertainty["werte"] == result.uncertainty["leadership"]


def test_more_answers_narrow_the_uncertainty() -> None:
    answers = sample_answers(REAL, "best") | {
        q.id: "teils" for q in REAL.questions_of("preise") if q.type == "likert"
    }
    answers |= {"pr_preiserhoehung": "neukunden", "pr_vergleich": "qualitaet_anzweifeln"}
    four = score_answers(REAL, answers).uncertainty["preise"]
    more = answers | {q.id: "teils" for q in REAL.extra_questions_of("preise")[:5]}
    nine = score_answers(REAL, more).uncertainty["preise"]
    assert 0 < nine < four
    # The standard error of a mean shrinks roughly with the square root of the answers.
    assert nine / four == pytest.approx(math.sqrt(4 / 9), rel=0.35)


def test_not_applicable_answers_say_nothing() -> None:
    answers = sample_answers(MINI, "best") | {"w4": "nicht_zutreffend", "w1": "teils"}
    without = {q: a for q, a in answers.items()}
    with_na = assess(MINI, answers, {"werte": ["w1", "w2", "w3", "w4"]})
    only_three = assess(MINI, without, {"werte": ["w1", "w2", "w3"]})
    assert with_na.level == only_three.level
    assert with_na.uncertainty == only_three.uncertainty


def test_the_most_informative_questions_suit_the_level() -> None:
    # A five-point statement tells more than a two-option scenario anywhere on the scale; the
    # scenario's only threshold sits mid-scale, where it tells most.
    assert most_informative(MINI, ["g4", "g1"], 0.0, 1) == ("g1",)
    assert most_informative(MINI, ["g1", "g4"], 0.0, 2) == ("g1", "g4")
    k4_low = most_informative(MINI, ["k4", "k1"], -3.5, 2)
    assert k4_low[0] == "k1"
