"""Deployment checks: which settings are unsafe for a site on the internet.

`problems()` looks at a finished app config. In production the app refuses to start on a fatal
problem and logs the others; `flask --app quiz check-deploy` lists all of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MIN_SECRET_KEY_LENGTH = 32
# Sources allowed in QUIZ_FRAME_ANCESTORS: keywords and scheme://host[:port] origins.
_FRAME_SOURCE = re.compile(r"^('self'|'none'|https?://[A-Za-z0-9.*-]+(:\d+)?)$")


@dataclass(frozen=True)
class Problem:
    """One unsafe setting; `fatal` ones stop a production start."""

    setting: str
    message: str
    fatal: bool

    def __str__(self) -> str:
        return f"{self.setting}: {self.message}"


def frame_ancestor_errors(value: str) -> list[str]:
    """The sources in a QUIZ_FRAME_ANCESTORS value that are not allowed (empty when fine)."""
    return [source for source in value.split() if not _FRAME_SOURCE.match(source)]


def problems(config: Mapping[str, Any], debug: bool) -> list[Problem]:
    """Every setting in `config` that is unsafe for production, fatal ones first."""
    found: list[Problem] = []
    if config.get("QUIZ_ENV") != "production":
        found.append(Problem("QUIZ_ENV", f"is {config.get('QUIZ_ENV')!r}, not 'production'", True))
    if len(config.get("SECRET_KEY") or "") < MIN_SECRET_KEY_LENGTH:
        found.append(
            Problem(
                "SECRET_KEY",
                f"must be a random value of at least {MIN_SECRET_KEY_LENGTH} characters",
                True,
            )
        )
    if debug:
        found.append(Problem("FLASK_DEBUG", "debug mode is on (it runs code sent by anyone)", True))
    storage = str(config.get("RATELIMIT_STORAGE_URI", ""))
    if (
        config.get("RATELIMIT_ENABLED", True)
        and storage.startswith("memory://")
        and not config.get("QUIZ_SINGLE_WORKER")
    ):
        found.append(
            Problem(
                "REDIS_URL",
                "rate limits are kept in memory, so each worker counts on its own; set REDIS_URL "
                "(or QUIZ_SINGLE_WORKER=true when exactly one worker process runs)",
                True,
            )
        )
    bad_frames = frame_ancestor_errors(str(config.get("QUIZ_FRAME_ANCESTORS", "")))
    if bad_frames:
        found.append(
            Problem(
                "QUIZ_FRAME_ANCESTORS",
                "allowed are 'self', 'none' and origins like https://example.com, not "
                + ", ".join(bad_frames),
                True,
            )
        )
    if not config.get("RATELIMIT_ENABLED", True):
        found.append(Problem("QUIZ_RATELIMIT", "rate limiting is switched off", False))
    if not str(config.get("PUBLIC_URL", "")).startswith("https://"):
        found.append(
            Problem(
                "PUBLIC_URL",
                "links in emails must use https://, not " + repr(config.get("PUBLIC_URL")),
                False,
            )
        )
    if not config.get("SESSION_COOKIE_SECURE"):
        found.append(
            Problem("SESSION_COOKIE_SECURE", "session cookies would also travel over http", False)
        )
    if not config.get("SMTP_HOST"):
        found.append(
            Problem("SMTP_HOST", "no mail server: emails are only written to MAIL_DIR", False)
        )
    token = str(config.get("QUIZ_METRICS_TOKEN") or "")
    if token and len(token) < MIN_SECRET_KEY_LENGTH:
        found.append(
            Problem(
                "QUIZ_METRICS_TOKEN",
                f"is shorter than {MIN_SECRET_KEY_LENGTH} characters: use a random value, "
                "/metrics shows the site's traffic to whoever guesses it",
                False,
            )
        )
    if int(config.get("QUIZ_HSTS_SECONDS") or 0) <= 0:
        found.append(Problem("QUIZ_HSTS_SECONDS", "HSTS is switched off", False))
    return sorted(found, key=lambda problem: not problem.fatal)
