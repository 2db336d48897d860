"""Item statistics, reliability and norms from sufficient statistics. Pure functions, no I/O.

Every figure here is computed from sums that can be kept up to date one response at a time
(issue 14): per dimension the number n of responses complete in it, per item the sum of its
points, per item pair the sum of the products (the diagonal holds the sums of squares), counts
per points value, and score histograms. Nothing needs the raw answers, so the coach's page costs
the same at a hundred takers as at a million.

The covariances are taken as exact integer co-moments `C_ab = n * Σab - Σa * Σb` (which is
n * (n - 1) times the sample covariance); the scale cancels in every ratio below, so the only
rounding is the last float division.

Degenerate cases give None rather than a made-up number: fewer than 2 responses, fewer than 2
items (or 3 for alpha-if-deleted), or a zero variance where a ratio would divide by it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

POINTS_MIN = 0
POINTS_MAX = 4

# Thresholds of the coach's page (issue 14, item 2).
MIN_N = 30
ALPHA_MIN = 0.6
ITEM_TOTAL_R_MIN = 0.2
FLOOR_CEILING_MAX = Fraction(8, 10)

# Response quality (issue 14, item 3).
STRAIGHT_LINING_MIN_ITEMS = 5
SPEEDER_MEDIAN_MIN_N = 30
SPEEDER_FRACTION = Fraction(1, 3)


@dataclass(frozen=True)
class Flag:
    """A warning about a dimension or a question, by code.

    Its German label and one-line explanation live in templates/coach/quality.html (every
    user-facing string in templates); the codes stay stable for the template and the CLI's JSON.
    """

    code: str


FLAGS: Mapping[str, Flag] = {
    code: Flag(code) for code in ("alpha_low", "item_total_low", "floor", "ceiling")
}


@dataclass(frozen=True)
class DimensionSums:
    """Sufficient statistics of one dimension over the responses complete in it.

    `products` holds Σ(x_a * x_b) for every unordered item pair, the diagonal (a, a) included,
    keyed with the smaller id first (`pair()`).
    """

    n: int
    items: tuple[str, ...]
    sums: Mapping[str, int]
    products: Mapping[tuple[str, str], int]

    def product(self, a: str, b: str) -> int:
        """Σ(x_a * x_b) over the responses, whichever order the pair comes in."""
        return self.products.get(pair(a, b), 0)

    def without(self, item: str) -> DimensionSums:
        """The same responses with one item left out (for alpha if the item were deleted)."""
        items = tuple(other for other in self.items if other != item)
        return DimensionSums(
            n=self.n,
            items=items,
            sums={a: self.sums.get(a, 0) for a in items},
            products={pair(a, b): self.product(a, b) for a in items for b in items},
        )


def pair(a: str, b: str) -> tuple[str, str]:
    """The canonical key of an item pair: the smaller id (by code point) first."""
    return (a, b) if a <= b else (b, a)


def sums_from_points(items: Sequence[str], rows: Iterable[Sequence[int]]) -> DimensionSums:
    """Sufficient statistics of complete rows of points, one value per item in `items` order.

    The counterpart of what the database keeps, for tests and for seeding benchmarks.
    """
    n = 0
    sums = dict.fromkeys(items, 0)
    products = {pair(a, b): 0 for a in items for b in items}
    for row in rows:
        n += 1
        for i, a in enumerate(items):
            sums[a] += row[i]
            for j in range(i, len(items)):
                products[pair(a, items[j])] += row[i] * row[j]
    return DimensionSums(n=n, items=tuple(items), sums=sums, products=products)


def combine(parts: Iterable[DimensionSums]) -> DimensionSums:
    """Add up sums over disjoint groups of responses (e.g. demo and real takers)."""
    parts = list(parts)
    items = tuple(sorted({item for part in parts for item in part.items}))
    sums = {a: sum(part.sums.get(a, 0) for part in parts) for a in items}
    products = {pair(a, b): 0 for a in items for b in items}
    for part in parts:
        for key, value in part.products.items():
            products[key] = products.get(key, 0) + value
    return DimensionSums(n=sum(p.n for p in parts), items=items, sums=sums, products=products)


def comoment(sums: DimensionSums, a: str, b: str) -> int:
    """n * Σab - Σa * Σb: n * (n - 1) times the sample covariance of items a and b."""
    return sums.n * sums.product(a, b) - sums.sums.get(a, 0) * sums.sums.get(b, 0)


def cronbach_alpha(sums: DimensionSums) -> float | None:
    """Cronbach's α of the unweighted sum of the items: k/(k-1) * (1 - Σ var_i / var_total)."""
    k = len(sums.items)
    if sums.n < 2 or k < 2:
        return None
    item_variances = sum(comoment(sums, a, a) for a in sums.items)
    total_variance = sum(comoment(sums, a, b) for a in sums.items for b in sums.items)
    if total_variance <= 0:
        return None
    return float(Fraction(k, k - 1) * (1 - Fraction(item_variances, total_variance)))


