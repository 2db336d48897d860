"""The quiz content: `content/questions.yaml` parsed into frozen, typed objects.

The loader is strict on purpose. A coach edits the YAML by hand, so every mistake is reported with
the file and line it stands on, all at once, and nothing half-loaded ever reaches the app. This
module knows nothing of Flask or the database.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

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

# Answer points run from 0 (weakest) to MAX_POINTS (strongest) for every question type.
MAX_POINTS = 4
MIN_QUESTIONS_PER_DIMENSION = 4

Id = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Points = Annotated[int, Field(ge=0, le=MAX_POINTS)]
Percent = Annotated[int, Field(ge=0, le=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class SourceRef(_Strict):
    """A pointer from an advice text to the article it is drawn from."""

    file: str
    section: Text | None = None


class Source(_Strict):
    """One of the seed articles."""

    file: str
    title: Text


class ScalePoint(_Strict):
    """One point of the shared five-point agreement scale."""

    id: Id
    label: Text
    value: Points


class Band(_Strict):
    """A score range of one dimension, with the advice for people in it."""

    id: Id
    label: Text
    min: Percent
    max: Percent
    headline: Text
    advice: Text
    sources: tuple[SourceRef, ...] = Field(min_length=1)


class Dimension(_Strict):
    """A field of the business the quiz scores, e.g. the pain threshold."""

    id: Id
    name: Text
    description: Text
    bands: tuple[Band, ...] = Field(min_length=2)

    def band_for(self, score: int) -> Band:
        """The band a score falls into (bands cover 0..100 without gaps, checked at load)."""
        for band in self.bands:
            if band.min <= score <= band.max:
                return band
        raise ValueError(f"score {score} outside the bands of dimension {self.id!r}")

    def band(self, band_id: str) -> Band:
        """The band with this id."""
        return next(band for band in self.bands if band.id == band_id)


class Option(_Strict):
    """An answer option of a scenario question, with the points it scores."""

    id: Id
    label: Text
    score: Points


class Question(_Strict):
    """A likert statement (shared scale) or a scenario with its own scored options."""

    id: Id
    dimension: Id
    type: Literal["likert", "choice"]
    text: Text
    reverse: bool = False
    weight: Annotated[float, Field(gt=0, le=10)] = 1.0
    options: tuple[Option, ...] | None = None


class Page(_Strict):
    """One step of the quiz: a short group of questions."""

    id: Id
    title: Text
    intro: Text | None = None
    questions: tuple[Question, ...] = Field(min_length=1)


class Clause(_Strict):
    """True when the answer to `question` is one of `answers`."""

    question: Id
    answers: tuple[Id, ...] = Field(min_length=1)


class Condition(_Strict):
    """Either every clause (`all`) or at least one (`any`) must hold."""

    all: tuple[Clause, ...] | None = Field(default=None, min_length=1)
    any: tuple[Clause, ...] | None = Field(default=None, min_length=1)

    @property
    def clauses(self) -> tuple[Clause, ...]:
        """The clauses, whichever mode they are in."""
        return self.all or self.any or ()

    def holds(self, answers: Mapping[str, str]) -> bool:
        """Whether these answers meet the condition."""
        results = (answers.get(clause.question) in clause.answers for clause in self.clauses)
        return all(results) if self.all is not None else any(results)


class Tip(_Strict):
    """Advice that fires on specific answers, making the analysis personal."""

    id: Id
    dimension: Id
    priority: Annotated[int, Field(ge=1, le=3)]
    when: Condition
    title: Text
    text: Text
    sources: tuple[SourceRef, ...] = Field(min_length=1)


@dataclass(frozen=True)
class Choice:
    """An answer option as the scorer and the forms see it, whatever the question type."""

    id: str
    label: str
    points: int


class Content(_Strict):
    """The whole quiz. Build it with `load_content`, which checks every cross-reference."""

    version: Text
    language: Literal["de", "en"]
    sources: tuple[Source, ...] = Field(min_length=1)
    scale: tuple[ScalePoint, ...] = Field(min_length=2)
    dimensions: tuple[Dimension, ...] = Field(min_length=1)
    pages: tuple[Page, ...] = Field(min_length=1)
    tips: tuple[Tip, ...] = ()
    # Filled by the loader from the file's bytes, never from the YAML itself.
    sha256: str = ""

    @cached_property
    def questions(self) -> tuple[Question, ...]:
        """All questions in the order they are asked."""
        return tuple(question for page in self.pages for question in page.questions)

    @cached_property
    def question_number(self) -> dict[str, int]:
        """The 1-based position of each question in the whole quiz."""
        return {question.id: number for number, question in enumerate(self.questions, 1)}

    @cached_property
    def question_by_id(self) -> dict[str, Question]:
        """Questions by id."""
        return {question.id: question for question in self.questions}

    @cached_property
    def dimension_by_id(self) -> dict[str, Dimension]:
        """Dimensions by id."""
        return {dimension.id: dimension for dimension in self.dimensions}

    @cached_property
    def page_of_question(self) -> dict[str, Page]:
        """The page each question stands on."""
        return {question.id: page for page in self.pages for question in page.questions}

    @cached_property
    def source_by_file(self) -> dict[str, Source]:
        """Source articles by file name."""
        return {source.file: source for source in self.sources}

    @cached_property
    def _choices(self) -> dict[str, tuple[Choice, ...]]:
        table: dict[str, tuple[Choice, ...]] = {}
        for question in self.questions:
            if question.type == "likert":
                table[question.id] = tuple(
                    Choice(
                        point.id,
                        point.label,
                        MAX_POINTS - point.value if question.reverse else point.value,
                    )
                    for point in self.scale
                )
            else:
                table[question.id] = tuple(
                    Choice(option.id, option.label, option.score)
                    for option in question.options or ()
                )
        return table

    def choices(self, question_id: str) -> tuple[Choice, ...]:
        """The answer options of a question with the points each scores (reverse keys applied)."""
        return self._choices[question_id]

    def questions_of(self, dimension_id: str) -> tuple[Question, ...]:
        """The questions that measure one dimension."""
        return tuple(q for q in self.questions if q.dimension == dimension_id)

    @property
    def short_hash(self) -> str:
        """The first 12 hex digits of the file hash, enough to tell versions apart on screen."""
        return self.sha256[:12]


class ContentError(Exception):
    """The content file is broken. `errors` holds one `PATH:LINE: message` string per problem."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(self.errors))


