"""The PDF of a finished response: rendered once, kept for every worker, gone with the data.

The PDF (the taker's "Bericht") is laid out from what was stored with the response (its analysis, scores, answers and
content version), never from a request. The first download claims the render in
`result_reports` (one row per response, keyed by the response's `updated_at`, so any change to
the response, such as anonymising it, makes the next download render afresh) and hands it to a
niced render process (quiz.taker.pdf_render); until the PDF is stored, every worker answers
"being prepared". Once stored, every worker serves the same bytes (and keeps a few in memory,
checked against the response's version on every download). The row goes with its response
(ON DELETE CASCADE), so a deleted result is a 404 at once everywhere.

This module is the only writer of `result_reports` (the table of the stored PDFs, quiz.models.ResultPdf).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app, render_template
from sqlalchemy import Select, and_, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError

from quiz import caches, database
from quiz.app_state import get_content_version
from quiz.charts import result_bars
from quiz.counters.norms_read import result_norms
from quiz.domain.result_layout import build_layout
from quiz.extensions import db
from quiz.links import external_url, make_cta_token
from quiz.models import Response, ResultPdf, utcnow
from quiz.site import settings as site_settings
from quiz.site.settings import SiteSettings
from quiz.taker import pdf_render, response_reads

log = logging.getLogger(__name__)

EXTENSION_KEY = "quiz.pdfs"
# A render that has not finished after this long is taken to be lost (its worker restarted).
CLAIM_LEASE = timedelta(seconds=60)
# After a failed render, downloads say so for this long before the next attempt.
FAILURE_HOLD = timedelta(seconds=60)
LOCAL_TIME = ZoneInfo("Europe/Berlin")


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

    Called from a request: a first download starts the render in the background.
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
    if current and row.claimed_at is not None and row.claimed_at > now - CLAIM_LEASE:
        return Pending()
    if current and row.failed_at is not None and row.failed_at > now - FAILURE_HOLD:
        return Failed()
    response = response_reads.find_result(token)
    if response is None or response.updated_at != row.updated_at:
        return Pending()  # changed in between: the next request sees the new version
    if not _claim(response.id, row.updated_at, now):
        return Pending()
    try:
        job = _job(response)
        future = pdf_render.submit(job, nice=current_app.config["QUIZ_REPORT_NICE"])
    except Exception:
        log.exception("the PDF could not be handed to the renderer")
        _record_failure(response.id, row.updated_at)
        return Failed()
    done = threading.Event()
    state = _state()
    with state.lock:
        state.in_flight.add(done)
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # Flask types the proxy as its object
    future.add_done_callback(partial(_finished, app, response.id, row.updated_at, done))
    return Pending()


def _claim(response_id: int, version: datetime, now: datetime) -> bool:
    """Take the render of this version, unless another worker holds a live claim on it."""
    db.session.rollback()
    table = ResultPdf.__table__
    dialect = db.session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    values = {
        "response_id": response_id,
        "response_updated_at": version,
        "claimed_at": now,
        "failed_at": None,
        "rendered_at": None,
        "render_ms": None,
        "pdf": None,  # a stale PDF (say, with the name anonymising removed) goes at once
    }
    new_row = insert(table).values(values)
    statement = new_row.on_conflict_do_update(
        index_elements=[table.c.response_id],
        set_={key: new_row.excluded[key] for key in values if key != "response_id"},
        where=or_(
            table.c.response_updated_at != version,
            and_(
                table.c.rendered_at.is_(None),
                or_(table.c.claimed_at.is_(None), table.c.claimed_at < now - CLAIM_LEASE),
            ),
        ),
    ).returning(table.c.response_id)
    try:
        with database.write():
            return db.session.execute(statement).first() is not None
    except IntegrityError:  # the response was deleted in between
        return False


def _job(response: Response) -> pdf_render.RenderJob:
    """The PDF's HTML and the chart's bars, from what was stored with the response."""
    app = current_app
    content = get_content_version(response.content_version)
    analysis = response.analysis or []
    report = build_layout(
        content, analysis, response_reads.stored_answers(response.id), step_words=None
    )
    scores = response.scores()
    bands = response.bands or {}
    # The norms as they stand at the render: the PDF is kept, so its note says so.
    norms = result_norms(app.config, response.content_version, scores)
    rows = []
    for dimension in content.dimensions:
        if dimension.id in scores:
            band_ids = {band.id: band for band in dimension.bands}
            band = band_ids.get(bands.get(dimension.id, ""))
            rows.append(
                {
                    "name": dimension.name,
                    "score": scores[dimension.id],
                    "band_label": band.label if band else "",
                    "is_bottleneck": dimension.id == response.bottleneck,
                    "norm": norms.get(dimension.id),
                }
            )
    site = site_settings.current()
    logo, logo_type = _logo(site)
    finished = (response.finished_at or response.updated_at).astimezone(LOCAL_TIME)
    html = render_template(
        "pdf/pdf.html",
        report=report,
        first_name=response.first_name,
        finished=finished,
        rows=rows,
        has_norms=bool(norms),
        has_logo=logo is not None,
        chart_url=pdf_render.CHART_URL,
        logo_url=pdf_render.LOGO_URL,
        cta_url=_cta_url(app, response, site),
        cta_text=site.cta_text(response.bottleneck),
    )
    bars = result_bars(content.dimensions, scores, bands, response.bottleneck)
    return pdf_render.RenderJob(
        html=html,
        css=render_template("pdf/pdf.css"),
        bars=tuple(bars),
        logo=logo,
        logo_type=logo_type,
        lock_dir=app.instance_path,
        slots=app.config["QUIZ_REPORT_RENDERERS"],
    )


def _cta_url(app: Flask, response: Response, site: SiteSettings) -> str | None:
    """The call to action's link under PUBLIC_URL (through /weiter/, counted as `pdf`)."""
    if not site.cta_href:
        return None
    token = make_cta_token(app.config, response.id, response.result_token or "", "pdf")
    return external_url(app, "cta.follow", token=token)


