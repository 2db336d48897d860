"""The pieces a shared link and a browser tab need: the preview image and the favicon.

The preview image (1200 × 630 px, for Open Graph and Twitter cards) is drawn once per app and
settings version and kept; its URL carries a hash of its inputs, so a new brand name gives a new
URL and caches stay right.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import (
    Blueprint,
    Flask,
    current_app,
    get_template_attribute,
    make_response,
    request,
    send_from_directory,
)
from werkzeug.wrappers import Response

from quiz import caches
from quiz.app_state import get_content
from quiz.share_image import share_image_png
from quiz.site import settings as site_settings

bp = Blueprint("share", __name__)

TEXTS = "quiz/_share.html"
# Long enough for crawlers and browsers to keep it; the versioned URL changes with the picture.
IMAGE_MAX_AGE = 7 * 24 * 3600
FAVICON_MAX_AGE = 24 * 3600


def _inputs(app: Flask) -> tuple[str, tuple[str, ...], str]:
    headline = get_template_attribute(TEXTS, "headline")
    subline = get_template_attribute(TEXTS, "subline")(len(get_content(app).questions))
    brand = site_settings.current(app).brand_name
    return brand, tuple(headline), str(subline).strip()


def share_image_version(app: Flask) -> str:
    """A hash of what the preview image shows, for its URL and ETag (the image is not drawn)."""
    return str(
        caches.of(app).share_image.get_or_make(
            ("version", site_settings.current(app).version),
            lambda: hashlib.sha256(repr(_inputs(app)).encode()).hexdigest()[:16],
        )
    )


def share_image(app: Flask) -> bytes:
    """The preview image, drawn on first use and kept for the life of the app."""
    return bytes(
        caches.of(app).share_image.get_or_make(
            ("png", share_image_version(app)), lambda: share_image_png(*_inputs(app))
        )
    )


@bp.app_context_processor
def share_context() -> dict[str, Any]:
    """`share_image_version()` for the landing page's og:image URL."""
    return {"share_image_version": lambda: share_image_version(_app())}


def _app() -> Flask:
    return current_app._get_current_object()  # type: ignore[attr-defined,no-any-return]  # Flask types the proxy as its object


@bp.get("/vorschau.png")
def image() -> Response:
    """The preview image; public and cacheable, revalidated by its ETag."""
    response = make_response(share_image(_app()))
    response.headers["Content-Type"] = "image/png"
    response.headers["Cache-Control"] = f"public, max-age={IMAGE_MAX_AGE}"
    response.set_etag(share_image_version(_app()))
    return response.make_conditional(request)


@bp.get("/favicon.ico")
def favicon() -> Response:
    """Browsers and feed readers ask for /favicon.ico whatever the page links."""
    return send_from_directory(
        current_app.static_folder or "static",
        "favicon.ico",
        mimetype="image/vnd.microsoft.icon",
        max_age=FAVICON_MAX_AGE,
    )
