"""Sharing and the browser tab: description, canonical URL, Open Graph and Twitter cards with a
preview image drawn once per app, and the favicon (SVG, PNG, /favicon.ico)."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from quiz import share_image
from quiz.site import settings as site_settings
from quiz.site.schema import DEFAULT_BRAND
from quiz.web import share
from tests.quizflow import complete_quiz, start

pytestmark = pytest.mark.dialect_independent

PUBLIC_URL = "http://quiz.test"  # tests.conftest.base_config


class Head(HTMLParser):
    """The <meta> and <link> tags of a page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.meta: dict[str, str] = {}
        self.links: list[dict[str, str]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        if tag == "meta" and ("name" in values or "property" in values):
            self.meta[values.get("name") or values["property"]] = values.get("content", "")
        if tag == "link":
            self.links.append(values)

    def link(self, rel: str) -> list[dict[str, str]]:
        return [link for link in self.links if link.get("rel") == rel]


def test_landing_page_describes_itself_for_search_and_sharing(client: FlaskClient) -> None:
    head = Head(client.get("/?utm_source=newsletter").text)
    description = head.meta["description"]
    assert 50 <= len(description) <= 300 and "Engpass" in description
    assert [link["href"] for link in head.link("canonical")] == [f"{PUBLIC_URL}/"]
    assert head.meta["og:type"] == "website"
    assert head.meta["og:url"] == f"{PUBLIC_URL}/"
    assert head.meta["og:title"] and head.meta["og:description"] == description
    assert head.meta["og:site_name"] == DEFAULT_BRAND  # until the coach names the brand
    assert (head.meta["og:image:width"], head.meta["og:image:height"]) == ("1200", "630")
    assert head.meta["og:image"].startswith(f"{PUBLIC_URL}/vorschau.png?v=")
    assert head.meta["twitter:card"] == "summary_large_image"
    assert head.meta["twitter:image"] == head.meta["og:image"]
    assert head.meta["og:image:alt"] and head.meta["twitter:image:alt"]


def test_every_public_page_has_a_description_and_icons(client: FlaskClient, app: Flask) -> None:
    redirect = complete_quiz(client, app)
    pages = ["/", "/datenschutz", redirect.headers["Location"]]
    start(app.test_client())
    second = app.test_client()
    start(second)
    pages_html = [client.get(page).text for page in pages] + [second.get("/quiz/1").text]
    for html in pages_html:
        head = Head(html)
        assert len(head.meta["description"]) >= 50
        icons = {link.get("type"): link["href"] for link in head.link("icon")}
        assert set(icons) == {"image/svg+xml", "image/png"}
        for kind, href in icons.items():
            with client.get(href) as icon:
                assert icon.status_code == 200
                assert icon.mimetype == kind
        with client.get(head.link("apple-touch-icon")[0]["href"]) as touch:
            assert touch.status_code == 200


def _image_url(client: FlaskClient) -> str:
    return Head(client.get("/").text).meta["og:image"].removeprefix(PUBLIC_URL)


def test_share_image_is_a_cacheable_1200_by_630_png(client: FlaskClient) -> None:
    first = client.get(_image_url(client))
    assert first.status_code == 200 and first.mimetype == "image/png"
    assert Image.open(io.BytesIO(first.data)).size == (1200, 630)
    assert re.fullmatch(r"public, max-age=\d{5,}", first.headers["Cache-Control"])
    assert first.headers["X-Content-Type-Options"] == "nosniff"
    assert "img-src 'self'" in first.headers["Content-Security-Policy"]
    again = client.get(_image_url(client), headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_share_image_is_drawn_once_per_app(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    original = share.share_image_png

    def counting(brand: str, *args: object) -> bytes:
        calls.append(brand)
        return original(brand, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(share, "share_image_png", counting)
    url = _image_url(client)
    assert calls == []  # the landing page only needs the image's version
    bodies = {client.get(url).data for _ in range(3)}
    assert len(bodies) == 1 and calls == [DEFAULT_BRAND]


@pytest.mark.app_config(QUIZ_COACH_NAME="Dr. Maximiliane Mustermann-Schönfeld Beratung & Coaching")
def test_share_image_carries_the_coach_name_and_a_new_url_with_it(
    client: FlaskClient, app: Flask
) -> None:
    url = _image_url(client)
    with app.app_context():
        assert url.endswith("?v=" + share.share_image_version(app))
        inputs = share._inputs(app)
        site_settings.update({"brand.name": "Praxis Sonnenschein"}, "test")
        assert share.share_image_version(app) not in url  # another name, another URL
    assert _image_url(client) != url
    figure = share_image.share_image(*inputs)
    figure.draw_without_rendering()
    texts = [text for text in figure.texts if text.get_text()]
    assert texts[0].get_text() == "Dr. Maximiliane Mustermann-Schönfeld Beratung & Coaching"
    renderer = figure.canvas.get_renderer()
    for text in texts:
        box = text.get_window_extent(renderer)
        assert box.x0 > 0 and box.x1 < share_image.WIDTH_PX * 0.66, text.get_text()
        assert box.y0 > 0 and box.y1 < share_image.HEIGHT_PX, text.get_text()


def test_favicon_ico_is_served_and_cacheable(client: FlaskClient) -> None:
    with client.get("/favicon.ico") as icon:
        assert icon.status_code == 200
        assert "max-age=" in icon.headers["Cache-Control"]
        assert Image.open(io.BytesIO(icon.data)).format == "ICO"
