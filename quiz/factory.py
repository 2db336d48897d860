"""The app factory: `create_app` reads as the list of steps that build the app."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from quiz import caches, cli, cookie_signing, database, webhooks
from quiz.app_state import CONSENT_KEY, CONTENT_KEY, VERSIONS_KEY, StartupError
from quiz.config import ConfigError, database_url, environ, load_config
from quiz.domain.consent_texts import load_consent_texts
from quiz.domain.content import ContentError, load_versions
from quiz.extensions import csrf, db, limiter, migrate
from quiz.models import SCORED_DIMENSIONS
from quiz.paths import resource_dir
from quiz.taker import visits
from quiz.web import (
    account,
    coach,
    cta_redirect,
    errors,
    health,
    legal,
    limit_storage,
    limits,
    metrics,
    pdf,
    public,
    reassess,
    request,
    result_page,  # noqa: F401 - its routes (the result page) join public.bp on import
    security,
    share,
    site,
    static_files,
)
from quiz.web.coach import experiments as coach_experiments
from quiz.web.coach import quality as coach_quality
from quiz.web.coach import settings as coach_settings


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: config, content, extensions, blueprints, CLI commands."""
    env = environ()
    app = Flask(
        "quiz",
        instance_path=env.get("QUIZ_INSTANCE_PATH") or None,
        instance_relative_config=True,
        template_folder=str(resource_dir("templates")),
        static_folder=str(resource_dir("static")),
    )
    register_config(app, env, test_config)
    register_content(app)
    register_extensions(app)
    register_blueprints(app)
    register_caches(app)
    register_security(app)
    register_metrics(app)
    register_cli(app)
    return app


def register_config(
    app: Flask, env: Mapping[str, str], test_config: Mapping[str, Any] | None
) -> None:
    """Environment first, then the test's overrides."""
    try:
        app.config.from_mapping(load_config(env, Path(app.instance_path)))
    except ConfigError as exc:
        raise StartupError(f"Configuration error: {exc}") from exc
    if test_config:
        app.config.from_mapping(test_config)
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url(app.config["SQLALCHEMY_DATABASE_URI"])
    register_logging(env)


def register_logging(env: Mapping[str, str]) -> None:
    """Our own INFO lines by default; the libraries' only at the level QUIZ_LOG_LEVEL asks for.

    Libraries log chatter at INFO (alembic lists every plugin it sets up), which would bury a CLI
    command's own output; QUIZ_LOG_LEVEL=INFO or DEBUG brings it back for debugging.
    """
    level = (env.get("QUIZ_LOG_LEVEL") or "").strip().upper()
    if level and level not in logging.getLevelNamesMapping():
        raise StartupError(f"Configuration error: QUIZ_LOG_LEVEL={level!r} is not a log level")
    logging.basicConfig(level=level or logging.WARNING)
    logging.getLogger("quiz").setLevel(level or logging.INFO)


def register_content(app: Flask) -> None:
    """Load the quiz content once; a broken file stops start-up with every error and its line."""
    try:
        # Archived versions (content/archive/ next to the file) render results made with them.
        path = Path(app.config["QUIZ_CONTENT_PATH"])
        cache_dir = Path(app.config["QUIZ_CONTENT_CACHE_DIR"])
        versions = load_versions(path, path.parent / "archive", cache_dir=cache_dir)
        content = next(reversed(versions.values()))  # load_versions adds the current file last
        consent_texts = load_consent_texts(app.config["QUIZ_CONSENT_PATH"])
    except ContentError as exc:
        raise StartupError(
            "The quiz content has errors; fix them and start again:\n" + str(exc)
        ) from exc
    missing = [d.id for d in content.dimensions if d.id not in SCORED_DIMENSIONS]
    if missing:
        raise StartupError(
            f"Dimensions without a score column: {', '.join(missing)}. "
            "Add a column for each to quiz/models.py (SCORED_DIMENSIONS) with a migration."
        )
    app.extensions[CONTENT_KEY] = content
    app.extensions[CONSENT_KEY] = consent_texts
    app.extensions[VERSIONS_KEY] = versions


def register_extensions(app: Flask) -> None:
    """Bind the extension objects to this app (and fill in the webhook settings the config lacks)."""
    db.init_app(app)
    migrate.init_app(app, db, directory=str(resource_dir("migrations")), render_as_batch=True)
    csrf.init_app(app)
    app.request_class = request.Request  # cookies read straight from the environ
    app.session_interface = cookie_signing.SessionInterface()  # signed as before, cheaper
    # A Redis outage must not fail the rate-limited forms: counts fall back to memory meanwhile.
    uri = str(app.config.get("RATELIMIT_STORAGE_URI") or "memory://")
    app.config["RATELIMIT_STORAGE_URI"] = limit_storage.wrap_uri(uri)
    limiter.init_app(app)
    limits.init_app(app)
    database.init_app(app)
    webhooks.init_app(app)
    visits.init_app(app)


def register_blueprints(app: Flask) -> None:
    """The public quiz, the taker's account pages, the coach view and the error pages."""
    app.register_blueprint(health.bp)  # /healthz, /readyz
    app.register_blueprint(public.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(share.bp)
    app.register_blueprint(legal.bp)  # /impressum, /datenschutz, /robots.txt, /sitemap.xml
    app.register_blueprint(pdf.bp)  # /r/<token>/bericht.pdf
    app.register_blueprint(cta_redirect.bp)  # /weiter/<signed id>: the call to action's redirect
    app.register_blueprint(reassess.bp)  # /wieder/<signed id>: the invitation to take it again
    site.init_app(app)  # /marke/ (logo, brand colour) and `site` in every template
    # Static files under hashed names; compression. Its after_request is registered before the
    # security headers', so it runs after them, on the finished response.
    static_files.init_app(app)
    errors.init_app(app)
    coach.init_app(app)
    coach_settings.init_app(app)  # /coach/einstellungen (uses the coach login)
    coach_quality.init_app(app)  # /coach/qualitaet (uses the coach login)
    coach_experiments.init_app(app)  # /coach/experimente (uses the coach login)


def register_caches(app: Flask) -> None:
    """The app's caches and the guard that keeps per-request values out of cached pages.

    After the blueprints: the guard's template names override Flask-Login's `current_user`.
    """
    caches.init_app(app)


def register_security(app: Flask) -> None:
    """Production checks, security headers, rate limits, input checks (after the blueprints)."""
    security.init_app(app)


def register_metrics(app: Flask) -> None:
    """`/metrics` for Prometheus, and the timer around every request (first of the hooks)."""
    metrics.init_app(app)


def register_cli(app: Flask) -> None:
    """The `flask --app quiz ...` commands."""
    cli.init_app(app)
