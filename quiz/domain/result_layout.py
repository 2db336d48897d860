"""A stored analysis laid out for a reader: the result page, the email and the PDF.

The analysis is stored as a flat list of items (see `quiz.domain.analysis`); this module only
arranges what was stored, so a result reads the same years later. It adds what a reader needs
around the stored texts: the answers that led to the diagnosis (question and answer as asked,
from the content version the taker answered), how a tie was broken, the three next steps in
their ranked order, the other advice grouped by dimension, and the sources as numbered
references in the way a publication cites them (never the internal file names).

Every user-facing sentence lives in the templates; this module hands them data. Pure, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from quiz.domain.content import Content
from quiz.domain.scoring import tie_key

Item = Mapping[str, Any]
TieRule = Literal["weak_answers", "advice", "content_order"]

# How many of the diagnosis' answers the reader sees: the weakest ones, enough to explain it.
EVIDENCE_SHOWN = 2
# Words of step text shown above the fold in total; longer steps show their first sentences
# there and link to the full text (the result page keeps its first screenful short).
STEP_WORDS = 150
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


@dataclass(frozen=True)
class Evidence:
    """One answer that led to the diagnosis: the question and the answer as the taker saw them."""

    question: str
    answer: str


@dataclass(frozen=True)
class Reference:
    """A pointer to the numbered source list, with the article's section where one is named."""

    number: int
    section: str | None


@dataclass(frozen=True)
class Citation:
    """One entry of the numbered source list."""

    number: int
    text: str


@dataclass(frozen=True)
class Entry:
    """A stored analysis item with its anchor, its references and the text for the step list."""

    item: Item
    anchor: str
    references: tuple[Reference, ...]
    # The text shown in the list of next steps: the whole text, or its first sentences.
    lead: str = ""
    shortened: bool = False

    @property
    def cited(self) -> tuple[tuple[int, tuple[str, ...]], ...]:
        """The references by source, in order: (number, the sections cited from it)."""
        grouped: dict[int, list[str]] = {}
        for ref in self.references:
            sections = grouped.setdefault(ref.number, [])
            if ref.section and ref.section not in sections:
                sections.append(ref.section)
        return tuple((number, tuple(sections)) for number, sections in grouped.items())

    @property
    def next_step(self) -> int | None:
        """1..3 when this item is one of the three next steps."""
        value = self.item.get("next_step")
        return value if isinstance(value, int) else None


@dataclass(frozen=True)
class Section:
    """One dimension of the full analysis: its level and band advice, then its tips."""

    dimension: str
    name: str
    score: int | None
    band_label: str | None
    is_bottleneck: bool
    advice: Entry | None
    tips: tuple[Entry, ...]


@dataclass(frozen=True)
class ResultLayout:
    """A stored analysis arranged for reading: diagnosis, next steps, everything else."""

    bottleneck: Item | None
    acute: bool
    tied_names: tuple[str, ...]
    tie_rule: TieRule | None
    evidence: tuple[Evidence, ...]
    steps: tuple[Entry, ...]
    sections: tuple[Section, ...]
    perspectives: tuple[Entry, ...]
    citations: tuple[Citation, ...]
    # How sure the result is (content 2026.3 and later; None / empty for results stored before):
    # "klar" or "knapp", the names of the dimensions close to the bottleneck, and the sentences
    # saying so and where to start (also the first paragraph of the bottleneck's text).
    confidence: str | None = None
    close_names: tuple[str, ...] = ()
    note: str | None = None
    # The bottleneck has full points: there is no "Luft nach oben" to speak of.
    full_marks: bool = False


