"""The background renderer (`flask --app quiz render-pdfs`): every finish's PDF, before anyone asks.

It claims queued PDFs (quiz.taker.pdf_store) as render slots come free, lays each out here
(quiz.taker.pdf_job) and renders it in a pool of niced processes (quiz.taker.pdf_render), up to
QUIZ_REPORT_RENDERERS at a time, and stores it, so the taker's first download is the stored
file. The CPU budget: the whole command runs at `nice` QUIZ_REPORT_NICE, so the quiz's requests
win the CPU whenever they want it, and the render slots are lock files in the instance folder,
shared with the web workers' on-demand renders, so the machine never runs more than
QUIZ_REPORT_RENDERERS renders at once (in production the systemd unit also gives the renderer a
low CPU weight: nice alone does not reach across services' cgroups). While a render runs its
lease is renewed, so a slow render on a busy machine is not taken over and done twice; a
renderer that dies leaves claims another takes over when the lease ends, and one that is
stopped gives its claims back at once.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask

from quiz.extensions import db
from quiz.models import utcnow
from quiz.taker import pdf_job, pdf_render, pdf_store, response_reads
from quiz.taker.pdf_store import Claim

log = logging.getLogger(__name__)


@dataclass
class Report:
    """What a run of the renderer did."""

    rendered: int = 0
    failed: int = 0
    # Rendered, but another render had stored this PDF first (kept, not replaced).
    already_stored: int = 0


@dataclass
class Renderer:
    """The renders in flight: their claims, and when their leases were renewed."""

    app: Flask
    slots: int
    in_flight: dict[Future[pdf_render.Rendered], Claim] = field(default_factory=dict)
    renewed: datetime = field(default_factory=utcnow)
    report: Report = field(default_factory=Report)

    @classmethod
    def start(cls, app: Flask) -> Renderer:
        """A renderer with QUIZ_REPORT_RENDERERS render slots."""
        return cls(app, max(1, int(app.config["QUIZ_REPORT_RENDERERS"])))

    def fill(self, now: datetime) -> int:
        """Claim as many due PDFs as slots are free and start their renders; how many."""
        free = self.slots - len(self.in_flight)
        if free <= 0:
            return 0
        claims = pdf_store.claim_due(free, now)
        for claim in claims:
            self._submit(claim)
        return len(claims)

    def _submit(self, claim: Claim) -> None:
        try:
            response = response_reads.find_finished(claim.response_id)
            if response is None:  # deleted since the claim: its row went with it
                return
            job = pdf_job.build(response, claim.branding)
            nice = int(self.app.config["QUIZ_REPORT_NICE"])
            self.in_flight[pdf_render.submit(job, nice, self.slots)] = claim
        except Exception:
            log.exception("the PDF of response %s could not be started", claim.response_id)
            self.report.failed += 1
            pdf_store.record_failure(claim)

    def collect(self, timeout: float) -> int:
        """Wait up to `timeout` seconds for renders to end, store what ended; how many ended."""
        if not self.in_flight:
            return 0
        done, _ = wait(list(self.in_flight), timeout=timeout, return_when=FIRST_COMPLETED)
        for future in done:
            claim = self.in_flight.pop(future)
            try:
                rendered = future.result()
            except Exception as error:  # a broken process pool is started afresh on next use
                log.error("rendering the PDF of response %s failed: %r", claim.response_id, error)
                self.report.failed += 1
                pdf_store.record_failure(claim)
                continue
            if pdf_store.store(claim, rendered.pdf, rendered.render_ms):
                self.report.rendered += 1
            else:
                self.report.already_stored += 1
        return len(done)

    def renew(self, now: datetime) -> None:
        """Renew the leases of renders still running, every third of the lease."""
        if self.in_flight and now - self.renewed >= pdf_store.CLAIM_LEASE / 3:
            pdf_store.renew(self.in_flight.values(), now)
            self.renewed = now

    def stop(self) -> None:
        """Give back the claims of unfinished renders, so another renderer takes them at once."""
        try:
            pdf_store.release(list(self.in_flight.values()))
        finally:
            self.in_flight.clear()


def render_due(app: Flask, *, now: datetime | None = None) -> Report:
    """Render every PDF that is due now, then return (`render-pdfs` without --watch, tests)."""
    with app.app_context():
        renderer = Renderer.start(app)
        try:
            while renderer.fill(now or utcnow()) or renderer.in_flight:
                renderer.collect(timeout=pdf_store.CLAIM_LEASE.total_seconds() / 3)
                renderer.renew(utcnow())
            return renderer.report
        finally:
            renderer.stop()
            db.session.remove()


def watch(app: Flask, interval: float, stop: threading.Event | None = None) -> None:
    """Keep rendering until `stop` is set: look at the queue every `interval` seconds, and at
    once whenever a render slot comes free."""
    stop = stop or threading.Event()
    os.nice(int(app.config["QUIZ_REPORT_NICE"]))  # laying out too, not only the render
    with app.app_context():
        renderer = Renderer.start(app)
        # The render processes load WeasyPrint and the fonts now, not behind the first PDFs.
        pdf_render.warm_up(int(app.config["QUIZ_REPORT_NICE"]), renderer.slots)
        try:
            while not stop.is_set():
                try:
                    renderer.fill(utcnow())
                    if renderer.in_flight:
                        renderer.collect(timeout=interval)
                        renderer.renew(utcnow())
                    else:
                        stop.wait(interval)
                except Exception:
                    # The database may be away for a moment; keep the renderer alive.
                    log.exception("render round failed")
                    db.session.rollback()
                    stop.wait(interval)
                finally:
                    db.session.remove()
        finally:
            try:
                renderer.stop()
            finally:
                pdf_render.shutdown()
