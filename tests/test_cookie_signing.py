"""The session cookie and the CSRF token, signed without the per-request overhead (issue 22):
interchangeable with what stock Flask and Flask-WTF sign, both ways."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from uuid import UUID

import pytest
from flask import Flask, g, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import generate_csrf as stock_generate_csrf
from flask_wtf.csrf import validate_csrf
from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.signer import HMACAlgorithm
from markupsafe import Markup

from quiz import cookie_signing

pytestmark = pytest.mark.dialect_independent


def test_a_csrf_token_is_flask_wtfs_token_and_passes_its_check(app: Flask) -> None:
    with app.test_request_context("/"):
        token = cookie_signing.generate_csrf()
        assert cookie_signing.generate_csrf() == token  # one per request, kept in g
        validate_csrf(token)  # raises when not valid
        assert stock_generate_csrf() == token  # Flask-WTF's forms show the same one
        raw = session["csrf_token"]
    with app.test_request_context("/"):
        session["csrf_token"] = raw
        stock = stock_generate_csrf()
        g.pop("csrf_token")
        ours = cookie_signing.generate_csrf()
        # Same payload, salt and key: the same token up to the timestamp in it.
        assert ours.split(".")[0] == stock.split(".")[0]
        assert not ours.startswith(".")  # a raw token is never worth compressing


def test_session_cookies_read_both_ways(app: Flask) -> None:
    ours = cookie_signing.SessionInterface().get_signing_serializer(app)
    stock = SecureCookieSessionInterface().get_signing_serializer(app)
    assert ours is not None and stock is not None
    assert ours is cookie_signing.SessionInterface().get_signing_serializer(app)  # built once
    small = {"csrf_token": "0" * 40}
    large = {"csrf_token": "0" * 40, "_flashes": [("message", "Gespeichert. " * 40)]}
    for payload in (small, large):
        assert stock.loads(ours.dumps(payload)) == payload
        assert ours.loads(stock.dumps(payload)) == payload
    # Only a payload large enough to matter is compressed (a leading dot says so).
    assert not ours.dumps(small).startswith(".")
    assert ours.dumps(large).startswith(".")


def test_the_app_signs_its_session_cookie_with_it(app: Flask) -> None:
    assert isinstance(app.session_interface, cookie_signing.SessionInterface)
    client = app.test_client()
    page = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token is not None
    assert client.post("/quiz/start", data={"csrf_token": token.group(1)}).status_code == 302


def test_a_cookie_signed_with_a_retired_key_still_reads(app: Flask) -> None:
    """SECRET_KEY_FALLBACKS: the signers keep a derived key per secret, the old one included."""
    old = SecureCookieSessionInterface().get_signing_serializer(app)
    assert old is not None
    cookie = old.dumps({"csrf_token": "1" * 40})
    retired = app.secret_key
    app.secret_key = "a-new-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
    app.config["SECRET_KEY_FALLBACKS"] = [retired]
    ours = cookie_signing.SessionInterface().get_signing_serializer(app)
    assert ours is not None
    for _ in range(2):  # the second time from the derived keys kept
        assert ours.loads(cookie) == {"csrf_token": "1" * 40}
        assert ours.loads(ours.dumps({"a": 1})) == {"a": 1}
    app.config["SECRET_KEY_FALLBACKS"] = []
    alone = cookie_signing.SessionInterface().get_signing_serializer(app)
    assert alone is not None
    with pytest.raises(BadSignature):
        alone.loads(cookie)


def test_the_same_cookie_text_and_signatures_as_flask_and_itsdangerous(app: Flask) -> None:
    """The session's JSON (with Flask's tags) and the HMAC come out byte for byte the same."""
    stock = SecureCookieSessionInterface.serializer
    ours = cookie_signing.SessionInterface.serializer
    payloads = [
        {"csrf_token": "0" * 40},
        {"b": (1, "zwei"), "a": b"\x00bytes", "ü": Markup("<b>ß</b>"), "d": {"x": [1.5, None]}},
        {"t": datetime(2026, 12, 7, 15, 0, tzinfo=UTC), "u": UUID(int=7), " t": "tagged?"},
        {" t": ["a dict whose one key is a tag"]},
    ]
    for payload in payloads:
        with app.app_context():
            assert ours.dumps(payload) == stock.dumps(payload)
            assert ours.loads(stock.dumps(payload)) == stock.loads(stock.dumps(payload))
        assert ours.dumps(payload) == stock.dumps(payload)  # outside an app too
    signer = cookie_signing.SessionInterface().get_signing_serializer(app)
    assert signer is not None
    made = signer.make_signer(signer.salt)
    for key, value in ((b"k" * 20, b"payload.timestamp"), (b"", b""), (b"x" * 100, b"\xff")):
        assert made.algorithm.get_signature(key, value) == HMACAlgorithm(
            SecureCookieSessionInterface.digest_method
        ).get_signature(key, value)


def test_the_same_tokens_and_cookies_as_stock_itsdangerous_second_by_second(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At a given second, the CSRF token and the session cookie are the stock ones, byte for
    byte, also after the second changes (the timestamp's text is kept a second)."""
    clock = [1_765_000_000]
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda _self: clock[0])
    ours = cookie_signing.SessionInterface().get_signing_serializer(app)
    stock = SecureCookieSessionInterface().get_signing_serializer(app)
    assert ours is not None and stock is not None
    stock_csrf = URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token")
    # Raw tokens as Flask-WTF makes them (which zlib cannot shorten, so stock sends them plain).
    payloads = [hashlib.sha1(b"%d" % i).hexdigest() for i in range(3)] + ["ümlaut-€", 7]
    for _second in range(3):
        for payload in payloads:
            with app.test_request_context("/"):
                session["csrf_token"] = payload
                assert cookie_signing.generate_csrf() == stock_csrf.dumps(payload)
            cookie = {"csrf_token": payload, "_fresh": False}
            assert ours.dumps(cookie) == stock.dumps(cookie)
        clock[0] += 1


@pytest.mark.parametrize("vary", [None, "Accept-Encoding", "Origin", "accept-encoding, cookie"])
def test_the_session_is_saved_with_the_headers_flask_sets(
    app: Flask, monkeypatch: pytest.MonkeyPatch, vary: str | None
) -> None:
    """The same Set-Cookie and Vary as Flask's own `save_session`, whatever the session did."""
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda _self: 1_765_000_000)
    ours = cookie_signing.SessionInterface()
    stock = SecureCookieSessionInterface()
    stock.serializer = ours.serializer  # the cookie's text is compared above; here the headers
    token = hashlib.sha1(b"raw").hexdigest()

    def saved(interface: SecureCookieSessionInterface, change: str) -> list[tuple[str, str]]:
        with app.test_request_context("/", headers={"Cookie": f"session={cookie}"}):
            opened = interface.open_session(app, request)
            assert opened is not None
            if change == "read":
                opened.get("csrf_token")
            elif change == "write":
                opened["csrf_token"] = token
            elif change == "clear":
                opened.clear()
            response = app.response_class("x")
            if vary is not None:
                response.headers["Vary"] = vary
            interface.save_session(app, opened, response)
            return [(k, v) for k, v in response.headers if k in ("Vary", "Set-Cookie")]

    signer = ours.get_signing_serializer(app)
    assert signer is not None
    for cookie in ("", signer.dumps({"csrf_token": token})):
        for change in ("none", "read", "write", "clear"):
            assert saved(ours, change) == saved(stock, change), (cookie, change)
