"""Every cache of the web app, in one object per app (cachetools underneath).

The caches hold output any worker can recompute from the (immutable) content, the app's settings,
the database and the cache key: quiz pages and question fieldsets, result pages (checked against
their version and their norms on every use), the quiz's form classes, the coach's dashboard
figures and charts (a minute old at most), the score histograms of the result page's norms (two
seconds old at most), the site settings by their version (checked on every request), the preview
image and stored PDF reports (checked against the response's `updated_at` on every use). Each app has its own object (apps with different settings in one process
never share anything), each worker its own copy: no worker needs another's.

Nothing per request may reach a page cache: a page whose rendering read the session, the request,
the logged-in coach, a flash message, a CSRF token or `g` (a nonce, say) is served but not stored
(see `_guard_per_request_values`); nor is one that holds this request's CSRF token however it
got there. tests/test_caches.py proves it with a layout that shows each of them.
All caches are off while templates reload on change (`flask run --debug`), so an edited template
shows at once.

The compiled-statement cache of the dashboard counters lives with them (quiz.counters.rollups).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from cachetools import Cache, LRUCache, TTLCache
from flask import (
    Flask,
    before_render_template,
    current_app,
    g,
    get_flashed_messages,
    has_app_context,
)
from flask import request as flask_request
from flask import session as flask_session
from flask_login import current_user
from markupsafe import Markup
from werkzeug.local import LocalProxy

from quiz.cookie_signing import generate_csrf

log = logging.getLogger(__name__)

EXTENSION_KEY = "quiz.caches"
CHART_SECONDS = 60  # how old a coach figure or chart may be
NORMS_SECONDS = 2  # how old the norms on a result page may be
_PRIVATE_FLAG = "_quiz_private_render"

Value = TypeVar("Value")


class Store(Generic[Value]):
    """One cachetools cache behind a lock (gunicorn threads may share a worker's caches)."""

    def __init__(self, cache: Cache[Hashable, Value], enabled: bool, pages: bool = False) -> None:
        self._cache = cache
        self._lock = threading.Lock()
        self.enabled = enabled
        # A page cache refuses what was rendered from per-request values.
        self.pages = pages
        self._warned = False

    def get(self, key: Hashable) -> Value | None:
        """The cached value, or None."""
        with self._lock:
            return self._cache.get(key)

    def put(self, key: Hashable, value: Value) -> None:
        """Keep `value`, unless caching is off or this request rendered per-request values."""
        self._keep(key, value, self.pages and rendered_private())

    def get_or_make(self, key: Hashable, make: Callable[[], Value]) -> Value:
        """The cached value, or `make()`'s, kept for next time (two threads may both make it).

        For a page cache, only what `make()` itself rendered counts: a fieldset made while the
        rest of the page shows per-request values is still kept.
        """
        value = self.get(key)
        if value is None:
            before = g.pop(_PRIVATE_FLAG, False) if self.pages else False
            value = make()
            private = rendered_private() if self.pages else False
            if before:
                setattr(g, _PRIVATE_FLAG, True)
            self._keep(key, value, private)
        return value

    def _keep(self, key: Hashable, value: Value, private: bool) -> None:
        if not self.enabled:
            return
        if self.pages and (private or _shows_csrf_token(value)):
            if not self._warned:
                log.warning("not cached: a page shows per-request values (%r)", key)
                self._warned = True
            return
        with self._lock:
            self._cache[key] = value

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._cache.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._cache)


