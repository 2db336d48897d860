"""The A/B tests' readout (quiz.domain.ab_stats) against an independent computation (scipy)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from quiz.domain import ab_stats
from quiz.domain.ab_stats import Arm

pytestmark = pytest.mark.dialect_independent

# Known counts: (visits, successes) per variant.
CASES = [
    [(1000, 100), (1000, 130)],
    [(400, 40), (410, 45), (395, 60)],
    [(250, 20), (250, 20), (250, 21), (250, 35)],
    [(0, 0), (10, 3)],
]


def _beta(arm: Arm) -> stats.rv_continuous:
    visits, successes = arm.visits, arm.successes
    return stats.beta(1 + successes, 1 + visits - successes)


def _prob_best(arms: list[Arm], index: int) -> float:
    """P(variant `index` is best) by numerical integration of its density times the others' CDFs."""
    dists = [_beta(arm) for arm in arms]

    def integrand(x: float) -> float:
        value = dists[index].pdf(x)
        for other, dist in enumerate(dists):
            if other != index:
                value *= dist.cdf(x)
        return float(value)

    return float(integrate.quad(integrand, 0, 1, limit=200)[0])


def _expected_max(arms: list[Arm]) -> float:
    """E[max of the rates] = integral of 1 - prod CDF over [0, 1]."""
    dists = [_beta(arm) for arm in arms]
    return float(
        integrate.quad(lambda x: 1 - np.prod([d.cdf(x) for d in dists]), 0, 1, limit=200)[0]
    )


@pytest.mark.parametrize("counts", CASES)
def test_posterior_figures_match_an_independent_computation(counts: list[tuple[int, int]]) -> None:
    arms = [Arm(visits, successes) for visits, successes in counts]
    figures = ab_stats.analyse(arms)
    expected_max = _expected_max(arms)
    for index, (arm, got) in enumerate(zip(arms, figures, strict=True)):
        dist = _beta(arm)
        assert (got.posterior_alpha, got.posterior_beta) == dist.args
        assert got.rate == pytest.approx(arm.successes / arm.visits if arm.visits else 0.0)
        # Monte Carlo with 200,000 draws: within four standard errors of the exact values
        # (at most 0.0011 for a probability; about 0.0006 for a loss whose spread is below 0.3).
        assert got.prob_best == pytest.approx(_prob_best(arms, index), abs=0.0045)
        assert got.expected_loss == pytest.approx(expected_max - dist.mean(), abs=0.0025)
    # The difference against the first variant: its 2.5 % and 97.5 % quantiles, from scipy's
    # own draws of the two posteriors (another generator, another seed).
    rng = np.random.default_rng(99)
    first = _beta(arms[0]).rvs(size=400_000, random_state=rng)
    for arm, got in zip(arms[1:], figures[1:], strict=True):
        difference = _beta(arm).rvs(size=400_000, random_state=rng) - first
        low, high = np.quantile(difference, [0.025, 0.975])
        assert got.ci_low == pytest.approx(low, abs=0.003)
        assert got.ci_high == pytest.approx(high, abs=0.003)
    assert (figures[0].ci_low, figures[0].ci_high) == (0.0, 0.0)
    assert sum(f.prob_best for f in figures) == pytest.approx(1.0)


def test_the_same_counts_give_the_same_figures() -> None:
    arms = [Arm(300, 30), Arm(300, 41)]
    assert ab_stats.analyse(arms) == ab_stats.analyse(arms)


@pytest.mark.parametrize(
    "observed", [[500, 500], [520, 480], [560, 440], [100, 120, 80], [50, 50, 50, 80], [0, 0]]
)
def test_sample_ratio_p_values_match_scipy(observed: list[int]) -> None:
    expected = stats.chisquare(observed).pvalue if sum(observed) else 1.0
    assert ab_stats.chi_square_p(observed) == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_a_recommendation_needs_visits_a_small_loss_and_a_fair_split() -> None:
    # A clear winner with plenty of visits.
    visits = [2000, 2000]
    figures = ab_stats.analyse([Arm(2000, 200), Arm(2000, 300)])
    decision = ab_stats.decide(visits, figures)
    assert decision.recommended == 1 and not decision.srm
    # The same rates with 99 visits in one variant: not yet.
    few = ab_stats.analyse([Arm(99, 10), Arm(2000, 300)])
    assert ab_stats.decide([99, 2000], few).recommended is None
    # Two variants alike: the leader's expected loss stays above half a point.
    alike = ab_stats.analyse([Arm(500, 50), Arm(500, 52)])
    decision = ab_stats.decide([500, 500], alike)
    assert decision.recommended is None and decision.leader is not None
    assert figures[1].expected_loss < ab_stats.DEFAULT_LOSS_THRESHOLD
    # A broken split is flagged and stops the recommendation.
    skewed = ab_stats.decide([2000, 1700], ab_stats.analyse([Arm(2000, 200), Arm(1700, 300)]))
    assert skewed.srm and skewed.srm_p < 0.001 and skewed.recommended is None


def test_more_successes_than_visits_are_clamped() -> None:
    (figure,) = ab_stats.analyse([Arm(3, 5)])
    assert figure.rate == 1.0 and (figure.posterior_alpha, figure.posterior_beta) == (4.0, 1.0)
