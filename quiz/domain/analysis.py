"""Scores + answers -> the tailored analysis a taker reads. Pure functions, no I/O.

Consistent by construction: a dimension's text depends on its level *and* its answers. Its
headline is the band's clean one only when every answer of the dimension is at its best;
otherwise the band's `headline_weak`, naming the least strong answers' topics (weak ones
first) as the exception. Band texts speak about
the level and name no habit (`quiz.domain.content_rules` checks it); only a tip, fired by the
answers that show a habit and never by a best one, says anything about a habit. Every tip item
names the questions that triggered it (`triggered_by`); band items name none, and list the weak
questions their headline names (`exceptions`).

Short where it can be: the bottleneck gets its band's advice, every other dimension its
headline and one sentence (the band's `summary`). Tips go to the dimensions the result is about
(the bottleneck and any tied with or close to it, the *focus*): MAX_TIPS for the bottleneck,
MAX_TIPS_CLOSE for each of the others. The bottleneck's text opens
with how sure the result is (`note`: "knapp vor ...", where to start and why), built from the
content's `result_texts`, when it is close.

The flat list (`build_analysis`) is what is stored with a response: the bottleneck first, the
other scored dimensions from weakest to strongest, then the tips. Exactly three items carry
`next_step` 1..3, chosen by `_rank_next_steps`, the one ranking the result page, the email and
the PDF use. `analyse` returns the same items grouped for rendering.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from quiz.domain.content_model import MAX_POINTS, NEXT_STEPS, Content, SourceRef, Tip
from quiz.domain.scoring import ScoreResult, asked_questions

ItemKind = Literal["bottleneck", "dimension", "tip"]

# Tips shown for the bottleneck and for each other focus dimension: the ones on its least strong
# answers. The headline names the weakest answers, so the weak ones are mentioned either way.
MAX_TIPS = 2
MAX_TIPS_CLOSE = 1
# Answers a headline names as the exception: the least strong of the dimension (weak ones first).
MAX_NAMED = 2


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


def focus(result: ScoreResult) -> tuple[str, ...]:
    """The dimensions the result is about: the bottleneck, those tied with it, those close."""
    named = {result.bottleneck, *result.tied_with, *result.close_to}
    return tuple(d for d in result.ranking if d in named)


def analyse(content: Content, answers: Mapping[str, str], result: ScoreResult) -> Analysis:
    """The whole analysis: diagnosis, three next steps, every dimension, perspectives notes."""
    focused = focus(result)
    diagnosis = _diagnosis(content, answers, result)
    bands = [
        _band_item(content, answers, result, dimension_id, dimension_id == result.bottleneck)
        for dimension_id in result.ranking
    ]
    # Only a profile without an acute bottleneck takes steps from dimensions outside the focus.
    triggered = [
        _tip_item(content, tip, answers)
        for tip in content.triggered_tips(answers)
        if not result.bottleneck_acute or tip.dimension in focused
    ]
    shown = _shown_tips(content, answers, result, focused, triggered)
    steps = _rank_next_steps(content, answers, result, focused, bands, shown, triggered)
    # A step from outside the shown tips is shown too, with its dimension's other tips.
    shown += [step for step in steps if step.kind == "tip" and _absent(step, shown)]
    rank = {dimension_id: index for index, dimension_id in enumerate(result.ranking)}
    shown.sort(
        key=lambda item: (rank.get(item.dimension, len(rank)), *_key(content, answers, item))
    )
    chosen = {id(item): position for position, item in enumerate(steps, 1)}
    bands = [_numbered(item, chosen) for item in bands]
    tips = [_numbered(item, chosen) for item in shown]
    bands[0] = replace(
        bands[0],
        kind="bottleneck",
        acute=diagnosis.acute,
        tied_with=diagnosis.tied_with,
        evidence=diagnosis.evidence,
        close_to=result.close_to,
        confidence=result.confidence if content.result_texts else None,
        tie_reason=result.tie_reason,
        note=diagnosis.note,
        text=f"{diagnosis.note}\n\n{bands[0].text}" if diagnosis.note else bands[0].text,
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


def _absent(item: AnalysisItem, items: Sequence[AnalysisItem]) -> bool:
    """Not this very item among them (identity: two items may be equal, yet distinct steps)."""
    return all(item is not other for other in items)


def _numbered(item: AnalysisItem, chosen: Mapping[int, int]) -> AnalysisItem:
    """The item with its step number, when it is one of the next steps."""
    step = chosen.get(id(item))
    return item if step is None else replace(item, next_step=step)


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


def _lacking(content: Content, question_id: str, answer: str) -> int:
    """How far an answer is from the question's best (0 for a not-applicable one)."""
    choice = content.choice(question_id, answer)
    return content.best_points(question_id) - choice.points if choice.applicable else 0


