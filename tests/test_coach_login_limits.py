"""The coach login cannot be locked by strangers (OWASP device cookies), and the coach hears of it.

Failures from unknown browsers count per account (30 an hour); a browser that has logged in before
carries a signed device cookie and counts only its own failures (10 an hour), so it still gets in
while the account is locked for everyone else. The per-address limit applies to all. Counts live in
Flask-Limiter's storage: memory here, and Redis as in production when TEST_REDIS_URL is set.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from quiz import create_app
from quiz.extensions import db
from quiz.mail.compose import COACH_ALERT
from quiz.models import OutboxMessage
from quiz.web.coach.login import DEVICE_COOKIE
from tests.coach_factories import PASSWORD, create_test_coach, csrf_token, login
from tests.conftest import base_config

ACCOUNT_LIMIT = 30
DEVICE_LIMIT = 10


def _storages() -> list[str]:
    redis = os.environ.get("TEST_REDIS_URL")
    return ["memory://", *([redis] if redis else [])]


@pytest.fixture(params=_storages(), ids=lambda uri: uri.split(":")[0])
def limited_app(request: pytest.FixtureRequest, tmp_path: Path) -> Flask:
    """An app with the real login limits on, counting in memory or in Redis."""
    path = tmp_path / "quiz.sqlite3"
    shutil.copy(request.getfixturevalue("migrated_sqlite"), path)
    config = {**base_config(f"sqlite:///{path}", tmp_path), "RATELIMIT_ENABLED": True}
    return create_app({**config, "RATELIMIT_STORAGE_URI": request.param})


@pytest.fixture
def coach_email(limited_app: Flask) -> str:
    """A coach of its own per test: runs sharing one Redis never count together."""
    email = f"coach-{uuid.uuid4().hex[:8]}@example.com"
    create_test_coach(limited_app, email)
    return email


def _browser(app: Flask) -> FlaskClient:
    """A browser at an address of its own."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = f"fd00::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"
    return client


def _known_browser(app: Flask, email: str) -> FlaskClient:
    """The coach's own browser: logged in once (it gets the device cookie), then logged out."""
    browser = _browser(app)
    assert login(browser, email=email).status_code == 302
    page = browser.get("/coach/").get_data(as_text=True)
    assert browser.post("/coach/logout", data={"csrf_token": csrf_token(page)}).status_code == 302
    assert browser.get_cookie(DEVICE_COOKIE, path="/coach/login") is not None
    return browser


def _attack(app: Flask, email: str, attempts: int) -> list[int]:
    """Wrong passwords for the account, each from another address (so no address limit trips)."""
    return [
        login(_browser(app), email=email, password=f"falsch-{n}-xxxxxxx").status_code
        for n in range(attempts)
    ]


def _alerts(app: Flask, email: str) -> list[OutboxMessage]:
    with app.app_context():
        return list(
            db.session.scalars(
                db.select(OutboxMessage).where(
                    OutboxMessage.kind == COACH_ALERT, OutboxMessage.recipient == email
                )
            )
        )


def test_strangers_cannot_lock_out_a_browser_that_logged_in_before(
    limited_app: Flask, coach_email: str
) -> None:
    coach_browser = _known_browser(limited_app, coach_email)
    statuses = _attack(limited_app, coach_email, ACCOUNT_LIMIT + 1)
    assert statuses == [401] * ACCOUNT_LIMIT + [429]
    # An unknown browser waits, even with the right password.
    blocked = login(_browser(limited_app), email=coach_email)
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= 3600
    # The coach's own browser gets in.
    assert login(coach_browser, email=coach_email).status_code == 302
    assert coach_browser.get("/coach/").status_code == 200


def test_the_coach_is_told_once_per_lockout(limited_app: Flask, coach_email: str) -> None:
    assert _attack(limited_app, coach_email, ACCOUNT_LIMIT - 1) == [401] * (ACCOUNT_LIMIT - 1)
    assert _alerts(limited_app, coach_email) == []  # not locked yet: no email
    assert _attack(limited_app, coach_email, 1) == [401]  # the failure that locks the account
    assert _attack(limited_app, coach_email, 5) == [429] * 5
    alerts = _alerts(limited_app, coach_email)
    assert len(alerts) == 1
    assert alerts[0].details is not None
    assert 55 <= alerts[0].details["locked_minutes"] <= 60


def test_an_unknown_account_is_limited_but_nobody_is_emailed(limited_app: Flask) -> None:
    email = f"niemand-{uuid.uuid4().hex[:8]}@example.com"
    assert _attack(limited_app, email, ACCOUNT_LIMIT + 1)[-1] == 429
    assert _alerts(limited_app, email) == []


def test_a_device_cookie_that_fails_too_often_counts_as_unknown(
    limited_app: Flask, coach_email: str
) -> None:
    coach_browser = _known_browser(limited_app, coach_email)
    for n in range(DEVICE_LIMIT):
        # A new address for each try, so only the device cookie counts these failures.
        coach_browser.environ_base["REMOTE_ADDR"] = f"fd02::{uuid.uuid4().hex[:4]}"
        wrong = login(coach_browser, email=coach_email, password=f"vertippt-{n}-xxxx")
        assert wrong.status_code == 401
    # Those failures did not count against the account: strangers still have all 30.
    assert _attack(limited_app, coach_email, ACCOUNT_LIMIT + 1) == [401] * ACCOUNT_LIMIT + [429]
    # The worn-out device cookie no longer lets its browser past the locked account.
    assert login(coach_browser, email=coach_email).status_code == 429


def test_a_device_cookie_opens_only_its_own_account(limited_app: Flask, coach_email: str) -> None:
    other = f"kollegin-{uuid.uuid4().hex[:8]}@example.com"
    create_test_coach(limited_app, other)
    coach_browser = _known_browser(limited_app, coach_email)
    assert _attack(limited_app, other, ACCOUNT_LIMIT)[-1] == 401
    assert login(coach_browser, email=other).status_code == 429
    # A cookie with a forged signature is just as unknown.
    forged = _browser(limited_app)
    cookie = coach_browser.get_cookie(DEVICE_COOKIE, path="/coach/login")
    assert cookie is not None
    forged.set_cookie(DEVICE_COOKIE, cookie.value[:-2] + "xx", path="/coach/login")
    assert _attack(limited_app, coach_email, ACCOUNT_LIMIT)[-1] == 401
    assert login(forged, email=coach_email).status_code == 429
    assert login(coach_browser, email=coach_email).status_code == 302


def test_the_per_address_limit_still_applies_to_known_browsers(
    limited_app: Flask, coach_email: str
) -> None:
    coach_browser = _known_browser(limited_app, coach_email)
    statuses = [
        login(coach_browser, email=coach_email, password=f"falsch-{n}-xxxxxxx").status_code
        for n in range(6)
    ]
    assert statuses == [401] * 5 + [429]


@pytest.mark.app_config(SESSION_COOKIE_SECURE=True)
def test_the_device_cookie_is_signed_http_only_same_site_and_secure_in_production(
    app: Flask, client: FlaskClient
) -> None:
    create_test_coach(app)
    response = login(client)
    assert response.status_code == 302
    header = next(
        value
        for value in response.headers.getlist("Set-Cookie")
        if value.startswith(DEVICE_COOKIE + "=")
    )
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    assert {"httponly", "secure", "samesite", "path", "expires"} <= attributes
    assert "SameSite=Strict" in header and "Path=/coach/login" in header
    value = header.split(";")[0].split("=", 1)[1]
    assert "coach@example.com" not in value and "coach" not in value.lower()
    assert PASSWORD not in value