def item_total_r(sums: DimensionSums, item: str) -> float | None:
    """Corrected item-total correlation: Pearson r of the item with the sum of the others."""
    rest = [other for other in sums.items if other != item]
    if sums.n < 2 or not rest or item not in sums.items:
        return None
    item_variance = comoment(sums, item, item)
    rest_variance = sum(comoment(sums, a, b) for a in rest for b in rest)
    if item_variance <= 0 or rest_variance <= 0:
        return None
    covariance = sum(comoment(sums, item, other) for other in rest)
    return covariance / math.sqrt(item_variance * rest_variance)


def alpha_if_deleted(sums: DimensionSums, item: str) -> float | None:
    """Cronbach's α of the dimension without this item (None when fewer than 2 items remain)."""
    if item not in sums.items:
        return None
    return cronbach_alpha(sums.without(item))


@dataclass(frozen=True)
class PointsDistribution:
    """How one item was answered: applicable answers per points value 0..4."""

    counts: Mapping[int, int]

    @property
    def n(self) -> int:
        """Applicable answers (not-applicable ones are not in `counts`)."""
        return sum(self.counts.values())

    @property
    def mean(self) -> float | None:
        """Mean points, None without answers."""
        n = self.n
        return sum(p * c for p, c in self.counts.items()) / n if n else None

    @property
    def floor_share(self) -> float | None:
        """Share of answers at the lowest points value."""
        return self.counts.get(POINTS_MIN, 0) / self.n if self.n else None

    @property
    def ceiling_share(self) -> float | None:
        """Share of answers at the highest points value."""
        return self.counts.get(POINTS_MAX, 0) / self.n if self.n else None


@dataclass(frozen=True)
class ItemAnalysis:
    """The figures of one question, with its flags."""

    distribution: PointsDistribution
    item_total_r: float | None
    alpha_if_deleted: float | None
    flags: tuple[Flag, ...]


@dataclass(frozen=True)
class DimensionAnalysis:
    """The figures of one dimension: n, α, its items, its flags; `enough` from n >= MIN_N on."""

    n: int
    alpha: float | None
    enough: bool
    flags: tuple[Flag, ...]
    items: Mapping[str, ItemAnalysis] = field(default_factory=dict)


def dimension_flags(n: int, alpha: float | None) -> tuple[Flag, ...]:
    """α < 0.6 is flagged, but only once there are enough responses to judge."""
    if n < MIN_N or alpha is None or alpha >= ALPHA_MIN:
        return ()
    return (FLAGS["alpha_low"],)


def item_flags(n: int, r: float | None, distribution: PointsDistribution) -> tuple[Flag, ...]:
    """Item-total r < 0.2 (on the n complete responses), floor or ceiling over 80 %."""
    flags: list[Flag] = []
    if n >= MIN_N and r is not None and r < ITEM_TOTAL_R_MIN:
        flags.append(FLAGS["item_total_low"])
    if distribution.n >= MIN_N:
        total = distribution.n
        if Fraction(distribution.counts.get(POINTS_MIN, 0), total) > FLOOR_CEILING_MAX:
            flags.append(FLAGS["floor"])
        if Fraction(distribution.counts.get(POINTS_MAX, 0), total) > FLOOR_CEILING_MAX:
            flags.append(FLAGS["ceiling"])
    return tuple(flags)


