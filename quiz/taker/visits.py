"""Counting the landing page's visits: the writer of the visit counters (issue 25).

A visit is only ever a counter: the day, where it came from (utm_source, utm_medium,
utm_campaign, the referrer's host), the content version, and the variants it was shown. Nothing
else of it is kept, no cookie is set (quiz.domain.traffic says which views count).

Each worker adds its views to a small buffer and writes them in one transaction at most every
QUIZ_VISIT_FLUSH_SECONDS (2), and when the worker exits: a write per view would cost the
landing page most of its speed (SQLite serialises writers). The price is that the dashboard may
lag by those seconds, and a worker killed without notice (SIGKILL, power loss) loses at most
those seconds of visit counts. With 0 every view is written at once (the tests).
"""

from __future__ import annotations

import atexit
import functools
import logging
import threading
import time
import weakref
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date

from flask import Flask, current_app

from quiz import counters, database
from quiz.domain import traffic
from quiz.taker import responses

log = logging.getLogger(__name__)


def visit_source(tracking: Mapping[str, str], own: str) -> tuple[str, str, str, str]:
    """Where a view came from as the visit counters key it: utm_source, utm_medium and
    utm_campaign as a start would store them, and the referrer's host ("" for `own`).

    Cleaning the values and reading the referrer's host cost about a twentieth of the landing
    page, and a campaign's views bring the same values: those that name only a campaign and an
    origin are kept per worker for the last few hundred; others (a full referrer URL, free-text
    utm_term or utm_content) are read each time and never kept (traffic.is_campaign_only).
    """
    if traffic.is_campaign_only(tracking):
        return _campaign_source(tuple(tracking.items()), own)
    return _source(tracking, own)


@functools.lru_cache(maxsize=256)
def _campaign_source(tracking: tuple[tuple[str, str], ...], own: str) -> tuple[str, str, str, str]:
    return _source(dict(tracking), own)


def _source(tracking: Mapping[str, str], own: str) -> tuple[str, str, str, str]:
    stored = responses.tracking_as_stored(tracking)
    return (
        stored.get("utm_source") or "",
        stored.get("utm_medium") or "",
        stored.get("utm_campaign") or "",
        traffic.referrer_host(stored.get("referrer"), own),
    )


_KEY = "quiz.visits"
# (day, utm_source, utm_medium, utm_campaign, referrer host, content version)
VisitKey = tuple[date, str, str, str, str, str]


class VisitBuffer:
    """One worker's visits not yet written."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.visits: Counter[VisitKey] = Counter()
        self.shown: Counter[tuple[int, int]] = Counter()
        self.last_write = time.monotonic()

    def add(self, key: VisitKey, shown: Iterable[tuple[int, int]]) -> None:
        """Count one view."""
        with self._lock:
            self.visits[key] += 1
            for pair in shown:
                self.shown[pair] += 1

    def due(self, seconds: float) -> bool:
        """Whether the buffer should be written now."""
        return bool(self.visits) and time.monotonic() - self.last_write >= seconds

    def take(self) -> tuple[Counter[VisitKey], Counter[tuple[int, int]]]:
        """Everything pending, leaving the buffer empty."""
        with self._lock:
            taken = (self.visits, self.shown)
            self.visits, self.shown = Counter(), Counter()
            self.last_write = time.monotonic()
        return taken

    def give_back(self, visits: Counter[VisitKey], shown: Counter[tuple[int, int]]) -> None:
        """Put back what could not be written (the next write tries again)."""
        with self._lock:
            self.visits.update(visits)
            self.shown.update(shown)


# Every app of this process, weakly held, for the write at exit.
_APPS: weakref.WeakSet[Flask] = weakref.WeakSet()


def init_app(app: Flask) -> None:
    """Give the app its buffer, written when the process exits."""
    app.extensions[_KEY] = VisitBuffer()
    _APPS.add(app)


@atexit.register
def _write_at_exit() -> None:
    for app in list(_APPS):
        if app.extensions[_KEY].visits:
            with app.app_context():
                write_pending(app)


def record(key: VisitKey, shown: Iterable[tuple[int, int]]) -> None:
    """Count a view of the landing page (a visit by quiz.domain.traffic's rule)."""
    buffer: VisitBuffer = current_app.extensions[_KEY]
    buffer.add(key, shown)
    if buffer.due(float(current_app.config["QUIZ_VISIT_FLUSH_SECONDS"])):
        write_pending(current_app)


def write_pending(app: Flask) -> int:
    """Write this worker's pending visits in one transaction; how many views were written.

    A failed write (the database away) keeps them for the next one: the page itself never fails
    for a counter.
    """
    buffer: VisitBuffer = app.extensions[_KEY]
    visits, shown = buffer.take()
    if not visits:
        return 0
    try:
        with database.write():
            counters.on_visits(visits, shown)
    except Exception:
        log.warning("visit counters not written, kept for the next try", exc_info=True)
        database.discard_session()
        buffer.give_back(visits, shown)
        return 0
    return sum(visits.values())
