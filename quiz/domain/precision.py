"""How sure the scoring is: each dimension's level with its uncertainty, and which is weakest.

A dimension's score (`quiz.domain.scoring`) is the mean of a handful of answers, so two scores
a few points apart often say less than they seem. This module reads the same answers through a
graded-response model (the standard model for ordered answers): every taker has a level per
dimension, and each question answers from that level through thresholds between its point
levels, placed where the points put them on the five-point scale (between 1 and 2 points at the
middle, one point = one unit of level), with a slope, its discrimination, that says how sharply
the question separates takers. Over a grid of levels with a standard normal prior, the answers
give each dimension a posterior: from it

- `uncertainty`: the standard deviation of the dimension's true score (what its score would be
  over many more questions of the kind), in score points. It shrinks with more applicable
  answers and with answers that agree with each other;
- `chance`: the probability that each dimension is the weakest one, which decides what is close
  to the bottleneck (`quiz.domain.scoring`) and whether to ask extra questions
  (`quiz.domain.flow`);
- `level`: the posterior mean, at which the extra questions that tell most are chosen (the
  most Fisher information there).

A question's weight counts its answer that many times, as in the score. Not-applicable answers
say nothing about a level and are left out. Pure arithmetic on the standard library: the
per-question tables are built once per content and kept (`models`); a taker then costs a few
thousand additions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise

from quiz.domain.content_model import MAX_POINTS, Content, Question

# The slope of a question whose content names none: items of this kind separate takers about
# this well (the bench's simulation uses the same value; see bench/bottleneck_recovery.py).
DEFAULT_DISCRIMINATION = 1.5
# The grid of levels the posterior is computed on, in standard deviations of the takers.
GRID = tuple(-4.5 + 0.25 * step for step in range(37))
_PRIOR = tuple(-0.5 * level * level for level in GRID)


@dataclass(frozen=True)
class ItemModel:
    """One question under the model: per answer, its log-likelihood over the grid."""

    loglik: Mapping[str, tuple[float, ...]]
    # Expected points and Fisher information at each grid level.
    expected: tuple[float, ...]
    information: tuple[float, ...]
    weight: float


@dataclass(frozen=True)
class Precision:
    """What the answers say about each scored dimension's level, and about which is weakest."""

    chance: Mapping[str, float]
    uncertainty: Mapping[str, float]
    level: Mapping[str, float]


_MODELS: dict[int, tuple[Content, dict[str, ItemModel]]] = {}


def models(content: Content) -> dict[str, ItemModel]:
    """Every question's model (core and extra), built once per content object."""
    kept = _MODELS.get(id(content))
    if kept is not None and kept[0] is content:
        return kept[1]
    built = {question.id: _item_model(content, question) for question in content.all_questions}
    if len(_MODELS) > 16:  # a process loads a few versions; tests build many small ones
        _MODELS.clear()
        _CACHES.clear()
    _MODELS[id(content)] = (content, built)
    return built


def _item_model(content: Content, question: Question) -> ItemModel:
    choices = [c for c in content.choices(question.id) if c.applicable]
    levels = sorted({c.points for c in choices})
    slope = question.discrimination or DEFAULT_DISCRIMINATION
    # Thresholds halfway between neighbouring point levels, centred on the scale's middle.
    thresholds = [(low + high) / 2 - MAX_POINTS / 2 for low, high in pairwise(levels)]
    probabilities: dict[int, list[float]] = {level: [] for level in levels}
    expected: list[float] = []
    information: list[float] = []
    for theta in GRID:
        above = [1.0] + [_logistic(slope * (theta - b)) for b in thresholds] + [0.0]
        mean = square = info = 0.0
        for index, level in enumerate(levels):
            p = max(above[index] - above[index + 1], 1e-12)
            probabilities[level].append(p)
            mean += p * level
            square += p * level * level
            # Samejima's item information: sum over answers of (dP/dtheta)^2 / P.
            slope_here = slope * (
                above[index] * (1 - above[index]) - above[index + 1] * (1 - above[index + 1])
            )
            info += slope_here * slope_here / p
        expected.append(mean)
        information.append(info)
    logs = {level: tuple(math.log(p) for p in ps) for level, ps in probabilities.items()}
    return ItemModel(
        loglik={c.id: logs[c.points] for c in choices},
        expected=tuple(expected),
        information=tuple(information),
        weight=question.weight,
    )


def _logistic(value: float) -> float:
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    exp = math.exp(value)
    return exp / (1.0 + exp)


