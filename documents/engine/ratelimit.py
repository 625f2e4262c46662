"""A token bucket: each connection may send so many messages per second, with bursts up to a ceiling."""

from __future__ import annotations

import time


class TokenBucket:
    """Allows ``rate`` events per second on average and up to ``burst`` at once.

    Attributes:
        tokens: events allowed right now.
        updated: the monotonic time ``tokens`` was last refilled.
    """

    __slots__ = ("burst", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = time.monotonic()

    def take(self, count: float = 1) -> bool:
        """Spend ``count`` tokens; False (spending nothing) when the allowance does not cover them."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < count:
            return False
        self.tokens -= count
        return True