def _key(content: Content, answers: Mapping[str, str], item: AnalysisItem) -> tuple[int, ...]:
    """A tip's rank within its dimension: least strong triggering answer, then priority, file."""
    lacking = max(
        (_lacking(content, question, answers[question]) for question in item.triggered_by),
        default=0,
    )
    return (-lacking, -(item.priority or 0), content.tip_position.get(item.tip or "", 0))


def _shown_tips(
    content: Content,
    answers: Mapping[str, str],
    result: ScoreResult,
    focused: tuple[str, ...],
    triggered: list[AnalysisItem],
) -> list[AnalysisItem]:
    """The tips of the focus dimensions (MAX_TIPS, MAX_TIPS_CLOSE), one perspectives note at most."""
    shown: list[AnalysisItem] = []
    for dimension_id in focused:
        own = sorted(
            (t for t in triggered if t.dimension == dimension_id and t.tip_kind != "perspectives"),
            key=lambda item: _key(content, answers, item),
        )
        shown += own[: MAX_TIPS if dimension_id == result.bottleneck else MAX_TIPS_CLOSE]
    notes = [t for t in triggered if t.tip_kind == "perspectives" and t.dimension in focused]
    rank = {dimension_id: index for index, dimension_id in enumerate(result.ranking)}
    notes.sort(key=lambda item: (rank[item.dimension], *_key(content, answers, item)))
    return shown + notes[:1]


def _rank_next_steps(
    content: Content,
    answers: Mapping[str, str],
    result: ScoreResult,
    focused: tuple[str, ...],
    bands: list[AnalysisItem],
    shown: list[AnalysisItem],
    triggered: list[AnalysisItem],
) -> list[AnalysisItem]:
    """Exactly three steps, led by the bottleneck and following the least strong answers.

    1. The bottleneck's best item: its tip on its least strong answer (then priority), or its
       band advice when none fired.
    2. When the result is "knapp", the best item of the next focus dimension, so the steps
       span at least two dimensions; otherwise the next best item, as in 3.
    3. The next best: the tips shown (least strong answer, then priority, then the weaker
       dimension), then, when the profile has no acute bottleneck, any other tip by the same
       key (a strong profile's steps follow its least strong answers wherever they are), then
       the band advice of the focus dimensions and of the rest from the weakest up.
    Perspectives notes weigh two views rather than prescribe a step; they come last.
    """
    rank = {dimension_id: index for index, dimension_id in enumerate(result.ranking)}

    def key(item: AnalysisItem) -> tuple[int, ...]:
        return (*_key(content, answers, item)[:2], rank.get(item.dimension, len(rank)))

    actions = sorted((t for t in shown if t.tip_kind != "perspectives"), key=key)
    if not result.bottleneck_acute:
        others = [t for t in triggered if t.tip_kind != "perspectives" and _absent(t, actions)]
        actions = sorted(actions + others, key=key)
    band_order = sorted(
        bands, key=lambda item: (item.dimension not in focused, rank[item.dimension])
    )
    notes = sorted((t for t in shown if t.tip_kind == "perspectives"), key=key)
    pool = actions + band_order + notes

    steps: list[AnalysisItem] = []

    def take(dimension_id: str | None) -> None:
        found = next(
            (i for i in pool if _absent(i, steps) and dimension_id in (None, i.dimension)), None
        )
        if found is not None:
            steps.append(found)

    take(result.bottleneck)
    if result.confidence == "knapp":
        take(next((d for d in focused if d != result.bottleneck), None))
    while len(steps) < NEXT_STEPS and len(steps) < len(pool):
        take(None)
    return steps[:NEXT_STEPS]


