"""The before-and-after comparison of a re-assessment (quiz.domain.progress): pure, no app."""

from __future__ import annotations

from quiz.domain.progress import Snapshot, compare

DIMS = (("preise", "Preise"), ("werte", "Werte"), ("distanz", "Distanz"))


def test_each_shared_dimension_shows_both_scores_and_the_change_in_the_later_order() -> None:
    before = Snapshot("2026.2", DIMS, {"preise": 30, "werte": 70, "distanz": 55}, "preise")
    after = Snapshot("2026.2", DIMS[::-1], {"preise": 62, "werte": 64, "distanz": 55}, "distanz")
    progress = compare(before, after)
    assert [(r.dimension_id, r.before, r.after, r.change) for r in progress.rows] == [
        ("distanz", 55, 55, 0),
        ("werte", 70, 64, -6),
        ("preise", 30, 62, 32),
    ]
    assert progress.bottleneck_before == ("preise", "Preise")
    assert progress.bottleneck_after == ("distanz", "Distanz")
    assert progress.bottleneck_changed and not progress.versions_differ
    assert progress.left_out == ()


def test_different_versions_compare_only_the_dimensions_both_have_and_name_the_rest() -> None:
    before = Snapshot("2026.1", DIMS[:2], {"preise": 30, "werte": 70}, "preise")
    after = Snapshot("2026.2", (DIMS[0], DIMS[2]), {"preise": 40, "distanz": 20}, "distanz")
    progress = compare(before, after)
    assert [r.dimension_id for r in progress.rows] == ["preise"]
    assert progress.versions_differ
    assert progress.left_out == ("Distanz", "Werte")
    # The bottleneck then keeps the earlier version's name.
    assert progress.bottleneck_before == ("preise", "Preise")


def test_the_same_bottleneck_is_no_change() -> None:
    before = Snapshot("v", DIMS, {"preise": 10, "werte": 50, "distanz": 50}, "preise")
    after = Snapshot("v", DIMS, {"preise": 20, "werte": 50, "distanz": 50}, "preise")
    assert not compare(before, after).bottleneck_changed
