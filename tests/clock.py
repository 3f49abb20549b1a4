"""A clock the test moves, for state with expiry: time passes without sleeping."""

from __future__ import annotations


class FakeClock:
    """Seconds since the epoch, as ``time.time`` gives them, advanced by the test."""

    def __init__(self, now: float = 1_780_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
