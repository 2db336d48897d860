"""The session cookie's and the CSRF token's signing, without their per-request overhead.

Flask signs the session cookie and Flask-WTF the CSRF token with itsdangerous'
`URLSafeTimedSerializer`; both build a new serializer for every use, and it tries to
zlib-compress every payload, which for a payload of a few dozen bytes costs more than the
whole rest of the signing (zlib sets up its 256 KB of state each time) and never helps: a
session holding the CSRF token, or the token itself, comes out longer compressed, so it is
sent plain anyway. Here the serializers, their signers and the keys those derive from the
secret are built once per secret key, and a payload under `COMPRESS_FROM` bytes is sent plain
without trying (a larger one is still compressed when that is shorter). What they produce is
read by the stock serializers and the other way round, with the same keys, salts and
signatures: a cookie or token of a worker without this change is valid here, and one from here
valid there. The landing page and the quiz pages save a zlib setup or two per request and the
rebuilding of the signing objects (issue 22). The signature is made by OpenSSL's HMAC rather
than Python's, and the session's JSON with an encoder built once: the same bytes, a few
microseconds less per cookie read or written.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import hmac
import json
import os
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, g, has_app_context, session
from flask.json.provider import DefaultJSONProvider
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from flask.wrappers import Response
from itsdangerous import Signer, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import int_to_bytes, want_bytes
from itsdangerous.serializer import Serializer
from itsdangerous.signer import HMACAlgorithm

# Payloads shorter than this are not compressed (compressing saves at most a few bytes there).
COMPRESS_FROM = 256
CSRF_SALT = "wtf-csrf-token"  # Flask-WTF's, so its validate_csrf reads our tokens


class _NamedHMAC(HMACAlgorithm):
    """itsdangerous' HMAC with a digest hashlib knows by name (SHA-1 for both signers here),
    given to `hmac.new` as hashlib's own constructor, so the HMAC is OpenSSL's: the same
    signature, without the pure-Python HMAC that `hmac.new` falls back to for a digest given
    as a Python function (3.4 instead of 5 us a signature)."""

    def __init__(self, digest_method: Callable[..., Any], name: str) -> None:
        super().__init__(digest_method)
        self.constructor: Callable[..., Any] | str = getattr(hashlib, name, name)

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        """HMAC of `value` under `key`."""
        return hmac.new(key, value, self.constructor).digest()


def _base64(data: bytes) -> bytes:
    """itsdangerous' `base64_encode` of bytes (URL-safe, unpadded), without its layers of calls."""
    return binascii.b2a_base64(data, newline=False).translate(_URL_SAFE).rstrip(b"=")


_URL_SAFE = bytes.maketrans(b"+/", b"-_")


class _Signer(TimestampSigner):
    """itsdangerous' timestamp signer that derives each key from the secret once, not on every
    signature (the derived key depends only on the secret, salt and method, all fixed), and
    signs with OpenSSL's HMAC (`_NamedHMAC`); the timestamp's text is made once a second."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._derived: dict[bytes | None, bytes] = {}
        self._stamp: tuple[int, bytes] = (-1, b"")
        if type(self.algorithm) is HMACAlgorithm:
            digest_method = self.algorithm.digest_method
            self.algorithm = _NamedHMAC(digest_method, digest_method().name)

    def sign(self, value: str | bytes) -> bytes:
        """`value`, the time and their signature, as itsdangerous' `TimestampSigner.sign`."""
        now = self.get_timestamp()
        stamp = self._stamp
        if stamp[0] != now:  # a new second (threads may both make it: the same text)
            stamp = self._stamp = (now, _base64(int_to_bytes(now)))
        sep = want_bytes(self.sep)
        signed = want_bytes(value) + sep + stamp[1]
        return signed + sep + self.get_signature(signed)

    def get_signature(self, value: str | bytes) -> bytes:
        """The signature of `value`, as itsdangerous' `Signer.get_signature`."""
        return _base64(self.algorithm.get_signature(self.derive_key(), want_bytes(value)))

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        """The key the signature is made with, derived once per secret."""
        name = want_bytes(secret_key) if secret_key is not None else None
        found = self._derived.get(name)
        if found is None:
            found = self._derived[name] = super().derive_key(secret_key)
        return found


class _Serializer(URLSafeTimedSerializer):
    """itsdangerous' URL-safe timed serializer that does not try to compress small payloads,
    with its signer built once per salt."""

    default_signer = _Signer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._signers: dict[str | bytes | None, Signer] = {}

    def make_signer(self, salt: str | bytes | None = None) -> Signer:
        """The signer for `salt` (the serializer's own by default), built once."""
        found = self._signers.get(salt)
        if found is None:
            found = self._signers[salt] = super().make_signer(salt)
        return found

    def dump_payload(self, obj: Any) -> bytes:
        """The payload as URL-safe base64; zlib-compressed (with a leading dot) only when it is
        large enough for that to matter and comes out shorter."""
        plain = Serializer.dump_payload(self, obj)
        if len(plain) < COMPRESS_FROM:
            return _base64(plain)
        return super().dump_payload(obj)