def assess(
    content: Content, answers: Mapping[str, str], scored: Mapping[str, Iterable[str]]
) -> Precision:
    """The posterior of each scored dimension from its answered questions (`scored`: dim -> ids)."""
    table = models(content)
    cache = _CACHES.setdefault(id(table), {})
    if len(cache) > 100_000:  # answer patterns repeat a lot; a bound keeps memory small
        cache.clear()
    posteriors: dict[str, _Posterior] = {}
    for dimension_id, question_ids in scored.items():
        key = tuple((qid, answers.get(qid, "")) for qid in question_ids)
        found = cache.get(key)
        if found is None:
            found = cache[key] = _posterior(table, key)
        posteriors[dimension_id] = found
    return Precision(
        chance=_chance_weakest(posteriors),
        uncertainty={d: post.uncertainty for d, post in posteriors.items()},
        level={d: post.level for d, post in posteriors.items()},
    )


@dataclass(frozen=True)
class _Posterior:
    """One dimension's posterior over the grid, with what the chance and the page need of it."""

    # P(level > t) at each grid point t, half the own mass at t included (the midpoint rule),
    # and the mass at t divided by it (0 where the mass is negligible).
    above: list[float]
    ratio: list[float]
    level: float
    uncertainty: float


_CACHES: dict[int, dict[tuple[tuple[str, str], ...], _Posterior]] = {}


def _posterior(table: Mapping[str, ItemModel], answered: tuple[tuple[str, str], ...]) -> _Posterior:
    """One dimension's posterior over the grid, its mean level and its score's SD."""
    logliks: list[tuple[float, ...]] = [_PRIOR]
    means: list[tuple[float, ...]] = []
    total_weight = 0.0
    for question_id, answer in answered:
        model = table[question_id]
        loglik = model.loglik.get(answer)
        if loglik is None:  # not applicable
            continue
        weight = model.weight
        total_weight += weight
        if weight == 1.0:
            logliks.append(loglik)
            means.append(model.expected)
        else:
            logliks.append(tuple(weight * value for value in loglik))
            means.append(tuple(weight * value for value in model.expected))
    # One pass down the grid's columns: a sum per grid point over the answers.
    log_post = [sum(column) for column in zip(*logliks, strict=True)]
    expected = [sum(column) for column in zip(*means, strict=True)] if means else [0.0] * len(GRID)
    top = max(log_post)
    weights = [math.exp(value - top) for value in log_post]
    total = sum(weights)
    posterior = [w / total for w in weights]
    level = sum(p * t for p, t in zip(posterior, GRID, strict=True))
    above = [0.0] * len(posterior)
    tail = 0.0
    for index in range(len(posterior) - 1, -1, -1):
        above[index] = tail + posterior[index] / 2
        tail += posterior[index]
    ratio = [m / a if m > 1e-12 else 0.0 for m, a in zip(posterior, above, strict=True)]
    return _Posterior(above, ratio, level, _score_sd(posterior, expected, total_weight))


def _score_sd(posterior: list[float], expected: list[float], total_weight: float) -> float:
    """The posterior SD of the true score (the weighted mean of expected points, 0..100)."""
    if not total_weight:
        return 0.0
    scale = 100 / MAX_POINTS / total_weight
    mean = square = 0.0
    for p, points in zip(posterior, expected, strict=True):
        score = points * scale
        mean += p * score
        square += p * score * score
    return math.sqrt(max(square - mean * mean, 0.0))


def _chance_weakest(posteriors: Mapping[str, _Posterior]) -> dict[str, float]:
    """P(this dimension's level is the lowest), integrated over the grid.

    At a grid point t, another dimension lies above with P(level > t), counting half of its own
    mass at t (the midpoint rule), so equal posteriors share the chance evenly.
    """
    # Every dimension above t at once, then each dimension's own factor divided out (it is at
    # least half its own mass at t, never 0 where that mass counts).
    everyone = [1.0] * len(GRID)
    for post in posteriors.values():
        everyone = [a * b for a, b in zip(everyone, post.above, strict=True)]
    raw = {
        dimension_id: sum(r * e for r, e in zip(post.ratio, everyone, strict=True))
        for dimension_id, post in posteriors.items()
    }
    total = sum(raw.values()) or 1.0
    # Rounded, so that a comparison with a threshold cannot flip on the last bit of a float.
    return {dimension_id: round(value / total, 9) for dimension_id, value in raw.items()}


def most_informative(
    content: Content, question_ids: Iterable[str], level: float, count: int
) -> tuple[str, ...]:
    """The `count` questions that tell most about a taker at this level (file order at a tie)."""
    table = models(content)
    index = min(range(len(GRID)), key=lambda g: abs(GRID[g] - level))
    ranked = sorted(
        enumerate(question_ids),
        key=lambda pair: (-round(table[pair[1]].information[index], 9), pair[0]),
    )
    return tuple(question_id for _, question_id in ranked[:count])
