"""The structural rules a content file must follow beyond its schema, each on the line it concerns.

They (sources, scale, bands, questions, tip conditions) hold for every content version and run
on the raw tree, so they report even beside schema errors. The rules of the current version
(`quiz.domain.content_rules`) describe what today's quiz promises its takers; archived versions
were written before them and are loaded without them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator, Iterator
from typing import Any

from quiz.domain.content_model import MAX_POINTS, NOT_APPLICABLE_ID

# The five articles all advice is drawn from (shared/seeds/). A source outside this set is an error.
SEED_ARTICLES: frozenset[str] = frozenset(
    {
        "000_7c60a66375e4c519.txt",
        "001_8fb8151b7bf0414a.txt",
        "002_cc3518c87732680e.txt",
        "003_b2191da43fb2a83a.txt",
        "004_e192ff1e4f8e0c2b.txt",
    }
)

MIN_QUESTIONS_PER_DIMENSION = 4

Loc = tuple[str | int, ...]
Entries = list[tuple[int, dict[str, Any]]]


def items(value: Any) -> Entries:
    """The mapping entries of a list node with their indexes; anything else gives none."""
    if not isinstance(value, tuple):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def duplicates(loc: Loc, entries: Entries, key: str, what: str) -> Iterator[tuple[Loc, str]]:
    """One error on every entry whose `key` value occurs more than once."""
    seen = Counter(entry.get(key) for _, entry in entries)
    for index, entry in entries:
        if entry.get(key) is not None and seen[entry.get(key)] > 1:
            yield (*loc, index, key), f"duplicate {what} {entry.get(key)!r}"


def structural_errors(data: dict[str, Any]) -> Iterator[tuple[Loc, str]]:
    """Checks a schema cannot express, on the plain tree. They hold for every content version."""
    known_files = {entry.get("file") for _, entry in items(data.get("sources"))}
    yield from _source_errors(data)
    scale_ids = yield from _scale_errors(data)
    dimension_ids = {entry.get("id") for _, entry in items(data.get("dimensions"))}
    yield from _dimension_errors(data, known_files)
    answer_ids = yield from _page_errors(data, dimension_ids, scale_ids)
    yield from _tip_errors(data, dimension_ids, known_files, answer_ids)
    yield from _followup_errors(data, dimension_ids, known_files)


def _followup_errors(
    data: dict[str, Any], dimension_ids: set[Any], known_files: set[Any]
) -> Iterator[tuple[Loc, str]]:
    """Follow-ups: keyed by known dimensions, unique ids, sources among the articles, one-line
    subjects."""
    followups = data.get("followups")
    if not isinstance(followups, dict):
        return
    every: Entries = []
    for dimension, emails in followups.items():
        if dimension not in dimension_ids:
            yield ("followups", dimension), f"unknown dimension {dimension!r}"
        for index, email in items(emails):
            loc: Loc = ("followups", dimension, index)
            every.append((index, {**email, "_loc": loc}))
            if "\n" in str(email.get("subject", "")):
                yield (*loc, "subject"), "a subject is one line"
            for s_index, source in items(email.get("sources")):
                if source.get("file") not in known_files:
                    yield (
                        (*loc, "sources", s_index, "file"),
                        (f"unknown source file {source.get('file')!r}"),
                    )
    seen = Counter(email.get("id") for _, email in every)
    for _, email in every:
        if email.get("id") is not None and seen[email.get("id")] > 1:
            yield (*email["_loc"], "id"), f"duplicate follow-up id {email.get('id')!r}"


def _source_errors(data: dict[str, Any]) -> Iterator[tuple[Loc, str]]:
    """Sources: only the seed articles, each once."""
    sources = items(data.get("sources"))
    yield from duplicates(("sources",), sources, "file", "source file")
    for index, entry in sources:
        if isinstance(entry.get("file"), str) and entry["file"] not in SEED_ARTICLES:
            yield (
                ("sources", index, "file"),
                (
                    f"unknown source {entry['file']!r}: must be one of the seed articles "
                    f"({', '.join(sorted(SEED_ARTICLES))})"
                ),
            )


def _ref_errors(loc: Loc, refs: Any, known_files: set[Any]) -> Iterator[tuple[Loc, str]]:
    for index, ref in items(refs):
        file = ref.get("file")
        if isinstance(file, str) and file not in known_files:
            yield (*loc, index, "file"), f"source {file!r} is not listed under top-level sources"


def _scale_errors(data: dict[str, Any]) -> Generator[tuple[Loc, str], None, set[Any]]:
    """The scale: unique ids and values, spanning 0..MAX_POINTS. Returns the scale's ids."""
    scale = items(data.get("scale"))
    yield from duplicates(("scale",), scale, "id", "scale id")
    yield from duplicates(("scale",), scale, "value", "scale value")
    values = {entry.get("value") for _, entry in scale}
    if scale and not {0, MAX_POINTS} <= values:
        yield ("scale",), f"the scale must include the values 0 and {MAX_POINTS}"
    for index, entry in scale:
        if entry.get("id") == NOT_APPLICABLE_ID:
            yield (
                ("scale", index, "id"),
                f"{NOT_APPLICABLE_ID!r} is reserved for the not-applicable answer",
            )
    return {entry.get("id") for _, entry in scale}


