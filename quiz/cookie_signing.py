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
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import Signer, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode, want_bytes
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


class _Signer(TimestampSigner):
    """itsdangerous' timestamp signer that derives each key from the secret once, not on every
    signature (the derived key depends only on the secret, salt and method, all fixed), and
    signs with OpenSSL's HMAC (`_NamedHMAC`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._derived: dict[bytes | None, bytes] = {}
        if type(self.algorithm) is HMACAlgorithm:
            digest_method = self.algorithm.digest_method
            self.algorithm = _NamedHMAC(digest_method, digest_method().name)

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
            return base64_encode(plain)
        return super().dump_payload(obj)


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
    signer = _cached(("csrf", secret_key), lambda: _Serializer(secret_key, salt=CSRF_SALT))
    if field_name not in session:
        session[field_name] = hashlib.sha1(os.urandom(64)).hexdigest()  # noqa: S324 - Flask-WTF's raw token
    try:
        token = signer.dumps(session[field_name])
    except TypeError:
        session[field_name] = hashlib.sha1(os.urandom(64)).hexdigest()  # noqa: S324 - as above
        token = signer.dumps(session[field_name])
    setattr(g, field_name, token)
    return token
