"""The quiz content: `content/questions.yaml` parsed into frozen, typed objects.

The loader is strict on purpose. A coach edits the YAML by hand, so every mistake is reported with
the file and line it stands on, all at once, and nothing half-loaded ever reaches the app. This
module knows nothing of Flask or the database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

# The rules' constants live with the rules; re-exported here, where callers have always found them.
from quiz.domain.content_checks import MAX_POINTS as MAX_POINTS
from quiz.domain.content_checks import NOT_APPLICABLE_ID as NOT_APPLICABLE_ID
from quiz.domain.content_checks import SEED_ARTICLES as SEED_ARTICLES
from quiz.domain.content_checks import WEAK_POINTS as WEAK_POINTS
from quiz.domain.content_checks import Loc, coverage_errors, structural_errors

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
    """One of the seed articles, with what the article itself states about its origin."""

    file: str
    title: Text
    author: Text | None = None
    publication: Text | None = None
    year: Annotated[int, Field(ge=1990, le=2100)] | None = None

    @property
    def citation(self) -> str:
        """'Author: Title. Publication, Year' with whatever parts are known; never the file."""
        head = f"{self.author}: {self.title}" if self.author else self.title
        tail = ", ".join(str(part) for part in (self.publication, self.year) if part)
        return f"{head}. {tail}" if tail else head


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
    """An answer option of a scenario question, with the points it scores.

    The one option marked `not_applicable` has no score: it leaves the question out of the score.
    """

    id: Id
    label: Text
    score: Points | None = None
    not_applicable: bool = False


class Question(_Strict):
    """A likert statement (shared scale) or a scenario with its own scored options."""

    id: Id
    dimension: Id
    type: Literal["likert", "choice"]
    text: Text
    reverse: bool = False
    weight: Annotated[float, Field(gt=0, le=10)] = 1.0
    options: tuple[Option, ...] | None = None
    # Likert only: the label of an extra answer after the scale, e.g. "Kam bei mir noch nicht vor".
    not_applicable: Text | None = None


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

    def matched(self, answers: Mapping[str, str]) -> tuple[str, ...]:
        """The questions whose answers made the condition hold (none when it does not hold)."""
        if not self.holds(answers):
            return ()
        hits = (c.question for c in self.clauses if answers.get(c.question) in c.answers)
        return tuple(dict.fromkeys(hits))


class Tip(_Strict):
    """Advice that fires on specific answers, making the analysis personal."""

    id: Id
    dimension: Id
    priority: Annotated[int, Field(ge=1, le=3)]
    # `perspectives`: a topic with two defensible views, presented as both sides and a rule of thumb.
    kind: Literal["tip", "perspectives"] = "tip"
    when: Condition
    title: Text
    text: Text
    sources: tuple[SourceRef, ...] = Field(min_length=1)


@dataclass(frozen=True)
class Choice:
    """An answer option as the scorer and the forms see it, whatever the question type.

    A not-applicable choice has `applicable` False and 0 `points`: the scorer leaves it out, and
    the 0 only fills the stored answer row, whose points column has always been required.
    """

    id: str
    label: str
    points: int
    applicable: bool = True

    @property
    def weak(self) -> bool:
        """A scored answer at WEAK_POINTS or below: the analysis must address it."""
        return self.applicable and self.points <= WEAK_POINTS


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
                if question.not_applicable is not None:
                    na = Choice(NOT_APPLICABLE_ID, question.not_applicable, 0, applicable=False)
                    table[question.id] += (na,)
            else:
                table[question.id] = tuple(
                    Choice(option.id, option.label, option.score or 0, not option.not_applicable)
                    for option in question.options or ()
                )
        return table

    def choices(self, question_id: str) -> tuple[Choice, ...]:
        """The answer options of a question with the points each scores (reverse keys applied)."""
        return self._choices[question_id]

    def choice(self, question_id: str, answer_id: str) -> Choice:
        """One answer option of a question (KeyError for an unknown one)."""
        for choice in self._choices[question_id]:
            if choice.id == answer_id:
                return choice
        raise KeyError((question_id, answer_id))

    def triggered_tips(self, answers: Mapping[str, str]) -> tuple[Tip, ...]:
        """The tips whose conditions these answers meet, in content order."""
        return tuple(tip for tip in self.tips if tip.when.holds(answers))

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


def load_content(path: str | Path, *, current: bool = True) -> Content:
    """Load and check a content file; raise ContentError listing every problem found.

    `current=False` loads an archived version with the rules of its time: the coverage rules of
    `content_checks.coverage_errors` were written later and apply to the current file only.
    """
    path = Path(path)
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise ContentError([f"{path}: cannot read file: {exc.strerror or exc}"]) from exc
    return parse_content(raw_bytes, str(path), current=current)


def load_versions(current_path: str | Path, archive_dir: str | Path) -> dict[str, Content]:
    """Every archived version (`archive_dir/*.yaml`) plus the current file, by version.

    Stored results name the version they were scored with; this mapping renders each of them
    with its own questions and texts. Raises ContentError for any broken file or a version
    that occurs twice.
    """
    current = load_content(current_path, current=True)
    versions: dict[str, Content] = {}
    labels: dict[str, str] = {}
    errors: list[str] = []
    for path in sorted(Path(archive_dir).glob("*.yaml")):
        try:
            archived = load_content(path, current=False)
        except ContentError as exc:
            errors.extend(exc.errors)
            continue
        if archived.version in versions or archived.version == current.version:
            other = labels.get(archived.version, str(current_path))
            errors.append(f"{path}:1: version {archived.version!r} is also used by {other}")
            continue
        versions[archived.version] = archived
        labels[archived.version] = str(path)
    if errors:
        raise ContentError(errors)
    versions[current.version] = current
    return versions


def parse_content(raw_bytes: bytes, label: str, *, current: bool = True) -> Content:
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
    errors.extend((locate.line(loc), message) for loc, message in structural_errors(_plain(tree)))
    if content is not None and not errors and current:
        errors.extend((locate.line(loc), message) for loc, message in coverage_errors(content))
    if errors or content is None:
        unique = sorted(set(errors))
        raise ContentError([f"{label}:{line}: {message}" for line, message in unique])
    digest = hashlib.sha256(raw_bytes).hexdigest()
    return content.model_copy(update={"sha256": digest})


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
