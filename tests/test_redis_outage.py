"""Redis stopped and started under the rate-limited forms, and the readiness route.

The Redis here is a private redis-server of the test's own (tests/redis_server.py), stopped and
started again on its port; the shared server is never touched. While it is down every rate limit
(the quiz's forms and the coach login's per-account count) counts in the worker's memory, logged
once; when it is back, counting goes back to Redis.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from quiz import create_app
from quiz.app_state import get_content
from quiz.domain.scoring import sample_answers
from quiz.mail import pause as mail_pause
from quiz.models import utcnow
from quiz.web import limit_storage
from tests.coach_factories import create_test_coach, login
from tests.conftest import base_config
from tests.quizflow import answer_page, start
from tests.redis_server import RedisServer

DOWN = "rate-limit storage unreachable"
BACK = "rate-limit storage reachable again"


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_app(
    private_redis: RedisServer,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> Flask:
    """An app with its rate limits on, counting in the private Redis."""
    # Probe at every request while Redis is down, so the test needs no sleep to see it back.
    monkeypatch.setattr(limit_storage, "PROBE_SECONDS", 0.0)
    path = tmp_path / "quiz.sqlite3"
    shutil.copy(request.getfixturevalue("migrated_sqlite"), path)
    app = create_app(
        {
            **base_config(f"sqlite:///{path}", tmp_path),
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": private_redis.url,
            "QUIZ_LIMIT_START": "3 per minute",
        }
    )
    create_test_coach(app)
    return app


def _client(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = f"fd00::{uuid.uuid4().hex[:4]}"
    return client


def _keys(server: RedisServer) -> int:
    with redis.Redis(port=server.port) as connection:
        return int(connection.dbsize())


def _messages(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in record.getMessage() for record in caplog.records)


def test_redis_stopped_and_started_forms_answer_and_limits_count_in_memory(
    redis_app: Flask, private_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="quiz.web.limit_storage")
    answers = sample_answers(get_content(redis_app), "random", seed=3)
    taker = _client(redis_app)
    assert start(taker).status_code == 302
    assert _keys(private_redis) > 0  # counted in Redis while it runs
    assert redis_app.test_client().get("/readyz").json["redis"]["state"] == "ok"  # type: ignore[index]

    private_redis.stop()
    # Before: every rate-limited POST raised redis' ConnectionError, a 500.
    assert answer_page(taker, redis_app, 1, answers).status_code == 302
    newcomer = _client(redis_app)
    statuses = []
    for _ in range(4):
        newcomer.delete_cookie("quiz_draft")
        statuses.append(start(newcomer).status_code)
    # The limit still holds, counted in this worker's memory.
    assert statuses == [302, 302, 302, 429]
    coach = _client(redis_app)
    wrong = login(coach, password="falsch-falsch-falsch")
    assert wrong.status_code == 401  # the form again, with its German message
    assert "E-Mail-Adresse oder Passwort" in wrong.text
    assert login(coach).status_code == 302
    ready = redis_app.test_client().get("/readyz")
    assert ready.status_code == 200
    assert ready.json is not None
    assert ready.json["redis"]["state"] == "down"
    assert ready.json["status"] == "degraded"
    assert _messages(caplog, DOWN) == 1  # logged once for the whole outage
    assert _messages(caplog, BACK) == 0

    private_redis.start()  # an empty Redis on the same port, as after a restart
    assert answer_page(taker, redis_app, 2, answers).status_code == 302
    assert _keys(private_redis) > 0  # counting in Redis again
    assert _messages(caplog, BACK) == 1
    assert _messages(caplog, DOWN) == 1
    assert redis_app.test_client().get("/readyz").json["redis"]["state"] == "ok"  # type: ignore[index]


def test_readyz_states_each_dependency(app: Flask) -> None:
    client = app.test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json == {
        "status": "ok",
        "database": {"state": "ok"},
        "redis": {"state": "not configured", "rate_limits": "memory"},
        "smtp": {"state": "ok"},
    }
    now = utcnow()
    with app.app_context():
        mail_pause.record_failure(app, "connection refused", "unreachable", now, 4)
    paused = client.get("/readyz")
    assert paused.status_code == 200
    assert paused.json is not None
    assert paused.json["status"] == "degraded"
    assert paused.json["smtp"]["state"] == "paused"
    assert paused.json["smtp"]["reason"] == "unreachable"
    with app.app_context():
        mail_pause.record_recovery(now + timedelta(minutes=1))
    assert client.get("/readyz").json["smtp"] == {"state": "ok"}  # type: ignore[index]


@pytest.mark.dialect_independent
def test_readyz_is_503_without_the_database_and_healthz_asks_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "quiz.sqlite3"
    client = create_app(base_config(f"sqlite:///{missing}", tmp_path)).test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json is not None
    assert ready.json["status"] == "down"
    assert ready.json["database"]["state"] == "down"
    assert ready.json["smtp"] == {"state": "unknown"}
    # The liveness route asks no dependency: the process answers.
    assert client.get("/healthz").json == {"status": "ok"}
