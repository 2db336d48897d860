"""Scores + answers -> the tailored analysis a taker reads. Pure functions, no I/O.

Two kinds of text, kept apart so the analysis never contradicts an answer: a dimension's band
advice speaks about the *level* (and what to do next), and only a tip, fired by specific answers,
says anything about the taker's habits. Every tip item names the questions that triggered it
(`triggered_by`); band items name none.

The flat list (`build_analysis`) is what is stored with a response: the bottleneck first with its
band advice and the diagnosis (acute or not, ties, the answers that led there), the other scored
dimensions from weakest to strongest, then the triggered tips, those of the weakest dimensions
first. Exactly three items carry `next_step` 1..3, chosen by `next_steps`, the one ranking the
result page, the email and the PDF use. `analyse` returns the same items grouped for rendering.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from typing import Any, Literal

from quiz.domain.content_model import MAX_POINTS, NEXT_STEPS, Content, SourceRef, Tip
from quiz.domain.scoring import ScoreResult

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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["sources"] = [asdict(source) for source in self.sources]
        for key in ("triggered_by", "tied_with", "evidence"):
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


def analyse(content: Content, answers: Mapping[str, str], result: ScoreResult) -> Analysis:
    """The whole analysis: diagnosis, three next steps, every dimension, perspectives notes."""
    bands = [_band_item(content, result, dimension_id) for dimension_id in result.ranking]
    tips = [
        _tip_item(content, tip, answers) for tip in _tips_by_relevance(content, answers, result)
    ]
    steps = _rank_next_steps(content, answers, result, bands + tips)
    chosen = {id(item): position for position, item in enumerate(steps, 1)}
    diagnosis = _diagnosis(content, answers, result)
    bands = [replace(item, next_step=chosen.get(id(item))) for item in bands]
    tips = [replace(item, next_step=chosen.get(id(item))) for item in tips]
    bands[0] = replace(
        bands[0],
        kind="bottleneck",
        acute=diagnosis.acute,
        tied_with=diagnosis.tied_with,
        evidence=diagnosis.evidence,
    )
    items = (*bands, *tips)
    next_items = tuple(
        sorted((item for item in items if item.next_step), key=lambda item: item.next_step or 0)
    )
    return Analysis(
        diagnosis=diagnosis,
        next_steps=next_items,
        dimensions=_dimensions(content, result, bands, tips),
        perspectives=tuple(item for item in tips if item.tip_kind == "perspectives"),
        items=items,
    )


def build_analysis(
    content: Content, answers: Mapping[str, str], result: ScoreResult
) -> tuple[AnalysisItem, ...]:
    """The flat analysis as stored: every scored dimension from the bottleneck up, then the tips."""
    return analyse(content, answers, result).items


def next_steps(
    content: Content, answers: Mapping[str, str], result: ScoreResult
) -> tuple[AnalysisItem, ...]:
    """The three next steps: THE ranking of advice that every view of a result uses."""
    return analyse(content, answers, result).next_steps


def _rank_next_steps(
    content: Content,
    answers: Mapping[str, str],
    result: ScoreResult,
    candidates: list[AnalysisItem],
) -> list[AnalysisItem]:
    """Exactly three steps: the bottleneck's own best advice, then by priority and weakness.

    Candidates are the triggered tips and the band advice of every scored dimension. A band's
    advice counts as priority 3 in the dimension's lowest band, 1 in its top band and 2 between,
    and as weak as the points the dimension lacks; a tip is as weak as its weakest triggering
    answer. At equal keys a tip (specific) goes before band advice (general), then the weaker
    dimension, then the content order. Perspectives notes weigh two views rather than prescribe
    a step; they are used only when fewer than three other candidates exist. A strong profile
    (no tips, every band on top) so gets the top-band advice of its three weakest dimensions:
    steps that keep it strong.
    """
    rank = {dimension_id: index for index, dimension_id in enumerate(result.ranking)}
    order = {tip.id: index for index, tip in enumerate(content.tips)}

    def key(item: AnalysisItem) -> tuple[int, Fraction, int, int, int]:
        if item.kind == "tip":
            weakness = max(
                (_lacking(content, question, answers[question]) for question in item.triggered_by),
                default=Fraction(0),
            )
            position = (0, rank.get(item.dimension, len(rank)), order[item.tip or ""])
            return (-(item.priority or 0), -weakness, *position)
        bands = content.dimension_by_id[item.dimension].bands
        index = next(i for i, band in enumerate(bands) if band.id == item.band)
        priority = 1 if index == len(bands) - 1 else 3 if index == 0 else 2
        weakness = Fraction(100 - (item.score or 0), 100) * MAX_POINTS
        return (-priority, -weakness, 1, rank[item.dimension], 0)

    actions = sorted((c for c in candidates if c.tip_kind != "perspectives"), key=key)
    notes = sorted((c for c in candidates if c.tip_kind == "perspectives"), key=key)
    pool = actions + notes if len(actions) < NEXT_STEPS else actions
    first = next((item for item in pool if item.dimension == result.bottleneck), None)
    ordered = ([first] if first else []) + [item for item in pool if item is not first]
    return ordered[:NEXT_STEPS]


def _lacking(content: Content, question_id: str, answer: str) -> Fraction:
    """How far an answer is from full points (0 for a not-applicable one)."""
    choice = content.choice(question_id, answer)
    return Fraction(MAX_POINTS - choice.points) if choice.applicable else Fraction(0)


def _diagnosis(content: Content, answers: Mapping[str, str], result: ScoreResult) -> Diagnosis:
    dimension = content.dimension_by_id[result.bottleneck]
    band = dimension.band(result.bands[dimension.id])
    lacking = []
    for number, question in enumerate(content.questions_of(dimension.id)):
        # .get: a coach view may rebuild an analysis from answers stored under older content.
        choices = {c.id: c for c in content.choices(question.id)}
        choice = choices.get(answers.get(question.id, ""))
        if choice is not None and choice.applicable and choice.points < MAX_POINTS:
            lacking.append((choice.points, number, question.id))
    return Diagnosis(
        dimension=dimension.id,
        dimension_name=dimension.name,
        acute=result.bottleneck_acute,
        tied_with=result.tied_with,
        score=result.scores[dimension.id],
        band=band.id,
        band_label=band.label,
        evidence=tuple(question_id for _, _, question_id in sorted(lacking)),
    )


def _dimensions(
    content: Content,
    result: ScoreResult,
    bands: list[AnalysisItem],
    tips: list[AnalysisItem],
) -> tuple[DimensionAnalysis, ...]:
    advice = {item.dimension: item for item in bands}
    order = list(result.ranking) + [d.id for d in content.dimensions if d.id in result.insufficient]
    views = []
    for dimension_id in order:
        dimension = content.dimension_by_id[dimension_id]
        item = advice.get(dimension_id)
        views.append(
            DimensionAnalysis(
                dimension=dimension_id,
                name=dimension.name,
                score=item.score if item else None,
                band=item.band if item else None,
                band_label=item.band_label if item else None,
                insufficient=dimension_id in result.insufficient,
                advice=item,
                tips=tuple(tip for tip in tips if tip.dimension == dimension_id),
            )
        )
    return tuple(views)


def _band_item(content: Content, result: ScoreResult, dimension_id: str) -> AnalysisItem:
    dimension = content.dimension_by_id[dimension_id]
    band = dimension.band(result.bands[dimension_id])
    return AnalysisItem(
        kind="dimension",
        dimension=dimension.id,
        dimension_name=dimension.name,
        title=band.headline,
        text=band.advice,
        sources=_sources(content, band.sources),
        score=result.scores[dimension_id],
        band=band.id,
        band_label=band.label,
    )


def _tips_by_relevance(
    content: Content, answers: Mapping[str, str], result: ScoreResult
) -> list[Tip]:
    rank = {dimension_id: index for index, dimension_id in enumerate(result.ranking)}
    order = {tip.id: index for index, tip in enumerate(content.tips)}
    return sorted(
        content.triggered_tips(answers),
        key=lambda tip: (rank.get(tip.dimension, len(rank)), -tip.priority, order[tip.id]),
    )


def _tip_item(content: Content, tip: Tip, answers: Mapping[str, str]) -> AnalysisItem:
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
        tip_kind=tip.kind,
        triggered_by=tip.when.matched(answers),
    )


def _sources(content: Content, refs: tuple[SourceRef, ...]) -> tuple[Source, ...]:
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
