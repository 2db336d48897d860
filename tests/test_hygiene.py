"""The site's hygiene (issue 22, item 6): private pages stay out of search engines, the public ones
are listed for them, static files are cached for a year under hashed names, text is compressed."""

from __future__ import annotations

import gzip
import hashlib
import html
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

import brotli
import pytest
from backports import zstd
from flask import Flask
from flask.testing import FlaskClient

from quiz.links import DATA, OPTIN, UNSUBSCRIBE, external_url, make_token
from quiz.site import settings as site_settings
from quiz.taker import pdf
from quiz.web.static_files import CompressedBodies, compress
from tests.coach_factories import create_test_coach, login
from tests.factories import finished_response
from tests.quizflow import start

NOINDEX = '<meta name="robots" content="noindex, nofollow">'

pytestmark = pytest.mark.dialect_independent


def _path(url: str) -> str:
    return urlsplit(url).path


def test_private_pages_say_noindex_in_the_header_and_the_page(
    app: Flask, client: FlaskClient
) -> None:
    done = finished_response(app, consent_marketing=True)
    with app.app_context():
        links = [
            _path(
                external_url(
                    app, endpoint, token=make_token(app.config, purpose, done.id, done.token)
                )
            )
            for endpoint, purpose in (
                ("account.data", DATA),
                ("account.confirm", OPTIN),
                ("account.unsubscribe", UNSUBSCRIBE),
            )
        ]
    create_test_coach(app)
    pages = [done.path, *links, "/coach/login", "/r/no-such-token"]
    for url in pages:
        answer = client.get(url)
        assert answer.headers["X-Robots-Tag"] == "noindex, nofollow", url
        assert NOINDEX in answer.get_data(as_text=True), url
    login(client)
    dashboard = client.get("/coach/")
    assert dashboard.status_code == 200 and NOINDEX in dashboard.get_data(as_text=True)
    assert dashboard.headers["X-Robots-Tag"] == "noindex, nofollow"
    # What has no <meta> of its own: the chart and the PDF.
    assert client.get(f"{done.path}/chart.png").headers["X-Robots-Tag"] == "noindex, nofollow"
    report = client.get(f"{done.path}/bericht.pdf")
    assert report.headers["X-Robots-Tag"] == "noindex, nofollow"
    pdf.wait_for_renders(app, timeout=60)


def test_public_pages_may_be_indexed(client: FlaskClient) -> None:
    for url in ("/", "/impressum", "/datenschutz", "/robots.txt", "/sitemap.xml"):
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert "X-Robots-Tag" not in answer.headers, url
        assert "noindex" not in answer.get_data(as_text=True), url


def test_robots_txt_welcomes_crawlers_and_names_the_sitemap(client: FlaskClient) -> None:
    answer = client.get("/robots.txt")
    assert answer.mimetype == "text/plain"
    lines = answer.get_data(as_text=True).splitlines()
    assert lines[:2] == ["User-agent: *", "Allow: /"]
    # Private pages are not hidden here: a crawler must read their noindex to obey it.
    assert not [line for line in lines if line.startswith("Disallow")]
    assert "Sitemap: http://quiz.test/sitemap.xml" in lines


@pytest.mark.app_config(PUBLIC_URL="https://quiz.praxis-muster.de")
def test_the_sitemap_lists_the_public_pages_as_absolute_urls(client: FlaskClient) -> None:
    answer = client.get("/sitemap.xml")
    assert answer.mimetype == "application/xml"
    tree = ET.fromstring(answer.data)
    namespace = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
    assert tree.tag == f"{namespace}urlset"
    locations = [element.text for element in tree.iter(f"{namespace}loc")]
    assert locations == [
        "https://quiz.praxis-muster.de/",
        "https://quiz.praxis-muster.de/impressum",
        "https://quiz.praxis-muster.de/datenschutz",
    ]
    for location in locations:
        assert client.get(_path(location or "")).status_code == 200
    assert re.search(
        r"Sitemap: https://quiz\.praxis-muster\.de/sitemap\.xml",
        client.get("/robots.txt").get_data(as_text=True),
    )


