"""The site's hygiene (issue 22, item 6): private pages stay out of search engines, the public ones
are listed for them, static files are cached for a year under hashed names, text is compressed."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from quiz.links import DATA, OPTIN, UNSUBSCRIBE, external_url, make_token
from quiz.taker import pdf
from tests.coach_factories import create_test_coach, login
from tests.factories import finished_response

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
