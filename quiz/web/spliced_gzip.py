"""Gzip for a cached page whose only per-request part is its CSRF token, compressed once.

A quiz page is served from a rendering kept per worker with a slot where each request's token
goes (quiz.web.prerendered). Compressed whole, such a page is a new body for every taker and
every second (the token is signed with the time), so Flask-Compress compressed nearly every
view afresh (about 50 us for a quiz page at level 4) and filled its cache of kept bodies with
pages nobody is shown again; even a kept body cost its digest and the library's header work.

Here the rendering is compressed once, as a raw deflate stream in pieces: the text before the
first slot, then a placeholder as long as the token, the text up to the next slot, and so on,
each piece ended by a sync flush (byte-aligned, the compressor's history kept). A request's
stream is those pieces with each placeholder's output replaced by a stored (uncompressed) block
holding the token, between gzip's header and its trailer (the body's CRC-32 and length). The
placeholder is NUL bytes, which the page does not contain, so no back-reference of the text
after it can point into it (a match copies bytes equal to the text it stands for): the
decompressor, whose history holds the token there instead, reads exactly the page with the
token in place. Every gzip reader inflates it (stored blocks and sync flushes are plain
deflate); it is a few bytes longer than the page compressed whole. Only for gzip: zstd and
brotli are left to Flask-Compress (their Python bindings cannot splice a stream).

A request's response goes this way only when its body is exactly the rendering with the token
in each slot (checked byte for byte), and Flask-Compress would have chosen gzip for it.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Hashable
from dataclasses import dataclass

from flask import Response, current_app, g, request
from flask_compress import Compress
from flask_compress.flask_compress import _choose_algorithm

from quiz.caches import current as caches

_MARK = "_quiz_spliced_page"  # in g: (rendering with slots, slot, value) of this response
# A gzip member header: magic, deflate, no flags, no time stamp, no extra flags, unknown OS.
_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_PLACEHOLDER = b"\x00"


@dataclass(frozen=True)
class SplicedPage:
    """A rendering's text around its slots and its deflate stream in the same pieces."""

    texts: tuple[bytes, ...]  # the page's bytes between the slots (one more than the slots)
    deflated: tuple[bytes, ...]  # each text's raw deflate output; the last one ends the stream
    value_length: int  # the length of the value the stream's placeholders stand for

    @classmethod
    def build(cls, rendering: str, slot: str, value_length: int, level: int) -> SplicedPage | None:
        """The rendering's pieces for a slot value of `value_length` bytes (None: a page that
        contains a NUL byte, or a value too long for one stored block)."""
        texts = tuple(part.encode("utf-8") for part in rendering.split(slot))
        if len(texts) < 2 or value_length > 0xFFFF or any(_PLACEHOLDER in t for t in texts):
            return None
        compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
        placeholder = _PLACEHOLDER * value_length
        deflated: list[bytes] = []
        for text in texts[:-1]:
            deflated.append(compressor.compress(text) + compressor.flush(zlib.Z_SYNC_FLUSH))
            # The placeholder's own output is never sent: a stored block of the value is.
            compressor.compress(placeholder)
            compressor.flush(zlib.Z_SYNC_FLUSH)
        deflated.append(compressor.compress(texts[-1]) + compressor.flush(zlib.Z_FINISH))
        return cls(texts=texts, deflated=tuple(deflated), value_length=value_length)

    def gzip(self, value: bytes, body: bytes) -> bytes | None:
        """The gzip stream of `body`, if it is this page with `value` in every slot."""
        if len(value) != self.value_length or body != value.join(self.texts):
            return None
        # A stored block (not the last): its 3 header bits pad to a zero byte, then LEN, NLEN.
        stored = b"\x00" + struct.pack("<HH", len(value), len(value) ^ 0xFFFF) + value
        trailer = struct.pack("<II", zlib.crc32(body), len(body) & 0xFFFFFFFF)
        return b"".join((_HEADER, stored.join(self.deflated), trailer))


def mark(rendering: str, slot: str, value: str) -> None:
    """Say that this request's page is `rendering` with `value` in each `slot`."""
    setattr(g, _MARK, (rendering, slot, value))


def compress(response: Response, compressor: Compress) -> bool:
    """Compress a marked page with gzip where `compressor` (Flask-Compress) would compress it
    with gzip, setting the headers it would set; False: left as it was."""
    marked: tuple[str, str, str] | None = g.pop(_MARK, None)
    if (
        marked is None
        or response.status_code != 200
        or response.is_streamed
        or "Content-Encoding" in response.headers
        or response.mimetype not in compressor.compress_mimetypes_set
    ):
        return False
    accepted = request.headers.get("Accept-Encoding", "")
    if _choose_algorithm(compressor.enabled_algorithms, accepted) != "gzip":
        return False
    rendering, slot, text = marked
    value = text.encode("utf-8")
    key: Hashable = (rendering, slot, len(value))
    store = caches().spliced_pages
    page = store.get(key)
    if page is None:
        level = int(current_app.config["COMPRESS_LEVEL"])
        page = SplicedPage.build(rendering, slot, len(value), level)
        if page is None:
            return False
        store.put(key, page)
    body = response.get_data()
    if len(body) < current_app.config["COMPRESS_MIN_SIZE"]:
        return False
    compressed = page.gzip(value, body)
    if compressed is None:
        return False
    vary = response.headers.get("Vary")
    if not vary:
        response.headers["Vary"] = "Accept-Encoding"
    elif "accept-encoding" not in vary.lower():
        response.headers["Vary"] = f"{vary}, Accept-Encoding"
    response.direct_passthrough = False
    response.headers["Content-Encoding"] = "gzip"
    response.set_data(compressed)  # and its Content-Length
    return True
