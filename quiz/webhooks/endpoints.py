"""The coach's endpoints: add, change, pause, delete; secrets made with `secrets`.

Each function that changes an endpoint is a write transaction of its own (`database.write()`):
a whole operation of the settings page or the CLI.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable

from flask import current_app
from sqlalchemy import select

from quiz import database
from quiz.extensions import db
from quiz.webhooks.guard import check_saved
from quiz.webhooks.models import WebhookEndpoint
from quiz.webhooks.queue import EVENT_TYPES

SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
SECRET_BYTES = 32  # Standard Webhooks asks for 24 to 64 random bytes


class EndpointError(ValueError):
    """An endpoint cannot be saved; the message says why."""


def new_secret() -> str:
    """A fresh signing secret, `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def checked_url(url: str) -> str:
    """The URL when this site may call it (BlockedURL otherwise); DNS is checked at send time."""
    config = current_app.config
    return check_saved(
        url,
        https_only=bool(config["WEBHOOK_HTTPS_ONLY"]),
        public_only=bool(config["WEBHOOK_PUBLIC_ONLY"]),
    )


def checked_events(events: Iterable[str]) -> list[str]:
    """The chosen event types in the documented order; EndpointError on an unknown one."""
    chosen = set(events)
    unknown = chosen - set(EVENT_TYPES)
    if unknown:
        raise EndpointError(f"unknown event type(s): {', '.join(sorted(unknown))}")
    if not chosen:
        raise EndpointError("choose at least one event")
    return [event for event in EVENT_TYPES if event in chosen]


def list_endpoints() -> list[WebhookEndpoint]:
    """Every endpoint, oldest first."""
    return list(db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)).all())


def add_endpoint(
    url: str, events: Iterable[str] = EVENT_TYPES, description: str = ""
) -> tuple[WebhookEndpoint, str]:
    """Save a new endpoint; returns it and its secret (shown to the coach this once)."""
    url = checked_url(url)
    chosen = checked_events(events)
    secret = new_secret()
    with database.write():
        endpoint = WebhookEndpoint(
            url=url,
            description=description.strip()[:200],
            events=chosen,
            enabled=True,
            secret=secret,
        )
        db.session.add(endpoint)
    return endpoint, secret


def update_endpoint(
    endpoint_id: int, *, url: str, events: Iterable[str], description: str, enabled: bool
) -> WebhookEndpoint | None:
    """Change an endpoint's URL, events, description and state; None when it does not exist."""
    url = checked_url(url)
    chosen = checked_events(events)
    with database.write():
        endpoint = db.session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None:
            return None
        endpoint.url = url
        endpoint.events = chosen
        endpoint.description = description.strip()[:200]
        endpoint.enabled = enabled
    return endpoint


def set_enabled(endpoint_id: int, enabled: bool) -> bool:
    """Pause or resume an endpoint (paused ones keep their queued events); False if unknown."""
    with database.write():
        endpoint = db.session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None:
            return False
        endpoint.enabled = enabled
    return True


def rotate_secret(endpoint_id: int) -> str | None:
    """Give an endpoint a new secret (returned once); events not yet sent are signed with it."""
    with database.write():
        endpoint = db.session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None:
            return None
        endpoint.secret = secret = new_secret()
    return secret


def delete_endpoint(endpoint_id: int) -> bool:
    """Delete an endpoint with its delivery log; False if unknown."""
    with database.write():
        endpoint = db.session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None:
            return False
        db.session.delete(endpoint)
    return True
