"""The PDF of a finished response, as a download: stored, being rendered, or failed just now.

The PDF (the taker's "Bericht") is queued by the finish and rendered in the background by
`flask --app quiz render-pdfs` (quiz.taker.pdf_background), so the first download is normally the
stored file. This module serves it: once stored, every worker serves the same bytes (and keeps a
few in memory, checked against the response's version on every download). A download that comes
before the background renderer got to it (or after a change to the response, such as anonymising,
which drops the stored PDF) claims the render itself and hands it to this worker's niced render
process (quiz.taker.pdf_render); until the PDF is stored, every worker answers "being prepared".
The row goes with its response (ON DELETE CASCADE), so a deleted result is a 404 at once
everywhere. quiz.taker.pdf_store writes the table; quiz.taker.pdf_job lays the PDF out.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select

from quiz import caches
from quiz.extensions import db
from quiz.models import Response, ResultPdf, utcnow
from quiz.taker import pdf_job, pdf_render, pdf_store, response_reads

log = logging.getLogger(__name__)

EXTENSION_KEY = "quiz.pdfs"


@dataclass(frozen=True)
class Ready:
    """The stored PDF."""

    pdf: bytes


@dataclass(frozen=True)
class Pending:
    """A render is under way; ask again shortly."""


@dataclass(frozen=True)
class Failed:
    """The last render failed just now; the next attempt comes after FAILURE_HOLD."""


PdfState = Ready | Pending | Failed


@dataclass
class _AppState:
    """Per app and worker: renders finished, renders in flight (for tests, bench).

    Recent PDFs themselves are kept in the app's caches (quiz.caches, `report_pdfs`).
    """

    renders: int = 0
    in_flight: set[threading.Event] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _state(app: Flask | None = None) -> _AppState:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]  # Flask types the proxy as its object
    state: _AppState = app.extensions.setdefault(EXTENSION_KEY, _AppState())
    return state


def pdf_for(token: str) -> PdfState | None:
    """The PDF behind a result link: stored, being rendered, or None if there is no result.

    Called from a request: a download that finds it neither stored nor being rendered starts
    the render in the background.
    """
    if len(token) > 64:
        return None
    row = db.session.execute(
        select(
            Response.id,
            Response.updated_at,
            ResultPdf.response_updated_at,
            ResultPdf.claimed_at,
            ResultPdf.failed_at,
            ResultPdf.rendered_at,
        )
        .outerjoin(ResultPdf, ResultPdf.response_id == Response.id)
        .where(Response.result_token == token, Response.status == "finished")
    ).one_or_none()
    if row is None:
        return None
    pdfs = caches.current().report_pdfs
    cached = pdfs.get(token)
    if cached is not None and cached[0] == row.updated_at:
        return Ready(cached[1])
    current = row.response_updated_at == row.updated_at
    now = utcnow()
    if current and row.rendered_at is not None:
        pdf = db.session.scalar(
            select(ResultPdf.pdf).where(
                ResultPdf.response_id == row.id,
                ResultPdf.response_updated_at == row.updated_at,
            )
        )
        if pdf is not None:
            pdfs.put(token, (row.updated_at, pdf))
            return Ready(pdf)
    if current and row.claimed_at is not None and row.claimed_at > now - pdf_store.CLAIM_LEASE:
        return Pending()
    if current and row.failed_at is not None and row.failed_at > now - pdf_store.FAILURE_HOLD:
        return Failed()
    response = response_reads.find_result(token)
    if response is None or response.updated_at != row.updated_at:
        return Pending()  # changed in between: the next request sees the new version
    claim = pdf_store.claim_for_download(response, now)
    if claim is None:
        return Pending()
    try:
        response = response_reads.find_result(token)
        if response is None:
            return Pending()  # deleted in between: the next request is a 404
        job = pdf_job.build(response, claim.branding)
        future = pdf_render.submit(job, nice=current_app.config["QUIZ_REPORT_NICE"])
    except Exception:
        log.exception("the PDF could not be handed to the renderer")
        pdf_store.record_failure(claim)
        return Failed()
    done = threading.Event()
    state = _state()
    with state.lock:
        state.in_flight.add(done)
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # Flask types the proxy as its object
    future.add_done_callback(partial(_finished, app, claim, done))
    return Pending()


def _finished(
    app: Flask, claim: pdf_store.Claim, done: threading.Event, future: Future[Any]
) -> None:
    """Store a finished render (in the pool's callback thread), or record that it failed."""
    state = _state(app)
    try:
        with app.app_context():
            try:
                rendered = future.result()
            except Exception:
                log.exception("rendering a PDF failed")
                pdf_store.record_failure(claim)
                return
            pdf_store.store(claim, rendered.pdf, rendered.render_ms)
            with state.lock:
                state.renders += 1
    finally:
        with state.lock:
            state.in_flight.discard(done)
        done.set()


def renders(app: Flask) -> int:
    """How many reports this app (in this process) has rendered and stored."""
    return _state(app).renders


def wait_for_renders(app: Flask, timeout: float = 60.0) -> bool:
    """Wait until this process's renders are stored (tests and benchmarks); False on timeout."""
    state = _state(app)
    with state.lock:
        waiting = list(state.in_flight)
    return all(event.wait(timeout) for event in waiting)