class _CompactJSON:
    """itsdangerous' JSON for what it signs (compact, not ASCII-escaped), with the encoder that
    `json.dumps` builds for those options on every call built once: the same text."""

    _encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

    @staticmethod
    def loads(payload: str | bytes) -> Any:
        """The value back from its JSON."""
        return json.loads(payload)

    @classmethod
    def dumps(cls, obj: Any, **kwargs: Any) -> str:
        """`obj` as compact JSON, as itsdangerous' serializer writes it."""
        if kwargs:
            kwargs.setdefault("ensure_ascii", False)
            kwargs.setdefault("separators", (",", ":"))
            return json.dumps(obj, **kwargs)
        text: str = cls._encoder.encode(obj)
        return text


class _SessionJSON(TaggedJSONSerializer):
    """Flask's session serializer (the same tags, the same text), with the JSON encoder of the
    app's default provider built once rather than for every cookie."""

    def dumps(self, value: Any) -> str:
        """Tag the value and dump it to compact JSON, as Flask's does."""
        provider = current_app.json if has_app_context() else None
        if type(provider) is not DefaultJSONProvider:
            return super().dumps(value)
        encoder = _encoder(provider.ensure_ascii, provider.sort_keys, provider.default)
        text: str = encoder.encode(self.tag(value))
        return text

    def loads(self, value: str) -> Any:
        """Load the JSON and restore the tagged values, as Flask's does."""
        if not has_app_context() or type(current_app.json) is not DefaultJSONProvider:
            return super().loads(value)
        return self._untag_scan(json.loads(value))


@functools.lru_cache(maxsize=8)
def _encoder(
    ensure_ascii: bool, sort_keys: bool, default: Callable[[Any], Any]
) -> json.JSONEncoder:
    """The encoder `DefaultJSONProvider.dumps(value, separators=(",", ":"))` builds per call."""
    return json.JSONEncoder(
        ensure_ascii=ensure_ascii, sort_keys=sort_keys, default=default, separators=(",", ":")
    )


_lock = threading.Lock()
_serializers: dict[tuple[Any, ...], URLSafeTimedSerializer] = {}


def _cached(key: tuple[Any, ...], make: Any) -> URLSafeTimedSerializer:
    """One serializer per secret key and use (a few per process; stateless once built)."""
    found = _serializers.get(key)
    if found is None:
        with _lock:
            found = _serializers.setdefault(key, make())
    return found


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the serializer built once per key (see above)."""

    serializer = _SessionJSON()

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """Flask's serializer for the app's secret key and its fallbacks, built once."""
        if not app.secret_key:
            return None
        keys: list[str | bytes] = [*(app.config["SECRET_KEY_FALLBACKS"] or ()), app.secret_key]
        return _cached(
            ("session", tuple(keys), self.salt, self.key_derivation, self.digest_method),
            lambda: _Serializer(
                keys,  # itsdangerous signs with the last one and accepts them all
                salt=self.salt,
                serializer=self.serializer,
                signer_kwargs={
                    "key_derivation": self.key_derivation,
                    "digest_method": self.digest_method,
                },
            ),
        )

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Flask's `save_session`, the same cookie and headers, with `Vary: Cookie` added
        without parsing and rewriting the header twice (an empty session goes Flask's way)."""
        if not session:
            super().save_session(app, session, response)
            return
        if session.accessed:
            _vary_on_cookie(response)
        if not self.should_set_cookie(app, session):
            return
        signer = self.get_signing_serializer(app)
        assert signer is not None  # Flask opens no session without a secret key
        response.set_cookie(
            self.get_cookie_name(app),
            signer.dumps(dict(session)),
            expires=self.get_expiration_time(app, session),
            httponly=self.get_cookie_httponly(app),
            domain=self.get_cookie_domain(app),
            path=self.get_cookie_path(app),
            secure=self.get_cookie_secure(app),
            partitioned=self.get_cookie_partitioned(app),
            samesite=self.get_cookie_samesite(app),
        )
        if not session.accessed:
            _vary_on_cookie(response)


def _vary_on_cookie(response: Response) -> None:
    """`response.vary.add("Cookie")` (the header as Werkzeug writes it), short for the values
    it has here: none yet, or Flask-Compress's `Accept-Encoding`."""
    vary = response.headers.get("Vary")
    if vary is None:
        response.headers["Vary"] = "Cookie"
    elif vary == "Accept-Encoding":
        response.headers["Vary"] = "Accept-Encoding, Cookie"
    else:
        response.vary.add("Cookie")


def generate_csrf() -> str:
    """This request's CSRF token: Flask-WTF's `generate_csrf()`, the same token, session key
    and `g` entry (so forms rendered by Flask-WTF show the same one), from a serializer built
    once per key."""
    config = current_app.config
    field_name: str = config.get("WTF_CSRF_FIELD_NAME") or "csrf_token"
    token: str | None = g.get(field_name)
    if token is not None:
        return token
    secret_key = config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key
    if not secret_key:
        raise RuntimeError("A secret key is required to use CSRF.")
    signer = _cached(
        ("csrf", secret_key),
        lambda: _Serializer(secret_key, salt=CSRF_SALT, serializer=_CompactJSON),
    )
    if field_name not in session:
        session[field_name] = hashlib.sha1(os.urandom(64)).hexdigest()  # noqa: S324 - Flask-WTF's raw token
    try:
        token = signer.dumps(session[field_name])
    except TypeError:
        session[field_name] = hashlib.sha1(os.urandom(64)).hexdigest()  # noqa: S324 - as above
        token = signer.dumps(session[field_name])
    setattr(g, field_name, token)
    return token
