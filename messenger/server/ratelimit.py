"""Flood control for what an account writes: a token bucket with a penalty box. Plain
Python, no Qt: :class:`~messenger.server.core.ServerCore` holds one per account."""

from __future__ import annotations

PENALTY_SECONDS = 1.0
"""After a refusal, everything is refused for this long (s): a client that pipelines its
sends gets them all back and resends them in order, instead of having every other one
taken as tokens trickle in (which would reorder its messages)."""


class TokenBucket:
    """Allows ``rate`` actions a second on average and bursts of up to ``burst`` (the
    classic token bucket, RFC 2697 §3's committed burst without the colours); once empty,
    refuses everything for :data:`PENALTY_SECONDS`.

    Args:
        rate: tokens added per second (> 0).
        burst: the bucket's size, and what it starts with.
    """

    __slots__ = ("blocked_until", "burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now
        self.blocked_until = 0.0

    def take(self, now: float) -> float:
        """Take one token at monotonic time ``now`` (s): 0.0 when allowed, else the seconds
        to wait before trying again."""
        if now < self.blocked_until:
            return self.blocked_until - now
        tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return 0.0
        self.tokens = tokens
        self.blocked_until = now + PENALTY_SECONDS
        return PENALTY_SECONDS
