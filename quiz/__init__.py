"""Engpass-Quiz: the app factory."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app

from quiz.config import ConfigError, database_url, environ, load_config
from quiz.content import Content, ContentError, load_content
from quiz.legal import ConsentTexts
from quiz.paths import resource_dir

CONTENT_KEY = "quiz.content"
CONSENT_KEY = "quiz.consent_texts"


class StartupError(click.ClickException):
    """Start-up stopped on a broken setting or content file; the message says where and why.

    A ClickException, so `flask run` and every CLI command print the message without a traceback.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)

    def format_message(self) -> str:
        """The message as is (click would prefix nothing else)."""
        return self.message


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: config, content, extensions, blueprints, CLI commands."""
    env = environ()
    app = Flask(
        __name__,
        instance_path=env.get("QUIZ_INSTANCE_PATH") or None,
        instance_relative_config=True,
        template_folder=str(resource_dir("templates")),
        static_folder=str(resource_dir("static")),
    )
    register_config(app, env, test_config)
    register_content(app)
    register_extensions(app)
    register_blueprints(app)
    register_security(app)
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
    from quiz.legal import load_consent_texts
    from quiz.models import SCORED_DIMENSIONS

    try:
        content = load_content(app.config["QUIZ_CONTENT_PATH"])
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


def register_extensions(app: Flask) -> None:
    """Bind the extension objects to this app."""
    from quiz import database
    from quiz.extensions import csrf, db, limiter, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(resource_dir("migrations")), render_as_batch=True)
    csrf.init_app(app)
    limiter.init_app(app)
    database.init_app(app)


def register_blueprints(app: Flask) -> None:
    """The public quiz, the coach view and the error pages."""
    from quiz.web import account, errors, public, share

    app.register_blueprint(public.bp)
    app.register_blueprint(share.bp)
    app.register_blueprint(account.bp)
    errors.init_app(app)
    from quiz.web import coach, coach_settings  # the coach view: blueprint and Flask-Login

    coach.init_app(app)
    coach_settings.init_app(app)  # /coach/einstellungen (uses the coach login)


def register_security(app: Flask) -> None:
    """Production checks, security headers, rate limits, input checks (after the blueprints)."""
    from quiz.web import security

    security.init_app(app)


def register_cli(app: Flask) -> None:
    """The `flask --app quiz ...` commands."""
    from quiz import cli, webhooks

    cli.init_app(app)
    webhooks.init_app(app)  # send-webhooks, webhooks add|list|remove; settings


def get_content(app: Flask | None = None) -> Content:
    """The content this app loaded at start-up."""
    return (app or current_app).extensions[CONTENT_KEY]  # type: ignore[no-any-return]


def get_consent_texts(app: Flask | None = None) -> ConsentTexts:
    """The consent texts this app loaded at start-up."""
    return (app or current_app).extensions[CONSENT_KEY]  # type: ignore[no-any-return]
