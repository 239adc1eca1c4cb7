"""Rate meters and caps with an injected clock: how fast bytes flow, and how long to wait to stay under
a cap."""

from __future__ import annotations

import math


class RateMeter:
    """Bytes per second, averaged with a time constant of `window` seconds."""

    def __init__(self, window: float = 5.0):
        self.window = window
        self.value = 0.0
        self.last: float | None = None
        self.total = 0

    def _decay(self, now: float) -> None:
        if self.last is not None and now > self.last:
            self.value *= math.exp(-(now - self.last) / self.window)
        self.last = now

    def add(self, n: int, now: float) -> None:
        self._decay(now)
        self.value += n / self.window
        self.total += n

    def rate(self, now: float) -> float:
        self._decay(now)
        return self.value


class TokenBucket:
    """A cap of `rate` bytes/s (0: none) with a burst of `burst` bytes."""

    def __init__(self, rate: float, burst: float | None = None):
        self.rate = rate
        self.burst = burst if burst is not None else max(rate / 4, 64 * 1024)
        self.tokens = self.burst
        self.last: float | None = None

    def delay(self, n: int, now: float) -> float:
        """Take n bytes' worth; the seconds to wait before sending (or after receiving) them."""
        if self.rate <= 0:
            return 0.0
        if self.last is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        self.tokens -= n
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate
