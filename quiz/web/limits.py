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
| confirm, unsubscribe, data)   | GETs too, shared; see `init_app`)        |
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, current_app, request
from flask_limiter import RouteLimit
from flask_limiter.util import get_remote_address
from limits import parse_many
from werkzeug.exceptions import TooManyRequests
from werkzeug.wrappers import Response as BaseResponse

from quiz import caches
from quiz.extensions import limiter

log = logging.getLogger(__name__)

LOGIN_PER_ADDRESS = "5 per minute; 20 per hour"  # failed coach logins
SETTINGS_PER_ADDRESS = "5 per minute; 20 per hour"  # wrong current passwords (settings)

View = TypeVar("View", bound=Callable[..., Any])


def from_config(key: str) -> Callable[[], str]:
    """The limit the current app's config names under `key`."""

    def value() -> str:
        return str(current_app.config[key])

    value.__name__ = f"config_{key}"
    return value


def posts(
    limit: str | Callable[[], str], deduct_when: Callable[[Any], bool] | None = None
) -> Callable[[View], View]:
    """Limit the view's POSTs per client address (counting only those `deduct_when` accepts).

    Its other requests (a quiz page's GET) go straight to the view: no limit applies to them,
    and Flask-Limiter's look for one costs a cached page a sixth of its time (issue 22).
    """
    route_limit: RouteLimit = limiter.limit(limit, methods=["POST"], deduct_when=deduct_when)

    def decorate(view: View) -> View:
        checked = route_limit(view)

        @functools.wraps(view)
        def either(*args: Any, **kwargs: Any) -> Any:
            if request.method == "POST":
                return checked(*args, **kwargs)
            return view(*args, **kwargs)

        # Flask-Limiter's mark of a view it checks (a limit stacked on top would see it and
        # leave the checking to this one, which only looks at POSTs: declare limits here).
        marker = "__wrapper-limiter-instance"
        setattr(either, marker, getattr(checked, marker))
        return cast(View, either)

    return decorate


# The scope that every secret-link route counts its misses in, together.
TOKEN_MISSES = "token-misses"  # noqa: S105 - a limit scope, not a secret
_COUNTS_MISSES = "_quiz_counts_token_misses"


def token_misses(view: View) -> View:
    """Count this secret-link view's misses against the client (see `init_app`)."""
    setattr(view, _COUNTS_MISSES, True)
    return view


def init_app(app: Flask) -> None:
    """Count misses of the secret-link views, and refuse a client over QUIZ_LIMIT_TOKEN_MISSES.

    Only a miss touches the shared storage (a 404, or the 400 of a link that is not genuine):
    genuine links, the result page's hot path, cost nothing. A miss over the limit blocks the
    client in this worker until the window ends (`caches.token_blocks`, a copy of the shared
    count's verdict); another worker learns it from the client's next miss there. So a client
    gets at most one more look-up per worker, then 429 on every secret link.
    """
    app.before_request(_refuse_blocked_client)
    app.after_request(_count_miss)


def _counts_misses() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, _COUNTS_MISSES, False)) and bool(
        current_app.config.get("RATELIMIT_ENABLED", True)
    )


def _refuse_blocked_client() -> None:
    if not _counts_misses():
        return
    until = caches.current().token_blocks.get(get_remote_address())
    if until is not None and until > time.time():
        raise TooManyRequests(retry_after=max(1, math.ceil(until - time.time())))


def _count_miss(response: BaseResponse) -> BaseResponse:
    if response.status_code not in (400, 404) or not _counts_misses():
        return response
    client = get_remote_address()
    strategy = limiter.limiter
    for item in parse_many(str(current_app.config["QUIZ_LIMIT_TOKEN_MISSES"])):
        if not strategy.hit(item, TOKEN_MISSES, client):
            reset, _remaining = strategy.get_window_stats(item, TOKEN_MISSES, client)
            caches.current().token_blocks.put(client, reset)
            log.warning(
                "secret links: a client is over %s misses, refused until the window ends", item
            )
            break
    return response
