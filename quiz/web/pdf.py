"""The PDF behind a result link: `/r/<token>/bericht.pdf` (the URL keeps its German name).

Thin: quiz.taker.pdf decides whether the stored PDF is there, being rendered or failed. The
first download answers at once with a short page that reloads itself (no JavaScript) while a
niced process renders, so a sync worker is never tied up for the render.
"""

from __future__ import annotations

from flask import Blueprint, abort, make_response, render_template
from werkzeug.wrappers import Response as BaseResponse

from quiz.taker import pdf
from quiz.web import limits

bp = Blueprint("pdf", __name__)

FILENAME = "Engpass-Analyse.pdf"
# Seconds until the "being prepared" page asks again (a render takes about one).
REFRESH_SECONDS = 2


@bp.get("/r/<token>/bericht.pdf")
@limits.token_misses
def download(token: str) -> BaseResponse:
    """The stored PDF as a download, or the page saying it is being prepared."""
    state = pdf.pdf_for(token)
    if state is None:
        abort(404)
    if isinstance(state, pdf.Ready):
        response = make_response(state.pdf)
        response.headers["Content-Type"] = "application/pdf"
        response.headers["Content-Disposition"] = f'inline; filename="{FILENAME}"'
        # Inline: the "being prepared" page reloads into the PDF viewer, which saves and prints it.
        # Personal data behind a secret link: no shared cache keeps it, and a deletion holds.
        response.headers["Cache-Control"] = "private, no-store"
        return response
    failed = isinstance(state, pdf.Failed)
    page = make_response(
        render_template("pdf/preparing.html", failed=failed, refresh=REFRESH_SECONDS, token=token),
        503 if failed else 202,
    )
    page.headers["Cache-Control"] = "no-store"
    page.headers["Retry-After"] = str(60 if failed else REFRESH_SECONDS)
    return page
