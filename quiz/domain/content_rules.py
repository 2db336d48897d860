"""The rules of the current content version: what today's quiz promises every taker.

They run on the validated `Content` after the schema and the structural rules passed
(`quiz.domain.content_checks`); archived versions were written before them and are loaded
without them. Each error names the place in the file it concerns.

Two groups. Coverage: every answer below full points is answered by a tip, every dimension has a
key tip, the quiz keeps its length, three dimensions are always scored, the bank of extra
questions is big enough. Consistency, so that no text can contradict an answer: a band text names
no habit (no question's keywords) and a dimension with a weak answer gets a headline naming the
exception; a tip is never fired by a best answer and names only the habit of the question that
alone fires it; no sentence stands in two texts.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

from quiz.domain.content_checks import Loc
from quiz.domain.content_model import NEXT_STEPS, Content, Tip

# The current quiz takes about five minutes, as the source article promises.
QUESTION_RANGE = (24, 36)
# Extra questions per dimension, when the content has a bank: enough to choose the most
# informative few for any taker and still ask only questions of that dimension.
MIN_EXTRA_PER_DIMENSION = 8
# The placeholders each text of `result_texts` must use (and the only ones it may).
RESULT_PLACEHOLDERS = {
    "list_and": set(),
    "close": {"bottleneck", "names"},
    "start_weak_answers": {"bottleneck", "names"},
    "start_lowest": {"bottleneck", "names"},
    "start_even": {"bottleneck", "names"},
    "after_extra": set(),
}
_PLACEHOLDER = re.compile(r"\{([a-z_]*)\}")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def coverage_errors(content: Content) -> Iterator[tuple[Loc, str]]:
    """Every rule of the current version (the name is older than the consistency rules)."""
    yield from _length_errors(content)
    yield from _answer_coverage_errors(content)
    yield from _scored_dimension_errors(content)
    yield from _key_tip_errors(content)
    yield from _bank_errors(content)
    yield from _band_errors(content)
    yield from _habit_errors(content)
    yield from _tip_trigger_errors(content)
    yield from _result_text_errors(content)
    yield from _repeated_sentence_errors(content)
    yield from _followup_count_errors(content)


MIN_FOLLOWUPS = 3


def _followup_count_errors(content: Content) -> Iterator[tuple[Loc, str]]:
    """Every dimension has the same number of follow-up emails, at least MIN_FOLLOWUPS: the
    schedule (`followup.schedule`) sends as many to every taker, whatever their bottleneck.
    A file without `followups` has no series (the site then sends none)."""
    if not content.followups:
        return
    counts = {d.id: len(content.followups.get(d.id, ())) for d in content.dimensions}
    most = max(counts.values(), default=0)
    for dimension_id, count in counts.items():
        if count < max(most, MIN_FOLLOWUPS):
            yield (
                ("followups", dimension_id),
                f"{dimension_id} has {count} follow-up emails; every dimension needs "
                f"{max(most, MIN_FOLLOWUPS)}",
            )


def question_locs(content: Content) -> dict[str, Loc]:
    """Where each question (core and extra) stands in the file."""
    locs: dict[str, Loc] = {}
    for p_index, page in enumerate(content.pages):
        for q_index, question in enumerate(page.questions):
            locs[question.id] = ("pages", p_index, "questions", q_index)
    for q_index, question in enumerate(content.extra_questions):
        locs[question.id] = ("extra", "questions", q_index)
    return locs


def best_answers(content: Content) -> dict[str, str]:
    """The best applicable answer of every question, core and extra (the first at full points)."""
    return {
        question.id: max(
            (c for c in content.choices(question.id) if c.applicable), key=lambda c: c.points
        ).id
        for question in content.all_questions
    }


def sentences(text: str) -> list[str]:
    """The sentences of a text as a reader would compare them (whitespace normalised)."""
    return [" ".join(part.split()) for part in _SENTENCE_END.split(text.strip()) if part.strip()]


def named_habits(content: Content, text: str) -> set[str]:
    """The questions whose keywords occur in a text: the habits it names."""
    lowered = text.lower()
    return {
        question.id
        for question in content.all_questions
        if any(keyword.lower() in lowered for keyword in question.keywords)
    }


def sole_triggers(tip: Tip) -> set[str]:
    """The questions without whose (non-best) answer the tip cannot fire."""
    if tip.when.all is not None:
        return {clause.question for clause in tip.when.all}
    questions = {clause.question for clause in tip.when.clauses}
    return questions if len(questions) == 1 else set()


def _length_errors(content: Content) -> Iterator[tuple[Loc, str]]:
    low, high = QUESTION_RANGE
    if not low <= len(content.questions) <= high:
        yield ("pages",), f"the quiz has {len(content.questions)} questions, needs {low} to {high}"


def _addressed(content: Content, best: dict[str, str], question_id: str, answer: str) -> bool:
    """Whether some tip naming this answer fires when every other answer is the best one.

    Naming the answer is not enough: an `all` tip that also needs a second weak answer would
    leave a taker who is weak only here without a word about it.
    """
    answers = best | {question_id: answer}
    return any(
        question_id in tip.when.matched(answers)
        and any(c.question == question_id and answer in c.answers for c in tip.when.clauses)
        for tip in content.tips
    )


def _answer_coverage_errors(content: Content) -> Iterator[tuple[Loc, str]]:
    """Every answer below full points fires a tip on its own, core and extra questions alike.

    Weak answers need it so the analysis says something about them; the others so that even a
    strong profile's next steps follow its least strong answers rather than the file order.
    """
    best = best_answers(content)
    locs = question_locs(content)
    for question in content.all_questions:
        top = content.best_points(question.id)
        for choice in content.choices(question.id):
            if not choice.applicable or choice.points == top:
                continue
            if not _addressed(content, best, question.id, choice.id):
                kind = "weak answer" if choice.weak else "answer"
                yield (
                    (*locs[question.id], "id"),
                    (
                        f"question {question.id!r}: the {kind} {choice.id!r} "
                        f"({choice.points} points) is not addressed by any tip on its own "
                        "(with the best answer everywhere else)"
                    ),
                )


def _scored_dimension_errors(content: Content) -> Iterator[tuple[Loc, str]]:
    # A dimension with at least half of its questions lacking a not-applicable option is scored
    # whatever the answers; the next steps need NEXT_STEPS such dimensions.
    sure = [
        dimension.id
        for dimension in content.dimensions
        if 2
        * sum(
            all(c.applicable for c in content.choices(q.id))
            for q in content.questions_of(dimension.id)
        )
        >= len(content.questions_of(dimension.id))
    ]
    if len(sure) < NEXT_STEPS:
        yield (
            ("dimensions",),
            (
                f"at least {NEXT_STEPS} dimensions must always get a score (at least half of "
                f"their questions without a not-applicable option); found {len(sure)}"
            ),
        )


def _key_tip_errors(content: Content) -> Iterator[tuple[Loc, str]]:
    key_tips = {tip.dimension for tip in content.tips if tip.priority == 3}
    for d_index, dimension in enumerate(content.dimensions):
        if dimension.id not in key_tips:
            yield (
                ("dimensions", d_index, "id"),
                f"dimension {dimension.id!r} has no priority-3 tip",
            )


def _bank_errors(content: Content) -> Iterator[tuple[Loc, str]]:
    """A bank of extra questions, when there is one: enough per dimension, each with sources."""
    if content.extra is None:
        return
    for d_index, dimension in enumerate(content.dimensions):
        found = len(content.extra_questions_of(dimension.id))
        if found < MIN_EXTRA_PER_DIMENSION:
            yield (
                ("dimensions", d_index, "id"),
                (
                    f"dimension {dimension.id!r} has {found} extra questions, "
                    f"needs at least {MIN_EXTRA_PER_DIMENSION}"
                ),
            )
    for q_index, question in enumerate(content.extra_questions):
        if not question.sources:
            yield (
                ("extra", "questions", q_index, "id"),
                f"extra question {question.id!r} names no sources",
            )


def _band_errors(content: Content) -> Iterator[tuple[Loc, str]]:
    """Every band has a headline for weak answers naming them, and a one-sentence summary."""
    for d_index, dimension in enumerate(content.dimensions):
        for b_index, band in enumerate(dimension.bands):
            loc: Loc = ("dimensions", d_index, "bands", b_index)
            if band.headline_weak is None:
                yield (*loc, "id"), f"band {dimension.id}.{band.id} needs a headline_weak"
            elif _PLACEHOLDER.findall(band.headline_weak) != ["weak"]:
                yield (
                    (*loc, "headline_weak"),
                    "headline_weak must name the weak answers once, as {weak}, and nothing else",
                )
            if band.summary is None:
                yield (*loc, "id"), f"band {dimension.id}.{band.id} needs a summary"
            elif len(sentences(band.summary)) != 1:
                yield (*loc, "summary"), "a summary is one sentence"


def _habit_errors(content: Content) -> Iterator[tuple[Loc, str]]:
    """Topics and keywords name the habits; band texts name none, a tip only its trigger's."""
    locs = question_locs(content)
    for question in content.all_questions:
        if question.topic is None or not question.keywords:
            yield (
                (*locs[question.id], "id"),
                f"question {question.id!r} needs a topic and at least one keyword",
            )
            continue
        others = named_habits(content, question.topic) - {question.id}
        if others:
            yield (
                (*locs[question.id], "topic"),
                f"the topic of {question.id!r} names the habit of {_listed(others)}",
            )
    for d_index, dimension in enumerate(content.dimensions):
        for b_index, band in enumerate(dimension.bands):
            loc: Loc = ("dimensions", d_index, "bands", b_index)
            for field in ("headline", "headline_weak", "summary", "advice"):
                text = getattr(band, field)
                named = named_habits(content, text or "")
                if named:
                    yield (
                        (*loc, field),
                        f"band {dimension.id}.{band.id} names a habit ({_listed(named)}); "
                        "only a tip tied to the answer may",
                    )
    for t_index, tip in enumerate(content.tips):
        named = named_habits(content, f"{tip.title} {tip.text}") - sole_triggers(tip)
        if named:
            yield (
                ("tips", t_index, "text"),
                f"tip {tip.id!r} names the habit of {_listed(named)}, which does not alone fire it",
            )


