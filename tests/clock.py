"""A clock that tests move by hand, so no test sleeps to let a TTL pass."""

from __future__ import annotations


class FakeClock:
    """Monotonic seconds that only move when told to."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass."""
        self.now += seconds
