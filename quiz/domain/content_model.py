"""The quiz content as frozen, typed objects: dimensions, bands, questions, tips, sources.

What the quiz *is*, independent of where it comes from: `quiz.domain.content` loads these from
`content/questions.yaml`, `quiz.domain.content_checks` holds the rules a file must follow beyond
this schema. Pure: no Flask, no database, no file access.

The core quiz is `pages` (every taker answers `questions`); the bank of extra questions
(`extra`) stands apart: the quiz asks a few of them on one extra page when the weakest
dimensions are too close to tell apart (`quiz.domain.flow`). Lookups by question id
(`question_by_id`, `choices`) know both.

One module on purpose: it is the content file's schema as pydantic models, read top to bottom
like the YAML it describes; the cross-checks live in quiz.domain.content_checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# Answer points run from 0 (weakest) to MAX_POINTS (strongest) for every question type.
MAX_POINTS = 4
# An answer at or below this many points is weak: the analysis must say something about it.
WEAK_POINTS = 1
# The option id a likert question's `not_applicable` label adds after the scale points.
NOT_APPLICABLE_ID = "nicht_zutreffend"
# Every analysis ends in exactly this many next steps (quiz.domain.analysis); the loader's coverage
# rules make sure the content always offers enough candidates.
NEXT_STEPS = 3

Id = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
# A word stem that names a habit in a text, matched case-insensitively (content_checks).
Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=40)]
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
    # Shown only when the dimension has no weak answer: a text for a clean profile.
    headline: Text
    # Shown when it has one: names the exception(s) where `{weak}` stands (the weak answers'
    # topics). Content 2026.3 and later.
    headline_weak: Text | None = None
    # One sentence about the level, for a dimension that is not among the closest to the
    # bottleneck (the analysis keeps those short). Content 2026.3 and later.
    summary: Text | None = None
    advice: Text
    sources: tuple[SourceRef, ...] = Field(min_length=1)

    def title(self, weak_topics: str | None) -> str:
        """The headline for these answers: the clean one, or the one naming the exceptions."""
        if weak_topics and self.headline_weak:
            return self.headline_weak.replace("{weak}", weak_topics)
        return self.headline


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
    # The habit the question asks about, as a short noun phrase a headline can name
    # ("schriftliche Zahlungsregeln"), and the word stems that name it in a text. Band texts
    # may name none of them, a tip only those of the questions that alone fire it.
    topic: Text | None = None
    keywords: tuple[Keyword, ...] = ()
    # How well the question separates takers (the graded-response model's slope); None: the
    # model's default (quiz.domain.precision.DEFAULT_DISCRIMINATION).
    discrimination: Annotated[float, Field(gt=0, le=5)] | None = None
    # Where the question's topic comes from (required for extra questions).
    sources: tuple[SourceRef, ...] = ()


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


class Followup(_Strict):
    """One email of the follow-up series for takers whose bottleneck is its dimension.

    Its text speaks of the dimension, never of one answer: the email quotes the question and
    the answer it builds on before it (`quiz.domain.followups`).
    """

    id: Id
    subject: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=90)]
    text: Text
    sources: tuple[SourceRef, ...] = Field(min_length=1)


class ResultTexts(_Strict):
    """The sentences a result uses to say how sure it is, with `{placeholders}` filled in.

    `{bottleneck}`: the bottleneck's name; `{names}`: the other dimensions' names joined with
    `list_and` ("Preise und Werte"); `{weak}` in band headlines: the weak answers' topics.
    """

    list_and: Text
    # The bottleneck is clear of every other dimension but these, whose scores are close.
    close: Text
    # Where to start, and why, in words about the answers.
    start_weak_answers: Text
    start_lowest: Text
    start_even: Text
    # Added when the extra questions were asked and it is still close.
    after_extra: Text


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
    # The bank of extra questions: asked a few at a time, on one page, where it is close.
    extra: Page | None = None
    tips: tuple[Tip, ...] = ()
    result_texts: ResultTexts | None = None
    # The follow-up emails by bottleneck dimension (content 2026.3 on), in sending order.
    followups: dict[Id, tuple[Followup, ...]] = Field(default_factory=dict)
    # Filled by the loader from the file's bytes, never from the YAML itself.
    sha256: str = ""

    @cached_property
    def questions(self) -> tuple[Question, ...]:
        """The core quiz: every question of the pages, in the order they are asked."""
        return tuple(question for page in self.pages for question in page.questions)

    @cached_property
    def extra_questions(self) -> tuple[Question, ...]:
        """The bank of extra questions, in file order (none before content 2026.3)."""
        return self.extra.questions if self.extra is not None else ()

    @cached_property
    def all_questions(self) -> tuple[Question, ...]:
        """The core questions, then the extra ones."""
        return self.questions + self.extra_questions

    @cached_property
    def question_number(self) -> dict[str, int]:
        """The 1-based position of each question in the whole quiz (extra questions after)."""
        return {question.id: number for number, question in enumerate(self.all_questions, 1)}

    @cached_property
    def question_by_id(self) -> dict[str, Question]:
        """Questions by id, the extra ones included."""
        return {question.id: question for question in self.all_questions}

    @cached_property
    def followups_per_dimension(self) -> int:
        """How many follow-up emails every dimension has (the fewest any has; 0 without)."""
        if not self.followups:
            return 0
        return min(len(self.followups.get(d.id, ())) for d in self.dimensions)

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
        for question in self.all_questions:
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

    @cached_property
    def answer_ids(self) -> dict[str, frozenset[str]]:
        """Question id -> the ids of its answer options (checked on every scoring)."""
        return {qid: frozenset(c.id for c in choices) for qid, choices in self._choices.items()}

    def choices(self, question_id: str) -> tuple[Choice, ...]:
        """The answer options of a question with the points each scores (reverse keys applied)."""
        return self._choices[question_id]

    def choice(self, question_id: str, answer_id: str) -> Choice:
        """One answer option of a question (KeyError for an unknown one)."""
        try:
            return self._choice_by_id[question_id][answer_id]
        except KeyError:
            raise KeyError((question_id, answer_id)) from None

    @cached_property
    def _choice_by_id(self) -> dict[str, dict[str, Choice]]:
        return {qid: {c.id: c for c in choices} for qid, choices in self._choices.items()}

    @cached_property
    def tip_position(self) -> dict[str, int]:
        """Tip id -> its position in the file (the last tie-breaker of every ranking of tips)."""
        return {tip.id: index for index, tip in enumerate(self.tips)}

    def triggered_tips(self, answers: Mapping[str, str]) -> tuple[Tip, ...]:
        """The tips whose conditions these answers meet, in content order."""
        found = []
        for tip, every, clauses in self._conditions:
            hits = (answers.get(question) in allowed for question, allowed in clauses)
            if all(hits) if every else any(hits):
                found.append(tip)
        return tuple(found)

    @cached_property
    def _conditions(self) -> tuple[tuple[Tip, bool, tuple[tuple[str, frozenset[str]], ...]], ...]:
        # Every tip's condition as plain sets: an analysis checks them all, often.
        return tuple(
            (
                tip,
                tip.when.all is not None,
                tuple((c.question, frozenset(c.answers)) for c in tip.when.clauses),
            )
            for tip in self.tips
        )

    def questions_of(self, dimension_id: str) -> tuple[Question, ...]:
        """The core questions that measure one dimension."""
        return self._by_dimension[0].get(dimension_id, ())

    def extra_questions_of(self, dimension_id: str) -> tuple[Question, ...]:
        """The extra questions (the bank) of one dimension, in file order."""
        return self._by_dimension[1].get(dimension_id, ())

    @cached_property
    def _by_dimension(self) -> tuple[dict[str, tuple[Question, ...]], ...]:
        grouped: tuple[dict[str, list[Question]], ...] = ({}, {})
        for index, questions in enumerate((self.questions, self.extra_questions)):
            for question in questions:
                grouped[index].setdefault(question.dimension, []).append(question)
        return tuple({d: tuple(qs) for d, qs in group.items()} for group in grouped)

    def best_points(self, question_id: str) -> int:
        """The most points an applicable answer of this question scores."""
        return self._best_points[question_id]

    @cached_property
    def _best_points(self) -> dict[str, int]:
        return {
            qid: max(c.points for c in choices if c.applicable)
            for qid, choices in self._choices.items()
        }

    @property
    def short_hash(self) -> str:
        """The first 12 hex digits of the file hash, enough to tell versions apart on screen."""
        return self.sha256[:12]
