"""Rate-limit storage that survives a Redis outage: counts go to the worker's memory meanwhile.

Every rate limit of the site (the decorators of quiz.web.limits and the coach login's per-account
and per-device counts, quiz.web.coach.login) goes through Flask-Limiter's one storage. When that
storage is Redis and Redis stops answering, a request must still get its page, never a 500: this
storage wraps the Redis one and, on the first failed call, counts in this worker's memory
(limits' MemoryStorage) until a probe finds Redis back, at most every PROBE_SECONDS. The outage is
logged once when it starts and once when it ends. Meanwhile each worker counts on its own, so a
client may get up to the limit once per worker: looser, never a refusal of service.

The factory turns a Redis storage URI into this one (`fallback+redis://…`, see `wrap_uri`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from limits.storage import MemoryStorage, Storage, storage_from_string

log = logging.getLogger(__name__)

PREFIX = "fallback+"
# Schemes of the storages that live on another server and can go away.
_REMOTE = ("redis", "rediss", "redis+unix")
# While Redis is down, how often a request tries whether it is back (a refused connection
# costs about a millisecond; a server that hangs costs the socket timeout below).
PROBE_SECONDS = 5.0
SOCKET_TIMEOUT_SECONDS = 1.0

T = TypeVar("T")


def wrap_uri(uri: str) -> str:
    """The storage URI to give Flask-Limiter: Redis URIs get the memory fallback."""
    scheme = uri.split("://", 1)[0]
    return PREFIX + uri if scheme in _REMOTE else uri


class FallbackStorage(Storage):
    """A remote storage with this worker's memory standing in while it cannot be reached."""

    # limits registers a storage class under these schemes (its API declares a plain list).
    STORAGE_SCHEME = [PREFIX + scheme for scheme in _REMOTE]  # noqa: RUF012

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        options.setdefault("socket_connect_timeout", SOCKET_TIMEOUT_SECONDS)
        options.setdefault("socket_timeout", SOCKET_TIMEOUT_SECONDS)
        self.primary: Storage = storage_from_string(uri.removeprefix(PREFIX), **options)  # type: ignore[assignment]
        self.memory = MemoryStorage()
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._next_probe = 0.0

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        """Nothing escapes: a failure of the remote storage is answered from memory."""
        return ()

    @property
    def down(self) -> bool:
        """Whether the remote storage is taken for unreachable right now."""
        return self._down_since is not None

    def _failed(self, error: BaseException) -> None:
        with self._lock:
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.warning(
                    "rate-limit storage unreachable (%s): counting in this worker's memory "
                    "until it is back",
                    type(error).__name__,
                )
            self._next_probe = time.monotonic() + PROBE_SECONDS

    def _use_primary(self) -> bool:
        """False while down, except for one probe every PROBE_SECONDS."""
        if self._down_since is None:
            return True
        with self._lock:
            if time.monotonic() < self._next_probe:
                return False
            self._next_probe = time.monotonic() + PROBE_SECONDS
        if not self.primary.check():
            return False
        with self._lock:
            if self._down_since is not None:
                log.warning(
                    "rate-limit storage reachable again after %.0f s; counting there again",
                    time.monotonic() - self._down_since,
                )
                self._down_since = None
        return True

    def _call(self, operation: Callable[[Storage], T]) -> T:
        if self._use_primary():
            try:
                return operation(self.primary)
            except Exception as error:  # any failure of the remote store
                self._failed(error)
        return operation(self.memory)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Increment the counter (Redis, or memory while it is away)."""
        return self._call(lambda storage: storage.incr(key, expiry, amount))

    def get(self, key: str) -> int:
        """The counter's value."""
        return self._call(lambda storage: storage.get(key))

    def get_expiry(self, key: str) -> float:
        """When the counter expires."""
        return self._call(lambda storage: storage.get_expiry(key))

    def check(self) -> bool:
        """Whether the remote storage answers now (for /readyz); memory always does."""
        return bool(self.primary.check())

    def reset(self) -> int | None:
        """Reset both."""
        self.memory.reset()
        return self._call(lambda storage: storage.reset())

    def clear(self, key: str) -> None:
        """Clear one counter in both."""
        self.memory.clear(key)
        self._call(lambda storage: storage.clear(key))