def load_content(path: str | Path) -> Content:
    """Load and check a content file; raise ContentError listing every problem found."""
    path = Path(path)
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise ContentError([f"{path}: cannot read file: {exc.strerror or exc}"]) from exc
    return parse_content(raw_bytes, str(path))


def parse_content(raw_bytes: bytes, label: str) -> Content:
    """Parse content from bytes; `label` names the file in error messages."""
    try:
        text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContentError([f"{label}: not valid UTF-8 (byte {exc.start})"]) from exc

    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        tree = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise ContentError([f"{label}:{line}: {problem or 'invalid YAML'}"]) from exc
    except YAMLError as exc:
        raise ContentError([f"{label}: invalid YAML: {exc}"]) from exc
    if not isinstance(tree, CommentedMap):
        raise ContentError([f"{label}:1: the file must be a mapping with version, dimensions, ..."])

    locate = _Locator(tree, label)
    errors: list[tuple[int, str]] = []
    content: Content | None = None
    try:
        content = Content.model_validate(_plain(tree))
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            errors.append((locate.line(loc), f"{_dotted(loc)}: {error['msg']}"))
    errors.extend((locate.line(loc), message) for loc, message in _cross_reference_errors(tree))
    if errors or content is None:
        unique = sorted(set(errors))
        raise ContentError([f"{label}:{line}: {message}" for line, message in unique])
    digest = hashlib.sha256(raw_bytes).hexdigest()
    return content.model_copy(update={"sha256": digest})


Loc = tuple[str | int, ...]