def _tip_trigger_errors(content: Content) -> Iterator[tuple[Loc, str]]:
    """Advice is never fired by a best answer (a perspectives note may be: it weighs views)."""
    for t_index, tip in enumerate(content.tips):
        if tip.kind != "tip":
            continue
        for mode in ("all", "any"):
            for c_index, clause in enumerate(getattr(tip.when, mode) or ()):
                top = content.best_points(clause.question)
                for a_index, answer in enumerate(clause.answers):
                    choice = content.choice(clause.question, answer)
                    if choice.applicable and choice.points == top:
                        yield (
                            ("tips", t_index, "when", mode, c_index, "answers", a_index),
                            f"tip {tip.id!r} fires on {answer!r}, the best answer of "
                            f"{clause.question!r}",
                        )


def _result_text_errors(content: Content) -> Iterator[tuple[Loc, str]]:
    if content.result_texts is None:
        yield ("version",), "the current version needs result_texts"
        return
    for field, wanted in RESULT_PLACEHOLDERS.items():
        used = set(_PLACEHOLDER.findall(getattr(content.result_texts, field)))
        if used != wanted:
            names = ", ".join("{" + name + "}" for name in sorted(wanted)) or "no placeholder"
            yield ("result_texts", field), f"result_texts.{field} must use {names}"


