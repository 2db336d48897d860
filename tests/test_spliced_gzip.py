"""A quiz page's gzip stream is compressed once and the request's token spliced in (issue 22):
what a browser inflates is exactly the page, and nothing per taker fills the kept bodies."""

from __future__ import annotations

import gzip
import zlib

import brotli
import pytest
from flask import Flask
from flask.testing import FlaskClient

from quiz import caches
from quiz.taker import responses
from quiz.web import prerendered, spliced_gzip
from quiz.web.spliced_gzip import SplicedPage
from quiz.web.static_files import compress
from tests.quizflow import CSRF_PATTERN, start

pytestmark = pytest.mark.dialect_independent

SLOT = "csrf-slot-0123"
# Text that repeats on both sides of the slots, so the compressor refers back across them.
RENDERING = (
    "<form><p>Wie sehr trifft das zu? " * 40
    + f'<input name="csrf_token" value="{SLOT}"><p>Wie sehr trifft das zu? '
    + "Ihre Antwort bleibt gespeichert. " * 60
    + f'<button value="{SLOT}">Weiter</button></form>'
)


def _inflate_in_pieces(data: bytes) -> bytes:
    """Inflate as a browser does, a few bytes at a time, with zlib's own gzip reader."""
    reader = zlib.decompressobj(wbits=31)
    out = b"".join(reader.decompress(data[i : i + 7]) for i in range(0, len(data), 7))
    assert reader.eof and not reader.unused_data
    return out + reader.flush()


@pytest.mark.parametrize("level", [1, 4, 9])
def test_the_spliced_stream_inflates_to_the_page_with_the_value_in_every_slot(level: int) -> None:
    value = b"IjBhYjEyMzQ1Njc4OWFiY2RlZiI.aRsQ2w.Wie-sehr-trifft-das-zu-0000000"
    page = SplicedPage.build(RENDERING, SLOT, len(value), level)
    assert page is not None
    body = RENDERING.replace(SLOT, value.decode()).encode()
    stream = page.gzip(value, body)
    assert stream is not None
    assert gzip.decompress(stream) == body
    assert _inflate_in_pieces(stream) == body
    # About as small as the whole page at once, but for the values, which go in uncompressed.
    assert len(stream) < len(gzip.compress(body, level)) + 2 * len(value) + 32
    # Another value of the same length: the same pieces serve it.
    other = value.replace(b"0", b"7")
    assert gzip.decompress(page.gzip(other, body.replace(value, other)) or b"") == body.replace(
        value, other
    )


def test_a_body_that_is_not_the_page_with_the_value_is_not_spliced() -> None:
    value = b"token-token"
    page = SplicedPage.build(RENDERING, SLOT, len(value), 4)
    assert page is not None
    body = RENDERING.replace(SLOT, value.decode()).encode()
    assert page.gzip(value, body + b" ") is None
    assert page.gzip(b"token-tokeX", body) is None
    assert page.gzip(b"longer-token", body.replace(value, b"longer-token")) is None


def test_a_page_with_a_nul_byte_or_without_a_slot_is_left_to_flask_compress() -> None:
    assert SplicedPage.build(RENDERING + "\x00", SLOT, 8, 4) is None
    assert SplicedPage.build("<p>kein Formular</p>", SLOT, 8, 4) is None


def _quiz_page(client: FlaskClient, encoding: str | None) -> tuple[bytes, str | None]:
    headers = {"Accept-Encoding": encoding} if encoding else {}
    answer = client.get("/quiz/1", headers=headers)
    assert answer.status_code == 200
    assert "Accept-Encoding" in answer.headers["Vary"]
    assert answer.headers.get("Content-Length") == str(len(answer.data))
    return answer.data, answer.headers.get("Content-Encoding")


def test_a_quiz_page_sent_with_gzip_is_the_page_and_keeps_no_body_per_taker(
    app: Flask, client: FlaskClient
) -> None:
    start(client)
    kept = compress.cache
    before = len(getattr(kept, "_kept", ()))
    plain, encoding = _quiz_page(client, None)
    assert encoding is None
    packed, encoding = _quiz_page(client, "gzip, identity;q=0.5")
    assert encoding == "gzip"
    unpacked = _inflate_in_pieces(packed)
    assert CSRF_PATTERN.sub("", unpacked.decode()) == CSRF_PATTERN.sub("", plain.decode())
    # The token is the session's own, as on the plain page.
    assert CSRF_PATTERN.search(unpacked.decode()) is not None
    # Within a few per cent of the page compressed whole at the same level.
    assert len(packed) < len(gzip.compress(unpacked, app.config["COMPRESS_LEVEL"])) * 1.05
    assert len(getattr(kept, "_kept", ())) == before  # nothing kept per taker and second
    assert len(caches.of(app).spliced_pages) == 1
    # A second taker's page comes from the same pieces, with their own token in it.
    other = app.test_client()
    start(other)
    again, _ = _quiz_page(other, "gzip")
    assert len(caches.of(app).spliced_pages) == 1
    theirs = gzip.decompress(again).decode()
    assert CSRF_PATTERN.sub("", theirs) == CSRF_PATTERN.sub("", plain.decode())
    assert CSRF_PATTERN.findall(theirs) != CSRF_PATTERN.findall(unpacked.decode())


def test_a_browser_that_prefers_brotli_still_gets_brotli_on_a_quiz_page(
    client: FlaskClient,
) -> None:
    start(client)
    plain, _ = _quiz_page(client, None)
    packed, encoding = _quiz_page(client, "gzip, br")  # Flask-Compress prefers br here
    assert encoding == "br"
    unpacked = bytes(brotli.decompress(packed)).decode()
    assert CSRF_PATTERN.sub("", unpacked) == CSRF_PATTERN.sub("", plain.decode())


def test_a_head_of_a_quiz_page_is_answered_as_its_get_and_stores_nothing(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HEAD (which Flask adds to every GET route) is the GET without its body: the same status
    and headers, gzip included, and neither a save nor the write lock it would take."""
    start(client)
    saves: list[object] = []
    monkeypatch.setattr(responses, "save_step", lambda *args, **kwargs: saves.append(args))
    get = client.get("/quiz/1", headers={"Accept-Encoding": "gzip"})
    head = client.head("/quiz/1", headers={"Accept-Encoding": "gzip"})
    assert (head.status_code, get.status_code) == (200, 200)
    assert head.data == b""
    for name in ("Content-Type", "Content-Encoding", "Content-Length", "Vary"):
        assert head.headers.get(name) == get.headers.get(name), name
    assert saves == []


def test_a_rendering_that_showed_per_request_values_is_not_kept(app: Flask) -> None:
    """The page caches refuse a rendering that showed a per-request value (a flash message, the
    session); its gzip pieces, which hold the whole rendering, are not kept either."""

    def render(csrf_value: str) -> str:
        shown = caches.private(lambda: "kunde@example.org")()  # as a template's `session` would
        return f"<p>{'Wie sehr trifft das zu? ' * 40}{shown}</p><input value='{csrf_value}'>"

    with app.test_request_context("/quiz/1", headers={"Accept-Encoding": "gzip"}):
        html = prerendered.step_page(("private",), render)
        response = app.response_class(html, mimetype="text/html")
        assert spliced_gzip.compress(response, compress)  # still sent with gzip
        assert gzip.decompress(response.get_data()) == html.encode()
        kept = caches.of(app)
        assert len(kept.step_pages) == 0
        assert len(kept.spliced_pages) == 0