# --- static files -------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
YEAR = "public, max-age=31536000, immutable"


def _hashed(page: str, plain: str) -> str:
    stem, suffix = plain.rsplit(".", 1)
    match = re.search(rf'"(/static/{re.escape(stem)}\.[0-9a-f]{{12}}\.{suffix})"', page)
    assert match, plain
    return match.group(1)


def test_pages_name_static_files_by_their_hash_and_those_are_cached_for_a_year(
    client: FlaskClient,
) -> None:
    page = client.get("/").get_data(as_text=True)
    assert "/static/css/site.css" not in page
    for plain in ("css/site.css", "img/favicon.svg", "img/favicon-32.png"):
        url = _hashed(page, plain)
        digest = url.rsplit(".", 2)[1]
        content = (ROOT / "static" / plain).read_bytes()
        assert hashlib.sha256(content).hexdigest().startswith(digest)
        answer = client.get(url)
        assert answer.status_code == 200 and answer.data == content, plain
        assert answer.headers["Cache-Control"] == YEAR
        # A browser that asks again gets "not modified".
        again = client.get(url, headers={"If-None-Match": answer.headers["ETag"]})
        assert again.status_code == 304
    assert client.get(_hashed(page, "css/site.css")).mimetype == "text/css"


def test_old_names_keep_working(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    current = _hashed(page, "css/site.css")
    plain = client.get("/static/css/site.css")
    assert plain.status_code == 200 and plain.headers["Cache-Control"] == "no-cache"
    assert plain.data == client.get(current).data
    stale = client.get("/static/css/site.0123456789ab.css")
    assert stale.status_code == 302 and stale.headers["Location"] == current
    assert client.get("/static/css/nothing.css").status_code == 404
    assert client.get("/static/../pyproject.toml").status_code == 404


def test_the_quiz_script_is_named_by_its_hash_on_a_quiz_page(
    app: Flask, client: FlaskClient
) -> None:
    start(client)
    page = client.get("/quiz/1").get_data(as_text=True)
    url = _hashed(page, "js/quiz-steps.js")
    assert client.get(url).headers["Cache-Control"] == YEAR


# --- compression --------------------------------------------------------------------------------


def _unpack(data: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(data)
    if encoding == "br":
        return bytes(brotli.decompress(data))
    return bytes(zstd.decompress(data))


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
def test_text_responses_are_compressed_as_the_browser_asks(
    client: FlaskClient, encoding: str
) -> None:
    page = client.get("/").get_data(as_text=True)
    plain = {
        "/": page,
        "/datenschutz": client.get("/datenschutz").get_data(as_text=True),
        _hashed(page, "css/site.css"): (ROOT / "static/css/site.css").read_text("utf-8"),
    }
    for url, body in plain.items():
        answer = client.get(url, headers={"Accept-Encoding": f"{encoding}, identity;q=0.5"})
        assert answer.headers["Content-Encoding"] == encoding, url
        assert "Accept-Encoding" in answer.headers["Vary"], url
        unpacked = _unpack(answer.data, encoding).decode("utf-8")
        assert len(answer.data) < len(unpacked.encode("utf-8")) / 2, url
        if url != "/":  # the landing page carries a fresh form token each time
            assert unpacked == body, url


def test_a_compressed_static_file_is_revalidated_by_its_compressed_etag(
    client: FlaskClient,
) -> None:
    page = client.get("/").get_data(as_text=True)
    gzip_ = {"Accept-Encoding": "gzip"}
    for url in (_hashed(page, "css/site.css"), "/static/css/site.css"):
        answer = client.get(url, headers=gzip_)
        assert answer.headers["Content-Encoding"] == "gzip"
        etag = answer.headers["ETag"]
        assert etag.endswith(':gzip"'), etag
        again = client.get(url, headers={**gzip_, "If-None-Match": etag})
        assert again.status_code == 304, url
        other = client.get(url, headers={**gzip_, "If-None-Match": '"something-else"'})
        assert other.status_code == 200 and other.data == answer.data, url


def test_nothing_is_compressed_unasked_nor_images_nor_the_coach_pages(
    app: Flask, client: FlaskClient
) -> None:
    assert "Content-Encoding" not in client.get("/").headers
    gzip = {"Accept-Encoding": "gzip"}
    page = client.get("/").get_data(as_text=True)
    assert (
        "Content-Encoding"
        not in client.get(_hashed(page, "img/favicon-32.png"), headers=gzip).headers
    )
    assert "Content-Encoding" not in client.get("/healthz", headers=gzip).headers  # tiny
    create_test_coach(app)
    login(client)
    for url in ("/coach/", "/coach/leads", "/coach/leads.csv"):
        answer = client.get(url, headers=gzip)
        assert answer.status_code == 200, url
        assert "Content-Encoding" not in answer.headers, url


# --- the embed snippet --------------------------------------------------------------------------


@pytest.mark.app_config(PUBLIC_URL="https://quiz.praxis-muster.de")
def test_the_settings_page_offers_the_snippet_and_the_frame_ancestors_it_needs(
    app: Flask, client: FlaskClient
) -> None:
    create_test_coach(app)
    login(client)
    with app.app_context():
        site_settings.update(
            {"cta.url": "https://www.praxis-muster.de/termin", "brand.name": 'A & "B"'}, "test"
        )
    page = client.get("/coach/einstellungen").get_data(as_text=True)
    snippet = re.search(r'<textarea id="embed-snippet"[^>]*>(.*?)</textarea>', page, re.S)
    assert snippet
    code = html.unescape(snippet.group(1))  # what the coach copies
    assert (
        '<iframe id="engpass-quiz" src="https://quiz.praxis-muster.de/?utm_source=website&amp;'
        'utm_medium=embed" title="Engpass-Quiz von A &amp; &#34;B&#34;"'
    ) in code
    assert 'event.origin !== "https://quiz.praxis-muster.de"' in code
    # The value to allow, guessed from the call to action's site until one is set.
    assert "<code>'self' https://www.praxis-muster.de</code>" in page
    assert "Zurzeit darf nur diese Website selbst das Quiz einbetten." in page
    assert "SameSite=Lax" in page and "<code>quiz.praxis-muster.de</code>" in page
    with app.app_context():
        site_settings.update(
            {"embed.frame_ancestors": "'self' https://www.example.org https://b.example"}, "test"
        )
    page = client.get("/coach/einstellungen").get_data(as_text=True)
    assert "Zurzeit erlaubt: <code>https://www.example.org https://b.example</code>" in page


def _kept_key(compressed: bytes) -> str:
    body = gzip.decompress(compressed)
    return "gzip;" + hashlib.blake2b(body, digest_size=16).hexdigest()


def test_a_page_served_again_as_it_was_is_compressed_once(app: Flask, client: FlaskClient) -> None:
    kept = compress.cache
    assert isinstance(kept, CompressedBodies)
    gzip_ = {"Accept-Encoding": "gzip"}
    first = client.get("/datenschutz", headers=gzip_)
    assert first.headers["Content-Encoding"] == "gzip"
    assert kept.get(_kept_key(first.data)) == first.data
    # Served again from what was kept: the very same bytes.
    kept.set(_kept_key(first.data), b"kept")
    try:
        assert client.get("/datenschutz", headers=gzip_).data == b"kept"
    finally:
        kept.set(_kept_key(first.data), first.data)  # the worker's cache outlives this test
    # A changed page is another body: compressed afresh, never the old bytes.
    with app.app_context():
        site_settings.update({"privacy.extra": "Neu hinzugefügt."}, "test")
    changed = client.get("/datenschutz", headers=gzip_)
    assert "Neu hinzugefügt." in gzip.decompress(changed.data).decode("utf-8")
