"""Signed webhooks to the coach's CRM (Standard Webhooks), delivered like the email outbox.

- `models`: the endpoint and delivery tables
- `settings`: the webhook settings (`init_app` below fills them in)
- `queue`: event types, `queue_event` (in the caller's transaction), resend, data-rights helpers
- `events`: the payload of each event, one call per hook
- `endpoints`: the coach's endpoints and their secrets
- `guard`: which URLs and resolved addresses may be called
- `transport`: signing and the HTTP POST to a checked address
- `sender`: claim, send, record; `send-webhooks`
"""

from __future__ import annotations

from flask import Flask

from quiz.config import environ
from quiz.webhooks import models as models  # registers the tables on `db`
from quiz.webhooks.settings import defaults


def init_app(app: Flask) -> None:
    """Fill in the webhook settings the config lacks (the commands live in quiz.cli.webhooks)."""
    production = app.config.get("QUIZ_ENV") == "production"
    for key, value in defaults(environ(), production).items():
        app.config.setdefault(key, value)
