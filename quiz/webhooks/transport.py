"""Sign and POST one webhook to a checked address (urllib3, connection pools per address).

The host name is resolved and checked by quiz.webhooks.guard; the connection goes to that very
address, with the name in the Host header and in TLS (SNI and certificate check), so nothing is
resolved twice. Redirects are never followed: a redirect could lead anywhere.

A socket timeout bounds each read, not the attempt: a receiver that sends one byte every 2 s
would keep it alive for ever. So every attempt has a deadline for the whole of it (connect, send,
read the answer), kept by a timer that shuts the attempt's socket down when it passes
(`_Deadline`); the blocked read then ends at once and the attempt counts as timed out.
"""

from __future__ import annotations

import contextlib
import email.utils
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import urllib3
from standardwebhooks import Webhook
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError, NewConnectionError

from quiz.webhooks.guard import Target

USER_AGENT = "Engpass-Quiz-Webhooks/1"
# What is read of a receiver's answer (it is not kept); a longer body closes the connection.
MAX_BODY = 64 * 1024
PoolKey = tuple[str, str, int, str]
# The deadline of the attempt this thread is making (each attempt runs in one thread).
_current = threading.local()


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


class _Deadline:
    """The end of one attempt: when it passes, the attempt's connection is shut down."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires_at = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._connections: list[HTTPConnection] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        """Seconds left (a little more than none, so a timeout is never 0 = blocking)."""
        return max(self.expires_at - time.monotonic(), 0.01)

    def watch(self, connection: HTTPConnection) -> None:
        """Shut this connection down at the deadline (at once if it has passed)."""
        with self._lock:
            if self.expired:
                _shut(connection)
            elif connection not in self._connections:
                self._connections.append(connection)

    def cancel(self) -> None:
        """The attempt is over: no shutting down."""
        self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for connection in self._connections:
                _shut(connection)


def _shut(connection: HTTPConnection) -> None:
    """End every blocked read or write on the connection's socket now."""
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)


def _watch(connection: HTTPConnection) -> None:
    deadline: _Deadline | None = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.watch(connection)


class _WatchedHTTPConnection(HTTPConnection):
    """An HTTP connection that the current attempt's deadline can shut down."""

    def connect(self) -> None:
        """Connect (for HTTPS: and shake hands), then put the socket under the deadline."""
        super().connect()
        _watch(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        """Send the request under the deadline (a kept-alive socket is reused here)."""
        _watch(self)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(_WatchedHTTPConnection, HTTPSConnection):
    """The same for HTTPS (the methods above run around HTTPSConnection's own)."""


class Client:
    """Keeps one small connection pool per (scheme, address, port, host name) while it lives.

    Safe to share between threads: `connections` requests may go to one address at once.
    """

    def __init__(self, timeout: float, ca_certs: str | None = None, connections: int = 2) -> None:
        self._seconds = float(timeout)
        self._timeout = urllib3.Timeout(total=timeout)
        # None: the system's trusted certificates (a test passes its own authority).
        self._ca_certs = ca_certs
        self._connections = max(1, connections)
        self._pools: dict[PoolKey, urllib3.HTTPConnectionPool] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every kept connection."""
        with self._lock:
            for pool in self._pools.values():
                pool.close()
            self._pools.clear()

    def _pool(self, target: Target, address: str) -> urllib3.HTTPConnectionPool:
        key = (target.scheme, address, target.port, target.host)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = self._new_pool(target, address)
                self._pools[key] = pool
        return pool

    def _new_pool(self, target: Target, address: str) -> urllib3.HTTPConnectionPool:
        pool: urllib3.HTTPConnectionPool
        if target.scheme == "https":
            # Connect to the checked address; SNI and the certificate check use the name.
            pool = urllib3.HTTPSConnectionPool(
                address,
                target.port,
                server_hostname=target.host,
                ca_certs=self._ca_certs,
                timeout=self._timeout,
                retries=False,
                maxsize=self._connections,
            )
            pool.ConnectionCls = _WatchedHTTPSConnection
        else:
            pool = urllib3.HTTPConnectionPool(
                address,
                target.port,
                timeout=self._timeout,
                retries=False,
                maxsize=self._connections,
            )
            pool.ConnectionCls = _WatchedHTTPConnection
        return pool

    def post(self, target: Target, headers: dict[str, str], body: bytes) -> Answer:
        """POST to the first checked address that accepts a connection; SendError otherwise.

        The whole attempt (every address tried, connect, send, the answer) ends within the
        client's timeout.
        """
        deadline = _Deadline(self._seconds)
        _current.deadline = deadline
        try:
            return self._post(target, {**headers, "Host": target.host_header}, body, deadline)
        finally:
            _current.deadline = None
            deadline.cancel()

    def _post(
        self, target: Target, headers: dict[str, str], body: bytes, deadline: _Deadline
    ) -> Answer:
        last: Exception | None = None
        for address in target.addresses:
            if deadline.expired:
                break
            left = deadline.remaining()
            try:
                response = self._pool(target, address).urlopen(
                    "POST",
                    target.path,
                    body=body,
                    headers=headers,
                    redirect=False,
                    preload_content=False,
                    assert_same_host=False,
                    timeout=urllib3.Timeout(connect=left, read=left),
                )
            except NewConnectionError as exc:
                last = exc  # refused or unreachable: the next address may answer
                continue
            except (HTTPError, OSError) as exc:
                if deadline.expired:
                    raise SendError(_late(deadline)) from exc
                raise SendError(_describe(exc)) from exc
            try:
                if len(response.read(MAX_BODY + 1, decode_content=False)) > MAX_BODY:
                    response.close()
                else:
                    response.release_conn()
            except (HTTPError, OSError):
                response.close()  # the status arrived; an unreadable body changes nothing
            return Answer(response.status, response.headers.get("Retry-After"))
        if deadline.expired:
            raise SendError(_late(deadline))
        raise SendError(_describe(last) if last else "no address to connect to")


def _late(deadline: _Deadline) -> str:
    return f"TimeoutError: timed out, no complete answer within {deadline.seconds:g} s"


def _describe(exc: BaseException) -> str:
    """A short, credential-free description of a connection failure."""
    text = f"{type(exc).__name__}: {exc}"
    return text[:300]
