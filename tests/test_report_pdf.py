"""The PDF report (issue 16): content, format, token and deletion, stored once for every worker.

Real parts throughout: the quiz taken through the web client, WeasyPrint in the niced render
process, the PDF read back with pypdf, SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import re
import time
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import select, update
from werkzeug.test import TestResponse

from quiz import create_app
from quiz.app_state import get_content
from quiz.domain.result_layout import build_layout
from quiz.extensions import db
from quiz.mail.compose import compose, new_message_id
from quiz.models import Response, ResultPdf, utcnow
from quiz.taker import pdf, pdf_job, response_reads, retention, rights
from tests.factories import finished_response
from tests.test_html_valid import vnu_errors

A4_POINTS = (595.28, 841.89)


def _finish(_client: FlaskClient, app: Flask, first_name: str | None = None) -> str:
    """A finished quiz (through the writers); the result token."""
    return finished_response(app, first_name=first_name).token


def _download(client: FlaskClient, app: Flask, token: str) -> TestResponse:
    """Ask for the PDF the way a browser does: follow the refreshing page until it is there."""
    deadline = time.monotonic() + 90
    while True:
        answer = client.get(f"/r/{token}/bericht.pdf")
        if answer.status_code != 202:
            return answer
        assert 'http-equiv="refresh"' in answer.text
        assert time.monotonic() < deadline, "the report never arrived"
        assert pdf.wait_for_renders(app, timeout=60)


def _pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    # Words wrapped at a line end, and runs of spaces, read as in the source text.
    return re.sub(r"\s+", " ", text.replace("-\n", ""))


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _stored_report(app: Flask, token: str) -> Any:
    with app.app_context():
        response = response_reads.find_result(token)
        assert response is not None
        return build_layout(
            get_content(app),
            response.analysis or [],
            response_reads.stored_answers(response.id),
            step_words=None,
        )


@pytest.mark.dialect_independent
def test_report_has_diagnosis_steps_dimensions_and_sources(app: Flask, client: FlaskClient) -> None:
    token = _finish(client, app, first_name="Ada")
    answer = _download(client, app, token)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/pdf"
    assert answer.headers["Content-Disposition"] == 'inline; filename="Engpass-Analyse.pdf"'
    text = _pdf_text(answer.data)
    stored = _stored_report(app, token)

    assert "Ihre Engpass-Analyse" in text
    assert "für Ada" in text
    assert app.config["QUIZ_COACH_NAME"] in text
    bottleneck = stored.bottleneck
    assert _normal(bottleneck["dimension_name"]) in text
    assert f"{bottleneck['score']} von 100" in text
    assert len(stored.steps) == 3
    for step in stored.steps:
        assert _normal(step.item["title"]) in text
        # The whole text of each step, not a teaser (the first and last sentence at least).
        body = _normal(step.item["text"])
        assert body[:60] in text and body[-60:] in text
    for section in stored.sections:
        assert _normal(section.name) in text
        for entry in (section.advice, *section.tips):
            if entry is not None:
                assert _normal(entry.item["title"]) in text
    assert stored.citations
    for citation in stored.citations:
        assert _normal(citation.text) in text
    assert ".txt" not in text  # sources are cited, file names never shown
    assert re.search(r"Seite 2 von \d+", text)


@pytest.mark.dialect_independent
def test_report_is_a4_tagged_with_fonts_embedded_and_vector_chart(
    app: Flask, client: FlaskClient
) -> None:
    token = _finish(client, app)
    reader = PdfReader(io.BytesIO(_download(client, app, token).data))
    assert len(reader.pages) >= 3
    for page in reader.pages:
        box = page.mediabox
        assert (round(float(box.width), 2), round(float(box.height), 2)) == A4_POINTS
    root = reader.trailer["/Root"]
    assert bool(root["/MarkInfo"]["/Marked"])
    assert "/StructTreeRoot" in root
    assert root["/Lang"] == "de"
    fonts = {}
    for page in reader.pages:
        for font in page["/Resources"].get("/Font", {}).values():
            font = font.get_object()
            fonts[font["/BaseFont"]] = font
    assert fonts
    for name, font in fonts.items():
        descendants = font.get("/DescendantFonts")
        described = descendants[0].get_object() if descendants else font
        descriptor = described["/FontDescriptor"].get_object()
        assert any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")), name
    # The chart is drawn, not pasted: no raster image anywhere (no logo is configured here).
    for page in reader.pages:
        for xobject in page["/Resources"].get("/XObject", {}).values():
            assert xobject.get_object().get("/Subtype") != "/Image"


@pytest.mark.dialect_independent
def test_wrong_token_is_404_without_a_render(app: Flask, client: FlaskClient) -> None:
    token = _finish(client, app)
    wrong = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.get(f"/r/{wrong}/bericht.pdf").status_code == 404
    assert client.get("/r/" + "x" * 65 + "/bericht.pdf").status_code == 404
    assert pdf.wait_for_renders(app, timeout=60)
    assert pdf.renders(app) == 0
    assert _download(client, app, token).status_code == 200


def test_second_download_comes_from_the_store_without_rendering_again(
    app: Flask, client: FlaskClient
) -> None:
    token = _finish(client, app)
    first = _download(client, app, token)
    assert first.status_code == 200
    assert pdf.renders(app) == 1
    again = client.get(f"/r/{token}/bericht.pdf")
    assert again.status_code == 200
    assert again.data == first.data
    # Another worker (a fresh app on the same database) serves the stored bytes too.
    second_worker = create_app(
        {key: app.config[key] for key in ("TESTING", "SECRET_KEY", "SQLALCHEMY_DATABASE_URI")}
        | {"SQLALCHEMY_ENGINE_OPTIONS": app.config["SQLALCHEMY_ENGINE_OPTIONS"]}
    )
    try:
        from_store = second_worker.test_client().get(f"/r/{token}/bericht.pdf")
    finally:
        with second_worker.app_context():
            db.engine.dispose()
    assert from_store.status_code == 200
    assert from_store.data == first.data
    assert pdf.renders(second_worker) == 0
    assert pdf.renders(app) == 1


def test_a_changed_response_renders_again(app: Flask, client: FlaskClient) -> None:
    token = _finish(client, app, first_name="Ada")
    first = _download(client, app, token)
    assert "für Ada" in _pdf_text(first.data)
    with app.app_context():
        db.session.execute(
            update(Response).where(Response.result_token == token).values(first_name="Grace")
        )
        db.session.commit()
    second = _download(client, app, token)
    assert second.status_code == 200
    assert pdf.renders(app) == 2
    text = _pdf_text(second.data)
    assert "für Grace" in text and "Ada" not in text


def test_deleted_data_is_404_at_once_and_the_pdf_is_gone(app: Flask, client: FlaskClient) -> None:
    token = _finish(client, app)
    assert _download(client, app, token).status_code == 200
    with app.app_context():
        response = response_reads.find_result(token)
        assert response is not None
        response_id = response.id
        assert db.session.scalar(select(ResultPdf.response_id)) == response_id
        assert rights.delete_data(response_id)
        # The database dropped the stored PDF with the response (ON DELETE CASCADE).
        assert db.session.scalar(select(ResultPdf.response_id)) is None
    # This worker had the PDF in memory: it still checks the result first.
    assert client.get(f"/r/{token}/bericht.pdf").status_code == 404


def test_first_download_answers_at_once_while_rendering(app: Flask, client: FlaskClient) -> None:
    token = _finish(client, app)
    started = time.perf_counter()
    first = client.get(f"/r/{token}/bericht.pdf")
    elapsed = time.perf_counter() - started
    assert first.status_code == 202
    assert "Ihr Bericht wird erstellt" in first.text
    assert first.headers["Cache-Control"] == "private, no-store"
    # A second request while it renders does not start another render.
    assert client.get(f"/r/{token}/bericht.pdf").status_code in (200, 202)
    assert pdf.wait_for_renders(app, timeout=60)
    assert pdf.renders(app) == 1
    assert elapsed < 1.0, f"the first download held the worker for {elapsed:.2f} s"


@pytest.mark.dialect_independent
@pytest.mark.app_config(QUIZ_COACH_LOGO="")
def test_logo_from_a_local_file_is_on_the_cover(
    app: Flask, client: FlaskClient, tmp_path: Any
) -> None:
    from quiz.share_image import share_image_png  # any PNG the project draws itself

    logo = tmp_path / "logo.png"
    logo.write_bytes(share_image_png("Logo", ["Logo"], "Logo"))
    app.config["QUIZ_COACH_LOGO"] = str(logo)
    token = _finish(client, app)
    reader = PdfReader(io.BytesIO(_download(client, app, token).data))
    images = [
        xobject.get_object()
        for xobject in reader.pages[0]["/Resources"].get("/XObject", {}).values()
        if xobject.get_object().get("/Subtype") == "/Image"
    ]
    assert len(images) == 1


@pytest.mark.dialect_independent
def test_result_page_and_email_link_to_the_pdf(app: Flask, client: FlaskClient) -> None:
    token = _finish(client, app)
    page = client.get(f"/r/{token}").text
    link = f'<a href="/r/{token}/bericht.pdf">Als PDF herunterladen</a>'
    assert link in page
    with app.app_context():
        response = response_reads.find_result(token)
        message = compose(
            app,
            kind="result",
            recipient="kundin@example.com",
            message_id=new_message_id(app.config),
            response=response,
            chart_png=client.get(f"/r/{token}/chart.png").data,
        )
    url = f"http://quiz.test/r/{token}/bericht.pdf"
    parts = {
        part.get_content_type(): part.get_content()
        for part in message.walk()
        if part.get_content_type() in ("text/plain", "text/html")
    }
    assert url in parts["text/plain"]
    assert f'href="{url}"' in parts["text/html"]
    # A link, not an attachment: the only parts are the two texts and the inline chart.
    assert not [part for part in message.walk() if part.get_content_type() == "application/pdf"]
    assert _download(client, app, token).status_code == 200


@pytest.mark.dialect_independent
def test_report_html_and_preparing_page_are_valid_html(
    app: Flask, client: FlaskClient, tmp_path: Any
) -> None:
    token = _finish(client, app, first_name="Ada")
    (tmp_path / "preparing.html").write_text(client.get(f"/r/{token}/bericht.pdf").text)
    assert pdf.wait_for_renders(app, timeout=60)
    with app.test_request_context(), app.app_context():
        response = response_reads.find_result(token)
        assert response is not None
        (tmp_path / "report.html").write_text(pdf_job.build(response, None).html)
    assert vnu_errors(tmp_path) == []


def test_anonymising_drops_the_stored_pdf(app: Flask, client: FlaskClient) -> None:
    token = _finish(client, app, first_name="Ada")
    assert "für Ada" in _pdf_text(_download(client, app, token).data)
    with app.app_context():
        retention.purge(optin_days=30, anonymise_days=1, now=utcnow() + timedelta(days=2))
        # The PDF with the name is gone from the database, not only outdated.
        assert db.session.scalar(select(ResultPdf.pdf)) is None
    again = _download(client, app, token)
    assert again.status_code == 200
    assert "Ada" not in _pdf_text(again.data)