def _dimension_errors(data: dict[str, Any], known_files: set[Any]) -> Iterator[tuple[Loc, str]]:
    """Dimensions: unique ids; bands that tile 0..100 and cite listed sources."""
    dimensions = items(data.get("dimensions"))
    yield from duplicates(("dimensions",), dimensions, "id", "dimension id")
    for d_index, dimension in dimensions:
        loc: Loc = ("dimensions", d_index, "bands")
        bands = items(dimension.get("bands"))
        yield from duplicates(loc, bands, "id", "band id")
        yield from _band_errors(loc, bands)
        for b_index, band in bands:
            yield from _ref_errors((*loc, b_index, "sources"), band.get("sources"), known_files)


def _page_errors(
    data: dict[str, Any], dimension_ids: set[Any], scale_ids: set[Any]
) -> Generator[tuple[Loc, str], None, dict[Any, set[Any]]]:
    """Pages, the extra page and their questions. Returns every question's answer ids."""
    pages = items(data.get("pages"))
    yield from duplicates(("pages",), pages, "id", "page id")
    questions: list[tuple[Loc, dict[str, Any]]] = [
        (("pages", p_index, "questions", q_index), question)
        for p_index, page in pages
        for q_index, question in items(page.get("questions"))
    ]
    core_count = len(questions)
    extra = data.get("extra")
    if isinstance(extra, dict):
        if extra.get("id") in {page.get("id") for _, page in pages}:
            yield ("extra", "id"), f"duplicate page id {extra.get('id')!r}"
        questions += [
            (("extra", "questions", q_index), question)
            for q_index, question in items(extra.get("questions"))
        ]
    counts = Counter(question.get("id") for _, question in questions)
    answer_ids: dict[Any, set[Any]] = {}
    per_dimension: Counter[Any] = Counter()
    for index, (loc, question) in enumerate(questions):
        qid = question.get("id")
        if qid is not None and counts[qid] > 1:
            yield (*loc, "id"), f"duplicate question id {qid!r}"
        dimension_id = question.get("dimension")
        per_dimension[dimension_id] += index < core_count
        if dimension_id is not None and dimension_id not in dimension_ids:
            yield (*loc, "dimension"), f"unknown dimension {dimension_id!r}"
        yield from _question_errors(loc, question)
        options = items(question.get("options"))
        if question.get("type") == "choice":
            answer_ids[qid] = {option.get("id") for _, option in options}
        else:
            offers_na = question.get("not_applicable") is not None
            answer_ids[qid] = scale_ids | ({NOT_APPLICABLE_ID} if offers_na else set())
    yield from _dimension_count_errors(data, per_dimension)
    return answer_ids


def _dimension_count_errors(
    data: dict[str, Any], per_dimension: Counter[Any]
) -> Iterator[tuple[Loc, str]]:
    """Enough questions per dimension."""
    dimensions = items(data.get("dimensions"))
    for d_index, dimension in dimensions:
        found = per_dimension[dimension.get("id")]
        if found < MIN_QUESTIONS_PER_DIMENSION:
            yield (
                ("dimensions", d_index, "id"),
                (
                    f"dimension {dimension.get('id')!r} has {found} questions, "
                    f"needs at least {MIN_QUESTIONS_PER_DIMENSION}"
                ),
            )


