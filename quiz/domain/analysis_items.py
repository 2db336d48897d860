"""The analysis's building blocks: its items, the diagnosis and the cited sources.

Plain frozen dataclasses, stored as JSON with a response (`AnalysisItem.to_dict`) and rendered by
the result page, the email and the PDF; `quiz.domain.analysis` builds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from quiz.domain.content_model import Content, SourceRef

ItemKind = Literal["bottleneck", "dimension", "tip"]


@dataclass(frozen=True)
class Source:
    """A cited article: file name (internal), title, section and how a publication cites it."""

    file: str
    title: str
    section: str | None
    author: str | None = None
    publication: str | None = None
    year: int | None = None
    citation: str = ""


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
    # "tip" or "perspectives" (two defensible views and a rule of thumb); None for band advice.
    tip_kind: str | None = None
    # The questions whose answers fired this tip; always empty for band advice.
    triggered_by: tuple[str, ...] = ()
    # 1..3 when this item is one of the three next steps.
    next_step: int | None = None
    # The diagnosis, on the bottleneck item only.
    acute: bool | None = None
    tied_with: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    # How sure the result is, on the bottleneck item only (content 2026.3 and later): the
    # dimensions close to it, "klar" or "knapp", what broke a tie, and the sentences saying so
    # (also the first paragraph of `text`).
    close_to: tuple[str, ...] = ()
    confidence: str | None = None
    tie_reason: str | None = None
    note: str | None = None
    # Band items: the weak questions the headline names as the exception.
    exceptions: tuple[str, ...] = ()
    # Band items: the score's uncertainty (standard deviation, score points).
    uncertainty: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (every field is a str, number, None, tuple of str, or the sources)."""
        data = dict(self.__dict__)  # a plain dataclass: its fields, in order
        data["sources"] = [dict(source.__dict__) for source in self.sources]
        for key in ("triggered_by", "tied_with", "evidence", "close_to", "exceptions"):
            data[key] = list(data[key])
        return data


@dataclass(frozen=True)
class Diagnosis:
    """The headline: which dimension, whether it is acute, what it is tied with, and why."""

    dimension: str
    dimension_name: str
    acute: bool
    tied_with: tuple[str, ...]
    score: int
    band: str
    band_label: str
    # The questions of this dimension not answered at full points, weakest first.
    evidence: tuple[str, ...]
    close_to: tuple[str, ...] = ()
    confidence: str = "klar"
    note: str | None = None


@dataclass(frozen=True)
class DimensionAnalysis:
    """One dimension as the full analysis shows it: its level (or too few answers) and its tips."""

    dimension: str
    name: str
    score: int | None
    band: str | None
    band_label: str | None
    insufficient: bool
    advice: AnalysisItem | None
    tips: tuple[AnalysisItem, ...]


@dataclass(frozen=True)
class Analysis:
    """Everything the result page, the email and the PDF render, built from one ranking."""

    diagnosis: Diagnosis
    next_steps: tuple[AnalysisItem, ...]
    dimensions: tuple[DimensionAnalysis, ...]
    perspectives: tuple[AnalysisItem, ...]
    items: tuple[AnalysisItem, ...]

    def to_dicts(self) -> list[dict[str, Any]]:
        """The flat, JSON-ready list stored with a response."""
        return [item.to_dict() for item in self.items]


_SOURCES: dict[tuple[int, tuple[tuple[str, str | None], ...]], tuple[Source, ...]] = {}


def cited_sources(content: Content, refs: tuple[SourceRef, ...]) -> tuple[Source, ...]:
    # Built once per content and list of references: an analysis cites the same few dozen.
    key = (id(content.source_by_file), tuple((ref.file, ref.section) for ref in refs))
    found = _SOURCES.get(key)
    if found is None:
        if len(_SOURCES) > 10_000:
            _SOURCES.clear()
        found = _SOURCES[key] = _build_sources(content, refs)
    return found


def _build_sources(content: Content, refs: tuple[SourceRef, ...]) -> tuple[Source, ...]:
    sources = []
    for ref in refs:
        article = content.source_by_file[ref.file]
        sources.append(
            Source(
                file=ref.file,
                title=article.title,
                section=ref.section,
                author=article.author,
                publication=article.publication,
                year=article.year,
                citation=article.citation,
            )
        )
    return tuple(sources)
