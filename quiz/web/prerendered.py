"""Pre-rendered HTML for the site's hot paths: the quiz pages and the result page.

Everything on a quiz page depends only on the (immutable) content, the app's configuration and
which options are chosen on that page, except the CSRF token. So each variant is rendered once per
app and worker, with a slot where the token goes, and every request only fills in its own token.
Single questions are cached the same way for the pages that show a validation error.

These are caches of output any worker can recompute; no worker needs another's. Each app keeps
its own (apps with different settings in one process never share pages).
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from flask import Flask, current_app, get_template_attribute
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from quiz.domain.content import Content

EXTENSION_KEY = "quiz_prerendered"
# Where a cached page gets the request's CSRF token; random, so no content can contain it.
CSRF_SLOT = f"csrf-slot-{secrets.token_hex(16)}"

Value = TypeVar("Value")


class LRUCache(Generic[Value]):
    """A small thread-safe least-recently-used cache (gunicorn threads may share a worker)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[Hashable, Value] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Hashable) -> Value | None:
        with self.lock:
            value = self.entries.get(key)
            if value is not None:
                self.entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Value) -> None:
        with self.lock:
            self.entries[key] = value
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)


class Caches:
    """One app's caches: question fieldsets, quiz pages, result pages.

    Off (size 0) while templates reload on change (`flask run --debug`), so an edited template
    shows at once.
    """

    def __init__(self, enabled: bool = True) -> None:
        scale = 1 if enabled else 0
        self.questions: LRUCache[Markup] = LRUCache(4096 * scale)
        self.step_pages: LRUCache[str] = LRUCache(1024 * scale)
        # Result pages map token -> (version, html); the caller checks the version on every use.
        self.result_pages: LRUCache[tuple[Hashable, str]] = LRUCache(512 * scale)


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION_KEY] = Caches(enabled=not app.jinja_env.auto_reload)


def caches() -> Caches:
    """The current app's caches."""
    return current_app.extensions[EXTENSION_KEY]  # type: ignore[no-any-return]


def question_html(
    content: Content, question_id: str, chosen: str | None, error: str | None = None
) -> Markup:
    """The fieldset of one question with its current answer checked (and its error, if any)."""
    if not isinstance(chosen, str):
        chosen = None
    key = (content.sha256, question_id, chosen)
    cache = caches().questions
    html = None if error else cache.get(key)
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
            cache.put(key, html)
    return html


def step_page(key: Hashable, render: Callable[[str], str]) -> str:
    """A quiz page whose HTML depends only on `key`, with this request's CSRF token filled in.

    `render(csrf_value)` renders the page; it is called once per key with `CSRF_SLOT`.
    """
    cache = caches().step_pages
    html = cache.get(key)
    if html is None:
        html = render(CSRF_SLOT)
        cache.put(key, html)
    return html.replace(CSRF_SLOT, generate_csrf())