def _tip_errors(
    data: dict[str, Any],
    dimension_ids: set[Any],
    known_files: set[Any],
    answer_ids: dict[Any, set[Any]],
) -> Iterator[tuple[Loc, str]]:
    """Tips: their dimension, their conditions, their sources."""
    tips = items(data.get("tips"))
    yield from duplicates(("tips",), tips, "id", "tip id")
    for t_index, tip in tips:
        loc: Loc = ("tips", t_index)
        if tip.get("dimension") is not None and tip.get("dimension") not in dimension_ids:
            yield (*loc, "dimension"), f"unknown dimension {tip.get('dimension')!r}"
        yield from _ref_errors((*loc, "sources"), tip.get("sources"), known_files)
        when = tip.get("when")
        if not isinstance(when, dict):
            continue
        modes = [mode for mode in ("all", "any") if when.get(mode) is not None]
        if len(modes) != 1:
            yield (*loc, "when"), "a condition needs exactly one of 'all' or 'any'"
        for mode in modes:
            for c_index, clause in items(when.get(mode)):
                c_loc: Loc = (*loc, "when", mode, c_index)
                qid = clause.get("question")
                if qid not in answer_ids:
                    yield (*c_loc, "question"), f"unknown question {qid!r}"
                    continue
                answers = clause.get("answers")
                for a_index, answer in enumerate(answers if isinstance(answers, tuple) else ()):
                    if answer not in answer_ids[qid]:
                        yield (
                            (*c_loc, "answers", a_index),
                            f"question {qid!r} has no option {answer!r}",
                        )


def _band_errors(loc: Loc, bands: Entries) -> Iterator[tuple[Loc, str]]:
    """Bands must tile 0..100 exactly, in order from weakest to strongest."""
    expected_min = 0
    for index, band in bands:
        low, high = band.get("min"), band.get("max")
        if not (isinstance(low, int) and isinstance(high, int)):
            return
        if low > high:
            yield (*loc, index, "min"), f"band {band.get('id')!r}: min {low} is above max {high}"
            return
        if low > expected_min:
            yield (
                (*loc, index, "min"),
                f"gap in the bands: no band covers {expected_min}..{low - 1}",
            )
        elif low < expected_min:
            yield (
                (*loc, index, "min"),
                (
                    f"bands overlap: {low}..{expected_min - 1} is covered twice"
                    if index
                    else f"the first band must start at 0, not {low}"
                ),
            )
        expected_min = high + 1
    if bands and expected_min != 101:
        last_index = bands[-1][0]
        yield (*loc, last_index, "max"), f"the last band must end at 100, not {expected_min - 1}"


def _question_errors(loc: Loc, question: dict[str, Any]) -> Iterator[tuple[Loc, str]]:
    """Type-specific rules: a likert item uses the scale, a scenario carries its own scores."""
    options = question.get("options")
    if question.get("type") == "likert":
        if options is not None:
            yield (*loc, "options"), "a likert question uses the shared scale and has no options"
        return
    if question.get("type") != "choice":
        return
    if question.get("reverse"):
        yield (*loc, "reverse"), "reverse applies to likert questions; score the options instead"
    if question.get("not_applicable") is not None:
        yield (
            (*loc, "not_applicable"),
            "a choice question offers not-applicable as an option with not_applicable: true",
        )
    if not isinstance(options, tuple) or len(options) < 2:
        yield (*loc, "options"), "a choice question needs at least two options"
        return
    yield from _option_errors(loc, options)


def _option_errors(loc: Loc, options: tuple[Any, ...]) -> Iterator[tuple[Loc, str]]:
    """Unique ids; a score on every option but the one not-applicable option; scores span 0..4."""
    ids = Counter(option.get("id") for option in options if isinstance(option, dict))
    scores: set[Any] = set()
    not_applicable = 0
    for index, option in enumerate(options):
        if not isinstance(option, dict):
            continue
        o_loc: Loc = (*loc, "options", index)
        if ids[option.get("id")] > 1:
            yield (*o_loc, "id"), f"duplicate option id {option.get('id')!r}"
        if option.get("not_applicable"):
            not_applicable += 1
            if option.get("score") is not None:
                yield (*o_loc, "score"), "a not-applicable option has no score"
            if not_applicable == 2:
                yield (*o_loc, "not_applicable"), "a question has at most one not-applicable option"
            continue
        if option.get("score") is None:
            yield (
                (*o_loc, "score"),
                f"option {option.get('id')!r} needs a score (0..{MAX_POINTS}) "
                "or not_applicable: true",
            )
        scores.add(option.get("score"))
    if not {0, MAX_POINTS} <= scores:
        yield (
            (*loc, "options"),
            f"a choice question needs an option scoring 0 and one scoring {MAX_POINTS}",
        )
