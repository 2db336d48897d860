"""Security headers, production checks, check-deploy, trusted proxies and rate limits."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from quiz import create_app
from quiz.app_state import StartupError
from quiz.deploy import problems
from quiz.share_image import share_image_png
from quiz.site import settings as site_settings
from tests.conftest import TEST_SECRET
from tests.factories import finished_response
from tests.quizflow import complete_quiz, csrf_token, start

STRONG = TEST_SECRET


# --- headers ------------------------------------------------------------------------------------


@pytest.mark.dialect_independent
def test_every_public_page_has_a_strict_policy(client: FlaskClient) -> None:
    start(client)  # a quiz page, which loads the site's one script
    for path in (
        "/",
        "/quiz/1",
        "/datenschutz",
        "/gibt-es-nicht",
        "/static/css/site.css",
        "/static/js/quiz-steps.js",
    ):
        response = client.get(path)
        response.close()  # the static file stays open until then
        assert response.status_code == (404 if "gibt-es" in path else 200), path
        csp = response.headers["Content-Security-Policy"]
        for directive in (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'self'",
        ):
            assert directive in csp, (path, directive)
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert "Strict-Transport-Security" not in response.headers  # plain http in development


@pytest.mark.dialect_independent
def test_coach_pages_cannot_be_framed(client: FlaskClient) -> None:
    for path in ("/coach/login", "/coach/", "/coach/gibt-es-nicht"):
        response = client.get(path)
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"], path
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.dialect_independent
@pytest.mark.app_config(QUIZ_FRAME_ANCESTORS="'self' https://coach.example")
def test_public_quiz_may_be_embedded_where_configured(client: FlaskClient) -> None:
    response = client.get("/")
    assert (
        "frame-ancestors 'self' https://coach.example"
        in (response.headers["Content-Security-Policy"])
    )
    # X-Frame-Options cannot name an origin; the policy alone decides.
    assert "X-Frame-Options" not in response.headers
    coach = client.get("/coach/login")
    assert "frame-ancestors 'none'" in coach.headers["Content-Security-Policy"]


@pytest.mark.dialect_independent
def test_token_pages_send_no_referrer(client: FlaskClient, app: Flask) -> None:
    result = complete_quiz(client, app)
    token_page = client.get(result.headers["Location"])
    assert token_page.headers["Referrer-Policy"] == "no-referrer"
    for path in (
        "/r/unbekannt",
        "/daten/falsch",
        "/bestaetigen/falsch",
        "/abmelden/falsch",
        "/wieder/falsch",
    ):
        assert client.get(path).headers["Referrer-Policy"] == "no-referrer", path


@pytest.mark.dialect_independent
def test_hsts_over_https_only(client: FlaskClient) -> None:
    secure = client.get("/", base_url="https://quiz.test")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in client.get("/").headers


@pytest.mark.dialect_independent
def test_the_logo_comes_from_this_site_and_no_image_from_elsewhere(
    client: FlaskClient, app: Flask
) -> None:
    with app.app_context():
        site_settings.set_logo(share_image_png("Logo", ["Logo"], "Logo"), "test")
    page = client.get("/")
    assert "img-src 'self';" in page.headers["Content-Security-Policy"]
    src = re.search(r'<img src="([^"]+)" alt="" class="brand-logo"', page.text)
    assert src and src.group(1).startswith("/marke/logo-")
    logo = client.get(src.group(1))
    assert logo.status_code == 200 and logo.mimetype == "image/png"
    assert "immutable" in logo.headers["Cache-Control"]


# The one way a template may load a script: an empty element naming a file of our own.
EXTERNAL_SCRIPT = re.compile(
    r"""<script(?: type="module")? src="\{\{ url_for\('static', filename='(js/[\w.-]+\.js)'\) \}\}">"""
    r"</script>"
)


def test_templates_have_no_inline_scripts_or_styles() -> None:
    root = Path(__file__).resolve().parent.parent / "templates"
    offenders = []
    scripts = set()
    for template in root.rglob("*.html"):
        if template.parts[-2] == "email":  # mail clients need inline styles; no CSP there
            continue
        text = template.read_text(encoding="utf-8")
        scripts.update(EXTERNAL_SCRIPT.findall(text))
        text = EXTERNAL_SCRIPT.sub("", text)
        for needle in ("<script", "<style", "style=", " onclick=", " onload=", "javascript:"):
            if needle in text:
                offenders.append(f"{template.relative_to(root)}: {needle}")
    assert offenders == []
    assert scripts == {"js/quiz-steps.js", "js/scripting.js", "js/embed-height.js"}
    for script in scripts:
        assert (root.parent / "static" / script).is_file(), script


@pytest.mark.dialect_independent
def test_session_cookie_is_httponly_lax_and_short(app: Flask) -> None:
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["PERMANENT_SESSION_LIFETIME"].total_seconds() <= 24 * 3600


@pytest.mark.dialect_independent
def test_draft_cookie_is_httponly_and_lax(client: FlaskClient) -> None:
    response = start(client)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


# --- production configuration -------------------------------------------------------------------


def _production_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **extra: str) -> None:
    for name in ("REDIS_URL", "FLASK_DEBUG", "QUIZ_SINGLE_WORKER", "QUIZ_RATELIMIT"):
        monkeypatch.delenv(name, raising=False)
    values = {
        "QUIZ_ENV": "production",
        "SECRET_KEY": STRONG,
        "QUIZ_INSTANCE_PATH": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "PUBLIC_URL": "https://quiz.example",
        "SMTP_HOST": "mail.example",
        **extra,
    }
    for name, value in values.items():
        if value == "":
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


def test_production_starts_with_safe_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _production_env(monkeypatch, tmp_path)
    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert problems(app.config, app.debug) == []
    response = app.test_client().get("/datenschutz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


@pytest.mark.parametrize("secret", ["", "kurz"])
def test_production_refuses_a_weak_secret_key_by_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, secret: str
) -> None:
    _production_env(monkeypatch, tmp_path, SECRET_KEY=secret)
    with pytest.raises(StartupError, match="SECRET_KEY"):
        create_app()


def test_production_refuses_debug(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _production_env(monkeypatch, tmp_path, FLASK_DEBUG="1")
    with pytest.raises(StartupError, match="FLASK_DEBUG"):
        create_app()


def test_production_refuses_per_worker_rate_limits(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _production_env(monkeypatch, tmp_path, REDIS_URL="")
    with pytest.raises(StartupError, match="REDIS_URL") as refused:
        create_app()
    assert "check-deploy" in str(refused.value)
    assert "unsafe: REDIS_URL" in str(refused.value)
    # One worker may say so explicitly; switching rate limits off also starts (with a warning).
    _production_env(monkeypatch, tmp_path, REDIS_URL="", QUIZ_SINGLE_WORKER="true")
    assert create_app().config["RATELIMIT_STORAGE_URI"] == "memory://"


def test_production_refuses_a_framing_policy_that_injects(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _production_env(monkeypatch, tmp_path, QUIZ_FRAME_ANCESTORS="'self'; script-src *")
    with pytest.raises(StartupError, match="QUIZ_FRAME_ANCESTORS"):
        create_app()


@pytest.mark.dialect_independent
@pytest.mark.app_config(RATELIMIT_ENABLED=True)
def test_check_deploy_lists_every_unsafe_setting(runner: object) -> None:
    result = runner.invoke(args=["check-deploy"])  # type: ignore[attr-defined]
    assert result.exit_code == 1
    for setting in ("QUIZ_ENV", "REDIS_URL", "PUBLIC_URL", "SESSION_COOKIE_SECURE", "SMTP_HOST"):
        assert setting in result.output, setting


# Everything a published site needs in its settings: brand, Impressum, sender, call to action.
PUBLISHED = {
    "brand.name": "Praxis Sonnenschein",
    "contact.name": "Dr. Erika Muster",
    "contact.address": "Musterweg 1\n12345 Musterstadt",
    "contact.email": "kontakt@praxis-sonnenschein.de",
    "mail.sender_address": "quiz@praxis-sonnenschein.de",
    "cta.url": "https://praxis-sonnenschein.de/termin",
}


def test_check_deploy_says_ok_when_safe(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _production_env(monkeypatch, tmp_path)
    runner = create_app().test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    for key, value in PUBLISHED.items():
        assert runner.invoke(args=["settings", "set", key, value]).exit_code == 0
    result = runner.invoke(args=["check-deploy"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok")


def test_check_deploy_says_to_migrate_a_new_database_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _production_env(monkeypatch, tmp_path)
    result = create_app().test_cli_runner().invoke(args=["check-deploy"])
    assert result.exit_code == 1
    assert "unsafe: database: is not migrated yet: run `flask --app quiz db upgrade` first" in (
        result.output
    )


def test_check_deploy_fails_in_production_without_an_impressum_and_lists_the_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _production_env(monkeypatch, tmp_path)
    runner = create_app().test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    result = runner.invoke(args=["check-deploy"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("unsafe: impressum: the Impressum needs contact.name, ")
    for key in PUBLISHED:
        assert any(line.startswith(f"warning: {key}: still the default") for line in lines), key
    runner.invoke(args=["settings", "set", "contact.name", "Dr. Erika Muster"])
    runner.invoke(args=["settings", "set", "contact.address", "Musterweg 1"])
    runner.invoke(args=["settings", "set", "contact.email", "kontakt@example.org"])
    again = runner.invoke(args=["check-deploy"]).output
    assert "impressum" not in again and "warning: brand.name: still the default" in again


def test_check_deploy_in_production_warns_about_plain_http(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _production_env(monkeypatch, tmp_path, PUBLIC_URL="http://quiz.example")
    runner = create_app().test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    result = runner.invoke(args=["check-deploy"])
    assert result.exit_code == 1
    assert "warning: PUBLIC_URL" in result.output


# --- proxies ------------------------------------------------------------------------------------


@pytest.mark.dialect_independent
def test_proxy_headers_are_ignored_unless_trusted(client: FlaskClient) -> None:
    response = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers


@pytest.mark.dialect_independent
@pytest.mark.app_config(QUIZ_TRUSTED_PROXIES=1)
def test_proxy_headers_are_used_when_trusted(client: FlaskClient) -> None:
    response = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" in response.headers


# --- rate limits --------------------------------------------------------------------------------


def _storages() -> list[str]:
    redis = os.environ.get("TEST_REDIS_URL")
    return ["memory://", *([redis] if redis else [])]


@pytest.fixture(params=_storages(), ids=lambda uri: uri.split(":")[0])
def limited_app(request: pytest.FixtureRequest, tmp_path: Path) -> Flask:
    """An app with rate limits on and tight, counting in memory or in Redis."""
    import shutil

    from tests.conftest import base_config

    path = tmp_path / "quiz.sqlite3"
    shutil.copy(request.getfixturevalue("migrated_sqlite"), path)
    return create_app(
        {
            **base_config(f"sqlite:///{path}", tmp_path),
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": request.param,
            "QUIZ_LIMIT_START": "2 per minute",
            "QUIZ_LIMIT_STEP": "3 per minute",
            "QUIZ_LIMIT_TOKEN_MISSES": "4 per minute",
        }
    )


def _client(app: Flask) -> FlaskClient:
    """A client with an address of its own: runs sharing one Redis never count together."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = f"fd00::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"
    return client


