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
`next_step` 1..3, chosen by `quiz.domain.next_step_ranking.rank_next_steps`, the one ranking the result page, the email and
the PDF use. `analyse` returns the same items grouped for rendering.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from quiz.domain.analysis_items import (
    Analysis,
    AnalysisItem,
    Diagnosis,
    DimensionAnalysis,
    cited_sources,
)
from quiz.domain.content_model import MAX_POINTS, Content, Tip
from quiz.domain.next_step_ranking import absent, rank_next_steps, shown_tips, tip_key
from quiz.domain.scoring import ScoreResult, asked_questions

# Answers a headline names as the exception: the least strong of the dimension (weak ones first).
MAX_NAMED = 2


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
    shown = shown_tips(content, answers, result, focused, triggered)
    steps = rank_next_steps(content, answers, result, focused, bands, shown, triggered)
    # A step from outside the shown tips is shown too, with its dimension's other tips.
    shown += [step for step in steps if step.kind == "tip" and absent(step, shown)]
    rank = {dimension_id: index for index, dimension_id in enumerate(result.ranking)}
    shown.sort(
        key=lambda item: (rank.get(item.dimension, len(rank)), *tip_key(content, answers, item))
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
        sources=cited_sources(content, band.sources),
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
        sources=cited_sources(content, tip.sources),
        tip=tip.id,
        priority=tip.priority,
        tip_kind=tip.kind,
        triggered_by=tip.when.matched(answers),
    )