def _diagnosis(content: Content, answers: Mapping[str, str], result: ScoreResult) -> Diagnosis:
    dimension = content.dimension_by_id[result.bottleneck]
    band = dimension.band(result.bands[dimension.id])
    lacking = []
    # .get: a coach view may rebuild an analysis from answers stored under older content.
    for number, question in enumerate(asked_questions(content, dimension.id, answers)):
        try:
            choice = content.choice(question.id, answers.get(question.id, ""))
        except KeyError:
            continue
        if choice.applicable and choice.points < MAX_POINTS:
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
        close_to=result.close_to,
        confidence=result.confidence,
        note=close_call_note(content, result),
    )


def close_call_note(content: Content, result: ScoreResult) -> str | None:
    """How sure the result is, in the content's words: None when it is clear."""
    texts = content.result_texts
    if texts is None or result.confidence == "klar":
        return None
    names = {d.id: d.name for d in content.dimensions}
    bottleneck = names[result.bottleneck]
    sentences = []
    if result.close_to:
        close = _joined([names[d] for d in result.close_to], texts.list_and)
        sentences.append(texts.close.format(bottleneck=bottleneck, names=close))
    others = _joined([names[d] for d in (*result.tied_with, *result.close_to)], texts.list_and)
    if result.tied_with and result.tie_reason == "weak_answers":
        tied = _joined([names[d] for d in result.tied_with], texts.list_and)
        sentences.append(texts.start_weak_answers.format(bottleneck=bottleneck, names=tied))
    elif result.tied_with:
        sentences.append(texts.start_even.format(bottleneck=bottleneck, names=others))
    else:
        sentences.append(texts.start_lowest.format(bottleneck=bottleneck, names=others))
    if result.extra_answered:
        sentences.append(texts.after_extra)
    return " ".join(sentences)


def _joined(names: Sequence[str], and_word: str) -> str:
    """'A', 'A und B', 'A, B und C'."""
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} {and_word} {names[-1]}"


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


def _band_item(
    content: Content,
    answers: Mapping[str, str],
    result: ScoreResult,
    dimension_id: str,
    full: bool,
) -> AnalysisItem:
    dimension = content.dimension_by_id[dimension_id]
    band = dimension.band(result.bands[dimension_id])
    named = exceptions(content, answers, result, dimension_id)
    topics = [t for t in (content.question_by_id[q].topic for q in named) if t]
    and_word = content.result_texts.list_and if content.result_texts else "und"
    return AnalysisItem(
        kind="dimension",
        dimension=dimension.id,
        dimension_name=dimension.name,
        title=band.title(_joined(topics, and_word) if topics else None),
        text=band.advice if full or band.summary is None else band.summary,
        sources=_sources(content, band.sources),
        score=result.scores[dimension_id],
        band=band.id,
        band_label=band.label,
        exceptions=named if band.headline_weak and topics else (),
        uncertainty=result.uncertainty.get(dimension_id),
    )


def exceptions(
    content: Content, answers: Mapping[str, str], result: ScoreResult, dimension_id: str
) -> tuple[str, ...]:
    """The answers a dimension's headline names: its MAX_NAMED least strong, in quiz order.

    Only answers below full points count, weak ones (at most 1 point) before any other: a
    dimension shows its clean headline only when every answer is at its best, so no headline
    praises what an answer or a tip says is not done.
    """
    asked = asked_questions(content, dimension_id, answers)
    weak = set(result.weak.get(dimension_id, ()))
    lacking = []
    for number, question in enumerate(asked):
        choice = content.choice(question.id, answers[question.id])
        gap = content.best_points(question.id) - choice.points
        if choice.applicable and gap:
            lacking.append((question.id in weak, gap, -number, question.id))
    lacking.sort(reverse=True)
    chosen = {entry[3] for entry in lacking[:MAX_NAMED]}
    return tuple(q.id for q in asked if q.id in chosen)


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


_SOURCES: dict[tuple[int, tuple[tuple[str, str | None], ...]], tuple[Source, ...]] = {}


def _sources(content: Content, refs: tuple[SourceRef, ...]) -> tuple[Source, ...]:
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