def _logo(site: SiteSettings) -> tuple[bytes | None, str | None]:
    """The coach's logo from the site settings (stored re-encoded as PNG or JPEG), if any."""
    if site.logo is None:
        return None, None
    found = site_settings.logo_bytes(site.logo.sha256)
    return found if found is not None else (None, None)


def _finished(
    app: Flask, response_id: int, version: datetime, done: threading.Event, future: Future[Any]
) -> None:
    """Store a finished render (in the pool's callback thread), or record that it failed."""
    state = _state(app)
    try:
        with app.app_context():
            try:
                rendered = future.result()
            except Exception:
                log.exception("rendering a PDF failed")
                _record_failure(response_id, version)
                return
            _store(response_id, version, rendered)
            with state.lock:
                state.renders += 1
    finally:
        with state.lock:
            state.in_flight.discard(done)
        done.set()


def _store(response_id: int, version: datetime, rendered: pdf_render.Rendered) -> None:
    """Keep the PDF for every worker, if the response still has the version it was made for."""
    _update_claim(
        response_id,
        version,
        pdf=rendered.pdf,
        claimed_at=None,
        failed_at=None,
        rendered_at=utcnow(),
        render_ms=rendered.render_ms,
    )


def _record_failure(response_id: int, version: datetime) -> None:
    db.session.rollback()  # whatever failed may have left the session's transaction broken
    _update_claim(response_id, version, claimed_at=None, failed_at=utcnow())


def _update_claim(response_id: int, version: datetime, **values: Any) -> None:
    """Set these values on the render's row (its own write), if it is still for `version`."""
    with database.write():
        db.session.execute(
            update(ResultPdf)
            .where(
                ResultPdf.response_id == response_id,
                ResultPdf.response_updated_at == version,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def forget(response_ids: Select[Any]) -> int:
    """Delete the stored reports of these responses, in the caller's write transaction.

    For anonymising: a stored PDF carries the first name, and waiting for the next download to
    replace it would keep the name for as long as nobody asks.
    """
    deleted = db.session.execute(
        delete(ResultPdf)
        .where(ResultPdf.response_id.in_(response_ids))
        .execution_options(synchronize_session=False)
    )
    assert isinstance(deleted, CursorResult)  # a DELETE's result
    return int(deleted.rowcount or 0)


def renders(app: Flask) -> int:
    """How many reports this app (in this process) has rendered and stored."""
    return _state(app).renders


def wait_for_renders(app: Flask, timeout: float = 60.0) -> bool:
    """Wait until this process's renders are stored (tests and benchmarks); False on timeout."""
    state = _state(app)
    with state.lock:
        waiting = list(state.in_flight)
    return all(event.wait(timeout) for event in waiting)
