"""The A/B tests' readout (issue 25): a Beta-Binomial posterior per variant, computed honestly.

For every variant and metric, `successes` out of `visits` (a start, finish, confirmed opt-in or
call-to-action click, over the visits that were shown the variant). With the uniform prior
Beta(1, 1), the posterior of the variant's rate is Beta(1 + successes, 1 + visits - successes).
From it, by Monte Carlo with a fixed number of draws (`DRAWS`) and a fixed seed (`SEED`), so the
same counts always give the same figures:

- `prob_best`: the probability that the variant's rate is the highest of all;
- `expected_loss`: E[max(rate of every variant) - rate of this one], what choosing it costs on
  average if another is in fact better (as a fraction; 0.005 is half a percentage point);
- `ci_low`/`ci_high`: the central 95 % credible interval of (this rate - the first variant's).

A recommendation is made only when every variant has at least `MIN_VISITS` visits, the split of
visits is no sample-ratio mismatch, and the leader's expected loss is below the threshold.
Sample-ratio mismatch: Pearson's chi-square test of the visits against an equal split, flagged at
p < `SRM_ALPHA` (closed-form survival function for 1 to 3 degrees of freedom, i.e. 2 to 4 variants).

Pure: numpy (already a dependency through matplotlib, now pinned itself) and the standard library.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

METRICS = ("start", "finish", "optin", "click")
PRIOR_ALPHA = 1.0
PRIOR_BETA = 1.0
DRAWS = 200_000
SEED = 25
CREDIBLE = 0.95
MIN_VISITS = 100
DEFAULT_LOSS_THRESHOLD = 0.005  # half a percentage point
SRM_ALPHA = 0.001


@dataclass(frozen=True)
class Arm:
    """One variant's counts for one metric."""

    visits: int
    successes: int


@dataclass(frozen=True)
class ArmFigures:
    """One variant's posterior figures for one metric (fractions 0-1)."""

    rate: float
    posterior_alpha: float
    posterior_beta: float
    prob_best: float
    expected_loss: float
    ci_low: float
    ci_high: float


def _clamped(arm: Arm) -> tuple[int, int]:
    """Visits and successes as the model needs them: never negative, never more successes than
    visits (a start can be counted without its visit, e.g. a view a browser fetched ahead)."""
    visits = max(arm.visits, 0)
    return visits, min(max(arm.successes, 0), visits)


def rate(arm: Arm) -> float:
    """Successes over visits (0 without visits)."""
    visits, successes = _clamped(arm)
    return successes / visits if visits else 0.0


def posterior(arm: Arm) -> tuple[float, float]:
    """The Beta posterior's parameters under the uniform prior."""
    visits, successes = _clamped(arm)
    return PRIOR_ALPHA + successes, PRIOR_BETA + visits - successes


def analyse(arms: Sequence[Arm], draws: int = DRAWS, seed: int = SEED) -> list[ArmFigures]:
    """The figures of every variant; the first is the one the differences are taken against."""
    if not arms:
        return []
    # numpy takes a fifth of a second to import: loaded by the first readout, not by every command.
    import numpy as np

    generator = np.random.Generator(np.random.PCG64(seed))
    params = [posterior(arm) for arm in arms]
    samples = np.stack([generator.beta(a, b, size=draws) for a, b in params])
    # E[max - this] = E[max] - E[this]: one pass over the draws for the maximum, none per variant.
    mean_best = float(samples.max(axis=0).mean())
    means = samples.mean(axis=1)
    wins = np.bincount(samples.argmax(axis=0), minlength=len(arms)) / draws
    tail = (1.0 - CREDIBLE) / 2
    figures = []
    for index, arm in enumerate(arms):
        if index == 0:
            low = high = 0.0
        else:
            difference = samples[index] - samples[0]
            low, high = (float(v) for v in np.quantile(difference, [tail, 1.0 - tail]))
        figures.append(
            ArmFigures(
                rate=rate(arm),
                posterior_alpha=params[index][0],
                posterior_beta=params[index][1],
                prob_best=float(wins[index]),
                expected_loss=max(mean_best - float(means[index]), 0.0),
                ci_low=low,
                ci_high=high,
            )
        )
    return figures


def chi_square_p(observed: Sequence[int]) -> float:
    """p-value of Pearson's chi-square test of `observed` against an equal split (2-4 groups)."""
    total = sum(observed)
    groups = len(observed)
    if total <= 0 or groups < 2:
        return 1.0
    expected = total / groups
    statistic = sum((count - expected) ** 2 / expected for count in observed)
    return chi_square_survival(statistic, groups - 1)


def chi_square_survival(x: float, df: int) -> float:
    """P(X >= x) for a chi-square variable with 1, 2 or 3 degrees of freedom (closed forms)."""
    if x <= 0:
        return 1.0
    if df == 1:
        return math.erfc(math.sqrt(x / 2))
    if df == 2:
        return math.exp(-x / 2)
    if df == 3:
        return math.erfc(math.sqrt(x / 2)) + math.sqrt(2 * x / math.pi) * math.exp(-x / 2)
    raise ValueError("2 to 4 variants only")


def sample_ratio_mismatch(visits: Sequence[int]) -> bool:
    """Whether the visits are off an equal split beyond chance (p < SRM_ALPHA)."""
    return chi_square_p(visits) < SRM_ALPHA


@dataclass(frozen=True)
class Decision:
    """What the readout says about the chosen metric."""

    # The index of the recommended variant, or None ("noch keine belastbare Aussage").
    recommended: int | None
    # The variant with the smallest expected loss (None without variants).
    leader: int | None
    enough_visits: bool
    srm: bool
    srm_p: float


def decide(
    visits: Sequence[int],
    figures: Sequence[ArmFigures],
    threshold: float = DEFAULT_LOSS_THRESHOLD,
    min_visits: int = MIN_VISITS,
) -> Decision:
    """A recommendation only with enough visits everywhere, no sample-ratio mismatch, and the
    leader's expected loss under `threshold` (a fraction)."""
    srm_p = chi_square_p(visits)
    srm = srm_p < SRM_ALPHA
    enough = bool(visits) and min(visits) >= min_visits
    if not figures:
        return Decision(None, None, enough, srm, srm_p)
    leader = min(range(len(figures)), key=lambda i: (figures[i].expected_loss, i))
    sure = enough and not srm and figures[leader].expected_loss < threshold
    return Decision(leader if sure else None, leader, enough, srm, srm_p)