def _cross_reference_errors(tree: CommentedMap) -> Iterator[tuple[Loc, str]]:
    """Checks a schema cannot express. Works on the raw tree so they run even beside schema errors."""
    data = _plain(tree)

    def items(value: Any) -> list[tuple[int, dict[str, Any]]]:
        if not isinstance(value, tuple):
            return []
        return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]

    def duplicates(
        loc: Loc, entries: list[tuple[int, dict[str, Any]]], key: str, what: str
    ) -> Iterator[tuple[Loc, str]]:
        seen = Counter(entry.get(key) for _, entry in entries)
        for index, entry in entries:
            if entry.get(key) is not None and seen[entry.get(key)] > 1:
                yield (*loc, index, key), f"duplicate {what} {entry.get(key)!r}"

    # Sources: only the seed articles, each once.
    sources = items(data.get("sources"))
    yield from duplicates(("sources",), sources, "file", "source file")
    known_files = {entry.get("file") for _, entry in sources}
    for index, entry in sources:
        if isinstance(entry.get("file"), str) and entry["file"] not in SEED_ARTICLES:
            yield (
                ("sources", index, "file"),
                (
                    f"unknown source {entry['file']!r}: must be one of the seed articles "
                    f"({', '.join(sorted(SEED_ARTICLES))})"
                ),
            )

    def check_refs(loc: Loc, refs: Any) -> Iterator[tuple[Loc, str]]:
        for index, ref in items(refs):
            file = ref.get("file")
            if isinstance(file, str) and file not in known_files:
                yield (
                    (*loc, index, "file"),
                    f"source {file!r} is not listed under top-level sources",
                )

    # The scale: unique ids and values, spanning 0..MAX_POINTS.
    scale = items(data.get("scale"))
    yield from duplicates(("scale",), scale, "id", "scale id")
    yield from duplicates(("scale",), scale, "value", "scale value")
    values = {entry.get("value") for _, entry in scale}
    if scale and not {0, MAX_POINTS} <= values:
        yield ("scale",), f"the scale must include the values 0 and {MAX_POINTS}"
    scale_ids = {entry.get("id") for _, entry in scale}

    # Dimensions and their bands.
    dimensions = items(data.get("dimensions"))
    yield from duplicates(("dimensions",), dimensions, "id", "dimension id")
    dimension_ids = {entry.get("id") for _, entry in dimensions}
    for d_index, dimension in dimensions:
        loc: Loc = ("dimensions", d_index, "bands")
        bands = items(dimension.get("bands"))
        yield from duplicates(loc, bands, "id", "band id")
        yield from _band_errors(loc, bands)
        for b_index, band in bands:
            yield from check_refs((*loc, b_index, "sources"), band.get("sources"))

    # Pages and questions.
    pages = items(data.get("pages"))
    yield from duplicates(("pages",), pages, "id", "page id")
    all_questions: list[tuple[Loc, dict[str, Any]]] = []
    for p_index, page in pages:
        for q_index, question in items(page.get("questions")):
            all_questions.append((("pages", p_index, "questions", q_index), question))
    counts = Counter(question.get("id") for _, question in all_questions)
    answer_ids: dict[Any, set[Any]] = {}
    per_dimension: Counter[Any] = Counter()
    for loc, question in all_questions:
        qid = question.get("id")
        if qid is not None and counts[qid] > 1:
            yield (*loc, "id"), f"duplicate question id {qid!r}"
        dimension_id = question.get("dimension")
        per_dimension[dimension_id] += 1
        if dimension_id is not None and dimension_id not in dimension_ids:
            yield (*loc, "dimension"), f"unknown dimension {dimension_id!r}"
        yield from _question_errors(loc, question)
        if question.get("type") == "choice":
            answer_ids[qid] = {option.get("id") for _, option in items(question.get("options"))}
        else:
            answer_ids[qid] = scale_ids
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

    # Tips: their dimension, their conditions, their sources.
    tips = items(data.get("tips"))
    yield from duplicates(("tips",), tips, "id", "tip id")
    for t_index, tip in tips:
        loc = ("tips", t_index)
        if tip.get("dimension") is not None and tip.get("dimension") not in dimension_ids:
            yield (*loc, "dimension"), f"unknown dimension {tip.get('dimension')!r}"
        yield from check_refs((*loc, "sources"), tip.get("sources"))
        when = tip.get("when")
        if isinstance(when, dict):
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
                                (f"question {qid!r} has no option {answer!r}"),
                            )


def _band_errors(loc: Loc, bands: list[tuple[int, dict[str, Any]]]) -> Iterator[tuple[Loc, str]]:
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
    if not isinstance(options, tuple) or len(options) < 2:
        yield (*loc, "options"), "a choice question needs at least two options"
        return
    ids = Counter(option.get("id") for option in options if isinstance(option, dict))
    scores: set[Any] = set()
    for index, option in enumerate(options):
        if not isinstance(option, dict):
            continue
        if ids[option.get("id")] > 1:
            yield (*loc, "options", index, "id"), f"duplicate option id {option.get('id')!r}"
        scores.add(option.get("score"))
    if not {0, MAX_POINTS} <= scores:
        yield (
            (*loc, "options"),
            (f"a choice question needs an option scoring 0 and one scoring {MAX_POINTS}"),
        )


class _Locator:
    """Maps a path inside the document to the line it stands on, using ruamel's position marks."""

    def __init__(self, tree: CommentedMap, label: str) -> None:
        self.tree = tree
        self.label = label

    def line(self, loc: Loc) -> int:
        """The 1-based line of the deepest node of `loc` that exists in the document."""
        node: Any = self.tree
        line = 0
        for part in loc:
            if isinstance(node, CommentedMap) and part in node:
                line = node.lc.key(part)[0]
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
                line = node.lc.item(part)[0]
                node = node[part]
            else:
                if isinstance(node, CommentedMap | CommentedSeq):
                    line = max(line, node.lc.line)
                break
        return line + 1


def _plain(node: Any) -> Any:
    """ruamel's round-trip nodes as plain Python: dicts, tuples, str, int, float, bool, None."""
    if isinstance(node, Mapping):
        return {str(key): _plain(value) for key, value in node.items()}
    if isinstance(node, list | tuple):
        return tuple(_plain(value) for value in node)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def _dotted(loc: Loc) -> str:
    """('pages', 0, 'questions', 2) -> 'pages[0].questions[2]' for messages a person reads."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in {"all", "any"} and text.endswith("when"):
            text += f".{part}"
        elif part.startswith(("function-", "tagged-union")) or part in {"int", "str", "float"}:
            continue
        else:
            text += f".{part}" if text else part
    return text or "(top level)"
