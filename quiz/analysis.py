"""Scores + answers -> the tailored analysis a taker reads. Pure functions, no I/O.

The order is the message: the bottleneck first with its band advice, then the other dimensions
from weakest to strongest, then the tips this person's own answers triggered, those of the weakest
dimensions first. Every item carries its sources, so the page and the email can name them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from quiz.content import Content, SourceRef, Tip
from quiz.scoring import ScoreResult

ItemKind = Literal["bottleneck", "dimension", "tip"]


@dataclass(frozen=True)
class Source:
    """A cited article: its file name, title and (optional) section."""

    file: str
    title: str
    section: str | None


@dataclass(frozen=True)
class AnalysisItem:
    """One block of the analysis: a dimension's band advice or a triggered tip."""

    kind: ItemKind
    dimension: str
    dimension_name: str
    title: str
    text: str
    sources: tuple[Source, ...]
    score: int | None = None
    band: str | None = None
    band_label: str | None = None
    tip: str | None = None
    priority: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["sources"] = [asdict(source) for source in self.sources]
        return data


def triggered_tips(content: Content, answers: Mapping[str, str]) -> tuple[Tip, ...]:
    """The tips whose conditions these answers meet, in content order."""
    return tuple(tip for tip in content.tips if tip.when.holds(answers))


def build_analysis(
    content: Content, answers: Mapping[str, str], result: ScoreResult
) -> tuple[AnalysisItem, ...]:
    """The full analysis: every dimension from the bottleneck up, then the triggered tips."""
    items: list[AnalysisItem] = []
    for position, dimension_id in enumerate(result.ranking):
        dimension = content.dimension_by_id[dimension_id]
        band = dimension.band(result.bands[dimension_id])
        items.append(
            AnalysisItem(
                kind="bottleneck" if position == 0 else "dimension",
                dimension=dimension.id,
                dimension_name=dimension.name,
                title=band.headline,
                text=band.advice,
                sources=_sources(content, band.sources),
                score=result.scores[dimension_id],
                band=band.id,
                band_label=band.label,
            )
        )
    items.extend(_tip_item(content, tip) for tip in _tips_by_relevance(content, answers, result))
    return tuple(items)


def top_tips(
    content: Content, answers: Mapping[str, str], result: ScoreResult, count: int = 3
) -> tuple[AnalysisItem, ...]:
    """The most important triggered tips: highest priority first, weakest dimension next."""
    rank = {dimension_id: index for index, dimension_id in enumerate(result.ranking)}
    order = {tip.id: index for index, tip in enumerate(content.tips)}
    tips = sorted(
        triggered_tips(content, answers),
        key=lambda tip: (-tip.priority, rank[tip.dimension], order[tip.id]),
    )
    return tuple(_tip_item(content, tip) for tip in tips[:count])


def _tips_by_relevance(
    content: Content, answers: Mapping[str, str], result: ScoreResult
) -> list[Tip]:
    rank = {dimension_id: index for index, dimension_id in enumerate(result.ranking)}
    order = {tip.id: index for index, tip in enumerate(content.tips)}
    return sorted(
        triggered_tips(content, answers),
        key=lambda tip: (rank[tip.dimension], -tip.priority, order[tip.id]),
    )


def _tip_item(content: Content, tip: Tip) -> AnalysisItem:
    dimension = content.dimension_by_id[tip.dimension]
    return AnalysisItem(
        kind="tip",
        dimension=dimension.id,
        dimension_name=dimension.name,
        title=tip.title,
        text=tip.text,
        sources=_sources(content, tip.sources),
        tip=tip.id,
        priority=tip.priority,
    )


def _sources(content: Content, refs: tuple[SourceRef, ...]) -> tuple[Source, ...]:
    return tuple(
        Source(ref.file, content.source_by_file[ref.file].title, ref.section) for ref in refs
    )
