"""A finished response made through the real writer, for tests that need one but do not test the
quiz flow itself (tests/quizflow.py walks the web pages for those).

`finished_response` calls the same writer functions the quiz views call (start the draft, save every
page, finish with the lead), so the stored result, consents, queued emails, counters and webhook
events are exactly what a taker in a browser produces, at the cost of one transaction per page
instead of sixteen HTTP requests with their page renders.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from email_validator import validate_email
from flask import Flask

from quiz.app_state import get_consent_texts, get_content
from quiz.domain import flow
from quiz.domain.content import Content
from quiz.domain.scoring import sample_answers
from quiz.extensions import db
from quiz.models import Response
from quiz.taker import responses


@dataclass(frozen=True)
class Finished:
    """What a test needs of a finished response."""

    id: int
    token: str
    draft_token: str

    @property
    def path(self) -> str:
        """The result page's path."""
        return f"/r/{self.token}"


def with_extra(content: Content, answers: Mapping[str, str], seed: int = 11) -> dict[str, str]:
    """The answers with the extra page due for their core answered, where they leave it open:
    what a taker who gets the extra page gives (random applicable answers of `seed`)."""
    rng = random.Random(seed)
    completed = dict(answers)
    if all(question.id in completed for question in content.questions):
        for question_id in flow.extra_page(content, completed):
            if question_id not in completed:
                choices = [c for c in content.choices(question_id) if c.applicable]
                completed[question_id] = rng.choice(choices).id
    return completed


def finished_response(
    app: Flask,
    answers: Mapping[str, str] | None = None,
    *,
    email: str | None = "kundin@example.com",
    first_name: str | None = None,
    consent_data: bool | None = None,
    consent_marketing: bool = False,
    tracking: Mapping[str, str | None] | None = None,
    seed: int = 11,
) -> Finished:
    """Start, answer and finish one response through the writers; by default the random answers
    of `seed` (those `complete_quiz` gives), an email address and the data consent.

    The lead is taken as the lead form would pass it on (the address normalised); tests of what
    the form accepts or refuses walk the web pages instead (tests/quizflow.py).
    """
    with app.app_context():
        content = get_content()
        answers = with_extra(content, answers or sample_answers(content, "random", seed=seed), seed)
        draft = responses.start_draft(content, tracking or {})
        draft_id, draft_token = draft.id, draft.draft_token
        _answer_every_page(content, draft_id, answers)
        lead = responses.Lead(
            first_name=first_name,
            # Normalised as the lead form does (quiz.web.forms.valid_email).
            email=validate_email(email, check_deliverability=False).normalized if email else None,
            consent_data=bool(email) if consent_data is None else consent_data,
            consent_marketing=consent_marketing,
        )
        token = responses.finish(content, draft_id, lead, get_consent_texts())
    return Finished(id=draft_id, token=token, draft_token=draft_token)


def reassessment(app: Flask, earlier: Finished, *, seed: int = 5) -> Finished:
    """A re-assessment of `earlier`, as its invitation's link starts it (address and consents
    carried over), made through the writers like `finished_response`."""
    with app.app_context():
        content = get_content()
        answers = with_extra(content, sample_answers(content, "random", seed=seed), seed)
        previous = db.session.get(Response, earlier.id)
        assert previous is not None
        draft = responses.start_draft(content, {}, previous=previous)
        draft_id, draft_token = draft.id, draft.draft_token
        _answer_every_page(content, draft_id, answers)
        lead = responses.Lead(
            first_name=None, email=None, consent_data=True, consent_marketing=False
        )
        token = responses.finish(content, draft_id, lead, get_consent_texts())
    return Finished(id=draft_id, token=token, draft_token=draft_token)


def _answer_every_page(content: Content, draft_id: int, answers: Mapping[str, str]) -> None:
    """Save every page of the draft, the extra page too when one is due (in an app context)."""
    due: tuple[str, ...] = ()
    for step, page in enumerate(content.pages, start=1):
        due = responses.save_step(content, draft_id, page, step, answers, completed=True)
    if due:
        extra = responses.extra_page_of(content, due)
        responses.save_step(content, draft_id, extra, None, answers, completed=True)
