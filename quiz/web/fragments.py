"""Pre-rendered question fragments for the quiz pages, the site's hot path.

A question's HTML depends only on the (immutable) content and on which option is chosen, so
each variant is rendered once per process and reused. A question with a validation error is
rendered afresh, since its message is part of the markup.
"""

from __future__ import annotations

import threading

from flask import get_template_attribute
from markupsafe import Markup

from quiz.content import Content

_fragments: dict[tuple[str, str, str | None], Markup] = {}
_lock = threading.Lock()


def question_html(
    content: Content, question_id: str, chosen: str | None, error: str | None = None
) -> Markup:
    """The fieldset of one question with its current answer checked (and its error, if any)."""
    if not isinstance(chosen, str):
        chosen = None
    key = (content.sha256, question_id, chosen)
    html = None if error else _fragments.get(key)
    if html is None:
        render = get_template_attribute("_macros.html", "answer_group")
        html = render(
            content.question_by_id[question_id],
            content.choices(question_id),
            content.question_number[question_id],
            chosen,
            error,
        )
        if not error:
            with _lock:
                _fragments[key] = html
    return html  # type: ignore[no-any-return]
