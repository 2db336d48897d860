"""Signed links for emails and the taker's rights: one salt per purpose, some expiring.

A link names a response by its id and a short digest of its (secret) result token, so a link can
never reach another person's data, not even when a deleted response's id is reused, and the
result token itself never appears in it. The purpose is the salt: a confirmation link does not
work as an unsubscribe link, and the other way round.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from flask import Flask
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

# Purposes; each is also the serializer's salt.
OPTIN = "quiz.optin"
UNSUBSCRIBE = "quiz.unsubscribe"
DATA = "quiz.data"
# The invitation to take the quiz again (/wieder/...): proof of the mailbox, expiring after
# `followup.link_days` (reassess_max_age).
REASSESS = "quiz.reassess"
PURPOSES = (OPTIN, UNSUBSCRIBE, DATA, REASSESS)
# The call to action's redirect (/weiter/...): never expires, as a printed PDF keeps its link.
CTA = "quiz.cta"
# Where a call to action was shown: the result page, the summary email, the PDF, follow-up N.
PLACEMENT = re.compile(r"^(?:result|email|pdf|followup-[1-9][0-9]?)$")


class LinkError(Exception):
    """A link that is not valid for this purpose (tampered, truncated or for another purpose)."""


class LinkExpired(LinkError):
    """A genuine link whose time is up; `response_id` and `digest` say whose it was."""

    def __init__(self, response_id: int, digest: str) -> None:
        super().__init__("expired")
        self.response_id = response_id
        self.digest = digest


def token_digest(result_token: str) -> str:
    """A short, one-way fingerprint of a result token."""
    return hashlib.sha256(result_token.encode("ascii")).hexdigest()[:20]


def digest_matches(result_token: str | None, digest: str) -> bool:
    """Whether a stored result token has this fingerprint (in constant time)."""
    return bool(result_token) and hmac.compare_digest(token_digest(result_token or ""), digest)


def _serializer(config: Mapping[str, Any], purpose: str) -> URLSafeTimedSerializer:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown link purpose {purpose!r}")
    return URLSafeTimedSerializer(config["SECRET_KEY"], salt=purpose)


def make_token(config: Mapping[str, Any], purpose: str, response_id: int, result_token: str) -> str:
    """A signed, timestamped token for one response and one purpose."""
    return _serializer(config, purpose).dumps([response_id, token_digest(result_token)])


def read_token(
    config: Mapping[str, Any], purpose: str, token: str, max_age: int | None = None
) -> tuple[int, str]:
    """(response_id, digest) of a genuine token; LinkExpired or LinkError otherwise."""
    serializer = _serializer(config, purpose)
    try:
        payload = serializer.loads(token, max_age=max_age)
    except SignatureExpired as exc:
        # The signature was good; only the age failed. Say whose link it was, for a resend.
        assert exc.payload is not None  # itsdangerous passes the signed payload along
        response_id, digest = _parse(serializer.load_payload(exc.payload))
        raise LinkExpired(response_id, digest) from None
    except BadSignature:
        raise LinkError("bad signature") from None
    return _parse(payload)


def _parse(payload: Any) -> tuple[int, str]:
    if (
        isinstance(payload, list)
        and len(payload) == 2
        and isinstance(payload[0], int)
        and isinstance(payload[1], str)
    ):
        return payload[0], payload[1]
    raise LinkError("unexpected payload")


def make_cta_token(
    config: Mapping[str, Any], response_id: int, result_token: str, placement: str
) -> str:
    """The signed id of a call-to-action link: the response and where the link was shown."""
    if not PLACEMENT.match(placement):
        raise ValueError(f"unknown placement {placement!r}")
    serializer = URLSafeSerializer(config["SECRET_KEY"], salt=CTA)
    return str(serializer.dumps([response_id, token_digest(result_token), placement]))


def read_cta_token(config: Mapping[str, Any], token: str) -> tuple[int, str, str]:
    """(response_id, digest, placement) of a genuine call-to-action id; LinkError otherwise."""
    try:
        payload = URLSafeSerializer(config["SECRET_KEY"], salt=CTA).loads(token)
    except BadSignature:
        raise LinkError("bad signature") from None
    if (
        isinstance(payload, list)
        and len(payload) == 3
        and isinstance(payload[0], int)
        and isinstance(payload[1], str)
        and isinstance(payload[2], str)
        and PLACEMENT.match(payload[2])
    ):
        return payload[0], payload[1], payload[2]
    raise LinkError("unexpected payload")


def optin_max_age(config: Mapping[str, Any]) -> int:
    """How long a confirmation link stays valid, in seconds."""
    return int(config["MAIL_OPTIN_DAYS"]) * 24 * 3600


def reassess_max_age(link_days: str) -> int:
    """How long an invitation to take the quiz again stays valid, in seconds."""
    return int(link_days or "30") * 24 * 3600


def external_url(app: Flask, endpoint: str, **values: Any) -> str:
    """An absolute link under PUBLIC_URL, built outside any request (for emails)."""
    adapter = app.url_map.bind("localhost", url_scheme="https")
    return str(app.config["PUBLIC_URL"]).rstrip("/") + adapter.build(endpoint, values)
