"""Static files under names that carry their content's hash, cached for a year, and compression.

`url_for('static', filename='css/site.css')` gives `/static/css/site.<hash>.css`: the names are
hashed once per worker at start-up (the files belong to the release, and every worker of a release
computes the same names), so a changed file is a new URL and browsers may keep each one for a year
(`immutable`). The plain name still works, revalidated on every use, for anything that kept it;
a name with an older hash is sent on to the current one.

Text responses (pages, CSS, JavaScript, JSON, XML) are compressed by Flask-Compress with zstd,
brotli or gzip, whichever the browser prefers, at levels a little below the library's defaults
(gzip 4, brotli 3: about a third of the CPU for 2-3 % more bytes). A compressed body is kept per
worker under the digest of the uncompressed one (Flask-Compress's cache, LRU), so a page served
again as it was (a result page, a quiz page of one taker, a stylesheet) is compressed once; a
changed page has another digest (computed only for a body that is compressed). Only a
compressed response with a validator (a static file's ETag) is checked as a conditional request
against its compressed ETag; Flask-Compress would check every one, which for a page only adds a
Date header that gunicorn replaces with its own (issue 22). Not the coach's pages: they echo
what is typed (a search) next to secrets (the form token), which compression would leak through
the response size to someone watching the traffic (BREACH); and their CSV download is a stream,
left alone.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cachetools import LRUCache
from flask import (
    Flask,
    Request,
    Response,
    abort,
    current_app,
    g,
    make_response,
    redirect,
    request,
    url_for,
)
from flask_compress import Compress
from werkzeug.wrappers import Response as BaseResponse

from quiz.web import spliced_gzip

YEAR = 365 * 24 * 3600
_HASH_LENGTH = 12
_HASHED = re.compile(r"^(?P<stem>.+)\.(?P<hash>[0-9a-f]{12})(?P<suffix>\.[A-Za-z0-9]+)$")
_KEY = "quiz.static_files"
_MIMETYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/vnd.microsoft.icon",
}
_COMPRESSING = "_quiz_compressing"  # in g: the response Flask-Compress may compress
# Compressed bodies kept per worker (a few kilobytes each).
COMPRESSED_KEPT = 512
compress = Compress()


class CompressedBodies:
    """Flask-Compress's cache backend: compressed bodies by (algorithm, digest of the body)."""

    def __init__(self) -> None:
        self._kept: LRUCache[str, bytes] = LRUCache(maxsize=COMPRESSED_KEPT)
        self._lock = threading.Lock()  # the development server serves in threads

    def get(self, key: str) -> bytes | None:
        """The compressed body, if this body was compressed this way before."""
        with self._lock:
            return self._kept.get(key)

    def set(self, key: str, value: bytes) -> None:
        """Keep a compressed body."""
        with self._lock:
            self._kept[key] = value


def _body_key(_request: Request) -> str:
    """The cache key Flask-Compress asks for when it compresses: the digest of the body of the
    response `compress_response` put on `g` (not computed for a response sent uncompressed)."""
    response: Response = g.get(_COMPRESSING)
    return hashlib.blake2b(response.get_data(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class StaticFiles:
    """Every static file of this release: its hashed name, and the file behind each hashed name."""

    hashed: dict[str, str]  # plain name -> hashed name
    files: dict[str, Path]  # hashed name -> file


def init_app(app: Flask) -> None:
    """Hash the static files, serve them under those names, compress text responses."""
    app.extensions[_KEY] = scan(Path(app.static_folder or "static"))
    app.url_defaults(_hashed_name)
    app.view_functions["static"] = serve
    app.config.setdefault("COMPRESS_REGISTER", False)  # our after_request decides (the coach)
    app.config.setdefault("COMPRESS_STREAMS", False)  # streams (the CSV export) stay as they are
    app.config.setdefault("COMPRESS_LEVEL", 4)
    app.config.setdefault("COMPRESS_BR_LEVEL", 3)
    app.config.setdefault("COMPRESS_CACHE_BACKEND", CompressedBodies)
    app.config.setdefault("COMPRESS_CACHE_KEY", _body_key)
    # Flask-Compress evaluates every compressed response as a conditional request; only one
    # with an ETag (a static file) can be answered 304, see `compress_response`.
    app.config.setdefault("COMPRESS_EVALUATE_CONDITIONAL_REQUEST", False)
    compress.init_app(app)
    app.after_request(compress_response)


def scan(folder: Path) -> StaticFiles:
    """Hash every file under the static folder."""
    hashed: dict[str, str] = {}
    files: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        name = path.relative_to(folder).as_posix()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:_HASH_LENGTH]
        stem, dot, suffix = name.rpartition(".")
        hashed_name = f"{stem}.{digest}.{suffix}" if dot and "/" not in suffix else name
        hashed[name] = hashed_name
        files[hashed_name] = path
    return StaticFiles(hashed=hashed, files=files)


def _static(app: Flask | None = None) -> StaticFiles:
    found: StaticFiles = (app or current_app).extensions[_KEY]
    return found


def _hashed_name(endpoint: str, values: dict[str, Any]) -> None:
    """`url_for('static', filename=...)` names the file by its hash (templates need no change)."""
    if endpoint != "static":
        return
    filename = values.get("filename")
    if isinstance(filename, str):
        values["filename"] = _static().hashed.get(filename, filename)


def serve(filename: str) -> BaseResponse:
    """A static file: for a year under its hashed name, revalidated under its plain one."""
    static = _static()
    path = static.files.get(filename)
    if path is not None:
        return _file(path, f"public, max-age={YEAR}, immutable")
    current = static.hashed.get(filename)
    if current is not None:
        return _file(static.files[current], "no-cache")
    match = _HASHED.match(filename)
    plain = f"{match['stem']}{match['suffix']}" if match else ""
    if plain in static.hashed:  # an older release's name for this file
        response = redirect(url_for("static", filename=plain), code=302)
        response.headers["Cache-Control"] = "no-cache"
        return response
    abort(404)


def _file(path: Path, cache_control: str) -> BaseResponse:
    """The whole file as bytes (a few kilobytes), so it can be compressed like any page."""
    response = make_response(path.read_bytes())
    response.headers["Content-Type"] = _MIMETYPES.get(path.suffix, "application/octet-stream")
    response.headers["Cache-Control"] = cache_control
    response.add_etag()
    return response.make_conditional(request)


def compress_response(response: Response) -> Response:
    """Compress what Flask-Compress takes, except the coach's pages (see the module's note)."""
    if request.path == "/coach" or request.path.startswith("/coach/"):
        return response
    if spliced_gzip.compress(response, compress):  # a quiz page: its token spliced in
        return response
    if not response.is_streamed and response.mimetype in compress.compress_mimetypes_set:
        # The key of the compressed-body cache: what is compressed, not where it came from.
        setattr(g, _COMPRESSING, response)
    encoded = "Content-Encoding" in response.headers
    compressed = compress.after_request(response)
    validated = "ETag" in compressed.headers or "Last-Modified" in compressed.headers
    if validated and not encoded and "Content-Encoding" in compressed.headers:
        # Compressed here, its ETag now names the encoding ("…:gzip"): the browser's
        # If-None-Match is checked against that one, as Flask-Compress would. A response
        # without a validator (every page) has nothing to check; of what Flask-Compress's
        # check would add to it, the Date header, gunicorn sends its own in any case.
        compressed.make_conditional(request)
    return compressed