def analyse_dimension(
    sums: DimensionSums,
    distributions: Mapping[str, PointsDistribution],
    extra: Collection[str] = (),
) -> DimensionAnalysis:
    """Every figure of a dimension and its items; items only answered N/A get no r or α.

    `extra` items (asked only of some takers) are outside the sums: they get their answers'
    distribution, on their own n, and no r or α.
    """
    alpha = cronbach_alpha(sums)
    items: dict[str, ItemAnalysis] = {}
    for item in sorted(set(sums.items) | set(distributions)):
        distribution = distributions.get(item, PointsDistribution({}))
        if item in extra:
            items[item] = ItemAnalysis(
                distribution=distribution,
                item_total_r=None,
                alpha_if_deleted=None,
                flags=item_flags(distribution.n, None, distribution),
            )
            continue
        r = item_total_r(sums, item)
        items[item] = ItemAnalysis(
            distribution=distribution,
            item_total_r=r,
            alpha_if_deleted=alpha_if_deleted(sums, item),
            flags=item_flags(sums.n, r, distribution),
        )
    return DimensionAnalysis(
        n=sums.n,
        alpha=alpha,
        enough=sums.n >= MIN_N,
        flags=dimension_flags(sums.n, alpha),
        items=items,
    )


# --- norms ---------------------------------------------------------------------------------


def midrank_percentile(histogram: Mapping[int, int], score: int) -> int | None:
    """The share with a lower score plus half the share with the same score, in whole percent.

    Rounded half up on the exact fraction (so 12.5 gives 13 on every machine, unlike round()'s
    banker's rounding); None for an empty histogram.
    """
    total = sum(histogram.values())
    if total <= 0:
        return None
    below = sum(count for value, count in histogram.items() if value < score)
    same = histogram.get(score, 0)
    share = Fraction(2 * below + same, 2 * total) * 100
    return math.floor(share + Fraction(1, 2))


def percentile_table(histogram: Mapping[int, int], low: int = 0, high: int = 100) -> dict[int, int]:
    """The mid-rank percentile of every score from `low` to `high` (empty without responses)."""
    total = sum(histogram.values())
    if total <= 0:
        return {}
    table: dict[int, int] = {}
    below = sum(count for value, count in histogram.items() if value < low)
    for score in range(low, high + 1):
        same = histogram.get(score, 0)
        table[score] = math.floor(Fraction(2 * below + same, 2 * total) * 100 + Fraction(1, 2))
        below += same
    return table


# --- response quality ----------------------------------------------------------------------


def histogram_median(histogram: Mapping[int, int]) -> int | None:
    """The lower median of a histogram {value: count}: the value holding the (n+1)//2-th case.

    With duration buckets as values this is the lower bound of the median's bucket, so the
    speeder threshold errs towards flagging fewer takers.
    """
    total = sum(count for count in histogram.values() if count > 0)
    if total <= 0:
        return None
    rank = (total + 1) // 2
    seen = 0
    for value in sorted(histogram):
        seen += max(histogram[value], 0)
        if seen >= rank:
            return value
    return None  # pragma: no cover - the loop always reaches rank


def is_speeder(seconds: int, median_seconds: int | None, median_n: int) -> bool:
    """Finished in under a third of the median time (judged once SPEEDER_MEDIAN_MIN_N exist)."""
    if median_seconds is None or median_n < SPEEDER_MEDIAN_MIN_N:
        return False
    return seconds < median_seconds * SPEEDER_FRACTION


def is_straight_lining(statement_options: Sequence[str]) -> bool:
    """The same option on every statement item (with at least STRAIGHT_LINING_MIN_ITEMS)."""
    return len(statement_options) >= STRAIGHT_LINING_MIN_ITEMS and len(set(statement_options)) == 1
