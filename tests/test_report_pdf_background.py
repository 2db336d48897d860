"""The PDF before anyone asks (issue 21, finding 10): queued by the finish, rendered in the
background, served as the stored file.

Real parts throughout: the finish through the writers, the queue on SQLite and PostgreSQL,
WeasyPrint in niced render processes, the `render-pdfs --watch` command as a process of its own.
A crashed renderer is what it leaves behind: a claim that is never stored; the clock is moved
past its lease by passing `now`, not by waiting.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from pypdf import PdfReader
from sqlalchemy import func, select

from quiz.extensions import db
from quiz.models import Response, ResultPdf, utcnow
from quiz.site import settings as site_settings
from quiz.site.schema import DEFAULT_BRAND, DEFAULT_COLOR
from quiz.taker import pdf, pdf_background, pdf_job, pdf_store, response_reads, rights
from tests.factories import finished_response

ROOT = Path(__file__).resolve().parent.parent
BRAND = "Praxis Sonnenschein"
COLOR = "#7a1f5c"


@pytest.fixture(autouse=True)
def _settings_imported(app: Flask) -> None:
    """The site's settings as after its first page (the first start imports them then)."""
    with app.app_context():
        site_settings.current()


def _row(app: Flask, response_id: int) -> ResultPdf | None:
    with app.app_context():
        row = db.session.get(ResultPdf, response_id)
        if row is not None:
            db.session.expunge(row)
        return row


def _stored_pdf(app: Flask, response_id: int) -> bytes | None:
    with app.app_context():
        return db.session.scalar(select(ResultPdf.pdf).where(ResultPdf.response_id == response_id))


