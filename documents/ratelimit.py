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

    def take(self) -> bool:
        """Spend one token; False when the allowance is used up."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
