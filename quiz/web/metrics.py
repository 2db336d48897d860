"""`/metrics` in Prometheus' text format, behind a bearer token; every request counted and timed.

Requests are counted by endpoint (the view's name, never the raw path, so a scan of random URLs
adds no series), method and status, and timed per endpoint (to the first byte of a streamed
response). Under gunicorn the workers share these through prometheus_client's multiprocess mode:
`quiz.gunicorn_conf` points `PROMETHEUS_MULTIPROC_DIR` at a folder before any worker starts,
empties it at start and tidies a dead worker's files, and a scrape, whichever worker answers it,
adds up every worker's files. Without that variable (`flask run`, the tests) the counts are the
process's own. The database's figures (quiz.ops.gauges) are read at each scrape.

Without `QUIZ_METRICS_TOKEN`, or without the right `Authorization: Bearer …`, the page does not
exist (404), so it gives nothing away about the site.
"""

from __future__ import annotations

import hmac
import os
import time

from flask import Blueprint, Flask, abort, current_app, g, request
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from werkzeug.wrappers import Response as BaseResponse

from quiz.ops.gauges import DatabaseCollector

bp = Blueprint("metrics", __name__)
# The `_created` series, which the multiprocess mode never has: the same series either way.
disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated upstream

# The process's own metrics; under gunicorn each worker writes them to its files in
# PROMETHEUS_MULTIPROC_DIR, and a scrape reads the files instead.
REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "quiz_http_requests",
    "HTTP requests by endpoint (the view's name), method and status",
    ["endpoint", "method", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "quiz_http_request_duration_seconds",
    "Time to answer a request (to the first byte of a streamed response), by endpoint",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
# A method label from a fixed set: anything else a client sends counts as "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# A request that matched no route (404, 405 before routing) has no endpoint.
NO_ENDPOINT = "unmatched"


def init_app(app: Flask) -> None:
    """Register `/metrics` and time every request (the timer starts before any other hook)."""
    app.register_blueprint(bp)
    app.before_request_funcs.setdefault(None, []).insert(0, _start_timer)
    app.after_request(_count)


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _count(response: BaseResponse) -> BaseResponse:
    """Count and time the request; the labels come from fixed sets (endpoint names, methods)."""
    endpoint = request.url_rule.endpoint if request.url_rule is not None else NO_ENDPOINT
    method = request.method if request.method in METHODS else "other"
    REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
    started = g.get("metrics_started")
    if started is not None:
        LATENCY.labels(endpoint).observe(time.perf_counter() - started)
    return response


def _authorized() -> bool:
    """Whether the request carries the configured token (compared in constant time)."""
    expected = current_app.config.get("QUIZ_METRICS_TOKEN") or ""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def exposition() -> bytes:
    """Every metric in the text format: the workers' (added up) or this process's, and the DB's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        workers = CollectorRegistry()
        MultiProcessCollector(workers)  # type: ignore[no-untyped-call]  # unannotated upstream
        own = generate_latest(workers)
    else:
        own = generate_latest(REGISTRY)
    database = CollectorRegistry(auto_describe=False)
    database.register(DatabaseCollector())
    return own + generate_latest(database)


@bp.get("/metrics")
def metrics() -> BaseResponse:
    """The metrics for Prometheus; 404 without the token."""
    if not _authorized():
        abort(404)
    response = current_app.response_class(exposition(), content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response
