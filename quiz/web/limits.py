"""Every rate limit of the site, declared one way: a Flask-Limiter decorator on the view.

Limits count per client address in Flask-Limiter's storage (Redis when REDIS_URL is set, so every
worker shares them), and only POSTs count: reading a page costs us little. The decorators run
once per process, at import; a limit from the config is read per request, so each app uses its
own. The coach login has two more limits, per account and per device cookie, which need the
typed email address and are checked in the view (quiz.web.coach.login).

| view                          | limit                                   |
|-------------------------------|-----------------------------------------|
| public.start (new draft)      | QUIZ_LIMIT_START                        |
| public.step (save answers)    | QUIZ_LIMIT_STEP                         |
| account.resend (sends email)  | QUIZ_LIMIT_MAIL                         |
| coach.login (failures only)   | LOGIN_PER_ADDRESS                       |
| coach_settings.change_password| SETTINGS_PER_ADDRESS (wrong passwords)  |
| every secret-link route       | QUIZ_LIMIT_TOKEN_MISSES (links that lead |
| (result, its chart and PDF,   | nowhere: 404, or a refused link's 400;   |
| confirm, unsubscribe, data)   | GETs too, shared by all these routes)    |
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app
from flask_limiter import RouteLimit

from quiz.extensions import limiter

LOGIN_PER_ADDRESS = "5 per minute; 20 per hour"  # failed coach logins
SETTINGS_PER_ADDRESS = "5 per minute; 20 per hour"  # wrong current passwords (settings)


def from_config(key: str) -> Callable[[], str]:
    """The limit the current app's config names under `key`."""

    def value() -> str:
        return str(current_app.config[key])

    value.__name__ = f"config_{key}"
    return value


def posts(
    limit: str | Callable[[], str], deduct_when: Callable[[Any], bool] | None = None
) -> RouteLimit:
    """Limit the view's POSTs per client address (counting only those `deduct_when` accepts)."""
    return limiter.limit(limit, methods=["POST"], deduct_when=deduct_when)


# The scope that every secret-link route counts its misses in, together.
TOKEN_MISSES = "token-misses"  # noqa: S105 - a limit scope, not a secret


def _missed(response: Any) -> bool:
    """A secret link that leads nowhere: unknown (404) or not a genuine link (400)."""
    return int(response.status_code) in (400, 404)


def token_misses() -> RouteLimit:
    """Count a client's requests for secret links that lead nowhere, on every method.

    Guessing a 256-bit token is hopeless, but it is abuse all the same and costs queries: over
    the limit, every secret-link route answers this client 429 until the window has passed.
    """
    return limiter.shared_limit(
        from_config("QUIZ_LIMIT_TOKEN_MISSES"), scope=TOKEN_MISSES, deduct_when=_missed
    )
