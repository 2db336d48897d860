"""Liveness and readiness: `/healthz` says the process answers, `/readyz` what it depends on.

`/healthz` asks nothing of anyone (benchmarks compare pages against it, and a process manager
restarts a worker only when it no longer answers at all). `/readyz` is for a load balancer: JSON
with the state of each dependency, 503 when the database cannot be reached (no page would work),
200 otherwise: without Redis the rate limits count in each worker's memory
(quiz.web.limit_storage), and a paused mail sender only delays emails.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from quiz.database import discard_session
from quiz.extensions import db, limiter
from quiz.mail import pause as mail_pause
from quiz.web.limit_storage import PREFIX, FallbackStorage

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    """200 while the process answers; no dependency is asked."""
    return {"status": "ok"}, 200


@bp.get("/readyz")
def readyz() -> tuple[dict[str, Any], int]:
    """Each dependency's state; 503 when the database is down."""
    database = _database()
    redis = _redis()
    smtp = _smtp() if database["state"] == "ok" else {"state": "unknown"}
    if database["state"] != "ok":
        status = "down"
    elif redis["state"] == "down" or smtp["state"] == "paused":
        status = "degraded"
    else:
        status = "ok"
    body = {"status": status, "database": database, "redis": redis, "smtp": smtp}
    return body, 503 if status == "down" else 200


def _database() -> dict[str, Any]:
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
    except SQLAlchemyError as error:
        discard_session()
        return {"state": "down", "error": type(error).__name__}
    return {"state": "ok"}


def _redis() -> dict[str, Any]:
    uri = str(current_app.config.get("RATELIMIT_STORAGE_URI", ""))
    storage = limiter.storage if limiter.initialized else None
    if not uri.startswith(PREFIX) or not isinstance(storage, FallbackStorage):
        return {"state": "not configured", "rate_limits": "memory"}
    if storage.check():
        return {"state": "ok", "rate_limits": "redis"}
    return {"state": "down", "rate_limits": "memory (this worker)"}


def _smtp() -> dict[str, Any]:
    try:
        pause = mail_pause.current_pause()
        db.session.rollback()
    except SQLAlchemyError as error:
        discard_session()
        return {"state": "unknown", "error": type(error).__name__}
    if pause is None:
        return {"state": "ok"}
    return {
        "state": "paused",
        "since": pause.paused_since.isoformat(timespec="seconds"),
        "next_attempt_at": pause.next_attempt_at.isoformat(timespec="seconds"),
        "failures": pause.failures,
        "reason": pause.reason,
    }