class Caches:
    """One app's caches.

    `clock` (seconds, monotonic) times every TTL; a test replaces it to let time pass without
    sleeping: `caches.of(app).clock = fake_clock`.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.clock: Callable[[], float] = time.monotonic
        # Fieldsets of single questions (for the pages that show a validation error), quiz pages
        # with a slot for the CSRF token, and result pages as token -> (version, html).
        self.questions: Store[Markup] = Store(LRUCache(4096), enabled, pages=True)
        self.step_pages: Store[str] = Store(LRUCache(1024), enabled, pages=True)
        # The landing page per settings, content, resume step and A/B variants shown, with
        # slots for the token and the visitor's tracking fields (quiz.web.prerendered).
        self.landing_pages: Store[str] = Store(LRUCache(64), enabled, pages=True)
        self.result_pages: Store[tuple[Hashable, str]] = Store(LRUCache(512), enabled, pages=True)
        # Quiz pages' gzip streams around the token's slots, by the page with its slots
        # (quiz.web.spliced_gzip): compressed once, not for every taker and second. A page
        # cache: the pieces hold the whole rendering, kept only where `step_pages` keeps it.
        self.spliced_pages: Store[Any] = Store(LRUCache(256), enabled, pages=True)
        # The form class of each quiz page (it depends on the content only).
        self.step_forms: Store[type[Any]] = Store(LRUCache(256), enabled)
        # The coach's dashboard figures and chart PNGs per filter: a miss costs one query or
        # render, and a stale entry is at most CHART_SECONDS old.
        self.coach_charts: Store[Any] = Store(
            TTLCache(128, CHART_SECONDS, timer=self._now), enabled
        )
        # The landing page's preview image and the hash of what it shows (its URL version).
        self.share_image: Store[Any] = Store(LRUCache(4), enabled)
        # Stored PDF reports per result token as (response updated_at, pdf): a download after
        # the first skips the database's large column (checked against updated_at every time).
        self.report_pdfs: Store[tuple[Any, bytes]] = Store(LRUCache(32), enabled)
        # The score histograms the result page's norms come from, per content version and demo
        # setting: summing them costs more than the rest of a cached result view, so a page
        # shows them at most NORMS_SECONDS old (the page itself is kept with its figures).
        self.norms: Store[Any] = Store(TTLCache(16, NORMS_SECONDS, timer=self._now), enabled)
        # The site settings by their version (quiz.site.settings): every request reads the
        # version, and reloads only when it moved. Always on: they are data, not templates.
        self.site_settings: Store[Any] = Store(LRUCache(4), True)
        # The running and paused A/B tests with their texts, by the settings' version, which
        # every change of an experiment raises (quiz.experiments.assign). Always on, like them.
        self.experiments: Store[Any] = Store(LRUCache(4), True)
        # Clients over the limit of secret-link misses, until when (quiz.web.limits): this
        # worker's copy of the shared count's verdict. Always on: it is a limit, not a page.
        self.token_blocks: Store[float] = Store(TTLCache(65536, 24 * 3600), True)

    def _now(self) -> float:
        # Looked up on every call, so a clock set after construction times the TTL caches too.
        return self.clock()

    def clear(self) -> None:
        """Forget every cached value of this app."""
        for store in (
            self.questions,
            self.step_pages,
            self.landing_pages,
            self.result_pages,
            self.spliced_pages,
            self.step_forms,
            self.coach_charts,
            self.share_image,
            self.report_pdfs,
            self.norms,
            self.site_settings,
            self.experiments,
            self.token_blocks,
        ):
            store.clear()


# Every app's caches, weakly held, for `clear_all` (tests and benchmarks hold no app context).
_ALL: weakref.WeakSet[Caches] = weakref.WeakSet()


def init_app(app: Flask) -> Caches:
    """Give the app its caches (off while templates reload) and the per-request guard."""
    caches = Caches(enabled=not app.jinja_env.auto_reload)
    app.extensions[EXTENSION_KEY] = caches
    _ALL.add(caches)
    _guard_per_request_values(app)
    return caches


def of(app: Flask) -> Caches:
    """The caches of `app`."""
    caches: Caches = app.extensions[EXTENSION_KEY]
    return caches


def current() -> Caches:
    """The current app's caches."""
    return of(current_app)


def clear_all() -> None:
    """Forget the cached values of the current app, or of every app outside an app context."""
    if has_app_context():
        current().clear()
        return
    for caches in list(_ALL):
        caches.clear()


# --- the per-request guard -----------------------------------------------------------------------


def rendered_private() -> bool:
    """Whether this request has rendered a per-request value (then no page of it is cached)."""
    return has_app_context() and bool(g.get(_PRIVATE_FLAG))


def _shows_csrf_token(value: object) -> bool:
    """Whether the value holds this request's CSRF token (a form field renders it unmarked)."""
    token = g.get(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))
    if not isinstance(token, str) or not token:
        return False
    parts = value if isinstance(value, tuple) else (value,)
    return any(isinstance(part, str) and token in part for part in parts)


def private(read: Callable[[], Value]) -> Callable[[], Value]:
    """`read`, marking the request as one whose pages show per-request values."""

    def marked() -> Value:
        setattr(g, _PRIVATE_FLAG, True)
        return read()

    marked.__name__ = getattr(read, "__name__", "private")
    return marked


def _guard_per_request_values(app: Flask) -> None:
    """Let templates reach per-request values only through accessors that mark the request.

    Templates see the session, `g`, the request, the logged-in coach, flash messages and the
    CSRF token through these wrappers; rendering any of them marks the request, and the page
    caches then refuse its pages (`Store`). So a template that one day shows a flash message or
    the coach's address cannot leak it to the next visitor from a cached page. The wrappers
    replace Flask's names in the environment (for macros) and, just before each rendering, in
    the context, where every blueprint's default context processor would put Flask's back.
    """
    app.jinja_env.globals.update(_MARKED)
    before_render_template.connect(_mark_context, app)


_MARKED: dict[str, Any] = {
    "csrf_token": private(generate_csrf),
    "get_flashed_messages": private(get_flashed_messages),
    "current_user": LocalProxy(private(lambda: current_user._get_current_object())),
    "session": LocalProxy(private(lambda: flask_session._get_current_object())),  # type: ignore[attr-defined]  # Flask types the proxy as its object
    "request": LocalProxy(private(lambda: flask_request._get_current_object())),  # type: ignore[attr-defined]  # Flask types the proxy as its object
    "g": LocalProxy(private(lambda: g._get_current_object())),
}


def _mark_context(_app: Flask, template: object, context: dict[str, Any], **_extra: Any) -> None:
    context.update(_MARKED)