def _analysis_texts(content: Content) -> Iterator[tuple[Loc, str]]:
    """Every text an analysis can show, with its place: bands, tips, result texts."""
    for d_index, dimension in enumerate(content.dimensions):
        for b_index, band in enumerate(dimension.bands):
            loc: Loc = ("dimensions", d_index, "bands", b_index)
            for field in ("headline", "headline_weak", "summary", "advice"):
                text = getattr(band, field)
                if text:
                    yield (*loc, field), text
    for t_index, tip in enumerate(content.tips):
        yield ("tips", t_index, "title"), tip.title
        yield ("tips", t_index, "text"), tip.text
    if content.result_texts is not None:
        for field in RESULT_PLACEHOLDERS:
            if field != "list_and":
                yield ("result_texts", field), getattr(content.result_texts, field)


def _repeated_sentence_errors(content: Content) -> Iterator[tuple[Loc, str]]:
    """No sentence stands in two texts: an analysis never says the same thing twice."""
    found = [
        (loc, sentence) for loc, text in _analysis_texts(content) for sentence in sentences(text)
    ]
    counts = Counter(sentence for _, sentence in found if len(sentence.split()) >= 3)
    reported: set[str] = set()
    for loc, sentence in found:
        if counts[sentence] > 1 and sentence not in reported:
            reported.add(sentence)
            yield loc, f"the sentence {sentence!r} stands in {counts[sentence]} texts"


def _listed(question_ids: set[str]) -> str:
    return ", ".join(repr(qid) for qid in sorted(question_ids))