def _text(data: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_the_finish_queues_the_pdf_in_its_own_transaction(app: Flask) -> None:
    finished = finished_response(app, first_name="Ada")
    row = _row(app, finished.id)
    assert row is not None
    with app.app_context():
        response = db.session.get(Response, finished.id)
        assert response is not None
        # Written with the result: the finish's own moment, the version it committed.
        assert row.queued_at == response.finished_at
        assert row.response_updated_at == response.updated_at
        assert row.content_version == response.content_version
    assert row.claimed_at is None and row.rendered_at is None and row.attempts == 0
    assert row.branding is not None and row.branding["values"]["brand.name"] == DEFAULT_BRAND


def test_the_renderer_renders_and_the_first_download_is_the_stored_file(
    app: Flask, client: FlaskClient
) -> None:
    finished = finished_response(app, first_name="Ada")
    report = pdf_background.render_due(app)
    assert (report.rendered, report.failed) == (1, 0)
    stored = _stored_pdf(app, finished.id)
    assert stored is not None and "für Ada" in _text(stored)
    row = _row(app, finished.id)
    assert row is not None and row.claimed_at is None and row.render_ms is not None
    # The taker's browser loads the result page and its chart, which stores the chart (so does
    # the summary email's sender): the response itself is unchanged, so the PDF stays its PDF.
    assert client.get(finished.path).status_code == 200
    assert client.get(f"{finished.path}/chart.png").status_code == 200
    first = client.get(f"{finished.path}/bericht.pdf")
    assert first.status_code == 200 and first.headers["Content-Type"] == "application/pdf"
    assert first.data == stored
    assert pdf.renders(app) == 0  # the web worker rendered nothing
    # A stored PDF is not rendered again.
    again = pdf_background.render_due(app)
    assert (again.rendered, again.already_stored) == (0, 0)
    assert _stored_pdf(app, finished.id) == stored


def test_a_download_while_the_renderer_holds_the_claim_waits_for_it(
    app: Flask, client: FlaskClient
) -> None:
    finished = finished_response(app)
    with app.app_context():
        assert len(pdf_store.claim_due(5, utcnow())) == 1
    waiting = client.get(f"{finished.path}/bericht.pdf")
    assert waiting.status_code == 202 and "Ihr Bericht wird erstellt" in waiting.text
    assert pdf.wait_for_renders(app, timeout=60)
    assert pdf.renders(app) == 0  # no second render beside the renderer's


def test_the_pdf_keeps_the_brand_of_its_moment(app: Flask, client: FlaskClient) -> None:
    before = finished_response(app, first_name="Ada")
    # The coach rebrands after the finish, before the renderer gets to it.
    with app.app_context():
        site_settings.update({"brand.name": BRAND, "brand.color": COLOR}, "test")
    after = finished_response(app, first_name="Grace", email="grace@example.com")
    assert pdf_background.render_due(app).rendered == 2
    old, new = _stored_pdf(app, before.id), _stored_pdf(app, after.id)
    assert old is not None and new is not None
    assert DEFAULT_BRAND in _text(old) and BRAND not in _text(old)
    assert BRAND in _text(new) and DEFAULT_BRAND not in _text(new)
    with app.app_context():
        for finished, colour, other in (
            (before, DEFAULT_COLOR, COLOR),
            (after, COLOR, DEFAULT_COLOR),
        ):
            response = response_reads.find_result(finished.token)
            row = db.session.get(ResultPdf, finished.id)
            assert response is not None and row is not None
            css = pdf_job.build(response, row.branding).css
            assert colour in css and other not in css
        # Changed again after the render: the stored file is served as it was made.
        site_settings.update({"brand.name": "Praxis am See"}, "test")
    assert client.get(f"{before.path}/bericht.pdf").data == old
    assert pdf.renders(app) == 0


def test_a_crashed_renderers_claim_is_taken_over_when_its_lease_ends(app: Flask) -> None:
    finished = finished_response(app)
    now = utcnow()
    with app.app_context():
        (crashed,) = pdf_store.claim_due(5, now)  # ... and the process dies before storing
    assert pdf_background.render_due(app, now=now + timedelta(seconds=30)).rendered == 0
    later = now + pdf_store.CLAIM_LEASE + timedelta(seconds=1)
    assert pdf_background.render_due(app, now=later).rendered == 1
    row = _row(app, finished.id)
    assert row is not None and row.attempts == 2 and row.rendered_at is not None
    stored = _stored_pdf(app, finished.id)
    with app.app_context():
        # Were the first holder only slow, what it records late changes nothing.
        pdf_store.record_failure(crashed)
        assert not pdf_store.store(crashed, b"%PDF-late", 1)
    row = _row(app, finished.id)
    assert row is not None and row.failed_at is None
    assert _stored_pdf(app, finished.id) == stored


def test_a_running_renderer_renews_its_lease(app: Flask) -> None:
    finished_response(app)
    now = utcnow()
    with app.app_context():
        claims = pdf_store.claim_due(5, now)
        pdf_store.renew(claims, now + timedelta(seconds=50))
        # Another renderer 70 s after the claim: the renewed lease still holds.
        assert pdf_store.claim_due(5, now + timedelta(seconds=70)) == []
        assert len(pdf_store.claim_due(5, now + timedelta(seconds=111))) == 1


def test_renderers_share_the_queue_without_taking_one_pdf_twice(app: Flask) -> None:
    ids = {finished_response(app, seed=seed).id for seed in (1, 2, 3)}
    now = utcnow()
    with app.app_context():
        first = pdf_store.claim_due(2, now)
        second = pdf_store.claim_due(2, now)
        assert pdf_store.claim_due(2, now) == []
        # A renderer that stops gives its claims back at once, uncounted.
        pdf_store.release(second)
        third = pdf_store.claim_due(2, now)
    assert len(first) == 2 and len(second) == 1
    assert {c.response_id for c in first} | {c.response_id for c in second} == ids
    assert [c.response_id for c in third] == [c.response_id for c in second]
    assert third[0].attempt == 1


def test_a_failed_render_is_tried_again_after_the_hold_then_given_up(app: Flask) -> None:
    finished = finished_response(app)
    now = utcnow()
    with app.app_context():
        for attempt in range(1, pdf_store.MAX_ATTEMPTS + 1):
            (claim,) = pdf_store.claim_due(5, now)
            assert claim.attempt == attempt
            pdf_store.record_failure(claim, now)
            assert pdf_store.claim_due(5, now) == []  # held
            now += pdf_store.FAILURE_HOLD + timedelta(seconds=1)
        assert pdf_store.claim_due(5, now) == []  # given up: a download still tries
    row = _row(app, finished.id)
    assert row is not None and row.failed_at is not None and row.rendered_at is None


def test_deleting_the_taker_deletes_the_queued_job_and_the_pdf(app: Flask) -> None:
    waiting = finished_response(app)
    rendering = finished_response(app, seed=2)
    rendered = finished_response(app, seed=3)
    assert pdf_background.render_due(app).rendered == 3
    # Queued again for the first two: a deletion before the render, and one during it.
    with app.app_context():
        db.session.execute(
            ResultPdf.__table__.update()
            .where(ResultPdf.response_id.in_([waiting.id, rendering.id]))
            .values(rendered_at=None, pdf=None)
        )
        db.session.commit()
        claims = {claim.response_id: claim for claim in pdf_store.claim_due(5, utcnow())}
        pdf_store.release([claims[waiting.id]])
        for finished in (waiting, rendering, rendered):
            assert rights.delete_data(finished.id)
        # The render in flight ends after the deletion: nothing comes back.
        assert not pdf_store.store(claims[rendering.id], b"%PDF-late", 1)
        assert db.session.scalar(select(func.count()).select_from(ResultPdf)) == 0
    assert pdf_background.render_due(app).rendered == 0


def test_render_pdfs_renders_what_is_due(app: Flask, runner: FlaskCliRunner) -> None:
    finished_response(app)
    result = runner.invoke(args=["render-pdfs"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "rendered: 1, failed: 0, already stored: 0"


def _warmed_render_processes(parent: int) -> list[int]:
    """The render processes (multiprocessing's spawned children) of `parent` that have loaded
    Pango, as a render does (Linux /proc)."""
    warmed = []
    for children in Path(f"/proc/{parent}/task").glob("*/children"):
        for child in children.read_text().split():
            with contextlib.suppress(OSError):
                command = Path(f"/proc/{child}/cmdline").read_bytes()
                if (
                    b"spawn_main" in command
                    and b"libpango" in Path(f"/proc/{child}/maps").read_bytes()
                ):
                    warmed.append(int(child))
    return warmed


@pytest.mark.dialect_independent
def test_render_pdfs_watch_renders_each_finish_and_stops_cleanly(
    app: Flask, tmp_path: Path
) -> None:
    """The command as `make run` and the systemd unit start it (the queue's SQL runs on both
    databases in the tests above). Niced a little only: at 19 on a busy machine it waits long."""
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "QUIZ_INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": app.config["SECRET_KEY"],
        "QUIZ_REPORT_RENDERERS": "1",
        "QUIZ_REPORT_NICE": "3",
    }
    command = [str(Path(sys.executable).parent / "flask"), "--app", "quiz", "render-pdfs"]
    watcher = subprocess.Popen(
        [*command, "--watch", "--interval", "0.2"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Before any PDF is queued, its render process has started and loaded Pango.
        deadline = time.monotonic() + 120
        while not _warmed_render_processes(watcher.pid):
            assert watcher.poll() is None, watcher.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the render process was not started at once"
            time.sleep(0.1)
        finished = finished_response(app)
        deadline = time.monotonic() + 300
        while not _stored_pdf(app, finished.id):
            assert watcher.poll() is None, watcher.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the renderer never stored the PDF"
            time.sleep(0.2)
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, watcher.pid) == min(19, ours + 3)
    finally:
        watcher.send_signal(signal.SIGTERM)
        out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, err[-3000:]
    assert "Rendering PDFs" in out
