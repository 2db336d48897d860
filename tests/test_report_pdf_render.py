"""The render process keeps what does not change between PDFs (issue 21, item 10): WeasyPrint's
font configuration and the parsed stylesheet. What is kept must never carry one PDF's brand into
another: a stylesheet is kept per text, and the text carries the brand colour of its moment.

Rendered in this process (`render_pdf`, as the pool's process runs it), so the kept objects are
the test's own.
"""

from __future__ import annotations

import gc
import io
import logging
import re

import pytest
from flask import Flask
from pypdf import PdfReader

from quiz.extensions import db
from quiz.models import ResultPdf
from quiz.site import settings as site_settings
from quiz.site.schema import DEFAULT_BRAND, DEFAULT_COLOR
from quiz.taker import pdf_job, pdf_render, response_reads
from tests.factories import finished_response

BRAND = "Praxis Sonnenschein"
COLOR = "#7a1f5c"


def _text(data: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def _fill_colours(data: bytes) -> set[tuple[float, float, float]]:
    """Every RGB fill colour set in the PDF's page contents (`r g b rg`)."""
    colours = set()
    for page in PdfReader(io.BytesIO(data)).pages:
        stream = page.get_contents()
        assert stream is not None
        found = re.findall(rb"([\d.]+) ([\d.]+) ([\d.]+) rg", stream.get_data())
        colours.update((float(r), float(g), float(b)) for r, g, b in found)
    return colours


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    red, green, blue = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return red, green, blue


def _has_colour(data: bytes, hex_colour: str) -> bool:
    wanted = _rgb(hex_colour)
    return any(
        all(abs(a - b) < 0.002 for a, b in zip(colour, wanted, strict=True))
        for colour in _fill_colours(data)
    )


@pytest.mark.dialect_independent
def test_a_kept_stylesheet_never_carries_one_brand_into_another_pdf(app: Flask) -> None:
    with app.app_context():
        site_settings.current()  # imported, as after the site's first page
    before = finished_response(app, first_name="Ada")
    with app.app_context():
        site_settings.update({"brand.name": BRAND, "brand.color": COLOR}, "test")
    after = finished_response(app, first_name="Grace", email="grace@example.com")
    jobs = {}
    with app.test_request_context():
        for finished in (before, after):
            response = response_reads.find_result(finished.token)
            row = db.session.get(ResultPdf, finished.id)
            assert response is not None and row is not None
            jobs[finished.id] = pdf_job.build(response, row.branding)

    # Old brand, new brand, old brand again, one after another in the same process.
    first = pdf_render.render_pdf(jobs[before.id]).pdf
    kept = pdf_render._kept()
    rebranded = pdf_render.render_pdf(jobs[after.id]).pdf
    again = pdf_render.render_pdf(jobs[before.id]).pdf

    assert pdf_render._kept() is kept  # the same font configuration for every PDF
    assert again == first  # nothing of the rebranded PDF stayed behind
    assert DEFAULT_BRAND in _text(first) and BRAND not in _text(first)
    assert _has_colour(first, DEFAULT_COLOR) and not _has_colour(first, COLOR)
    assert BRAND in _text(rebranded) and DEFAULT_BRAND not in _text(rebranded)
    assert _has_colour(rebranded, COLOR) and not _has_colour(rebranded, DEFAULT_COLOR)


def test_kept_stylesheets_are_parsed_once_each_and_a_few_at_most() -> None:
    kept = pdf_render._Kept()
    red = kept.stylesheet("h1 { color: #b3261e }")
    assert kept.stylesheet("h1 { color: #b3261e }") is red
    for number in range(pdf_render.STYLESHEETS_KEPT):
        kept.stylesheet(f"h1 {{ color: #0000{number:02d} }}")
    # Red was used least recently, so it made room; the newest are still kept.
    assert kept.stylesheet("h1 { color: #b3261e }") is not red
    newest = f"h1 {{ color: #0000{pdf_render.STYLESHEETS_KEPT - 1:02d} }}"
    assert kept.stylesheet(newest) is kept.stylesheet(newest)


def test_a_kept_stylesheet_loads_nothing(caplog: pytest.LogCaptureFixture) -> None:
    css = '@import url("https://example.org/x.css"); h1 { color: #b3261e }'
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        pdf_render._Kept().stylesheet(css)
    assert "the PDF loads nothing from outside: https://example.org/x.css" in caplog.text


def test_a_render_process_freezes_what_it_keeps_after_its_first_pdf() -> None:
    job = pdf_render.RenderJob(html='<html lang="de"><h1>Bericht</h1></html>', css="", bars=())
    pool = pdf_render._Pool(1)
    try:
        assert pool.submit(job, nice=0).result(timeout=120).pdf[:4] == b"%PDF"
        executor = pool._get(0)
        assert executor.submit(gc.get_freeze_count).result(timeout=60) > 0
    finally:
        pool.shutdown()
    assert gc.get_freeze_count() == 0  # rendering here (not in a pool) freezes nothing here
