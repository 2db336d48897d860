"""Before and after: how a re-assessment compares with the earlier result it follows (issue 24).

Pure: two stored results in (their content version, dimensions, scores and bottleneck), the
comparison out, for the result page, the summary email and the PDF alike. Different content
versions are compared only on the dimensions both have, and the comparison says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Snapshot:
    """One stored result as the comparison needs it."""

    version: str
    # (id, name) of the dimensions of its content version, in the content's order.
    dimensions: Sequence[tuple[str, str]]
    scores: Mapping[str, int]
    bottleneck: str | None


@dataclass(frozen=True)
class DimensionChange:
    """One dimension's score then and now."""

    dimension_id: str
    name: str
    before: int
    after: int

    @property
    def change(self) -> int:
        """Points gained (negative: lost)."""
        return self.after - self.before


@dataclass(frozen=True)
class Progress:
    """The whole comparison."""

    rows: tuple[DimensionChange, ...]
    # (id, name) of the bottleneck then and now; None where that result had none.
    bottleneck_before: tuple[str, str] | None
    bottleneck_after: tuple[str, str] | None
    before_version: str
    after_version: str
    # Names of the dimensions only one of the two versions has (left out of the rows).
    left_out: tuple[str, ...]

    @property
    def versions_differ(self) -> bool:
        """Whether the two results were made with different content versions."""
        return self.before_version != self.after_version

    @property
    def bottleneck_changed(self) -> bool:
        """Whether the bottleneck now is another one than then."""
        before = self.bottleneck_before[0] if self.bottleneck_before else None
        after = self.bottleneck_after[0] if self.bottleneck_after else None
        return before != after


def compare(before: Snapshot, after: Snapshot) -> Progress:
    """Compare two results on the dimensions both versions have, in the later one's order."""
    names_before = dict(before.dimensions)
    names_after = dict(after.dimensions)
    rows = tuple(
        DimensionChange(dimension_id, name, before.scores[dimension_id], after.scores[dimension_id])
        for dimension_id, name in after.dimensions
        if dimension_id in names_before
        and dimension_id in before.scores
        and dimension_id in after.scores
    )
    shared = {row.dimension_id for row in rows}
    left_out = tuple(
        name
        for dimension_id, name in (*after.dimensions, *before.dimensions)
        if dimension_id not in shared
    )
    return Progress(
        rows=rows,
        bottleneck_before=_named(before.bottleneck, names_before),
        bottleneck_after=_named(after.bottleneck, names_after),
        before_version=before.version,
        after_version=after.version,
        left_out=tuple(dict.fromkeys(left_out)),
    )


def _named(dimension_id: str | None, names: Mapping[str, str]) -> tuple[str, str] | None:
    if dimension_id is None:
        return None
    return dimension_id, names.get(dimension_id, dimension_id)
