"""Sign and POST one webhook to a checked address (urllib3, connection pools per address).

The host name is resolved and checked by quiz.webhooks.guard; the connection goes to that very
address, with the name in the Host header and in TLS (SNI and certificate check), so nothing is
resolved twice. Redirects are never followed: a redirect could lead anywhere.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import urllib3
from standardwebhooks import Webhook
from urllib3.exceptions import HTTPError, NewConnectionError

from quiz.webhooks.guard import Target

USER_AGENT = "Engpass-Quiz-Webhooks/1"
# What is read of a receiver's answer (it is not kept); a longer body closes the connection.
MAX_BODY = 64 * 1024
PoolKey = tuple[str, str, int, str]


class SendError(Exception):
    """The request did not get an HTTP answer (connection, TLS, timeout); worth a retry."""


@dataclass(frozen=True)
class Answer:
    """The receiver's HTTP status and the Retry-After header, if any."""

    status: int
    retry_after: str | None


def signed_headers(secret: str, message_id: str, body: str, now: datetime) -> dict[str, str]:
    """The Standard Webhooks headers for this body (the timestamp is the time of the attempt)."""
    signature = Webhook(secret).sign(message_id, now.astimezone(UTC), body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A Retry-After header (seconds or an HTTP date) as a delay from `now`; None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when - now, timedelta(0))


class Client:
    """Keeps one small connection pool per (scheme, address, port, host name) while it lives."""

    def __init__(self, timeout: float, ca_certs: str | None = None) -> None:
        self._timeout = urllib3.Timeout(total=timeout)
        # None: the system's trusted certificates (a test passes its own authority).
        self._ca_certs = ca_certs
        self._pools: dict[PoolKey, urllib3.HTTPConnectionPool] = {}

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every kept connection."""
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()

    def _pool(self, target: Target, address: str) -> urllib3.HTTPConnectionPool:
        key = (target.scheme, address, target.port, target.host)
        pool = self._pools.get(key)
        if pool is None:
            if target.scheme == "https":
                # Connect to the checked address; SNI and the certificate check use the name.
                pool = urllib3.HTTPSConnectionPool(
                    address,
                    target.port,
                    server_hostname=target.host,
                    ca_certs=self._ca_certs,
                    timeout=self._timeout,
                    retries=False,
                    maxsize=1,
                )
            else:
                pool = urllib3.HTTPConnectionPool(
                    address, target.port, timeout=self._timeout, retries=False, maxsize=1
                )
            self._pools[key] = pool
        return pool

    def post(self, target: Target, headers: dict[str, str], body: bytes) -> Answer:
        """POST to the first checked address that accepts a connection; SendError otherwise."""
        headers = {**headers, "Host": target.host_header}
        last: Exception | None = None
        for address in target.addresses:
            try:
                response = self._pool(target, address).urlopen(
                    "POST",
                    target.path,
                    body=body,
                    headers=headers,
                    redirect=False,
                    preload_content=False,
                    assert_same_host=False,
                )
            except NewConnectionError as exc:
                last = exc  # refused or unreachable: the next address may answer
                continue
            except (HTTPError, OSError) as exc:
                raise SendError(_describe(exc)) from exc
            try:
                if len(response.read(MAX_BODY + 1, decode_content=False)) > MAX_BODY:
                    response.close()
                else:
                    response.release_conn()
            except (HTTPError, OSError):
                response.close()  # the status arrived; an unreadable body changes nothing
            return Answer(response.status, response.headers.get("Retry-After"))
        raise SendError(_describe(last) if last else "no address to connect to")


def _describe(exc: BaseException) -> str:
    """A short, credential-free description of a connection failure."""
    text = f"{type(exc).__name__}: {exc}"
    return text[:300]
