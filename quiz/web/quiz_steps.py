"""The quiz's pages of questions as the taker sees them: where a page stands in the quiz (its
step, the progress bar's figures, its questions' numbers), and its rendering, cached or with
errors. The views are quiz.web.public's; the extra page (issue 23) uses the same template and
script as the core pages, placed after them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import render_template, request, url_for

from quiz.cookie_signing import generate_csrf
from quiz.domain import flow
from quiz.domain.content import Content, Page
from quiz.site import settings as site_settings
from quiz.web import prerendered
from quiz.web.forms import StepForm


def total_steps(content: Content) -> int:
    """Question pages plus the lead step."""
    return len(content.pages) + 1


@dataclass(frozen=True)
class QuestionProgress:
    """Where a step's questions sit in the whole quiz: the progress bar's figures.

    Rendered by the step template as `data-questions-before` and `data-questions-total`, so the
    bar (and the one-question-per-screen script, which counts "Frage k von n" from them) always
    shows what the server knows the taker is asked, extra questions included once they are due.
    """

    before: int  # questions on the steps before this one
    total: int  # questions asked in all


def core_progress(content: Content, number: int, extra: int = 0) -> QuestionProgress:
    """The progress of question page `number` (or the lead step) of the core quiz, with
    `extra` questions due on the extra page (counted after the core, before the lead step)."""
    before = sum(len(page.questions) for page in content.pages[: number - 1])
    if number > len(content.pages):
        before += extra
    return QuestionProgress(before=before, total=len(content.questions) + extra)


def extra_due(content: Content, answers: Mapping[str, str]) -> tuple[str, ...]:
    """The extra page due for a draft's answers; empty while the core is not complete."""
    if any(question.id not in answers for question in content.questions):
        return ()
    return flow.extra_page(content, answers)


def shown_steps(content: Content, due: tuple[str, ...]) -> int:
    """How many steps the taker is told there are: the pages, the extra page if due, the lead."""
    return total_steps(content) + (1 if due else 0)


@dataclass(frozen=True)
class StepView:
    """What a page of questions shows besides its answers: where it stands and posts to."""

    page: Page
    number: int  # the step as the taker is told it
    total: int
    endpoint: str  # the view the page posts to, with `url_values`
    url_values: tuple[tuple[str, int], ...]
    numbers: Mapping[str, int]  # each question's number in the quiz
    progress: QuestionProgress

    @property
    def action(self) -> str:
        """The URL the page posts to (built when the page is rendered, not per cached view)."""
        values: dict[str, Any] = dict(self.url_values)
        return url_for(self.endpoint, **values)


def cached_step(content: Content, view: StepView, answers: Mapping[str, str]) -> str:
    """The page as GET shows it; its HTML depends only on the view and its own answers, so it
    is rendered once, then served from cache."""
    key = (
        view.endpoint,
        view.url_values,
        view.number,
        view.total,
        view.progress,
        *(q.id for q in view.page.questions),
        request.script_root,
        site_settings.current().version,
        *(answers.get(q.id) for q in view.page.questions),
    )
    return prerendered.step_page(
        key, lambda csrf_value: render_step(content, view, answers, {}, csrf_value)
    )


def invalid_step(content: Content, view: StepView, form: StepForm) -> tuple[str, int]:
    """The page again with what was answered and the first error of each question."""
    questions = {question.id for question in view.page.questions}
    errors = {
        field.name: field.errors[0] for field in form if field.errors and field.name in questions
    }
    return render_step(content, view, form.answers(), errors, generate_csrf()), 422


def render_step(
    content: Content,
    view: StepView,
    answers: Mapping[str, str | None],
    errors: Mapping[str, str],
    csrf_value: str,
) -> str:
    """A page of questions as its view places it, with its answers, errors and progress."""
    return render_template(
        "quiz/step.html",
        content=content,
        page=view.page,
        answers=answers,
        errors=errors,
        number=view.number,
        total=view.total,
        action=view.action,
        numbers=view.numbers,
        progress=view.progress,
        question_html=prerendered.question_html,
        csrf_value=csrf_value,
    )
