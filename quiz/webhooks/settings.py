"""Webhook settings: defaults, overridden by environment variables, then by the app's config.

`init_app` only fills in what the app config does not set yet, so a test's config wins over the
environment, and the environment over the defaults (the same order as quiz.config).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quiz.config import ConfigError, _flag, _int

# A request never waits longer than this, whatever the setting says.
MAX_TIMEOUT_SECONDS = 10


def defaults(env: Mapping[str, str], production: bool) -> dict[str, Any]:
    """The webhook settings from the environment; `production` hardens the URL guard."""
    values: dict[str, Any] = {
        # The n-th failed attempt waits WEBHOOK_RETRY_SECONDS * 2**(n-1), at most 12 hours.
        "WEBHOOK_RETRY_SECONDS": _int(env, "WEBHOOK_RETRY_SECONDS", 30),
        # 16 attempts span about 2.7 days of backoff (see docs/webhooks.md), then `failed`.
        "WEBHOOK_MAX_ATTEMPTS": _int(env, "WEBHOOK_MAX_ATTEMPTS", 16),
        "WEBHOOK_TIMEOUT_SECONDS": _int(env, "WEBHOOK_TIMEOUT_SECONDS", MAX_TIMEOUT_SECONDS),
        # A delivery claimed longer ago than this by a sender that never finished is due again.
        # A running round renews its claims every third of it, so only a dead sender's expire.
        "WEBHOOK_LEASE_SECONDS": _int(env, "WEBHOOK_LEASE_SECONDS", 600),
        "WEBHOOK_BATCH_SIZE": _int(env, "WEBHOOK_BATCH_SIZE", 50),
        # One round claims at most this many deliveries of one endpoint, so a backlog at one
        # endpoint never keeps another's events out of the round.
        "WEBHOOK_ENDPOINT_BATCH": _int(env, "WEBHOOK_ENDPOINT_BATCH", 25),
        # Requests under way at once to one endpoint (1: in order, a 429 holds back the rest),
        # and to all endpoints together.
        "WEBHOOK_ENDPOINT_CONCURRENCY": _int(env, "WEBHOOK_ENDPOINT_CONCURRENCY", 1),
        "WEBHOOK_WORKERS": _int(env, "WEBHOOK_WORKERS", 8),
        # After this, a round starts no new attempt and gives its untried claims back at once
        # (a slow endpoint's backlog waits for the next round; the others go on meanwhile).
        "WEBHOOK_ROUND_SECONDS": _int(env, "WEBHOOK_ROUND_SECONDS", 30),
        # Only https:// URLs, and only public addresses (checked on the resolved address).
        "WEBHOOK_HTTPS_ONLY": _flag(env, "WEBHOOK_HTTPS_ONLY", production),
        "WEBHOOK_PUBLIC_ONLY": _flag(env, "WEBHOOK_PUBLIC_ONLY", production),
    }
    for name in (
        "WEBHOOK_MAX_ATTEMPTS",
        "WEBHOOK_BATCH_SIZE",
        "WEBHOOK_ENDPOINT_BATCH",
        "WEBHOOK_ENDPOINT_CONCURRENCY",
        "WEBHOOK_WORKERS",
        "WEBHOOK_ROUND_SECONDS",
    ):
        if values[name] < 1:
            raise ConfigError(f"{name} must be at least 1")
    if not 1 <= values["WEBHOOK_TIMEOUT_SECONDS"] <= MAX_TIMEOUT_SECONDS:
        raise ConfigError(
            f"WEBHOOK_TIMEOUT_SECONDS must be between 1 and {MAX_TIMEOUT_SECONDS} seconds"
        )
    return values
