"""German error pages in the site's layout, and a 503 page when the database is away."""

from __future__ import annotations

import logging

from flask import Flask, g, render_template
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from quiz.database import discard_session
from quiz.extensions import login_manager
from quiz.site import settings as site_settings

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Render every HTTP error with the site's own page; database outages get a 503."""

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int, dict[str, str]]:
        code = error.code or 500
        if code >= 500:
            # Something already failed, perhaps the database: a coach not yet loaded for this
            # request is not loaded for the error page (it shows nothing of the coach's).
            g.setdefault("_login_user", login_manager.anonymous_user())
        # The brand of the page, or the defaults when the database cannot say (never a 500).
        site_settings.current_or_defaults()
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
    """Undo whatever the request began (nothing half-written), then ask to retry shortly.

    The page is rendered without the database: Flask-Login's context processor would otherwise
    load the coach of a session cookie from the database that just failed, and a second failure
    inside the error handler is a bare 500. The 503 page shows nothing that needs the coach.
    """
    log.error("database unavailable: %s", type(error.orig).__name__ if error.orig else error)
    discard_session()
    g._login_user = login_manager.anonymous_user()
    site_settings.defaults_for_this_request()
    return render_template("errors/error.html", code=503), 503, {"Retry-After": "30"}
