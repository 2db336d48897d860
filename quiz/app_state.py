"""What an app loaded at start-up (content, consent texts), and the error that stops start-up.

Services and views read the content through these accessors instead of importing the factory, so
nothing below the factory depends on it.
"""

from __future__ import annotations

import click
from flask import Flask, current_app

from quiz.domain.consent_texts import ConsentTexts
from quiz.domain.content import Content

CONTENT_KEY = "quiz.content"
CONSENT_KEY = "quiz.consent_texts"
# Every content version this app can render, current and archived, by version.
VERSIONS_KEY = "quiz.content_versions"


class StartupError(click.ClickException):
    """Start-up stopped on a broken setting or content file; the message says where and why.

    A ClickException, so `flask run` and every CLI command print the message without a traceback.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)

    def format_message(self) -> str:
        """The message as is (click would prefix nothing else)."""
        return self.message


def get_content(app: Flask | None = None) -> Content:
    """The content this app loaded at start-up."""
    content: Content = (app or current_app).extensions[CONTENT_KEY]
    return content


def get_consent_texts(app: Flask | None = None) -> ConsentTexts:
    """The consent texts this app loaded at start-up."""
    texts: ConsentTexts = (app or current_app).extensions[CONSENT_KEY]
    return texts


def get_content_version(version: str | None, app: Flask | None = None) -> Content:
    """The content a response was scored with, so an old result shows its own texts.

    Falls back to the current content for a version this app does not know.
    """
    app = app or current_app
    versions: dict[str, Content] = app.extensions.get(VERSIONS_KEY, {})
    return versions.get(version or "") or get_content(app)


def extra_question_ids(app: Flask | None = None) -> frozenset[str]:
    """The extra questions (issue 23) of every content version this app knows.

    Only some takers answer them, so the item statistics keep them out of the sums every
    complete response adds to (quiz.counters.item_stats); an id stays an extra question in
    every version (`check-content` refuses a core question with an extra's id).
    """
    app = app or current_app
    versions: dict[str, Content] = app.extensions.get(VERSIONS_KEY, {})
    contents = [*versions.values(), get_content(app)]
    return frozenset(q.id for content in contents for q in content.extra_questions)
