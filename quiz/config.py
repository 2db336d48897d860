"""Configuration: safe development defaults, overridden by environment variables.

Every setting a deployment may change is read here, once, from the environment, so the rest of
the app only ever reads `app.config`. Secrets never have a default in code: in development a random
key is generated once into the instance folder (shared by every worker on the machine).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from quiz.domain.content_cache import default_cache_dir
from quiz.paths import resource_dir

ENVIRONMENTS = ("development", "production", "testing")


class ConfigError(RuntimeError):
    """A setting is missing or invalid; the message names it."""


def database_url(raw: str) -> str:
    """Accept `postgres://` and `postgresql://` URLs and route them through psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix) :]
    return raw


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name)
    if value is None or value.strip() == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, not {value!r}")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {value!r}") from None


def _dev_secret_key(instance_path: Path) -> str:
    """A random key kept in the instance folder, so restarts and workers share it."""
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def load_config(env: Mapping[str, str], instance_path: Path) -> dict[str, Any]:
    """Build the Flask config from the environment."""
    quiz_env = env.get("QUIZ_ENV", "development").strip() or "development"
    if quiz_env not in ENVIRONMENTS:
        raise ConfigError(f"QUIZ_ENV must be one of {', '.join(ENVIRONMENTS)}, not {quiz_env!r}")
    production = quiz_env == "production"

    secret_key = env.get("SECRET_KEY", "")
    if not secret_key and not production:
        secret_key = _dev_secret_key(instance_path)

    default_db = f"sqlite:///{instance_path / 'quiz.sqlite3'}"
    uri = database_url(env.get("DATABASE_URL") or default_db)
    config: dict[str, Any] = {
        "QUIZ_ENV": quiz_env,
        "SECRET_KEY": secret_key,
        "SQLALCHEMY_DATABASE_URI": uri,
        # hide_parameters: error messages and logs never quote the values (emails, answers).
        # The ping on checkout finds connections a database server dropped; a SQLite file has
        # no server to drop them, so there it would only cost every request a statement.
        "SQLALCHEMY_ENGINE_OPTIONS": {
            "pool_pre_ping": not uri.startswith("sqlite"),
            "hide_parameters": True,
        },
        "QUIZ_CONTENT_PATH": env.get("QUIZ_CONTENT_PATH")
        or str(resource_dir("content") / "questions.yaml"),
        "QUIZ_CONSENT_PATH": env.get("QUIZ_CONSENT_PATH")
        or str(resource_dir("content") / "consent.yaml"),
        # Content files that passed their checks, kept between processes (quiz.domain.content_cache).
        "QUIZ_CONTENT_CACHE_DIR": env.get("QUIZ_CONTENT_CACHE_DIR") or str(default_cache_dir(env)),
        # Brand, logo and call to action are site settings (quiz.site), edited on the coach's
        # settings page; these environment variables only fill them in on the first start.
        "QUIZ_COACH_NAME": env.get("QUIZ_COACH_NAME", ""),
        "QUIZ_COACH_LOGO": env.get("QUIZ_COACH_LOGO", ""),
        # The PDF: how many render at once on this machine (one per core, at most 4: each is a
        # process of about 150 MB), and how far below the quiz (nice).
        "QUIZ_REPORT_RENDERERS": _int(
            env, "QUIZ_REPORT_RENDERERS", max(1, min(4, os.cpu_count() or 1))
        ),
        "QUIZ_REPORT_NICE": _int(env, "QUIZ_REPORT_NICE", 19),
        "QUIZ_CTA_URL": env.get("QUIZ_CTA_URL", ""),
        "QUIZ_PRIVACY_FILE": env.get("QUIZ_PRIVACY_FILE", ""),
        # Whether the last step (email + consent) must be filled in to see the result.
        "QUIZ_REQUIRE_EMAIL": _flag(env, "QUIZ_REQUIRE_EMAIL", True),
        # Where links in emails and previews point. In development it follows the address the
        # server was started on (`make run` passes HOST and PORT), so `PORT=8000 make run` links
        # to port 8000.
        "PUBLIC_URL": (
            env.get("PUBLIC_URL")
            or f"http://{env.get('HOST') or '127.0.0.1'}:{env.get('PORT') or '5000'}"
        ).rstrip("/"),
        # A quiz takes minutes, but a taker may pause: the form token must outlive that.
        "WTF_CSRF_TIME_LIMIT": _int(env, "QUIZ_CSRF_TIME_LIMIT", 24 * 3600),
        "WTF_I18N_ENABLED": False,
        "MAX_CONTENT_LENGTH": _int(env, "QUIZ_MAX_CONTENT_LENGTH", 64 * 1024),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=_int(env, "QUIZ_SESSION_HOURS", 8)),
        "DRAFT_COOKIE_DAYS": _int(env, "QUIZ_DRAFT_COOKIE_DAYS", 30),
        # Mail (issue 4): no SMTP_HOST means messages are written to instance/mail/ as .eml.
        "SMTP_HOST": env.get("SMTP_HOST", ""),
        "SMTP_PORT": _int(env, "SMTP_PORT", 587),
        "SMTP_SECURITY": env.get("SMTP_SECURITY", "starttls"),
        "SMTP_USER": env.get("SMTP_USER", ""),
        "SMTP_PASSWORD": env.get("SMTP_PASSWORD", ""),
        "MAIL_FROM": env.get("MAIL_FROM", "Engpass-Quiz <quiz@localhost>"),
        "MAIL_DIR": str(instance_path / "mail"),
        "SMTP_TIMEOUT": _int(env, "SMTP_TIMEOUT", 30),
        # Retries: the n-th temporary failure waits MAIL_RETRY_SECONDS * 2**(n-1) (at most a day);
        # after MAIL_MAX_ATTEMPTS attempts the message is marked failed for the coach to see.
        "MAIL_MAX_ATTEMPTS": _int(env, "MAIL_MAX_ATTEMPTS", 8),
        "MAIL_RETRY_SECONDS": _int(env, "MAIL_RETRY_SECONDS", 60),
        # A message claimed longer ago than this by a sender that never finished is due again.
        "MAIL_LEASE_SECONDS": _int(env, "MAIL_LEASE_SECONDS", 600),
        "MAIL_BATCH_SIZE": _int(env, "MAIL_BATCH_SIZE", 100),
        # At most this many summaries (and as many opt-in mails) per address and hour.
        "MAIL_MAX_PER_HOUR": _int(env, "MAIL_MAX_PER_HOUR", 3),
        "MAIL_OPTIN_DAYS": _int(env, "MAIL_OPTIN_DAYS", 7),
        # Shared rate-limit storage for several workers; in-memory is for one process only.
        "RATELIMIT_STORAGE_URI": env.get("REDIS_URL") or "memory://",
        "RATELIMIT_ENABLED": _flag(env, "QUIZ_RATELIMIT", True),
        "RATELIMIT_HEADERS_ENABLED": True,
        # Rate limits per client address (Flask-Limiter syntax, quiz.web.security applies them).
        "QUIZ_LIMIT_START": env.get("QUIZ_LIMIT_START", "30 per minute; 300 per hour"),
        "QUIZ_LIMIT_STEP": env.get("QUIZ_LIMIT_STEP", "120 per minute; 1500 per hour"),
        "QUIZ_LIMIT_MAIL": env.get("QUIZ_LIMIT_MAIL", "5 per minute; 20 per hour"),
        # Requests for secret links (/r/, /daten/, ...) that lead nowhere, GETs included.
        "QUIZ_LIMIT_TOKEN_MISSES": env.get(
            "QUIZ_LIMIT_TOKEN_MISSES", "20 per minute; 100 per hour"
        ),
        # Several workers need shared rate-limit storage; say so explicitly to run one with memory.
        "QUIZ_SINGLE_WORKER": _flag(env, "QUIZ_SINGLE_WORKER", False),
        # Who may embed the public quiz in a frame: the first start's value of the site setting
        # embed.frame_ancestors (quiz.web.security reads the setting).
        "QUIZ_FRAME_ANCESTORS": env.get("QUIZ_FRAME_ANCESTORS", "'self'").strip() or "'self'",
        "QUIZ_HSTS_SECONDS": _int(env, "QUIZ_HSTS_SECONDS", 365 * 24 * 3600),
        # Reverse proxies in front of the app whose X-Forwarded-* headers are trusted (0: none).
        "QUIZ_TRUSTED_PROXIES": _int(env, "QUIZ_TRUSTED_PROXIES", 0),
        # The bearer token Prometheus sends for /metrics; unset, /metrics is a 404.
        "QUIZ_METRICS_TOKEN": env.get("QUIZ_METRICS_TOKEN", "").strip(),
        # Retention (flask --app quiz purge): unconfirmed opt-ins and personal data expire.
        "QUIZ_OPTIN_DAYS": _int(env, "QUIZ_OPTIN_DAYS", 30),
        "QUIZ_ANONYMISE_DAYS": _int(env, "QUIZ_ANONYMISE_DAYS", 365),
        # What was deleted, unsubscribed and purged, kept apart from the database so that a
        # restore re-applies it (quiz.deletion_log); in the instance folder, like the mail.
        "QUIZ_DELETION_LOG": str(instance_path / "deletion-log.jsonl"),
        # Norms (issue 14): "Sie liegen vor X % der Teilnehmenden" from this many comparable
        # finished responses of the same content version on; demo takers count only if asked.
        "QUIZ_NORMS_MIN": _int(env, "QUIZ_NORMS_MIN", 100),
        "QUIZ_NORMS_INCLUDE_DEMO": _flag(env, "QUIZ_NORMS_INCLUDE_DEMO", False),
        # Follow-up emails are never sent between 21:00 and 7:00 in this zone (issue 24).
        "QUIZ_TIMEZONE": env.get("QUIZ_TIMEZONE", "Europe/Berlin").strip() or "Europe/Berlin",
        # Landing-page visits are written in batches per worker at most this many seconds
        # apart (quiz.taker.visits); 0 writes every one at once.
        "QUIZ_VISIT_FLUSH_SECONDS": _int(env, "QUIZ_VISIT_FLUSH_SECONDS", 2),
    }
    try:
        ZoneInfo(config["QUIZ_TIMEZONE"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"QUIZ_TIMEZONE must name a time zone such as Europe/Berlin, "
            f"not {config['QUIZ_TIMEZONE']!r}"
        ) from None
    if config["SMTP_SECURITY"] not in {"starttls", "ssl", "none"}:
        raise ConfigError(
            f"SMTP_SECURITY must be starttls, ssl or none, not {config['SMTP_SECURITY']!r}"
        )
    if production and len(secret_key) < 32:
        raise ConfigError(
            "SECRET_KEY must be set to a random value of at least 32 characters in production "
            '(for example: python -c "import secrets; print(secrets.token_urlsafe(48))")'
        )
    return config


def environ() -> Mapping[str, str]:
    """The process environment (a seam for tests)."""
    return os.environ
