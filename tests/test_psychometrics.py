"""Every statistic from sufficient statistics equals numpy's computation on the raw points."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quiz.domain import psychometrics as ps


def generated_points(seed: int, n: int, k: int, noise: float = 1.0) -> np.ndarray:
    """n responses to k items scored 0..4, correlated through one latent trait."""
    rng = np.random.default_rng(seed)
    trait = rng.normal(size=(n, 1))
    loadings = rng.uniform(-0.3, 1.2, size=(1, k))  # some items fit badly, some reverse
    raw = 2 + trait @ loadings + rng.normal(scale=noise, size=(n, k))
    return np.clip(np.rint(raw), 0, 4).astype(int)


def items_of(k: int) -> list[str]:
    # Ids whose code-point order differs from their position, so pair keys are really sorted.
    return [f"q{(7 * i) % k}_{i}" for i in range(k)]


def numpy_alpha(x: np.ndarray) -> float:
    k = x.shape[1]
    item_variances = x.var(axis=0, ddof=1).sum()
    return k / (k - 1) * (1 - item_variances / x.sum(axis=1).var(ddof=1))


@pytest.mark.parametrize(("seed", "n", "k"), [(1, 40, 4), (2, 500, 6), (3, 2, 3), (4, 1000, 2)])
def test_statistics_equal_numpy_on_generated_data(seed: int, n: int, k: int) -> None:
    x = generated_points(seed, n, k)
    items = items_of(k)
    sums = ps.sums_from_points(items, x.tolist())
    assert sums.n == n
    for i, a in enumerate(items):
        assert sums.sums[a] == x[:, i].sum()
        for j, b in enumerate(items):
            assert sums.product(a, b) == int((x[:, i] * x[:, j]).sum())

    assert ps.cronbach_alpha(sums) == pytest.approx(numpy_alpha(x), rel=1e-12, abs=1e-12)
    for i, item in enumerate(items):
        rest = np.delete(x, i, axis=1)
        expected_r = np.corrcoef(x[:, i], rest.sum(axis=1))[0, 1]
        assert ps.item_total_r(sums, item) == pytest.approx(expected_r, rel=1e-12, abs=1e-12)
        if k > 2:
            expected = numpy_alpha(rest)
            assert ps.alpha_if_deleted(sums, item) == pytest.approx(expected, rel=1e-12)
        else:
            assert ps.alpha_if_deleted(sums, item) is None


def test_sums_of_parts_combine_to_the_sums_of_the_whole() -> None:
    x = generated_points(5, 300, 5)
    items = items_of(5)
    whole = ps.sums_from_points(items, x.tolist())
    parts = [
        ps.sums_from_points(items, x[:100].tolist()),
        ps.sums_from_points(items, x[100:].tolist()),
    ]
    assert ps.combine(parts) == ps.combine([whole])
    assert ps.cronbach_alpha(ps.combine(parts)) == pytest.approx(numpy_alpha(x), rel=1e-12)


def test_points_distribution_equals_numpy() -> None:
    x = generated_points(6, 400, 1, noise=2.0)[:, 0]
    values, counts = np.unique(x, return_counts=True)
    distribution = ps.PointsDistribution(dict(zip(values.tolist(), counts.tolist(), strict=True)))
    assert distribution.n == 400
    assert distribution.mean == pytest.approx(x.mean(), rel=1e-12)
    assert distribution.floor_share == pytest.approx((x == 0).mean())
    assert distribution.ceiling_share == pytest.approx((x == 4).mean())
    empty = ps.PointsDistribution({})
    assert (empty.n, empty.mean, empty.floor_share, empty.ceiling_share) == (0, None, None, None)


def test_degenerate_cases_give_none_not_a_number() -> None:
    items = ["a", "b", "c"]
    assert ps.cronbach_alpha(ps.sums_from_points(items, [])) is None
    one = ps.sums_from_points(items, [[1, 2, 3]])
    assert ps.cronbach_alpha(one) is None
    assert ps.item_total_r(one, "a") is None
    # Everyone answers alike: no variance anywhere.
    same = ps.sums_from_points(items, [[2, 2, 2]] * 50)
    assert ps.cronbach_alpha(same) is None
    assert ps.item_total_r(same, "b") is None
    assert ps.alpha_if_deleted(same, "b") is None
    # One constant item: its r is undefined, the others' are not, α still exists.
    x = generated_points(7, 60, 3)
    x[:, 1] = 4
    sums = ps.sums_from_points(items, x.tolist())
    assert ps.item_total_r(sums, "b") is None
    expected = np.corrcoef(x[:, 0], x[:, 1] + x[:, 2])[0, 1]
    assert ps.item_total_r(sums, "a") == pytest.approx(expected, rel=1e-12)
    assert ps.cronbach_alpha(sums) == pytest.approx(numpy_alpha(x), rel=1e-12)
    # A single item has no α and no rest to correlate with.
    single = ps.sums_from_points(["a"], [[1], [3], [4]])
    assert ps.cronbach_alpha(single) is None
    assert ps.item_total_r(single, "a") is None
    assert ps.item_total_r(sums, "unknown") is None


def test_flags_follow_the_thresholds_and_wait_for_thirty_responses() -> None:
    # Two unrelated items: α near 0, every r near 0.
    rng = np.random.default_rng(8)
    x = rng.integers(0, 5, size=(29, 2))
    few = ps.analyse_dimension(ps.sums_from_points(["a", "b"], x.tolist()), {})
    assert few.n == 29 and not few.enough and few.flags == ()
    assert all(item.flags == () for item in few.items.values())

    x = rng.integers(0, 5, size=(300, 2))
    distributions = {
        "a": ps.PointsDistribution({4: 250, 3: 50}),
        "b": ps.PointsDistribution({0: 241, 1: 59}),
    }
    weak = ps.analyse_dimension(ps.sums_from_points(["a", "b"], x.tolist()), distributions)
    assert weak.enough
    alpha = weak.alpha
    assert alpha is not None and alpha < ps.ALPHA_MIN
    assert [flag.code for flag in weak.flags] == ["alpha_low"]
    assert [flag.code for flag in weak.items["a"].flags] == ["item_total_low", "ceiling"]
    assert [flag.code for flag in weak.items["b"].flags] == ["item_total_low", "floor"]
    # Exactly 80 % is not "over 80 %".
    assert ps.item_flags(300, 0.5, ps.PointsDistribution({4: 80, 3: 20})) == ()

    x = generated_points(9, 300, 4, noise=0.3)
    strong = ps.analyse_dimension(ps.sums_from_points(items_of(4), x.tolist()), {})
    assert strong.alpha is not None and strong.alpha > ps.ALPHA_MIN and strong.flags == ()
    assert sorted(ps.FLAGS) == ["alpha_low", "ceiling", "floor", "item_total_low"]


def test_midrank_percentile_on_a_known_histogram() -> None:
    histogram = {10: 1, 20: 2, 30: 1}
    # 10: half of 1 of 4 = 12.5 -> 13 (half up); 20: 1 + 1 of 4 = 50; 25: 3 of 4; 30: 87.5 -> 88.
    assert ps.midrank_percentile(histogram, 10) == 13
    assert ps.midrank_percentile(histogram, 20) == 50
    assert ps.midrank_percentile(histogram, 25) == 75
    assert ps.midrank_percentile(histogram, 30) == 88
    assert ps.midrank_percentile(histogram, 0) == 0
    assert ps.midrank_percentile(histogram, 100) == 100
    assert ps.midrank_percentile({}, 50) is None
    table = ps.percentile_table(histogram)
    assert (table[0], table[10], table[15], table[20], table[30], table[100]) == (
        0,
        13,
        25,
        50,
        88,
        100,
    )
    assert len(table) == 101
    assert ps.percentile_table({}) == {}


def test_percentile_table_equals_numpy_on_generated_scores() -> None:
    scores = np.random.default_rng(10).binomial(100, 0.6, size=997)
    values, counts = np.unique(scores, return_counts=True)
    table = ps.percentile_table(dict(zip(values.tolist(), counts.tolist(), strict=True)))
    for score in range(101):
        share = ((scores < score).sum() + 0.5 * (scores == score).sum()) / len(scores) * 100
        # n is odd and prime, so no share is exactly x.5 and half-up equals nearest.
        assert table[score] == math.floor(share + 0.5), score


def test_histogram_median_and_speeders() -> None:
    assert ps.histogram_median({}) is None
    assert ps.histogram_median({60: 1}) == 60
    assert ps.histogram_median({60: 2, 120: 2}) == 60  # the lower median
    assert ps.histogram_median({60: 1, 120: 1, 300: 1}) == 120
    durations = np.random.default_rng(11).integers(0, 50, size=501)
    values, counts = np.unique(durations, return_counts=True)
    median = ps.histogram_median(dict(zip(values.tolist(), counts.tolist(), strict=True)))
    assert median == int(np.median(durations))
    assert ps.is_speeder(99, 300, 30)
    assert not ps.is_speeder(100, 300, 30)  # exactly a third is not under it
    assert not ps.is_speeder(10, 300, 29)  # too few finishes to know the median
    assert not ps.is_speeder(10, None, 100)


def test_straight_lining_needs_the_same_option_on_enough_statements() -> None:
    assert ps.is_straight_lining(["teils"] * 5)
    assert not ps.is_straight_lining(["teils"] * 4)
    assert not ps.is_straight_lining(["teils"] * 9 + ["trifft_voll_zu"])