def test_quiz_submissions_are_limited_with_a_german_429(limited_app: Flask) -> None:
    client = _client(limited_app)
    landing = client.get("/")
    token = csrf_token(landing)
    statuses = []
    for _ in range(3):
        client.delete_cookie("quiz_draft")
        statuses.append(client.post("/quiz/start", data={"csrf_token": token}).status_code)
    assert statuses == [302, 302, 429]
    limited = client.post("/quiz/start", data={"csrf_token": token})
    assert limited.status_code == 429
    assert "Einen Moment, bitte" in limited.text
    assert int(limited.headers["Retry-After"]) > 0
    assert "frame-ancestors" in limited.headers["Content-Security-Policy"]
    # Reading pages is not limited.
    assert client.get("/").status_code == 200


def test_step_posts_are_limited(limited_app: Flask) -> None:
    client = _client(limited_app)
    started = start(client)
    assert started.status_code == 302, started.status_code
    page = client.get("/quiz/1")
    token = csrf_token(page)
    statuses = [client.post("/quiz/1", data={"csrf_token": token}).status_code for _ in range(4)]
    assert statuses == [422, 422, 422, 429]
    assert client.get("/quiz/1").status_code == 200


def test_limits_count_per_client_address(limited_app: Flask) -> None:
    client = _client(limited_app)
    token = csrf_token(client.get("/"))
    for _ in range(2):
        client.delete_cookie("quiz_draft")
        client.post("/quiz/start", data={"csrf_token": token})
    client.delete_cookie("quiz_draft")
    assert client.post("/quiz/start", data={"csrf_token": token}).status_code == 429
    client.delete_cookie("quiz_draft")
    other = client.post(
        "/quiz/start",
        data={"csrf_token": token},
        environ_base={"REMOTE_ADDR": f"fd01::{uuid.uuid4().hex[:4]}"},
    )
    assert other.status_code == 302