def _budget(step_words: int | None, note: object) -> int | None:
    """The steps' share of the first screen, less the close-call note's words."""
    if step_words is None or not isinstance(note, str):
        return step_words
    return max(step_words - len(note.split()), step_words // 2)


def has_next_steps(analysis: Sequence[Item]) -> bool:
    """Whether a stored analysis carries the ranked next steps (content 2026.2 and later)."""
    return any(item.get("next_step") for item in analysis)


def build_layout(
    content: Content,
    analysis: Sequence[Item],
    answers: Mapping[str, str],
    *,
    step_words: int | None = STEP_WORDS,
) -> ResultLayout:
    """Arrange a stored analysis; `content` is the version the response was scored with.

    `step_words=None` keeps every step's whole text (the email has no first screen to keep short).
    A close result's note stands in the diagnosis, on the same first screen: the steps give up
    as many words as it takes.
    """
    citations = _Citations(content)
    entries = [
        Entry(item=item, anchor=f"empfehlung-{index}", references=citations.refs(item))
        for index, item in enumerate(analysis, 1)
    ]
    # Number the sources in reading order: the dimensions, then the perspectives notes.
    sections = _sections(entries)
    perspectives = tuple(e for e in entries if e.item.get("tip_kind") == "perspectives")
    ordered = [e for s in sections for e in (s.advice, *s.tips) if e] + list(perspectives)
    renumber = citations.renumber(ordered)
    sections = tuple(_renumbered_section(s, renumber) for s in sections)
    perspectives = tuple(_renumbered(e, renumber) for e in perspectives)
    by_anchor = {e.anchor: e for s in sections for e in (s.advice, *s.tips) if e}
    by_anchor |= {e.anchor: e for e in perspectives}
    steps = sorted((e for e in by_anchor.values() if e.next_step), key=lambda e: e.next_step or 0)

    bottleneck = next((item for item in analysis if item.get("kind") == "bottleneck"), None)
    head = bottleneck or {}
    tied = tuple(str(d) for d in head.get("tied_with") or ())
    names = {str(item.get("dimension")): str(item.get("dimension_name")) for item in analysis}
    return ResultLayout(
        bottleneck=bottleneck,
        acute=bool(head.get("acute", True)),
        tied_names=tuple(names.get(d, d) for d in tied),
        tie_rule=_tie_rule(content, answers, bottleneck, tied),
        evidence=_evidence(content, answers, bottleneck),
        steps=_with_leads(steps, _budget(step_words, head.get("note"))),
        sections=sections,
        perspectives=perspectives,
        citations=citations.listed(renumber),
        confidence=head.get("confidence"),
        close_names=tuple(names.get(str(d), str(d)) for d in head.get("close_to") or ()),
        note=head.get("note"),
        full_marks=head.get("score") == 100,
    )


class _Citations:
    """Numbers each cited article once; the number points into the list at the end."""

    def __init__(self, content: Content) -> None:
        self.content = content
        self.texts: dict[str, str] = {}
        self.first_number: dict[str, int] = {}

    def refs(self, item: Item) -> tuple[Reference, ...]:
        refs = []
        for source in item.get("sources") or ():
            key = str(source.get("file") or source.get("title"))
            if key not in self.first_number:
                self.first_number[key] = len(self.first_number) + 1
                self.texts[key] = self._citation(source)
            refs.append(Reference(self.first_number[key], source.get("section")))
        return tuple(refs)

    def _citation(self, source: Item) -> str:
        # Older stored analyses carry no citation; the content version knows the article.
        if source.get("citation"):
            return str(source["citation"])
        article = self.content.source_by_file.get(str(source.get("file")))
        return article.citation if article is not None else str(source.get("title") or "")

    def renumber(self, reading_order: Sequence[Entry]) -> dict[int, int]:
        """Old number -> number in reading order (1, 2, ... as a reader meets them)."""
        mapping: dict[int, int] = {}
        for entry in reading_order:
            for ref in entry.references:
                mapping.setdefault(ref.number, len(mapping) + 1)
        for number in sorted(self.first_number.values()):
            mapping.setdefault(number, len(mapping) + 1)
        return mapping

    def listed(self, renumber: Mapping[int, int]) -> tuple[Citation, ...]:
        cited = [Citation(renumber[n], self.texts[key]) for key, n in self.first_number.items()]
        return tuple(sorted(cited, key=lambda citation: citation.number))


def _renumbered(entry: Entry, renumber: Mapping[int, int]) -> Entry:
    refs = tuple(Reference(renumber[r.number], r.section) for r in entry.references)
    return Entry(entry.item, entry.anchor, refs)


def _renumbered_section(section: Section, renumber: Mapping[int, int]) -> Section:
    advice = _renumbered(section.advice, renumber) if section.advice else None
    tips = tuple(_renumbered(tip, renumber) for tip in section.tips)
    return Section(
        section.dimension,
        section.name,
        section.score,
        section.band_label,
        section.is_bottleneck,
        advice,
        tips,
    )


def _sections(entries: Sequence[Entry]) -> tuple[Section, ...]:
    """The dimensions in stored order (weakest first), each with its own tips."""
    sections: dict[str, Section] = {}
    for entry in entries:
        item = entry.item
        if item.get("kind") in ("bottleneck", "dimension"):
            dimension = str(item.get("dimension"))
            sections[dimension] = Section(
                dimension=dimension,
                name=str(item.get("dimension_name")),
                score=item.get("score"),
                band_label=item.get("band_label"),
                is_bottleneck=item.get("kind") == "bottleneck",
                advice=entry,
                tips=(),
            )
    for entry in entries:
        item = entry.item
        if item.get("kind") != "tip" or item.get("tip_kind") == "perspectives":
            continue
        dimension = str(item.get("dimension"))
        section = sections.get(dimension) or Section(
            dimension, str(item.get("dimension_name")), None, None, False, None, ()
        )
        sections[dimension] = Section(
            section.dimension,
            section.name,
            section.score,
            section.band_label,
            section.is_bottleneck,
            section.advice,
            (*section.tips, entry),
        )
    return tuple(sections.values())


def _evidence(
    content: Content, answers: Mapping[str, str], bottleneck: Item | None
) -> tuple[Evidence, ...]:
    """The weakest answers of the diagnosed dimension, as asked and as answered."""
    found = []
    for question_id in (bottleneck or {}).get("evidence") or ():
        question = content.question_by_id.get(question_id)
        answer = answers.get(question_id)
        if question is None or answer is None:
            continue
        labels = {choice.id: choice.label for choice in content.choices(question_id)}
        if answer in labels:
            found.append(Evidence(question.text, labels[answer]))
        if len(found) == EVIDENCE_SHOWN:
            break
    return tuple(found)


def _tie_rule(
    content: Content, answers: Mapping[str, str], bottleneck: Item | None, tied: Sequence[str]
) -> TieRule | None:
    """Which step of the tie rule chose the bottleneck, when a sentence can say it.

    Results of content 2026.3 and later store their reason (`tie_reason`); the weighing of all
    answers has no sentence of its own here, the stored note says it. Older results are
    replayed with the rule of their time (`quiz.domain.scoring.tie_key`).
    """
    if bottleneck is None or not tied:
        return None
    if "tie_reason" in bottleneck:
        stored = bottleneck.get("tie_reason")
        return stored if stored in ("weak_answers", "content_order") else None
    try:
        keys = tie_key(content, answers)
        chosen = keys[str(bottleneck.get("dimension"))]
        others = [keys[dimension] for dimension in tied]
    except KeyError:  # answers or dimensions from other content: the rule cannot be replayed
        return None
    if all(chosen[0] != other[0] for other in others):
        return "weak_answers"
    if all(chosen[:3] != other[:3] for other in others):
        return "advice"
    return "content_order"


def _with_leads(steps: Sequence[Entry], budget: int | None) -> tuple[Entry, ...]:
    """Each step with the text the step list shows: whole, or cut at sentences to fit `budget`.

    The longest step loses its last sentence until the steps fit; each keeps its first sentence.
    """
    sentences = [_SENTENCE_END.split(str(e.item.get("text") or "").strip()) for e in steps]
    counts = [[len(s.split()) for s in parts] for parts in sentences]
    kept = [len(parts) for parts in sentences]
    if budget is not None:
        while sum(sum(c[:k]) for c, k in zip(counts, kept, strict=True)) > budget:
            longest = max(
                (i for i, k in enumerate(kept) if k > 1),
                key=lambda i: sum(counts[i][: kept[i]]),
                default=None,
            )
            if longest is None:
                break
            kept[longest] -= 1
    return tuple(
        Entry(
            e.item,
            e.anchor,
            e.references,
            lead=" ".join(parts[:k]),
            shortened=k < len(parts),
        )
        for e, parts, k in zip(steps, sentences, kept, strict=True)
    )
