"""Pre-rendered HTML for the site's hot paths: the quiz pages and the result page.

Everything on a quiz page depends only on the (immutable) content, the app's configuration and
which options are chosen on that page, except the CSRF token. So each variant is rendered once per
app and worker, with a slot where the token goes, and every request only fills in its own token.
Single questions are cached the same way for the pages that show a validation error.

The caches themselves are the app's (quiz.caches): they refuse a page that shows any other
per-request value. The result view keeps its pages there too (`result_pages`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Hashable, Mapping

from flask import get_template_attribute
from markupsafe import Markup, escape

from quiz.caches import current as caches
from quiz.cookie_signing import generate_csrf
from quiz.domain.content import Content
from quiz.web import spliced_gzip

# Where a cached page gets the request's CSRF token; random, so no content can contain it.
CSRF_SLOT = f"csrf-slot-{secrets.token_hex(16)}"
# Where the cached landing page gets the request's hidden tracking fields.
TRACKING_SLOT = f"tracking-slot-{secrets.token_hex(16)}"


def question_html(
    content: Content,
    question_id: str,
    chosen: str | None,
    error: str | None = None,
    number: int | None = None,
    start: bool = False,
) -> Markup:
    """The fieldset of one question with its current answer checked (and its error, if any).

    `number`: its number as shown (default: its place in the content; the extra page numbers
    its questions on from the core's). `start`: the question the one-per-screen script opens
    the page with, the only one shown before the script has run (no layout shift).
    """
    if not isinstance(chosen, str):
        chosen = None
    question = content.question_by_id[question_id]
    if number is None:
        number = content.question_number[question_id]

    def render() -> Markup:
        macro = get_template_attribute("_macros.html", "answer_group")
        fieldset: Markup = macro(
            question,
            content.choices(question_id),
            number,
            chosen,
            error,
            start,
        )
        return fieldset

    if error:  # an error shows once; only the plain fieldsets are kept
        return render()
    return caches().questions.get_or_make(
        (content.sha256, question_id, chosen, number, start), render
    )


def step_page(key: Hashable, render: Callable[[str], str]) -> str:
    """A quiz page whose HTML depends only on `key`, with this request's CSRF token filled in.

    `render(csrf_value)` renders the page; it is called once per key with `CSRF_SLOT`.
    """
    html = caches().step_pages.get_or_make(key, lambda: render(CSRF_SLOT))
    token = generate_csrf()
    spliced_gzip.mark(html, CSRF_SLOT, token)  # compressed once, the token spliced in
    return html.replace(CSRF_SLOT, token)


def landing_page(
    key: Hashable, render: Callable[[str, str], str], tracking: Mapping[str, str]
) -> str:
    """The landing page for `key`, with this request's tracking fields and CSRF token.

    `render(csrf_value, tracking_slot)` renders it once per key; per request only the hidden
    fields of where the visitor came from are built (`tracking_fields`) and put in their slot.
    """
    html = caches().landing_pages.get_or_make(key, lambda: render(CSRF_SLOT, TRACKING_SLOT))
    return html.replace(TRACKING_SLOT, tracking_fields(tracking)).replace(
        CSRF_SLOT, generate_csrf()
    )


def tracking_fields(tracking: Mapping[str, str]) -> str:
    """The hidden fields that carry where the visitor came from to the start form, escaped as
    the templates escape: built here for each view (a template macro cost about a tenth of the
    view) and kept nowhere, since a referrer URL or utm_content may say more about a visitor
    than a campaign."""
    return "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in tracking.items()
    )