def test_secret_links_that_lead_nowhere_are_limited_per_client(limited_app: Flask) -> None:
    """Guessing tokens is counted over every secret-link route together, GETs included; a
    genuine link touches no counter."""
    taker = finished_response(limited_app)
    client = _client(limited_app)
    for _ in range(3):  # genuine links count nothing
        assert client.get(taker.path).status_code == 200
    misses = ["/r/geraten-1", "/r/geraten-2/chart.png", "/daten/gefaelscht", "/abmelden/x.y"]
    assert [client.get(path).status_code for path in misses] == [404, 404, 400, 400]
    # The miss over the limit still gets its answer, and blocks the client from then on.
    assert client.get("/bestaetigen/x.y").status_code == 400
    limited = client.get("/r/geraten-3")
    assert limited.status_code == 429 and "Einen Moment, bitte" in limited.text
    assert int(limited.headers["Retry-After"]) > 0
    # Over the limit, the client's genuine links wait too; everyone else's do not.
    assert client.get(taker.path).status_code == 429
    assert client.get(f"{taker.path}/bericht.pdf").status_code == 429
    assert _client(limited_app).get(taker.path).status_code == 200
    assert client.get("/").status_code == 200


@pytest.mark.dialect_independent
def test_mail_sending_endpoints_are_limited(app: Flask) -> None:
    # The POSTs that write or send email, and the coach's password checks (quiz.web.limits).
    limited = (
        "public.start",
        "public.step",
        "account.resend",
        "coach.login",
        "coach_settings.change_password",
    )
    for endpoint in limited:
        view = app.view_functions[endpoint]
        assert getattr(view, "__wrapper-limiter-instance", None) is not None, endpoint


