"""Which answer a follow-up email builds on, as a pure function of the content and the answers.

Email n of the series quotes the taker's n-th weakest answer in their bottleneck dimension (the
fewest points first, then the order the quiz asked them), so the first email takes up the habit
that pulled the dimension down most and no two emails quote the same answer while there are
others. Not-applicable answers are never quoted; with none left, the email quotes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from quiz.domain.content_model import Choice, Content, Followup


@dataclass(frozen=True)
class Quote:
    """The question and the answer a follow-up email builds on."""

    question_id: str
    question: str
    answer: str


def quoted_answer(
    content: Content, answers: Mapping[str, str], dimension_id: str, number: int
) -> Quote | None:
    """The answer email `number` (1-based) of the series quotes, or None."""
    ranked = sorted(
        (
            (choice.points, content.question_number[question.id], question.id, choice.label)
            for question in content.questions_of(dimension_id)
            + content.extra_questions_of(dimension_id)
            if question.id in answers
            and (choice := _choice(content, question.id, answers[question.id])) is not None
            and choice.applicable
        ),
    )
    if not ranked:
        return None
    _points, _number, question_id, label = ranked[(number - 1) % len(ranked)]
    return Quote(question_id, content.question_by_id[question_id].text, label)


def email_of(content: Content, dimension_id: str, number: int) -> Followup | None:
    """Email `number` (1-based) of a dimension's series, or None when there is none."""
    series = content.followups.get(dimension_id, ())
    return series[number - 1] if 1 <= number <= len(series) else None


def _choice(content: Content, question_id: str, answer_id: str) -> Choice | None:
    try:
        return content.choice(question_id, answer_id)
    except KeyError:
        return None
