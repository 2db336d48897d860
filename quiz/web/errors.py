"""German error pages in the site's layout, and a 503 page when the database is away."""

from __future__ import annotations

import logging

from flask import Flask, render_template
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from quiz.extensions import db

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Render every HTTP error with the site's own page; database outages get a 503."""

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int, dict[str, str]]:
        code = error.code or 500
        # Keep the headers the error brings along (Allow on 405, Retry-After on 429).
        headers = {
            name: value
            for name, value in error.get_headers()
            if name.lower() in {"allow", "retry-after"}
        }
        return render_template("errors/error.html", code=code, error=error), code, headers

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def database_away(error: DBAPIError) -> tuple[str, int, dict[str, str]]:
        return _database_unavailable(error)


def _database_unavailable(error: DBAPIError) -> tuple[str, int, dict[str, str]]:
    """Undo whatever the request began (nothing half-written), then ask to retry shortly."""
    log.error("database unavailable: %s", type(error.orig).__name__ if error.orig else error)
    try:
        db.session.rollback()
    except Exception:  # the connection may be gone entirely; removing the session is enough
        log.debug("rollback after a database error failed", exc_info=True)
    db.session.remove()
    return render_template("errors/error.html", code=503), 503, {"Retry-After": "30"}