@pytest.mark.dialect_independent
@pytest.mark.app_config(RATELIMIT_ENABLED=True, QUIZ_LIMIT_STEP="2 per minute")
def test_a_quiz_page_counts_its_posts_only(app: Flask, client: FlaskClient) -> None:
    """limits.posts: the page's GETs go straight to the view (issue 22), its POSTs are counted."""
    start(client)
    for _ in range(5):
        assert client.get("/quiz/1").status_code == 200
    page = client.get("/quiz/1")
    statuses = [
        client.post("/quiz/1", data={"csrf_token": csrf_token(page), "action": "next"}).status_code
        for _ in range(3)
    ]
    assert statuses[:2] != [429, 429] and statuses[2] == 429
    assert client.get("/quiz/1").status_code == 200


@pytest.mark.dialect_independent
def test_response_headers_are_set_in_one_place(app: Flask, client: FlaskClient) -> None:
    """No blueprint adds headers of its own: security.response_headers is the one hook."""
    assert [name for name in app.after_request_funcs if name is not None] == []
    hooks = [
        f for f in app.after_request_funcs.get(None, []) if f.__module__ == "quiz.web.security"
    ]
    assert len(hooks) == 1
    # The coach's and the secret-link pages still get theirs from it.
    assert client.get("/coach/login").headers["Cache-Control"] == "private, no-store"
    assert client.get("/daten/kaputt").headers["Cache-Control"] == "private, no-store"
    assert client.get("/daten/kaputt").headers["Referrer-Policy"] == "no-referrer"
